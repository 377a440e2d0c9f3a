//! Kafka: the nine topics and their Avro schemas, the schema registry, the Confluent wire
//! format, the replay producer and the exactly-once bronze loader.

pub mod bronze;
pub mod client;
pub mod codec;
pub mod direct;
pub mod flat;
pub mod registry;
pub mod replay;
pub mod topics;

use crate::config::{KafkaArgs, LakeArgs, Warehouse};
use crate::error::{Error, Result};

/// Bootstrap servers and registry URL, resolved from flags and environment.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub bootstrap: String,
    pub registry: String,
}

impl KafkaArgs {
    /// The registry defaults to a `file:` registry beside a local warehouse.
    pub fn resolve(&self, lake: &LakeArgs) -> Result<KafkaConfig> {
        let bootstrap = self
            .kafka_bootstrap
            .clone()
            .filter(|b| !b.trim().is_empty())
            .ok_or_else(|| Error::Config("Kafka bootstrap servers are not set: --kafka-bootstrap or OLISTLAKE_KAFKA_BOOTSTRAP".into()))?;
        check_bootstrap(&bootstrap)?;
        let registry = match (&self.schema_registry, Warehouse::parse(&lake.warehouse)?) {
            (Some(r), _) => r.clone(),
            (None, Warehouse::Local(dir)) => {
                format!("file:{}", dir.join("schema-registry.json").display())
            }
            (None, Warehouse::S3 { .. }) => {
                return Err(Error::Config(
                    "an S3 warehouse needs --schema-registry (OLISTLAKE_SCHEMA_REGISTRY)".into(),
                ));
            }
        };
        Ok(KafkaConfig {
            bootstrap,
            registry,
        })
    }
}

/// `host:port[,host:port]`: a malformed list is a configuration error (exit 1), not an
/// unreachable broker to retry.
fn check_bootstrap(bootstrap: &str) -> Result<()> {
    for server in bootstrap.split(',').map(str::trim) {
        let server = server
            .strip_prefix("PLAINTEXT://")
            .or_else(|| server.strip_prefix("SSL://"))
            .unwrap_or(server);
        let ok = server.rsplit_once(':').is_some_and(|(host, port)| {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !ok {
            return Err(Error::Config(format!(
                "Kafka bootstrap `{bootstrap}`: `{server}` is not host:port"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_bootstrap;

    #[test]
    fn bootstrap_lists_are_checked() {
        for good in [
            "127.0.0.1:9092",
            "kafka-1:9092,kafka-2:9092",
            "[::1]:9092",
            "PLAINTEXT://k:1",
        ] {
            assert!(check_bootstrap(good).is_ok(), "{good}");
        }
        for bad in [
            "localhost",
            "no such host:9092",
            "h:0",
            "h:port",
            ":9092",
            "h:9092,",
        ] {
            assert!(check_bootstrap(bad).is_err(), "{bad}");
        }
    }
}
