//! Snapshot commits the `iceberg` crate lacks, built from its public spec writers.
//!
//! One mechanism serves every kind of write:
//! 1. load the table's current metadata;
//! 2. carry forward each manifest of the current snapshot untouched when none of its live files
//!    is replaced; otherwise rewrite it with the kept files as EXISTING (original snapshot id
//!    and sequence numbers) and the replaced ones as DELETED;
//! 3. add one manifest with the new files as ADDED at the next sequence number;
//! 4. write the manifest list and build the new metadata with a new snapshot (operation
//!    `append`, `overwrite` or `replace`, summary with added/deleted files and records and running totals);
//! 5. publish it, conditional on the base it was built on ([`Publisher`]: the SQL catalog's
//!    pointer compare-and-swap, or a REST `commitTable` with requirements). On a lost race,
//!    delete what this attempt wrote (never the data files), wait, and redo 1–5 on the new base.
//!
//! Data files are written once, before the first attempt, so a retry costs only metadata.
//! A writer whose commit is only valid on the state it read (bronze-load: the Kafka offsets it
//! started from) passes a [`Precondition`], checked in step 1 of every attempt: when another
//! writer has moved the table on, the commit is abandoned (Iceberg's conflict validation,
//! `validateNoConflictingData`, does the same for its own operations). A commit that is known
//! not to have been published (precondition failed, staging failed, every attempt lost)
//! deletes its data files too, so a failure leaves no garbage behind.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use iceberg::spec::{
    DataFile, DataFileFormat, FormatVersion, MAIN_BRANCH, ManifestContentType, ManifestEntry,
    ManifestFile, ManifestListWriter, ManifestWriterBuilder, NestedField, NestedFieldRef,
    Operation, Schema, Snapshot, SnapshotReference, SnapshotRetention, SnapshotSummaryCollector,
    Struct, Summary, TableMetadata, TableMetadataBuildResult, Type,
};
use iceberg::table::Table;
use iceberg::{Catalog, TableIdent};
use serde::Serialize;
use uuid::Uuid;

use super::catalog::{Published, Publisher};
use super::summary_keys::KAFKA_OFFSETS;
use crate::error::{Error, Result};

/// What a commit does to the files already in the table.
#[derive(Debug, Clone, PartialEq)]
pub enum CommitKind {
    /// Keep every file; add the new ones.
    Append,
    /// Replace every data file of these partitions (plus the partitions of the new files);
    /// other partitions keep their files.
    OverwritePartitions(Vec<Struct>),
    /// Replace the whole table content.
    Replace,
    /// Swap these live files (paths) for the new ones holding the same rows (compaction).
    /// Every one of them must still be live in the base the commit is built on.
    Rewrite(HashSet<String>),
    /// Delete these live files (paths) and add the new ones, whose rows may differ: a
    /// row-level change rewriting only the files holding the rows it changes (Iceberg's
    /// copy-on-write overwrite). Every one of them must still be live in the base.
    OverwriteFiles(HashSet<String>),
}

impl CommitKind {
    pub fn label(&self) -> &'static str {
        match self {
            CommitKind::Append => "append",
            CommitKind::OverwritePartitions(_) | CommitKind::OverwriteFiles(_) => "overwrite",
            CommitKind::Replace => "replace",
            CommitKind::Rewrite(_) => "rewrite",
        }
    }
}

/// What a commit did.
#[derive(Debug, Clone, Serialize)]
pub struct CommitOutcome {
    pub table: String,
    pub kind: &'static str,
    pub snapshot_id: i64,
    pub sequence_number: i64,
    pub added_files: usize,
    pub deleted_files: usize,
    pub added_records: u64,
    pub deleted_records: u64,
    /// 1 when the first attempt won; more when concurrent writers forced a rebase.
    pub attempts: u32,
    pub metadata_location: String,
    /// Snapshots the table holds after this commit (whether its history needs bounding).
    #[serde(skip)]
    pub snapshots: usize,
}

/// Retry policy for lost compare-and-swap races.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        let max_attempts = std::env::var("OLISTLAKE_COMMIT_ATTEMPTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20);
        RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(25),
            max_delay: Duration::from_millis(2_000),
        }
    }
}

