//! Configuration shared by every binary: flags with environment-variable fallbacks.
//!
//! Nothing here names a host or a secret: the defaults describe the embedded setup (a local
//! warehouse directory with a SQLite catalog file inside it). S3 credentials are read from the
//! standard `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` variables only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::error::{Error, Result};

/// Where the lake lives: catalog and warehouse.
#[derive(Args, Debug, Clone)]
pub struct LakeArgs {
    /// Warehouse location: a local directory, or `s3://bucket/prefix` for an S3-compatible store.
    #[arg(
        long,
        global = true,
        env = "OLISTLAKE_WAREHOUSE",
        default_value = "lakehouse"
    )]
    pub warehouse: String,

    /// Iceberg catalog: `sqlite:PATH` or `postgres://user:pass@host:port/db` (SQL/JDBC catalog
    /// tables, shared with Spark and pyiceberg), or `http(s)://host:port[/path]` (an Iceberg REST
    /// catalog). Default: `sqlite:<warehouse>/catalog.db` for a local warehouse; an S3
    /// warehouse needs an explicit catalog.
    #[arg(long, global = true, env = "OLISTLAKE_CATALOG_URI")]
    pub catalog_uri: Option<String>,

    /// REST catalog only: the `warehouse` the server is asked for (e.g. a Polaris catalog
    /// name); unset means the server's default.
    #[arg(long, global = true, env = "OLISTLAKE_CATALOG_WAREHOUSE")]
    pub catalog_warehouse: Option<String>,

    /// Catalog name recorded in the catalog tables (pyiceberg's `SqlCatalog(name)`).
    #[arg(
        long,
        global = true,
        env = "OLISTLAKE_CATALOG_NAME",
        default_value = "olistlake"
    )]
    pub catalog_name: String,

    /// S3 endpoint URL (MinIO, s3s-fs); unset means AWS.
    #[arg(long, global = true, env = "OLISTLAKE_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// S3 region.
    #[arg(
        long,
        global = true,
        env = "OLISTLAKE_S3_REGION",
        default_value = "us-east-1"
    )]
    pub s3_region: String,

    /// Use path-style S3 URLs (`endpoint/bucket/key`), as MinIO and s3s-fs need.
    #[arg(long, global = true, env = "OLISTLAKE_S3_PATH_STYLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub s3_path_style: bool,

    /// Snapshots a table keeps whatever their age: once a commit leaves a table with a quarter
    /// more than this, the oldest expire (as `expire-snapshots --retain-last N`) and the files
    /// only they referenced are deleted. Bounds every table's metadata, which each run parses,
    /// however many runs a catch-up makes. 0 keeps every snapshot (age-based expiry only).
    #[arg(
        long,
        global = true,
        env = "OLISTLAKE_MAX_SNAPSHOTS",
        default_value_t = crate::lake::DEFAULT_MAX_SNAPSHOTS
    )]
    pub max_snapshots: usize,
}

/// Kafka and the schema registry (used by the producer and bronze-load).
#[derive(Args, Debug, Clone)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, `host:port[,host:port]`.
    #[arg(long, env = "OLISTLAKE_KAFKA_BOOTSTRAP")]
    pub kafka_bootstrap: Option<String>,

    /// Schema registry: `http(s)://host:port` (Confluent REST API) or `file:PATH`.
    /// Default: `file:<warehouse>/schema-registry.json` beside a local warehouse.
    #[arg(long, env = "OLISTLAKE_SCHEMA_REGISTRY")]
    pub schema_registry: Option<String>,
}

/// The catalog database, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogUri {
    /// A SQLite file (created when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database (connection URL as given).
    Postgres(String),
    /// An Iceberg REST catalog (base URL, without `/v1`).
    Rest(String),
}

