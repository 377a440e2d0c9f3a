//! Reads: DataFusion SQL over the lake's tables, at the current snapshot or back in time.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::prelude::{SessionConfig, SessionContext};
use iceberg::Catalog;
use iceberg::table::Table;

use super::scanned::{CountedTable, ScanLog};
use crate::error::{Error, Result};

/// Which snapshot each table is read at.
#[derive(Debug, Clone, Default)]
pub struct ReadAt {
    /// Every table as it was at this time (ms since the epoch); tables created later are absent.
    pub as_of_ms: Option<i64>,
    /// Per-table snapshot ids (`namespace.table` → id); wins over `as_of_ms`.
    pub snapshots: HashMap<String, i64>,
}

impl ReadAt {
    pub fn current() -> Self {
        Self::default()
    }

    pub fn snapshot(table: &str, snapshot_id: i64) -> Self {
        ReadAt {
            as_of_ms: None,
            snapshots: HashMap::from([(table.to_string(), snapshot_id)]),
        }
    }

    pub fn as_of(ms: i64) -> Self {
        ReadAt {
            as_of_ms: Some(ms),
            snapshots: HashMap::new(),
        }
    }
}

/// The snapshot a table is read at, or `Err` when the table did not exist at that time.
fn pick_snapshot(table: &Table, qualified: &str, at: &ReadAt) -> Result<Option<Option<i64>>> {
    let md = table.metadata();
    if let Some(id) = at.snapshots.get(qualified) {
        if md.snapshot_by_id(*id).is_none() {
            return Err(Error::NoSuchSnapshot {
                table: qualified.to_string(),
                snapshot: *id,
            });
        }
        return Ok(Some(Some(*id)));
    }
    match at.as_of_ms {
        None => Ok(Some(None)),
        Some(ms) => Ok(md
            .history()
            .iter()
            .filter(|log| log.timestamp_ms <= ms)
            .max_by_key(|log| log.timestamp_ms)
            .map(|log| Some(log.snapshot_id))),
    }
}

/// A DataFusion session over the lake.
pub struct LakeSession {
    /// Every table registered as `namespace.table`, each pinned to one snapshot for the
    /// session's life.
    pub ctx: SessionContext,
    /// The snapshot each table is read at (tables without one are left out).
    pub pinned: BTreeMap<String, Pinned>,
    /// What the session's scans open, per table.
    pub scans: ScanLog,
    /// Every table as loaded for the session (`namespace.table` → table).
    pub tables: BTreeMap<String, Table>,
}

/// A session with every table registered, read as `at` says.
/// `wanted` picks the tables (`namespace.table`) the session holds: each one loaded means its
/// whole metadata file parsed, which after a long history of daily commits is not free.
pub(crate) async fn session(
    catalog: &dyn Catalog,
    at: &ReadAt,
    wanted: &(dyn Fn(&str) -> bool + Sync),
) -> Result<LakeSession> {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_target_partitions(2);
    let ctx = SessionContext::new_with_config(config);
    let df_catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| Error::Catalog("DataFusion default catalog missing".into()))?;
    let mut pinned = BTreeMap::new();
    let mut tables = BTreeMap::new();
    let scans = ScanLog::default();
    for ns in catalog.list_namespaces(None).await? {
        let schema = Arc::new(MemorySchemaProvider::new());
        for ident in catalog.list_tables(&ns).await? {
            let qualified = ident.to_string();
            if !wanted(&qualified) {
                continue;
            }
            let table = catalog.load_table(&ident).await?;
            let snapshot = match pick_snapshot(&table, &qualified, at)? {
                None => continue,
                Some(None) => table.metadata().current_snapshot_id(),
                Some(Some(id)) => Some(id),
            };
            if let Some(id) = snapshot {
                pinned.insert(qualified.clone(), Pinned::of(&table, id));
            }
            tables.insert(qualified.clone(), table.clone());
            let provider = CountedTable::new(table, snapshot, qualified, scans.clone()).await?;
            schema.register_table(ident.name().to_string(), Arc::new(provider))?;
        }
        df_catalog.register_schema(&ns.join("."), schema)?;
    }
    Ok(LakeSession {
        ctx,
        pinned,
        scans,
        tables,
    })
}

/// The snapshot a session reads a table at, and how many rows it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pinned {
    pub snapshot_id: i64,
    /// `total-records` of the snapshot summary (absent in summaries of other writers).
    pub records: Option<u64>,
}

impl Pinned {
    fn of(table: &iceberg::table::Table, snapshot_id: i64) -> Pinned {
        let records = table
            .metadata()
            .snapshot_by_id(snapshot_id)
            .and_then(|s| s.summary().additional_properties.get("total-records"))
            .and_then(|v| v.parse().ok());
        Pinned {
            snapshot_id,
            records,
        }
    }
}

/// Runs one SQL statement and collects the result.
pub(crate) async fn sql(
    catalog: &dyn Catalog,
    query: &str,
    at: &ReadAt,
) -> Result<Vec<RecordBatch>> {
    let session = session(catalog, at, &|_| true).await?;
    Ok(session.ctx.sql(query).await?.collect().await?)
}