impl RetryPolicy {
    fn delay(&self, attempt: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << attempt.min(10));
        let capped = exp.min(self.max_delay);
        // Full jitter: two writers that collided should not collide again in lockstep.
        let jitter = (Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0;
        capped.mul_f64(0.5 + jitter / 2.0)
    }
}

/// What the table's current metadata must satisfy for a commit to go ahead; `Err` says why
/// not. Checked on the freshly loaded table at every attempt.
pub type Precondition = dyn Fn(&TableMetadata) -> std::result::Result<(), String> + Send + Sync;

/// Files written by one attempt, deleted again if the attempt loses the race.
#[derive(Default)]
struct AttemptFiles(Vec<String>);

/// One commit to make: what it does with which files, its snapshot-summary properties, and
/// what must hold for it to go ahead.
pub(crate) struct CommitRequest<'a> {
    pub kind: &'a CommitKind,
    pub files: Vec<DataFile>,
    pub properties: HashMap<String, String>,
    pub precondition: Option<&'a Precondition>,
}

/// Commits a request's files to `ident`.
pub(crate) async fn commit_files(
    catalog: &dyn Catalog,
    publisher: &Publisher,
    ident: &TableIdent,
    request: CommitRequest<'_>,
    policy: RetryPolicy,
) -> Result<CommitOutcome> {
    let CommitRequest {
        kind,
        files,
        properties,
        precondition,
    } = request;
    let properties = &properties;
    let mut last_table = None;
    for attempt in 1..=policy.max_attempts {
        let table = catalog
            .load_table(ident)
            .await
            .map_err(|e| map_load_error(ident, e))?;
        if let Some(check) = precondition
            && let Err(reason) = check(table.metadata())
        {
            delete_data_files(table.file_io(), &files).await;
            return Err(Error::ConcurrentWrite {
                table: ident.to_string(),
                reason,
            });
        }
        let mut written = AttemptFiles::default();
        let staged = stage(&table, kind, &files, properties, &mut written).await;
        let (built, mut outcome) = match staged {
            Ok(s) => s,
            Err(e) => {
                cleanup(&table, &written).await;
                delete_data_files(table.file_io(), &files).await;
                return Err(e);
            }
        };
        // An error here leaves the files: the commit may have been published (unknown
        // outcome) and the orphan cleanup removes them if it was not.
        if let Published::Won(location) = publisher.publish(&table, built).await? {
            outcome.attempts = attempt;
            outcome.metadata_location = location;
            tracing::debug!(table = %ident, snapshot = outcome.snapshot_id, attempt, "committed");
            return Ok(outcome);
        }
        tracing::info!(table = %ident, attempt, "commit lost a race with another writer; rebasing");
        cleanup(&table, &written).await;
        tokio::time::sleep(policy.delay(attempt)).await;
        last_table = Some(table);
    }
    if let Some(table) = last_table {
        delete_data_files(table.file_io(), &files).await;
    }
    Err(Error::CommitConflict {
        table: ident.to_string(),
        attempts: policy.max_attempts,
    })
}

fn map_load_error(ident: &TableIdent, e: iceberg::Error) -> Error {
    if e.kind() == iceberg::ErrorKind::TableNotFound || e.message().contains("No such table") {
        Error::NoSuchTable(ident.to_string())
    } else {
        e.into()
    }
}

async fn cleanup(table: &Table, written: &AttemptFiles) {
    for path in &written.0 {
        if let Err(e) = table.file_io().delete(path).await {
            tracing::warn!(%path, "could not delete an uncommitted metadata file: {e}");
        }
    }
}

/// Iceberg's merge-append table properties, with Iceberg's defaults.
const MIN_COUNT_TO_MERGE: (&str, usize) = ("commit.manifest.min-count-to-merge", 100);
const MANIFEST_TARGET_SIZE: (&str, i64) = ("commit.manifest.target-size-bytes", 8 * 1024 * 1024);
const MERGE_ENABLED: (&str, bool) = ("commit.manifest-merge.enabled", true);

