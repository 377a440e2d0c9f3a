//! The lake: one Iceberg catalog plus a warehouse, and everything the jobs do with them.
//!
//! All Iceberg code of the project lives under this module. Jobs see [`Lake`]: create tables
//! from [`tables`], write record batches with one of three commit kinds, read with SQL, inspect
//! and roll back snapshots, expire old ones.

mod catalog;
pub mod commit;
pub mod compact;
pub mod consistent;
mod orphans;
pub mod read;
pub mod scanned;
mod table_cache;
pub mod tables;
#[cfg(test)]
pub(crate) mod test_support;
pub mod write;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::RecordBatch;
use iceberg::io::{FileIO, FileIOBuilder};
use iceberg::spec::{FormatVersion, ManifestList, SnapshotRef, Struct, TableMetadata};
use iceberg::table::Table;
use iceberg::{Catalog, NamespaceIdent, TableCreation, TableIdent};
use serde::Serialize;

pub use commit::{CommitKind, CommitOutcome, Precondition, RetryPolicy};
pub use compact::{RewriteOptions, RewriteOutcome};
pub use orphans::OrphanOutcome;
pub use read::{LakeSession, Pinned, ReadAt};
pub use tables::TableDef;

use crate::config::{LakeConfig, Warehouse};
use crate::error::{Error, Result};
use catalog::Publisher;

/// The newest snapshot of the current history that changed rows (not a `replace`).
fn last_data_change(md: &TableMetadata) -> Option<&iceberg::spec::SnapshotRef> {
    let mut snapshot = md.current_snapshot();
    while let Some(s) = snapshot {
        if s.summary().operation != iceberg::spec::Operation::Replace {
            return Some(s);
        }
        snapshot = s.parent_snapshot_id().and_then(|p| md.snapshot_by_id(p));
    }
    None
}

/// Snapshot-summary keys the project writes on every commit.
pub mod summary_keys {
    pub const JOB: &str = "olistlake.job";
    pub const RUN_ID: &str = "olistlake.run-id";
    pub const INTERVAL: &str = "olistlake.interval";
    pub const INPUT_SNAPSHOTS: &str = "olistlake.input-snapshots";
    pub const INPUT_ROWS: &str = "olistlake.input-rows";
    pub const ROWS: &str = "olistlake.rows";
    /// Bronze: the Kafka offsets the table's rows were loaded up to (`partition:next,…`).
    /// bronze-load finds them on the newest snapshot of the current history that has them, so
    /// the expiry keeps that snapshot and its descendants.
    pub const KAFKA_OFFSETS: &str = "olistlake.kafka.offsets";
    /// The maintenance operation that made a snapshot (`rewrite-data-files`).
    pub const MAINTENANCE: &str = "olistlake.maintenance";
}

/// Who is committing and why: recorded in every snapshot summary.
#[derive(Debug, Clone, Default)]
pub struct CommitContext {
    pub job: String,
    pub run_id: String,
    /// `start/end` in ISO 8601, or `full` for a full refresh.
    pub interval: String,
    /// Snapshot ids of the tables read, `namespace.table` → id.
    pub input_snapshots: BTreeMap<String, i64>,
    pub input_rows: Option<u64>,
    /// Extra summary properties (bronze stores Kafka offsets here).
    pub extra: BTreeMap<String, String>,
}

impl CommitContext {
    fn properties(&self, rows: u64) -> HashMap<String, String> {
        use summary_keys::*;
        let mut p: HashMap<String, String> = self.extra.clone().into_iter().collect();
        p.insert(JOB.into(), self.job.clone());
        p.insert(RUN_ID.into(), self.run_id.clone());
        p.insert(INTERVAL.into(), self.interval.clone());
        p.insert(ROWS.into(), rows.to_string());
        if !self.input_snapshots.is_empty() {
            let inputs = self
                .input_snapshots
                .iter()
                .map(|(t, id)| format!("{t}={id}"))
                .collect::<Vec<_>>()
                .join(",");
            p.insert(INPUT_SNAPSHOTS.into(), inputs);
        }
        if let Some(rows) = self.input_rows {
            p.insert(INPUT_ROWS.into(), rows.to_string());
        }
        p
    }
}

/// A column a table's partition values are computed from ([`Lake::partition_sources`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSource {
    pub column: String,
    pub transform: iceberg::spec::Transform,
    /// The column is a timestamp (with or without zone).
    pub timestamp: bool,
}

/// One snapshot of a table, for history listings.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotInfo {
    pub snapshot_id: i64,
    pub parent_id: Option<i64>,
    pub sequence_number: i64,
    pub timestamp_ms: i64,
    pub operation: String,
    pub is_current: bool,
    pub summary: BTreeMap<String, String>,
}

/// Size and freshness of one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableStats {
    pub table: String,
    pub rows: u64,
    pub files: u64,
    pub size_bytes: u64,
    pub snapshots: usize,
    pub current_snapshot_id: Option<i64>,
    pub last_commit_ms: Option<i64>,
    pub last_operation: Option<String>,
}

