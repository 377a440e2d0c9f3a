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