fn table_property<T: FromStr>(md: &TableMetadata, (key, default): (&str, T)) -> T {
    md.properties()
        .get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Merges small data manifests, as Iceberg's merge-append does: when the new snapshot would
/// list `commit.manifest.min-count-to-merge` (100) or more data manifests of one partition
/// spec smaller than `commit.manifest.target-size-bytes` (8 MiB), those written by earlier
/// commits are rewritten into manifests of about the target size. Live entries stay as
/// EXISTING with their snapshot ids and sequence numbers; DELETED entries of earlier commits
/// are dropped (they describe older snapshots, whose own manifest lists still hold them).
/// The manifests this commit wrote are never merged, so its snapshot's changes stay
/// readable. A table's current snapshot thus lists fewer than min-count + a few manifests,
/// however many commits it has had.
async fn merge_small_manifests(
    table: &Table,
    manifests: Vec<ManifestFile>,
    snapshot_id: i64,
    written: &mut AttemptFiles,
) -> Result<Vec<ManifestFile>> {
    let md = table.metadata();
    if !table_property(md, MERGE_ENABLED) {
        return Ok(manifests);
    }
    let min_count = table_property(md, MIN_COUNT_TO_MERGE).max(2);
    let target = table_property(md, MANIFEST_TARGET_SIZE);
    let mergeable = |m: &ManifestFile| {
        m.content == ManifestContentType::Data
            && m.added_snapshot_id != snapshot_id
            && m.manifest_length < target
    };
    let mut by_spec: HashMap<i32, usize> = HashMap::new();
    for m in manifests.iter().filter(|m| mergeable(m)) {
        *by_spec.entry(m.partition_spec_id).or_default() += 1;
    }
    let specs: HashSet<i32> = by_spec
        .into_iter()
        .filter(|(_, n)| *n >= min_count)
        .map(|(spec, _)| spec)
        .collect();
    if specs.is_empty() {
        return Ok(manifests);
    }
    let (merge, mut kept): (Vec<ManifestFile>, Vec<ManifestFile>) = manifests
        .into_iter()
        .partition(|m| mergeable(m) && specs.contains(&m.partition_spec_id));
    let file_io = table.file_io();
    for spec_id in specs {
        // bins of about the target size, in manifest order
        let mut bins: Vec<Vec<&ManifestFile>> = vec![Vec::new()];
        let mut size = 0i64;
        for m in merge.iter().filter(|m| m.partition_spec_id == spec_id) {
            if size + m.manifest_length > target && !bins.last().is_some_and(Vec::is_empty) {
                bins.push(Vec::new());
                size = 0;
            }
            size += m.manifest_length;
            bins.last_mut().expect("one bin at least").push(m);
        }
        for bin in bins.into_iter().filter(|b| !b.is_empty()) {
            let mut writer = None;
            let mut path = String::new();
            let mut live = 0usize;
            for manifest_file in bin {
                let manifest = manifest_file.load_manifest(file_io).await?;
                let (entries, meta) = manifest.into_parts();
                let w = match &mut writer {
                    Some(w) => w,
                    None => {
                        path = format!(
                            "{}/metadata/{}-m-merged.{}",
                            md.location(),
                            Uuid::new_v4(),
                            DataFileFormat::Avro
                        );
                        writer.insert(
                            ManifestWriterBuilder::new(
                                file_io.new_output(&path)?,
                                Some(snapshot_id),
                                meta.schema().clone(),
                                meta.partition_spec().clone(),
                            )
                            .build_v2_data(),
                        )
                    }
                };
                for entry in entries.iter().filter(|e| e.is_alive()) {
                    let seq = entry_sequence_number(entry, manifest_file)?;
                    let added_by = entry.snapshot_id.unwrap_or(manifest_file.added_snapshot_id);
                    w.add_existing_file(
                        entry.data_file().clone(),
                        added_by,
                        seq,
                        entry.file_sequence_number,
                    )?;
                    live += 1;
                }
            }
            // a bin of manifests with only DELETED entries merges into nothing
            if let Some(w) = writer.filter(|_| live > 0) {
                written.0.push(path);
                kept.push(w.write_manifest_file().await?);
            }
        }
    }
    Ok(kept)
}

/// The data sequence number of a live manifest entry (always set once a manifest is committed).
fn entry_sequence_number(entry: &ManifestEntry, manifest: &ManifestFile) -> Result<i64> {
    entry.sequence_number.ok_or_else(|| {
        Error::Catalog(format!(
            "manifest {} has an entry without sequence number",
            manifest.manifest_path
        ))
    })
}

/// Deletes the data files of a commit that was not published (best effort: what is left is an
/// orphan that `remove-orphan-files` finds).
pub(crate) async fn delete_data_files(file_io: &iceberg::io::FileIO, files: &[DataFile]) {
    for f in files {
        if let Err(e) = file_io.delete(f.file_path()).await {
            tracing::warn!(
                path = f.file_path(),
                "could not delete an uncommitted data file: {e}"
            );
        }
    }
}

/// Is this live data file replaced by the commit?
fn is_replaced(
    kind: &CommitKind,
    targets: &HashSet<Struct>,
    spec_id: i32,
    default_spec: i32,
    file: &DataFile,
) -> bool {
    match kind {
        CommitKind::Append => false,
        CommitKind::Replace => true,
        // Files of an older partition spec cannot be matched by value: the tables here never
        // evolve their spec, so such a file is kept.
        CommitKind::OverwritePartitions(_) => {
            spec_id == default_spec && targets.contains(file.partition())
        }
        CommitKind::Rewrite(paths) | CommitKind::OverwriteFiles(paths) => {
            paths.contains(file.file_path())
        }
    }
}

/// Builds the new metadata (snapshot, manifests, manifest list) on top of `table`.
async fn stage(
    table: &Table,
    kind: &CommitKind,
    added: &[DataFile],
    properties: &HashMap<String, String>,
    written: &mut AttemptFiles,
) -> Result<(TableMetadataBuildResult, CommitOutcome)> {
    let md = table.metadata();
    if md.format_version() != FormatVersion::V2 {
        return Err(Error::Catalog(format!(
            "{}: only format version 2 tables are written",
            table.identifier()
        )));
    }
    let file_io = table.file_io();
    let snapshot_id = new_snapshot_id(md);
    let sequence_number = md.next_sequence_number();
    let commit_uuid = Uuid::new_v4();
    let default_spec = md.default_partition_spec_id();
    let schema = md.current_schema().clone();
    let spec = md.default_partition_spec().clone();
    let manifest_path = |n: usize| {
        format!(
            "{}/metadata/{commit_uuid}-m{n}.{}",
            md.location(),
            DataFileFormat::Avro
        )
    };

    let targets: HashSet<Struct> = match kind {
        CommitKind::OverwritePartitions(parts) => parts
            .iter()
            .cloned()
            .chain(added.iter().map(|f| f.partition().clone()))
            .collect(),
        _ => HashSet::new(),
    };

    let mut summary = SnapshotSummaryCollector::default();
    let mut manifests: Vec<ManifestFile> = Vec::new();
    let mut deleted_files = 0usize;
    let mut deleted_records = 0u64;
    let mut deleted_size = 0u64;

    // New files first (readers do not care about order; Java does the same).
    if !added.is_empty() {
        let path = manifest_path(manifests.len());
        let mut writer = ManifestWriterBuilder::new(
            file_io.new_output(&path)?,
            Some(snapshot_id),
            schema.clone(),
            spec.as_ref().clone(),
        )
        .build_v2_data();
        for file in added {
            writer.add_file(file.clone(), sequence_number)?;
            summary.add_file(file, schema.clone(), spec.clone());
        }
        written.0.push(path);
        manifests.push(writer.write_manifest_file().await?);
    }

    if let Some(current) = md.current_snapshot() {
        let list = table.manifest_list_reader(current).load().await?;
        for manifest_file in list.entries() {
            let carry = match kind {
                CommitKind::Append => true,
                // Delete manifests of replaced data are dropped with it.
                CommitKind::Replace => false,
                CommitKind::OverwritePartitions(_)
                | CommitKind::Rewrite(_)
                | CommitKind::OverwriteFiles(_) => {
                    manifest_file.content == ManifestContentType::Deletes
                }
            };
            if carry {
                manifests.push(manifest_file.clone());
                continue;
            }
            if manifest_file.content == ManifestContentType::Deletes {
                continue;
            }
            if !manifest_file.has_added_files() && !manifest_file.has_existing_files() {
                continue; // only DELETED entries: nothing live to carry
            }
            let manifest = manifest_file.load_manifest(file_io).await?;
            let spec_id = manifest_file.partition_spec_id;
            let any_replaced = manifest.entries().iter().any(|e| {
                e.is_alive() && is_replaced(kind, &targets, spec_id, default_spec, e.data_file())
            });
            if !any_replaced {
                manifests.push(manifest_file.clone());
                continue;
            }
            let (entries, meta) = manifest.into_parts();
            let path = manifest_path(manifests.len());
            let mut writer = ManifestWriterBuilder::new(
                file_io.new_output(&path)?,
                Some(snapshot_id),
                meta.schema().clone(),
                meta.partition_spec().clone(),
            )
            .build_v2_data();
            for entry in entries.iter().filter(|e| e.is_alive()) {
                let seq = entry_sequence_number(entry, manifest_file)?;
                let file = entry.data_file().clone();
                if is_replaced(kind, &targets, spec_id, default_spec, &file) {
                    deleted_files += 1;
                    deleted_records += file.record_count();
                    deleted_size += file.file_size_in_bytes();
                    let file_spec = md
                        .partition_spec_by_id(spec_id)
                        .cloned()
                        .unwrap_or_else(|| spec.clone());
                    summary.remove_file(&file, schema.clone(), file_spec);
                    writer.add_delete_file(file, seq, entry.file_sequence_number)?;
                } else {
                    let added_by = entry.snapshot_id.unwrap_or(current.snapshot_id());
                    writer.add_existing_file(file, added_by, seq, entry.file_sequence_number)?;
                }
            }
            written.0.push(path);
            let rewritten = writer.write_manifest_file().await?;
            // Kept even when it holds only DELETED entries: that is how readers of the
            // snapshot's changes (pyiceberg `inspect`, Spark) see what was removed.
            manifests.push(rewritten);
        }
    }

    let mut props: HashMap<String, String> = properties.clone();
    if let CommitKind::Rewrite(paths) | CommitKind::OverwriteFiles(paths) = kind
        && deleted_files != paths.len()
    {
        // Iceberg's RewriteFiles and OverwriteFiles validation: a file another commit removed
        // meanwhile (an overwrite of its partition) must not come back as rewritten rows, nor
        // have its rows replaced a second time.
        let verb = match kind {
            CommitKind::Rewrite(_) => "rewritten",
            _ => "overwritten",
        };
        return Err(Error::ConcurrentWrite {
            table: table.identifier().to_string(),
            reason: format!(
                "{} of the {} files being {verb} were removed by another commit",
                paths.len() - deleted_files,
                paths.len()
            ),
        });
    }
    if let CommitKind::Rewrite(_) = kind {
        if deleted_records != added.iter().map(|f| f.record_count()).sum::<u64>() {
            return Err(Error::Catalog(format!(
                "{}: a rewrite must keep the row count; nothing committed",
                table.identifier()
            )));
        }
        // The same rows: the base's Kafka offsets still describe them. (Only the offsets: a
        // quarantine commit's topic key would read as a new quarantine of that topic.)
        if let Some(offsets) = md
            .current_snapshot()
            .and_then(|base| base.summary().additional_properties.get(KAFKA_OFFSETS))
        {
            props
                .entry(KAFKA_OFFSETS.into())
                .or_insert_with(|| offsets.clone());
        }
    }

    let manifests = merge_small_manifests(table, manifests, snapshot_id, written).await?;

    let operation = match (kind, deleted_files) {
        (CommitKind::Append, _) => Operation::Append,
        (CommitKind::Rewrite(_), _) => Operation::Replace,
        (_, 0) if !added.is_empty() => Operation::Append,
        _ => Operation::Overwrite,
    };
    let collected = summary.build();
    props.extend(collected);
    let added_records: u64 = added.iter().map(|f| f.record_count()).sum();
    let added_size: u64 = added.iter().map(|f| f.file_size_in_bytes()).sum();
    let previous = md
        .current_snapshot()
        .map(|s| s.summary().additional_properties.clone());
    let total = |key: &str, plus: u64, minus: u64| {
        let before = previous
            .as_ref()
            .and_then(|p| p.get(key))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        (before + plus).saturating_sub(minus).to_string()
    };
    props.insert(
        "total-records".into(),
        total("total-records", added_records, deleted_records),
    );
    props.insert(
        "total-data-files".into(),
        total("total-data-files", added.len() as u64, deleted_files as u64),
    );
    props.insert(
        "total-files-size".into(),
        total("total-files-size", added_size, deleted_size),
    );
    for key in [
        "total-delete-files",
        "total-position-deletes",
        "total-equality-deletes",
    ] {
        let value = if matches!(kind, CommitKind::Replace) {
            "0".to_string()
        } else {
            total(key, 0, 0)
        };
        props.insert(key.into(), value);
    }

    let list_path = format!(
        "{}/metadata/snap-{snapshot_id}-1-{commit_uuid}.{}",
        md.location(),
        DataFileFormat::Avro
    );
    let mut list_writer = ManifestListWriter::v2(
        file_io.new_output(&list_path)?.writer().await?,
        snapshot_id,
        md.current_snapshot_id(),
        sequence_number,
    );
    list_writer.add_manifests(manifests.into_iter())?;
    list_writer.close().await?;
    written.0.push(list_path.clone());

    let snapshot = Snapshot::builder()
        .with_manifest_list(list_path)
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(md.current_snapshot_id())
        .with_sequence_number(sequence_number)
        .with_summary(Summary {
            operation,
            additional_properties: props,
        })
        .with_schema_id(md.current_schema_id())
        .with_timestamp_ms(now_ms(md))
        .build();

    let metadata = md
        .clone()
        .into_builder(table.metadata_location().map(str::to_string))
        .add_snapshot(snapshot)?
        .set_ref(
            MAIN_BRANCH,
            SnapshotReference::new(snapshot_id, SnapshotRetention::branch(None, None, None)),
        )?
        .build()?;

    let outcome = CommitOutcome {
        table: table.identifier().to_string(),
        kind: kind.label(),
        snapshot_id,
        sequence_number,
        added_files: added.len(),
        deleted_files,
        added_records,
        deleted_records,
        attempts: 0,
        metadata_location: String::new(),
        snapshots: metadata.metadata.snapshots().len(),
    };
    Ok((metadata, outcome))
}

/// A random positive snapshot id not used by the table.
fn new_snapshot_id(md: &TableMetadata) -> i64 {
    loop {
        let (a, b) = Uuid::new_v4().as_u64_pair();
        let id = ((a ^ b) & (i64::MAX as u64)) as i64;
        if id != 0 && md.snapshot_by_id(id).is_none() {
            return id;
        }
    }
}

/// Commit time: wall clock, but never before the table's last update (clock skew between
/// writers would otherwise make the snapshot log go backwards).
fn now_ms(md: &TableMetadata) -> i64 {
    chrono::Utc::now()
        .timestamp_millis()
        .max(md.last_updated_ms() + 1)
}

/// Publishes a metadata change that adds no snapshot (rollback, expiry, schema): `change`
/// builds the new metadata from the current one, or returns None when there is nothing to do.
/// Retried on a lost race like every commit. Returns the table as it was, the new metadata and
/// its location.
async fn swap_metadata(
    catalog: &dyn Catalog,
    publisher: &Publisher,
    ident: &TableIdent,
    policy: RetryPolicy,
    change: &(dyn Fn(&TableMetadata, &str) -> Result<Option<TableMetadataBuildResult>> + Sync),
) -> Result<Option<(Table, TableMetadata, String)>> {
    for attempt in 1..=policy.max_attempts {
        let table = catalog
            .load_table(ident)
            .await
            .map_err(|e| map_load_error(ident, e))?;
        let old = table
            .metadata_location()
            .ok_or_else(|| Error::Catalog(format!("{ident} has no metadata location")))?
            .to_string();
        let Some(built) = change(table.metadata(), &old)? else {
            return Ok(None);
        };
        let metadata = built.metadata.clone();
        if let Published::Won(location) = publisher.publish(&table, built).await? {
            return Ok(Some((table, metadata, location)));
        }
        tokio::time::sleep(policy.delay(attempt)).await;
    }
    Err(Error::CommitConflict {
        table: ident.to_string(),
        attempts: policy.max_attempts,
    })
}

/// Brings an existing table up to its definition in one published metadata change: the
/// optional `columns` its schema lacks are added (a new current schema, as Iceberg's
/// `UpdateSchema.addColumn`: fresh field ids after `last-column-id`; data files written before
/// read them as null), the `dropped` columns it has are removed from that schema (as
/// `UpdateSchema.deleteColumn`: the ids are not reused, data files written before keep the
/// values and readers, which project by field id, skip them) and the `properties` it does not
/// have are set (one another writer or an operator set, to any value, is left alone). What is
/// missing is decided again on each attempt, so a column or property another writer added
/// (or a column it dropped) meanwhile is skipped.
pub(crate) async fn evolve(
    catalog: &dyn Catalog,
    publisher: &Publisher,
    ident: &TableIdent,
    columns: &[(String, Type)],
    dropped: &[String],
    properties: &HashMap<String, String>,
    policy: RetryPolicy,
) -> Result<()> {
    let change = |md: &TableMetadata, old: &str| -> Result<Option<TableMetadataBuildResult>> {
        let current = md.current_schema();
        let new_columns: Vec<_> = columns
            .iter()
            .filter(|(name, _)| current.field_by_name(name).is_none())
            .collect();
        let drops = dropped
            .iter()
            .any(|name| current.field_by_name(name).is_some());
        let new_properties: HashMap<String, String> = properties
            .iter()
            .filter(|(k, _)| !md.properties().contains_key(k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if new_columns.is_empty() && !drops && new_properties.is_empty() {
            return Ok(None);
        }
        let mut builder = md.clone().into_builder(Some(old.to_string()));
        if !new_columns.is_empty() || drops {
            let mut fields: Vec<NestedFieldRef> = current
                .as_struct()
                .fields()
                .iter()
                .filter(|f| !dropped.contains(&f.name))
                .cloned()
                .collect();
            let mut id = md.last_column_id();
            for (name, ty) in new_columns {
                id += 1;
                fields.push(Arc::new(NestedField::optional(id, name, ty.clone())));
            }
            let schema = Schema::builder()
                .with_schema_id(current.schema_id() + 1)
                .with_identifier_field_ids(current.identifier_field_ids())
                .with_fields(fields)
                .build()?;
            builder = builder.add_current_schema(schema)?;
        }
        if !new_properties.is_empty() {
            builder = builder.set_properties(new_properties)?;
        }
        Ok(Some(builder.build()?))
    };
    swap_metadata(catalog, publisher, ident, policy, &change).await?;
    Ok(())
}

/// Moves `main` to `snapshot_id` (an older snapshot of the table), published the same way.
pub(crate) async fn rollback(
    catalog: &dyn Catalog,
    publisher: &Publisher,
    ident: &TableIdent,
    snapshot_id: i64,
    policy: RetryPolicy,
) -> Result<String> {
    let change = |md: &TableMetadata, old: &str| -> Result<Option<TableMetadataBuildResult>> {
        if md.snapshot_by_id(snapshot_id).is_none() {
            return Err(Error::NoSuchSnapshot {
                table: ident.to_string(),
                snapshot: snapshot_id,
            });
        }
        Ok(Some(
            md.clone()
                .into_builder(Some(old.to_string()))
                .set_ref(
                    MAIN_BRANCH,
                    SnapshotReference::new(
                        snapshot_id,
                        SnapshotRetention::branch(None, None, None),
                    ),
                )?
                .build()?,
        ))
    };
    let (_, _, location) = swap_metadata(catalog, publisher, ident, policy, &change)
        .await?
        .expect("a rollback always changes the metadata");
    Ok(location)
}

/// Removes snapshots from the table metadata (expiry), published the same way. Returns the
/// table before and the metadata after, so the caller can find files no snapshot references.
pub(crate) async fn remove_snapshots(
    catalog: &dyn Catalog,
    publisher: &Publisher,
    ident: &TableIdent,
    choose: &(dyn Fn(&TableMetadata) -> Vec<i64> + Sync),
    policy: RetryPolicy,
) -> Result<Option<(Table, TableMetadata)>> {
    let change = |md: &TableMetadata, old: &str| -> Result<Option<TableMetadataBuildResult>> {
        let ids = choose(md);
        if ids.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            md.clone()
                .into_builder(Some(old.to_string()))
                .remove_snapshots(&ids)
                .build()?,
        ))
    };
    Ok(swap_metadata(catalog, publisher, ident, policy, &change)
        .await?
        .map(|(table, metadata, _)| (table, metadata)))
}