/// A live data file of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataFileInfo {
    pub path: String,
    pub partition: String,
    pub records: u64,
    pub size_bytes: u64,
    /// The partition spec the file was written with.
    pub spec_id: i32,
}

/// What `expire_snapshots` removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExpireOutcome {
    pub table: String,
    pub expired_snapshots: usize,
    pub deleted_data_files: usize,
    pub deleted_manifests: usize,
    pub deleted_manifest_lists: usize,
}

/// Snapshots a table keeps whatever their age, by default (`--max-snapshots`): a daily
/// schedule makes one commit a day to most tables, so this is months of history, longer than
/// the maintenance DAG's age-based retention keeps; a catch-up of the whole timeline makes
/// hundreds within the hour, and this is what keeps each run's metadata parse small then.
pub const DEFAULT_MAX_SNAPSHOTS: usize = 100;

/// Whether a table holding `snapshots` snapshots after a commit has its oldest expired, down to
/// `max` (0: never). Expiry waits for a quarter more than `max`: it reads every kept snapshot's
/// manifests to know which files it may delete, so it runs once in `max / 4` commits, not on
/// each.
pub fn history_needs_expiry(snapshots: usize, max: usize) -> bool {
    max > 0 && snapshots > max + max.div_ceil(4)
}

/// An open lake.
#[derive(Debug, Clone)]
pub struct Lake {
    catalog: Arc<dyn Catalog>,
    publisher: Publisher,
    config: LakeConfig,
    file_io: FileIO,
    retry: RetryPolicy,
}

impl Lake {
    /// Connects to the catalog and checks the warehouse is reachable.
    pub async fn open(config: &LakeConfig) -> Result<Lake> {
        let (catalog, publisher) = catalog::open(config).await?;
        let file_io = FileIOBuilder::new(catalog::storage_factory(config))
            .with_props(config.storage_props.clone())
            .build();
        let lake = Lake {
            catalog,
            publisher,
            config: config.clone(),
            file_io,
            retry: RetryPolicy::default(),
        };
        lake.probe_storage().await?;
        Ok(lake)
    }

    pub fn config(&self) -> &LakeConfig {
        &self.config
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The snapshots a table keeps after this lake's commits (0: all; see
    /// [`history_needs_expiry`]).
    pub fn with_max_snapshots(mut self, max_snapshots: usize) -> Self {
        self.config.max_snapshots = max_snapshots;
        self
    }

    /// After a commit: expires the table's oldest snapshots once it holds too many (see
    /// [`history_needs_expiry`]), keeping the newest `max_snapshots` whatever their age. The
    /// commit has landed whatever happens here: a failure is logged, and the next commit to
    /// the table tries again.
    pub(crate) async fn bound_history(&self, ident: &TableIdent, committed: &CommitOutcome) {
        let max = self.config.max_snapshots;
        if !history_needs_expiry(committed.snapshots, max) {
            return;
        }
        match self.expire_snapshots(ident, i64::MAX, max).await {
            Ok(o) => tracing::info!(
                table = %ident,
                "history bounded to {max} snapshots: {} expired, {} data files deleted",
                o.expired_snapshots,
                o.deleted_data_files
            ),
            Err(e) => tracing::warn!(
                table = %ident,
                "old snapshots not expired (the next commit tries again): {e}"
            ),
        }
    }

    /// Fails early, and classified, when the object store cannot be used.
    async fn probe_storage(&self) -> Result<()> {
        let url = self.config.warehouse.url();
        match &self.config.warehouse {
            Warehouse::Local(dir) => std::fs::create_dir_all(dir).map_err(|e| {
                Error::Config(format!("cannot create warehouse {}: {e}", dir.display()))
            }),
            Warehouse::S3 { .. } => {
                let probe = format!("{url}/.olistlake-probe");
                let result = match self.file_io.new_output(&probe) {
                    Ok(out) => out.write(bytes::Bytes::from_static(b"ok")).await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        let text = format!("{e:#}");
                        // (not a bare "403": the endpoint's port number can contain it)
                        if text.contains("PermissionDenied")
                            || text.contains("403 Forbidden")
                            || text.contains("AccessDenied")
                            || text.contains("InvalidAccessKeyId")
                            || text.contains("SignatureDoesNotMatch")
                        {
                            Err(Error::Config(format!(
                                "S3 refused the credentials for {url}: {text}"
                            )))
                        } else if text.contains("NoSuchBucket") {
                            Err(Error::Config(format!(
                                "bucket of {url} does not exist: {text}"
                            )))
                        } else {
                            Err(Error::StorageUnreachable {
                                location: url,
                                message: text,
                            })
                        }
                    }
                }
            }
        }
    }

    /// Creates the namespaces and tables that do not exist yet (safe to race), and adds the
    /// columns their definitions have gained to the tables that do.
    pub async fn ensure_tables(&self, defs: &[&TableDef]) -> Result<()> {
        self.ensure_tables_evolving(defs, &|_| true).await
    }