impl CatalogUri {
    pub fn parse(uri: &str) -> Result<Self> {
        if let Some(rest) = uri.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            // `sqlite:////abs` (SQLAlchemy form) and `sqlite:///abs` both end up absolute.
            let path = if rest.starts_with("//") && !path.starts_with('/') {
                format!("/{path}")
            } else {
                path.to_string()
            };
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(Error::Config(format!("catalog URI `{uri}` names no file")));
            }
            Ok(CatalogUri::Sqlite(absolute(Path::new(path))))
        } else if uri.starts_with("postgres://") || uri.starts_with("postgresql://") {
            Ok(CatalogUri::Postgres(uri.to_string()))
        } else if uri.starts_with("http://") || uri.starts_with("https://") {
            let base = uri.trim_end_matches('/');
            // `…/v1` is where the API lives; the base URL is what clients are configured with
            Ok(CatalogUri::Rest(
                base.strip_suffix("/v1").unwrap_or(base).to_string(),
            ))
        } else {
            let scheme = uri.split(':').next().unwrap_or(uri);
            Err(Error::Config(format!(
                "unknown catalog scheme `{scheme}` in `{uri}`: use `sqlite:PATH`, \
                 `postgres://…` or `http(s)://…` (an Iceberg REST catalog)"
            )))
        }
    }

    /// The URL handed to sqlx (SQL catalogs) or the REST client.
    pub fn sqlx_url(&self) -> String {
        match self {
            CatalogUri::Sqlite(p) => format!("sqlite://{}?mode=rwc", p.display()),
            CatalogUri::Postgres(u) | CatalogUri::Rest(u) => u.clone(),
        }
    }

    /// The URL as pyiceberg / SQLAlchemy spell it (SQL catalogs), or the REST base URL.
    pub fn sqlalchemy_url(&self) -> String {
        match self {
            CatalogUri::Sqlite(p) => format!("sqlite:///{}", p.display()),
            CatalogUri::Postgres(u) => u.replacen("postgres://", "postgresql+psycopg2://", 1),
            CatalogUri::Rest(u) => u.clone(),
        }
    }

    /// Credentials are never printed.
    pub fn redacted(&self) -> String {
        match self {
            CatalogUri::Sqlite(p) => format!("sqlite:{}", p.display()),
            CatalogUri::Postgres(u) | CatalogUri::Rest(u) => redact_url(u),
        }
    }
}

/// Where table files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warehouse {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl Warehouse {
    pub fn parse(loc: &str) -> Result<Self> {
        if let Some(rest) = loc
            .strip_prefix("s3://")
            .or_else(|| loc.strip_prefix("s3a://"))
        {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::Config(format!("warehouse `{loc}` names no bucket")));
            }
            Ok(Warehouse::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_end_matches('/').to_string(),
            })
        } else if let Some(path) = loc.strip_prefix("file://") {
            Ok(Warehouse::Local(absolute(Path::new(path))))
        } else if loc.contains("://") {
            Err(Error::Config(format!(
                "unsupported warehouse location `{loc}`: use a local directory or s3://bucket/prefix"
            )))
        } else {
            Ok(Warehouse::Local(absolute(Path::new(loc))))
        }
    }

    /// The warehouse as an Iceberg location URL.
    pub fn url(&self) -> String {
        match self {
            Warehouse::Local(p) => format!("file://{}", p.display()),
            Warehouse::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
            Warehouse::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }
}

/// Resolved lake configuration.
#[derive(Debug, Clone)]
pub struct LakeConfig {
    pub catalog: CatalogUri,
    pub catalog_name: String,
    pub warehouse: Warehouse,
    /// FileIO properties (S3 endpoint, region, credentials).
    pub storage_props: HashMap<String, String>,
    /// REST catalog properties (warehouse, OAuth2); empty for a SQL catalog.
    pub rest: RestOptions,
    /// Snapshots a table keeps after a commit (see [`LakeArgs::max_snapshots`]); 0: all.
    pub max_snapshots: usize,
}

/// What a REST catalog client is configured with besides its URL, in the property names of
/// Iceberg's REST clients (`warehouse`, `token`, `credential`, `oauth2-server-uri`, `scope`).
/// Secrets come from the environment only (`OLISTLAKE_CATALOG_TOKEN`,
/// `OLISTLAKE_CATALOG_CREDENTIAL` = `client_id:client_secret`), never from flags, and are
/// never printed: `Debug` shows the property names alone.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RestOptions(pub HashMap<String, String>);

impl std::fmt::Debug for RestOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<_> = self.0.keys().collect();
        keys.sort();
        f.debug_tuple("RestOptions").field(&keys).finish()
    }
}

impl RestOptions {
    /// From the environment and the warehouse flag.
    fn from_env(warehouse: Option<&str>) -> RestOptions {
        let mut props = HashMap::new();
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        for (var, prop) in [
            ("OLISTLAKE_CATALOG_TOKEN", "token"),
            ("OLISTLAKE_CATALOG_CREDENTIAL", "credential"),
            ("OLISTLAKE_CATALOG_OAUTH2_SERVER_URI", "oauth2-server-uri"),
            ("OLISTLAKE_CATALOG_SCOPE", "scope"),
        ] {
            if let Some(v) = env(var) {
                props.insert(prop.to_string(), v);
            }
        }
        if let Some(w) = warehouse.filter(|w| !w.trim().is_empty()) {
            props.insert("warehouse".to_string(), w.to_string());
        }
        RestOptions(props)
    }
}

