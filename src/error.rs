//! Typed errors of the library and the exit-code contract of every job.

use std::process::ExitCode;

/// Exit codes shared by every binary (spec section 8). Airflow maps them:
/// `NothingToDo` → `skip_on_exit_code`, `Retryable` → task retries, `Fatal` → fail at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    Ok = 0,
    /// Bad configuration, failed checks, bad input: retrying cannot help.
    Fatal = 1,
    /// Storage, catalog or broker unreachable, commit conflict after retries.
    Retryable = 75, // EX_TEMPFAIL
    /// The interval holds no new input: nothing was written.
    NothingToDo = 99,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

/// Everything the library can fail with. Each variant knows whether a retry may help.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),

    #[error("catalog unreachable ({uri}): {message}")]
    CatalogUnreachable { uri: String, message: String },

    /// The catalog did not answer a commit request it received (REST 5xx, lost connection): the
    /// commit may or may not have happened, so its files are kept. A re-run sees which.
    #[error("table {table}: commit outcome unknown ({message}); files kept, re-run to continue")]
    CommitStateUnknown { table: String, message: String },

    #[error("catalog: {0}")]
    Catalog(String),

    #[error("storage unreachable ({location}): {message}")]
    StorageUnreachable { location: String, message: String },

    #[error("broker unreachable: {0}")]
    BrokerUnreachable(String),

    #[error("table {table}: commit conflict, gave up after {attempts} attempts")]
    CommitConflict { table: String, attempts: u32 },

    /// Another writer changed the table in a way this commit depends on (bronze: the offsets
    /// it started from); nothing was committed and a re-run starts from the new state.
    #[error("table {table}: another writer committed first ({reason}); nothing committed")]
    ConcurrentWrite { table: String, reason: String },

    /// The broker answers but a partition's messages stop coming before the run's end offset.
    #[error("Kafka partition not readable to its end: {0}")]
    PartitionStuck(String),

    #[error("schema registry unreachable ({url}): {message}")]
    RegistryUnreachable { url: String, message: String },

    /// Messages a correct registry might decode were met: the load stopped before them
    /// (offsets not advanced past them) so that they are loaded once the registry is right.
    #[error("unknown schema ids, load stopped before them (retry once the registry has them): {0}")]
    UnknownSchema(String),

    #[error("table {0} does not exist")]
    NoSuchTable(String),

    /// A bronze table holds rows but no snapshot left in its history records the Kafka offsets
    /// they came from (another writer's commits, then an expiry, removed the last one that did):
    /// loading from the start would load every row twice.
    #[error(
        "table {table} holds {rows} rows but no snapshot in its history records the Kafka \
         offsets they were loaded from (`olistlake.kafka.offsets`); refusing to load from the \
         start, which would load them twice. Roll the table back to a snapshot that has them."
    )]
    OffsetsNotFound { table: String, rows: String },

    #[error("table {table}: snapshot {snapshot} not found")]
    NoSuchSnapshot { table: String, snapshot: i64 },

    #[error("invalid input: {0}")]
    InvalidInput(String),

    #[error("query failed: {0}")]
    Query(#[from] datafusion::error::DataFusionError),

    #[error("model {file}: {source}")]
    ModelQuery {
        file: String,
        #[source]
        source: datafusion::error::DataFusionError,
    },

    #[error("model definition: {0}")]
    Model(String),

    #[error("checks failed, nothing committed: {0}")]
    ChecksFailed(String),

    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),

    #[error("iceberg: {0}")]
    Iceberg(#[source] iceberg::Error),

    #[error("io: {0}")]
    Io(#[from] std::io::Error),

    #[error("pushgateway {url}: {message}")]
    Push { url: String, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<iceberg::Error> for Error {
    fn from(e: iceberg::Error) -> Self {
        // Storage failures surface as iceberg errors; classify them so that an unreachable
        // object store yields the retryable exit code instead of a fatal one.
        let text = format!("{e:#}");
        if looks_like_unreachable(&text) {
            Error::StorageUnreachable {
                location: String::new(),
                message: text,
            }
        } else {
            Error::Iceberg(e)
        }
    }
}

fn looks_like_unreachable(text: &str) -> bool {
    const NEEDLES: [&str; 10] = [
        "Connection refused",
        "connection refused",
        "error sending request",
        "dns error",
        "timed out",
        "ConnectionRefused",
        "connect error",
        // a REST catalog's server errors, as the crate's client reports them
        "503 Service Unavailable",
        "502 Bad Gateway",
        "504 Gateway Timeout",
    ];
    NEEDLES.iter().any(|n| text.contains(n))
}

/// The catalog database was busy with another writer past its wait (SQLite's lock, a pool
/// with no free connection, PostgreSQL's serialization failures): nothing was changed, and a
/// retry a moment later succeeds.
fn looks_like_catalog_busy(text: &str) -> bool {
    const NEEDLES: [&str; 5] = [
        "database is locked",
        "database table is locked",
        "pool timed out while waiting for an open connection",
        "could not serialize access",
        "deadlock detected",
    ];
    NEEDLES.iter().any(|n| text.contains(n))
}

/// A full disk frees up (files expire, an operator acts): worth a retry, not a failure.
fn looks_like_no_space(text: &str) -> bool {
    text.contains("No space left on device")
        || text.contains("os error 28")
        || text.contains("StorageFull")
}

impl Error {
    /// The exit code a job ends with when it fails with this error.
    pub fn exit(&self) -> Exit {
        if looks_like_no_space(&self.to_string()) {
            return Exit::Retryable;
        }
        match self {
            Error::CatalogUnreachable { .. }
            | Error::StorageUnreachable { .. }
            | Error::BrokerUnreachable(_)
            | Error::Push { .. }
            | Error::RegistryUnreachable { .. }
            | Error::ConcurrentWrite { .. }
            | Error::UnknownSchema(_)
            | Error::PartitionStuck(_)
            | Error::CommitConflict { .. }
            | Error::CommitStateUnknown { .. } => Exit::Retryable,
            Error::Iceberg(e) if e.retryable() => Exit::Retryable,
            Error::Catalog(_) | Error::Iceberg(_) if looks_like_catalog_busy(&self.to_string()) => {
                Exit::Retryable
            }
            // A scan that lost the object store surfaces as a query error.
            Error::Query(e) | Error::ModelQuery { source: e, .. }
                if looks_like_unreachable(&e.to_string()) =>
            {
                Exit::Retryable
            }
            _ => Exit::Fatal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct_and_stable() {
        assert_eq!(Exit::Ok.code(), 0);
        assert_eq!(Exit::Fatal.code(), 1);
        assert_eq!(Exit::Retryable.code(), 75);
        assert_eq!(Exit::NothingToDo.code(), 99);
    }

    #[test]
    fn classification() {
        assert_eq!(Error::Config("x".into()).exit(), Exit::Fatal);
        let conflict = Error::CommitConflict {
            table: "t".into(),
            attempts: 3,
        };
        assert_eq!(conflict.exit(), Exit::Retryable);
        let e: Error = iceberg::Error::new(
            iceberg::ErrorKind::Unexpected,
            "error sending request: Connection refused",
        )
        .into();
        assert_eq!(e.exit(), Exit::Retryable);
        let full: Error = std::io::Error::from_raw_os_error(28).into();
        assert_eq!(full.exit(), Exit::Retryable, "{full}");
        let concurrent = Error::ConcurrentWrite {
            table: "bronze.payment".into(),
            reason: "offsets moved".into(),
        };
        assert_eq!(concurrent.exit(), Exit::Retryable);
        assert_eq!(Error::UnknownSchema("x".into()).exit(), Exit::Retryable);
    }

    #[test]
    fn a_busy_catalog_database_is_retryable() {
        // as sqlx reports SQLite's SQLITE_BUSY, through our own queries and the crate's
        let text = "error returned from database: (code: 5) database is locked";
        let ours = Error::Catalog(format!("swapping metadata of bronze.payment: {text}"));
        assert_eq!(ours.exit(), Exit::Retryable);
        let crates: Error = iceberg::Error::new(
            iceberg::ErrorKind::Unexpected,
            "operation failed for hitting sqlx error",
        )
        .with_source(anyhow::anyhow!(text))
        .into();
        assert_eq!(crates.exit(), Exit::Retryable, "{crates}");
        // a catalog that answers with something else stays fatal
        let other = Error::Catalog("reading the metadata location of t: no such column".into());
        assert_eq!(other.exit(), Exit::Fatal);
    }
}