    /// As [`Lake::ensure_tables`], checking the columns only of the existing tables `evolve`
    /// picks: the check loads the table, which parses its whole metadata file.
    pub async fn ensure_tables_evolving(
        &self,
        defs: &[&TableDef],
        evolve: &(dyn Fn(&TableDef) -> bool + Sync),
    ) -> Result<()> {
        let mut namespaces: Vec<&str> = defs.iter().map(|d| d.namespace).collect();
        namespaces.dedup();
        for ns in namespaces {
            let ident = NamespaceIdent::new(ns.to_string());
            if !self.catalog.namespace_exists(&ident).await?
                && let Err(e) = self.catalog.create_namespace(&ident, HashMap::new()).await
                && !self.catalog.namespace_exists(&ident).await?
            {
                return Err(e.into());
            }
        }
        for def in defs {
            let ident = def.ident();
            if self.catalog.table_exists(&ident).await? {
                if evolve(def) {
                    self.evolve_to_definition(def).await?;
                }
                continue;
            }
            let creation = TableCreation::builder()
                .name(def.name.to_string())
                .schema(def.schema()?)
                .partition_spec(def.partition_spec()?)
                .properties(def.properties())
                .build();
            if let Err(e) = self.catalog.create_table(&ident.namespace, creation).await
                && !self.catalog.table_exists(&ident).await?
            {
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Loads the given tables two at a time, one per core, so that the run's later loads of
    /// them are answered by the catalog's cache (`table_cache`). Loading parses a table's whole
    /// metadata file, which lists every snapshot it keeps: after a day-by-day catch-up that is
    /// ~1.4 MB per table and a job reads ~25 tables. A table that does not exist (or fails to
    /// load) is left to the load that needs it, which creates it or reports why not.
    pub async fn preload(&self, idents: Vec<TableIdent>) {
        use futures::StreamExt;
        futures::stream::iter(idents)
            .map(|ident| {
                let catalog = self.catalog.clone();
                // a task each: parsing is CPU work, and futures polled by one task share a core
                tokio::spawn(async move {
                    let _ = catalog.load_table(&ident).await;
                })
            })
            .buffer_unordered(2)
            .for_each(|_| async {})
            .await;
    }

    /// Brings a table that exists up to its definition: the columns it lacks are added
    /// (optional ones only; earlier rows read them as null, and the next run that rewrites a
    /// partition fills them; a new required column cannot be added to existing rows) and the
    /// properties it has gained since the table was created (e.g.
    /// `write.metadata.delete-after-commit.enabled`) are set; a property the table has, at any
    /// value, stays as it is. A state table (derived from bronze, see `transform::state`) also
    /// loses the columns its definition no longer has: its rows are rewritten in the
    /// definition's columns, which a required column it still had would refuse. Other tables
    /// keep every column they have (their data is not derived: a column left out of a
    /// definition is not a reason to hide it). All of it goes in one metadata change.
    async fn evolve_to_definition(&self, def: &TableDef) -> Result<()> {
        let table = self.catalog.load_table(&def.ident()).await?;
        let md = table.metadata();
        let current = md.current_schema();
        let mut columns = Vec::new();
        for field in def.schema()?.as_struct().fields() {
            if current.field_by_name(&field.name).is_some() {
                continue;
            }
            if field.required {
                return Err(Error::Config(format!(
                    "table {} lacks the required column `{}`: a required column cannot be added \
                     to existing rows; drop the table and run with --full-refresh",
                    def.qualified(),
                    field.name
                )));
            }
            columns.push((field.name.clone(), (*field.field_type).clone()));
        }
        let defined = def.schema()?;
        let dropped: Vec<String> = if def.namespace == "state" {
            current
                .as_struct()
                .fields()
                .iter()
                .filter(|f| defined.field_by_name(&f.name).is_none())
                .map(|f| f.name.clone())
                .collect()
        } else {
            Vec::new()
        };
        let properties = def.properties();
        let new_properties: Vec<&String> = properties
            .keys()
            .filter(|k| !md.properties().contains_key(*k))
            .collect();
        if columns.is_empty() && dropped.is_empty() && new_properties.is_empty() {
            return Ok(());
        }
        tracing::info!(
            table = %def.qualified(),
            columns = ?columns.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            dropped = ?dropped,
            properties = ?new_properties,
            "bringing the table up to its definition"
        );
        commit::evolve(
            self.catalog.as_ref(),
            &self.publisher,
            &def.ident(),
            &columns,
            &dropped,
            &properties,
            self.retry,
        )
        .await
    }

    /// Loads a table by identifier (`bronze.order_status`).
    pub async fn table(&self, ident: &TableIdent) -> Result<Table> {
        if !self.catalog.table_exists(ident).await? {
            return Err(Error::NoSuchTable(ident.to_string()));
        }
        Ok(self.catalog.load_table(ident).await?)
    }

    /// Every table in the catalog, by namespace.
    pub async fn list_tables(&self) -> Result<Vec<TableIdent>> {
        let mut out = Vec::new();
        for ns in self.catalog.list_namespaces(None).await? {
            out.extend(self.catalog.list_tables(&ns).await?);
        }
        out.sort_by_key(|t| t.to_string());
        Ok(out)
    }

    /// Writes `batches` and commits them with `kind` in one atomic snapshot.
    pub async fn write(
        &self,
        ident: &TableIdent,
        kind: CommitKind,
        batches: &[RecordBatch],
        ctx: &CommitContext,
    ) -> Result<CommitOutcome> {
        self.write_if(ident, kind, batches, ctx, None).await
    }

    /// [`Lake::write`], committed only while `precondition` holds on the table's current
    /// metadata (checked again after every lost race); otherwise nothing is committed, the
    /// written files are deleted and the error is [`Error::ConcurrentWrite`].
    pub async fn write_if(
        &self,
        ident: &TableIdent,
        kind: CommitKind,
        batches: &[RecordBatch],
        ctx: &CommitContext,
        precondition: Option<&Precondition>,
    ) -> Result<CommitOutcome> {
        let table = self.table(ident).await?;
        let files = write::write_data_files(&table, batches, &file_prefix(ctx)).await?;
        self.commit_written_if(ident, kind, files, ctx, precondition)
            .await
    }

    /// A writer of `ident`'s data files for a stream of batches; its files are committed with
    /// [`Lake::commit_written_if`].
    pub async fn stream_writer(
        &self,
        ident: &TableIdent,
        ctx: &CommitContext,
    ) -> Result<write::StreamWriter> {
        write::StreamWriter::new(&self.table(ident).await?, &file_prefix(ctx))
    }

    /// Deletes data files written for a commit that will not happen (they are unreferenced).
    pub async fn discard_written(&self, ident: &TableIdent, files: &[iceberg::spec::DataFile]) {
        match self.table(ident).await {
            Ok(table) => commit::delete_data_files(table.file_io(), files).await,
            Err(e) => {
                tracing::warn!(table = %ident, "could not delete uncommitted data files: {e}")
            }
        }
    }

    /// Commits data files already written (by a [`write::StreamWriter`]) as [`Lake::write_if`]
    /// commits its own.
    pub async fn commit_written_if(
        &self,
        ident: &TableIdent,
        kind: CommitKind,
        files: Vec<iceberg::spec::DataFile>,
        ctx: &CommitContext,
        precondition: Option<&Precondition>,
    ) -> Result<CommitOutcome> {
        let rows = files.iter().map(|f| f.record_count()).sum();
        failpoint_before_commit(ident, &files).await;
        let request = commit::CommitRequest {
            kind: &kind,
            files,
            properties: ctx.properties(rows),
            precondition,
        };
        let committed = commit::commit_files(
            self.catalog.as_ref(),
            &self.publisher,
            ident,
            request,
            self.retry,
        )
        .await?;
        self.bound_history(ident, &committed).await;
        Ok(committed)
    }

    /// The partition values (as Iceberg structs) that rows of `batch` fall into; used to name
    /// the partitions an overwrite replaces even when they end up empty.
    pub async fn partitions_of(
        &self,
        ident: &TableIdent,
        batches: &[RecordBatch],
    ) -> Result<Vec<Struct>> {
        let table = self.table(ident).await?;
        let Some(splitter) = write::Splitter::of_table(&table)? else {
            return Ok(vec![Struct::empty()]);
        };
        let schema = write::arrow_schema(&table)?;
        let mut seen = HashSet::new();
        for batch in batches.iter().filter(|b| b.num_rows() > 0) {
            let batch = write::conform(&ident.to_string(), &schema, batch)?;
            seen.extend(splitter.values(&batch)?);
        }
        Ok(seen.into_iter().collect())
    }

    /// The partitions `touched` rows fall into, and the rows of `rows` that lie in them: what
    /// an interval run overwrites. An unpartitioned table is one partition, touched when any
    /// row is. `touched` needs only the columns of [`Lake::partition_sources`] (a caller
    /// reads those alone); `rows` are whole rows, to be written.
    pub async fn select_partitions(
        &self,
        ident: &TableIdent,
        touched: &[RecordBatch],
        rows: &[RecordBatch],
    ) -> Result<(Vec<Struct>, Vec<RecordBatch>)> {
        let table = self.table(ident).await?;
        let Some(splitter) = write::Splitter::of_table(&table)? else {
            return Ok(if touched.iter().any(|b| b.num_rows() > 0) {
                (vec![Struct::empty()], rows.to_vec())
            } else {
                (Vec::new(), Vec::new())
            });
        };
        let schema = write::arrow_schema(&table)?;
        let name = ident.to_string();
        let mut parts = HashSet::new();
        for batch in touched.iter().filter(|b| b.num_rows() > 0) {
            parts.extend(splitter.values(&write::widen(&name, &schema, batch)?)?);
        }
        let mut kept = Vec::new();
        for batch in rows.iter().filter(|b| b.num_rows() > 0) {
            for (key, part) in splitter.split(&write::conform(&name, &schema, batch)?)? {
                if parts.contains(key.data()) {
                    kept.push(part);
                }
            }
        }
        let mut parts: Vec<Struct> = parts.into_iter().collect();
        parts.sort_by_key(|p| format!("{p:?}"));
        Ok((parts, kept))
    }

    /// The columns the table's partition values are computed from, in spec order, with their
    /// transform and whether the column is a timestamp (a time transform of one is the same
    /// for every timestamp in the same period, so a reader may truncate them first).
    pub async fn partition_sources(&self, ident: &TableIdent) -> Result<Vec<PartitionSource>> {
        let table = self.table(ident).await?;
        let md = table.metadata();
        let schema = md.current_schema();
        md.default_partition_spec()
            .fields()
            .iter()
            .map(|f| {
                let field = schema.field_by_id(f.source_id).ok_or_else(|| {
                    Error::Catalog(format!(
                        "{ident}: partition field `{}` has no source column",
                        f.name
                    ))
                })?;
                Ok(PartitionSource {
                    column: field.name.clone(),
                    transform: f.transform,
                    timestamp: matches!(
                        *field.field_type,
                        iceberg::spec::Type::Primitive(
                            iceberg::spec::PrimitiveType::Timestamp
                                | iceberg::spec::PrimitiveType::Timestamptz
                        )
                    ),
                })
            })
            .collect()
    }

    /// Deletes the data files under the table's `data/` that no snapshot references and that
    /// are older than `older_than` (all of them listed, none deleted, with `dry_run`).
    pub async fn remove_orphan_files(
        &self,
        ident: &TableIdent,
        older_than: std::time::Duration,
        dry_run: bool,
    ) -> Result<OrphanOutcome> {
        orphans::remove_orphan_files(self, ident, older_than, dry_run).await
    }

    /// Moves the table's `main` branch back to `snapshot_id`.
    pub async fn rollback(&self, ident: &TableIdent, snapshot_id: i64) -> Result<String> {
        commit::rollback(
            self.catalog.as_ref(),
            &self.publisher,
            ident,
            snapshot_id,
            self.retry,
        )
        .await
    }

    /// A table's snapshots, oldest first.
    pub async fn snapshots(&self, ident: &TableIdent) -> Result<Vec<SnapshotInfo>> {
        let table = self.table(ident).await?;
        let md = table.metadata();
        let current = md.current_snapshot_id();
        let mut out: Vec<SnapshotInfo> = md
            .snapshots()
            .map(|s| SnapshotInfo {
                snapshot_id: s.snapshot_id(),
                parent_id: s.parent_snapshot_id(),
                sequence_number: s.sequence_number(),
                timestamp_ms: s.timestamp_ms(),
                operation: s.summary().operation.as_str().to_string(),
                is_current: Some(s.snapshot_id()) == current,
                summary: s
                    .summary()
                    .additional_properties
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            })
            .collect();
        out.sort_by_key(|s| (s.sequence_number, s.timestamp_ms));
        Ok(out)
    }

    /// Rows, files and size of a table at its current snapshot, from the snapshot summary.
    pub async fn stats(&self, ident: &TableIdent) -> Result<TableStats> {
        let table = self.table(ident).await?;
        let md = table.metadata();
        let current = md.current_snapshot();
        let get = |k: &str| {
            current
                .and_then(|s| s.summary().additional_properties.get(k))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(TableStats {
            table: ident.to_string(),
            rows: get("total-records"),
            files: get("total-data-files"),
            size_bytes: get("total-files-size"),
            snapshots: md.snapshots().len(),
            current_snapshot_id: current.map(|s| s.snapshot_id()),
            last_commit_ms: current.map(|s| s.timestamp_ms()),
            last_operation: current.map(|s| s.summary().operation.as_str().to_string()),
        })
    }

    /// The summary properties of a table's current snapshot (None when it has none yet).
    pub async fn current_summary(
        &self,
        ident: &TableIdent,
    ) -> Result<Option<HashMap<String, String>>> {
        let table = self.table(ident).await?;
        Ok(table
            .metadata()
            .current_snapshot()
            .map(|s| s.summary().additional_properties.clone()))
    }

    /// The summary of the snapshot that last changed the table's rows: the current one, or
    /// the one below the rewrites on top of it (operation `replace`: files compacted, rows
    /// unchanged, by this project or another engine). None when it has no such snapshot.
    pub async fn data_summary(
        &self,
        ident: &TableIdent,
    ) -> Result<Option<HashMap<String, String>>> {
        let table = self.table(ident).await?;
        Ok(last_data_change(table.metadata()).map(|s| s.summary().additional_properties.clone()))
    }

    /// The current snapshot id of a table (None when it has none yet).
    pub async fn current_snapshot_id(&self, ident: &TableIdent) -> Result<Option<i64>> {
        Ok(self.table(ident).await?.metadata().current_snapshot_id())
    }

    /// Runs SQL over the lake (tables are `namespace.table`).
    pub async fn sql(&self, query: &str, at: &ReadAt) -> Result<Vec<RecordBatch>> {
        read::sql(self.catalog.as_ref(), query, at).await
    }

    /// A DataFusion session over the lake, for jobs that run several statements: each table
    /// pinned to one snapshot, and its scans counted.
    pub async fn session(&self, at: &ReadAt) -> Result<LakeSession> {
        read::session(self.catalog.as_ref(), at, &|_| true).await
    }

    /// A session holding only the tables `wanted` names (`namespace.table`).
    pub async fn session_of(
        &self,
        at: &ReadAt,
        wanted: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<LakeSession> {
        read::session(self.catalog.as_ref(), at, wanted).await
    }

    /// Expires snapshots older than `older_than_ms` (keeping the newest `retain_last` and the
    /// current one), then deletes the manifest lists, manifests and data files that no
    /// remaining snapshot references.
    pub async fn expire_snapshots(
        &self,
        ident: &TableIdent,
        older_than_ms: i64,
        retain_last: usize,
    ) -> Result<ExpireOutcome> {
        let choose = move |md: &TableMetadata| snapshots_to_expire(md, older_than_ms, retain_last);
        let mut outcome = ExpireOutcome {
            table: ident.to_string(),
            ..Default::default()
        };
        let Some((before, after)) = commit::remove_snapshots(
            self.catalog.as_ref(),
            &self.publisher,
            ident,
            &choose,
            self.retry,
        )
        .await?
        else {
            return Ok(outcome);
        };
        let file_io = before.file_io();
        let format = after.format_version();
        let keep = reachable_files(file_io, after.snapshots(), format, None).await?;
        // what the expired snapshots reference beyond the kept ones (manifests the kept
        // snapshots list are not read again: their files are kept)
        let expired = before
            .metadata()
            .snapshots()
            .filter(|s| after.snapshot_by_id(s.snapshot_id()).is_none());
        let was = reachable_files(file_io, expired, format, Some(&keep.manifests)).await?;
        outcome.expired_snapshots = before.metadata().snapshots().len() - after.snapshots().len();
        for path in was.lists.difference(&keep.lists) {
            file_io.delete(path).await?;
            outcome.deleted_manifest_lists += 1;
        }
        for path in was.manifests.difference(&keep.manifests) {
            file_io.delete(path).await?;
            outcome.deleted_manifests += 1;
        }
        // As Iceberg's: a file a kept snapshot deleted stays until that snapshot expires (its
        // changes can still be read, e.g. by Spark's changelog view).
        for path in was.data.difference(&keep.data) {
            file_io.delete(path).await?;
            outcome.deleted_data_files += 1;
        }
        Ok(outcome)
    }

    /// The live data files of a table at a snapshot (default: current), with their partition
    /// as a path (`day=2017-11-24`) and row count, sorted by path.
    pub async fn data_files(
        &self,
        ident: &TableIdent,
        snapshot_id: Option<i64>,
    ) -> Result<Vec<DataFileInfo>> {
        let table = self.table(ident).await?;
        let md = table.metadata();
        let snapshot = match snapshot_id {
            Some(id) => md
                .snapshot_by_id(id)
                .cloned()
                .ok_or_else(|| Error::NoSuchSnapshot {
                    table: ident.to_string(),
                    snapshot: id,
                })?,
            None => match md.current_snapshot() {
                Some(s) => s.clone(),
                None => return Ok(Vec::new()),
            },
        };
        let mut out = Vec::new();
        for (spec_id, entry) in live_data_entries(&table, &snapshot, None).await? {
            let spec = md
                .partition_spec_by_id(spec_id)
                .cloned()
                .unwrap_or_else(|| md.default_partition_spec().clone());
            let key = iceberg::spec::PartitionKey::new(
                spec.as_ref().clone(),
                md.current_schema().clone(),
                entry.data_file().partition().clone(),
            );
            out.push(DataFileInfo {
                path: entry.file_path().to_string(),
                partition: write::partition_path(&key),
                records: entry.record_count(),
                size_bytes: entry.file_size_in_bytes(),
                spec_id,
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The live data files of `table` at `snapshot_id` added after `base_snapshot_id` (by data
    /// sequence number: files a later compaction rewrote count as added), with their record
    /// counts. Reads only the manifests written after the base.
    pub async fn files_added_since(
        table: &Table,
        base_snapshot_id: i64,
        snapshot_id: i64,
    ) -> Result<HashMap<String, u64>> {
        let md = table.metadata();
        let missing = |id| Error::NoSuchSnapshot {
            table: table.identifier().to_string(),
            snapshot: id,
        };
        let base = md
            .snapshot_by_id(base_snapshot_id)
            .ok_or_else(|| missing(base_snapshot_id))?
            .sequence_number();
        let snapshot = md
            .snapshot_by_id(snapshot_id)
            .ok_or_else(|| missing(snapshot_id))?;
        Ok(live_data_entries(table, snapshot, Some(base))
            .await?
            .into_iter()
            .map(|(_, entry)| (entry.file_path().to_string(), entry.record_count()))
            .collect())
    }

    /// The file IO of the warehouse (for callers that store plain files beside the tables).
    pub fn file_io(&self) -> &FileIO {
        &self.file_io
    }
}

#[derive(Default)]
struct Reachable {
    lists: HashSet<String>,
    manifests: HashSet<String>,
    /// Every data file the manifests name, deleted entries included.
    data: HashSet<String>,
}

/// Every file `snapshots` reference, leaving out the manifests in `known` (and their files).
async fn reachable_files<'a>(
    file_io: &FileIO,
    snapshots: impl Iterator<Item = &'a SnapshotRef>,
    format: FormatVersion,
    known: Option<&HashSet<String>>,
) -> Result<Reachable> {
    let mut r = Reachable::default();
    for snapshot in snapshots {
        r.lists.insert(snapshot.manifest_list().to_string());
        let bytes = file_io.new_input(snapshot.manifest_list())?.read().await?;
        let list = ManifestList::parse_with_version(&bytes, format)?;
        for mf in list.entries() {
            if known.is_some_and(|k| k.contains(&mf.manifest_path))
                || !r.manifests.insert(mf.manifest_path.clone())
            {
                continue;
            }
            let manifest = mf.load_manifest(file_io).await?;
            for entry in manifest.entries() {
                r.data.insert(entry.file_path().to_string());
            }
        }
    }
    Ok(r)
}

/// Parses `namespace.table`.
pub fn ident(qualified: &str) -> Result<TableIdent> {
    let (ns, name) = qualified.rsplit_once('.').ok_or_else(|| {
        Error::InvalidInput(format!("table `{qualified}`: expected namespace.table"))
    })?;
    Ok(TableIdent::new(
        NamespaceIdent::from_strs(ns.split('.'))?,
        name.to_string(),
    ))
}

/// The live entries of data manifests at `snapshot`, with their manifest's partition spec id.
/// With `after`: only files whose data sequence number is greater, read from the manifests
/// written after that sequence number (an older manifest cannot hold one).
async fn live_data_entries(
    table: &Table,
    snapshot: &SnapshotRef,
    after: Option<i64>,
) -> Result<Vec<(i32, iceberg::spec::ManifestEntryRef)>> {
    let newer = |seq: Option<i64>| after.is_none_or(|a| seq.is_none_or(|s| s > a));
    let list = table.manifest_list_reader(snapshot).load().await?;
    let mut out = Vec::new();
    for mf in list.entries() {
        if mf.content != iceberg::spec::ManifestContentType::Data
            || !newer(Some(mf.sequence_number))
        {
            continue;
        }
        let manifest = mf.load_manifest(table.file_io()).await?;
        out.extend(
            manifest
                .entries()
                .iter()
                .filter(|e| e.is_alive() && newer(e.sequence_number()))
                .map(|e| (mf.partition_spec_id, e.clone())),
        );
    }
    Ok(out)
}

/// The greatest value of `column` in `table` at `snapshot_id`, from its live data files'
/// upper bounds: no data file is read. `None` when the table has no live row, or some file
/// with non-null values of the column records no bound for it (a writer keeping no metrics).
/// Iceberg's bounds are exact for numbers and times (only strings and binaries are truncated).
pub async fn column_upper_bound(
    table: &Table,
    snapshot_id: i64,
    column: &str,
) -> Result<Option<iceberg::spec::Datum>> {
    let md = table.metadata();
    let (Some(snapshot), Some(field)) = (
        md.snapshot_by_id(snapshot_id),
        md.current_schema().field_by_name(column),
    ) else {
        return Ok(None);
    };
    let mut greatest: Option<iceberg::spec::Datum> = None;
    for (_, entry) in live_data_entries(table, snapshot, None).await? {
        let file = entry.data_file();
        let nulls = file.null_value_counts().get(&field.id).copied();
        if file.record_count() == 0 || nulls == Some(file.record_count()) {
            continue;
        }
        let Some(bound) = file.upper_bounds().get(&field.id) else {
            return Ok(None);
        };
        if greatest.as_ref().is_none_or(|g| bound > g) {
            greatest = Some(bound.clone());
        }
    }
    Ok(greatest)
}

/// The current snapshot and its ancestors, newest first, as far as the table keeps them.
pub fn current_ancestry(md: &TableMetadata) -> impl Iterator<Item = &SnapshotRef> {
    ancestry(md, md.current_snapshot_id())
}

/// A snapshot and its ancestors, newest first, as far as the table keeps them.
pub fn ancestry(
    md: &TableMetadata,
    snapshot_id: Option<i64>,
) -> impl Iterator<Item = &SnapshotRef> {
    std::iter::successors(snapshot_id.and_then(|id| md.snapshot_by_id(id)), |s| {
        s.parent_snapshot_id().and_then(|p| md.snapshot_by_id(p))
    })
}

/// The snapshots an expiry removes. As Iceberg's ExpireSnapshots: keep the current snapshot
/// and its `retain_last - 1` nearest ancestors, and anything newer than the cutoff; expire the
/// rest (which includes snapshots a rollback left off the current branch). Beyond Iceberg: in
/// a table whose snapshots record Kafka offsets (bronze), the kept chain reaches down to the
/// newest one that has them, so other engines' commits on top (a compaction by Spark) can never
/// make bronze-load lose its place.
fn snapshots_to_expire(md: &TableMetadata, older_than_ms: i64, retain_last: usize) -> Vec<i64> {
    let has_offsets = |s: &iceberg::spec::Snapshot| {
        s.summary()
            .additional_properties
            .contains_key(summary_keys::KAFKA_OFFSETS)
    };
    let mut offsets_needed = md.snapshots().any(|s| has_offsets(s));
    let mut keep = HashSet::new();
    for s in current_ancestry(md) {
        if keep.len() >= retain_last.max(1) && !offsets_needed {
            break;
        }
        keep.insert(s.snapshot_id());
        offsets_needed &= !has_offsets(s);
    }
    md.snapshots()
        .filter(|s| !keep.contains(&s.snapshot_id()) && s.timestamp_ms() < older_than_ms)
        .map(|s| s.snapshot_id())
        .collect()
}

/// Data file names: the run id plus a random part, unique per write.
fn file_prefix(ctx: &CommitContext) -> String {
    format!(
        "{}-{}",
        sanitize(&ctx.run_id),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Fault injection for crash tests: `OLISTLAKE_FAILPOINT_PAUSE_BEFORE_COMMIT_MS=N` makes a
/// writer announce on stderr that its data files are written (`failpoint: <table>: …`), then
/// sleep N ms before it commits, so a test can `kill -9` it in exactly that window.
pub(crate) async fn failpoint_before_commit(table: &TableIdent, files: &[iceberg::spec::DataFile]) {
    if let Some(ms) = std::env::var("OLISTLAKE_FAILPOINT_PAUSE_BEFORE_COMMIT_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        eprintln!(
            "failpoint: {table}: {} data file(s) written, pausing {ms} ms before commit",
            files.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::summary_keys::KAFKA_OFFSETS;
    use super::test_support::{history, history_of};

    #[test]
    fn history_is_expired_a_quarter_past_its_bound() {
        // the default: 125 snapshots wait, the 126th expires the oldest 26
        assert!(!history_needs_expiry(125, DEFAULT_MAX_SNAPSHOTS));
        assert!(history_needs_expiry(126, DEFAULT_MAX_SNAPSHOTS));
        // small bounds round the quarter up: expiry never runs on every commit
        assert!(!history_needs_expiry(2, 1) && history_needs_expiry(3, 1));
        assert!(!history_needs_expiry(10, 8) && history_needs_expiry(11, 8));
        // 0 keeps everything
        assert!(!history_needs_expiry(1_000_000, 0));
    }

    #[test]
    fn the_last_change_of_rows_is_found_below_rewrites() {
        use iceberg::spec::Operation::{Append, Overwrite, Replace};
        let id = |md: &TableMetadata| last_data_change(md).map(|s| s.snapshot_id());
        let md = history_of(&[(Append, &[]), (Overwrite, &[("k", "v")]), (Replace, &[])]);
        assert_eq!(id(&md), Some(2));
        assert_eq!(
            last_data_change(&md)
                .unwrap()
                .summary()
                .additional_properties["k"],
            "v"
        );
        assert_eq!(id(&history_of(&[(Append, &[])])), Some(1));
        assert_eq!(id(&history_of(&[(Replace, &[]), (Replace, &[])])), None);
        assert_eq!(id(&history_of(&[])), None);
    }
    use super::*;

    #[test]
    fn expiry_keeps_the_chain_down_to_the_last_offsets() {
        // snapshots 1..=6: offsets on 1 and 2, then four commits of another engine
        let offsets = [(KAFKA_OFFSETS, "0:9")];
        let md = history(&[&offsets, &offsets, &[], &[], &[], &[]]);
        // retain 2: Iceberg would keep 6 and 5; 4, 3 and 2 stay too (2 has the offsets)
        assert_eq!(snapshots_to_expire(&md, i64::MAX, 2), vec![1]);
        // a table without offsets keeps only what it is told to
        let plain = history(&[&[], &[], &[], &[]]);
        let mut gone = snapshots_to_expire(&plain, i64::MAX, 2);
        gone.sort();
        assert_eq!(gone, vec![1, 2]);
    }
}