impl LakeArgs {
    /// Resolves flags and environment into a configuration, or says what is wrong.
    pub fn resolve(&self) -> Result<LakeConfig> {
        let warehouse = Warehouse::parse(&self.warehouse)?;
        let catalog = match (&self.catalog_uri, &warehouse) {
            (Some(uri), _) => CatalogUri::parse(uri)?,
            (None, Warehouse::Local(dir)) => CatalogUri::Sqlite(dir.join("catalog.db")),
            (None, Warehouse::S3 { .. }) => {
                return Err(Error::Config(
                    "an S3 warehouse needs --catalog-uri (OLISTLAKE_CATALOG_URI): \
                     sqlite:PATH, postgres://… or http(s)://… (REST)"
                        .into(),
                ));
            }
        };
        let mut storage_props = HashMap::new();
        if let Warehouse::S3 { .. } = warehouse {
            let key = std::env::var("AWS_ACCESS_KEY_ID")
                .ok()
                .filter(|v| !v.is_empty());
            let secret = std::env::var("AWS_SECRET_ACCESS_KEY")
                .ok()
                .filter(|v| !v.is_empty());
            let (Some(key), Some(secret)) = (key, secret) else {
                return Err(Error::Config(
                    "an S3 warehouse needs credentials: set AWS_ACCESS_KEY_ID and \
                     AWS_SECRET_ACCESS_KEY"
                        .into(),
                ));
            };
            storage_props.insert("s3.access-key-id".into(), key);
            storage_props.insert("s3.secret-access-key".into(), secret);
            if let Ok(token) = std::env::var("AWS_SESSION_TOKEN")
                && !token.is_empty()
            {
                storage_props.insert("s3.session-token".into(), token);
            }
            storage_props.insert("s3.region".into(), self.s3_region.clone());
            if let Some(endpoint) = &self.s3_endpoint {
                storage_props.insert("s3.endpoint".into(), endpoint.clone());
            }
            storage_props.insert(
                "s3.path-style-access".into(),
                self.s3_path_style.to_string(),
            );
            // Never fall back to an EC2 metadata service or ~/.aws: configuration is explicit.
            storage_props.insert("s3.disable-ec2-metadata".into(), "true".into());
            storage_props.insert("s3.disable-config-load".into(), "true".into());
        }
        if self.catalog_name.trim().is_empty() {
            return Err(Error::Config("catalog name is empty".into()));
        }
        let rest = match catalog {
            CatalogUri::Rest(_) => RestOptions::from_env(self.catalog_warehouse.as_deref()),
            _ => RestOptions::default(),
        };
        Ok(LakeConfig {
            catalog,
            catalog_name: self.catalog_name.clone(),
            warehouse,
            storage_props,
            rest,
            max_snapshots: self.max_snapshots,
        })
    }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// `scheme://user:secret@host` → `scheme://user:***@host`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_uri_forms() {
        assert_eq!(
            CatalogUri::parse("sqlite:/tmp/c.db").unwrap(),
            CatalogUri::Sqlite("/tmp/c.db".into())
        );
        assert_eq!(
            CatalogUri::parse("sqlite:////tmp/c.db").unwrap(),
            CatalogUri::Sqlite("/tmp/c.db".into())
        );
        assert_eq!(
            CatalogUri::parse("sqlite:///tmp/c.db?mode=rwc").unwrap(),
            CatalogUri::Sqlite("/tmp/c.db".into())
        );
        assert!(matches!(
            CatalogUri::parse("postgres://u:p@127.0.0.1:5432/db").unwrap(),
            CatalogUri::Postgres(_)
        ));
        let err = CatalogUri::parse("mysql://x").unwrap_err().to_string();
        assert!(err.contains("unknown catalog scheme `mysql`"), "{err}");
    }

    #[test]
    fn warehouse_forms() {
        assert_eq!(
            Warehouse::parse("s3://bucket/some/prefix/").unwrap(),
            Warehouse::S3 {
                bucket: "bucket".into(),
                prefix: "some/prefix".into()
            }
        );
        assert_eq!(
            Warehouse::parse("/data/lake").unwrap().url(),
            "file:///data/lake"
        );
        assert!(Warehouse::parse("gs://b").is_err());
        assert!(Warehouse::parse("s3://").is_err());
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("postgres://user:secret@h:5432/db"),
            "postgres://user:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn rest_catalog_uris() {
        for (uri, base) in [
            ("http://127.0.0.1:8181", "http://127.0.0.1:8181"),
            ("http://h:8181/", "http://h:8181"),
            ("https://h/api/catalog/v1", "https://h/api/catalog"),
        ] {
            assert_eq!(
                CatalogUri::parse(uri).unwrap(),
                CatalogUri::Rest(base.into())
            );
        }
        // secrets are never in Debug output
        let opts = RestOptions(HashMap::from([("token".into(), "s3cr3t".into())]));
        assert!(!format!("{opts:?}").contains("s3cr3t"));
    }

    #[test]
    fn s3_without_catalog_is_a_config_error() {
        let args = LakeArgs {
            warehouse: "s3://b/p".into(),
            catalog_uri: None,
            catalog_warehouse: None,
            catalog_name: "olistlake".into(),
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_path_style: true,
            max_snapshots: crate::lake::DEFAULT_MAX_SNAPSHOTS,
        };
        assert!(matches!(args.resolve(), Err(Error::Config(_))));
    }
}
