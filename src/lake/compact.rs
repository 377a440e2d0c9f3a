//! `rewrite-data-files`: compaction of small data files, as Iceberg's `rewrite_data_files`
//! procedure does with its bin-pack strategy.
//!
//! Per partition, the live files smaller than ¾ of the target size are candidates; a partition
//! is rewritten when it has at least `min_input_files` of them, or at least two whose sizes add
//! up to the target. Its candidates' rows are read and written again as files of about the
//! target size, and one `replace` commit swaps them (Iceberg's operation for "the same rows in
//! other files"). Files larger than the candidates' bound are left alone, as are files of an
//! older partition spec.
//!
//! Safe beside running jobs: the commit removes exactly the files it read, and goes ahead only
//! while every one of them is still live (a job that overwrote the partition meanwhile wins; the
//! rewrite then commits nothing, deletes what it wrote and exits 75). Appends made meanwhile are
//! kept. The commit carries the Kafka offsets of the snapshot it is built on, and readers treat
//! it as the run it copies (see `consistent`), so neither bronze-load nor the gold jobs see a
//! difference.

use std::collections::{BTreeMap, HashMap, HashSet};

use arrow::array::RecordBatch;
use futures::TryStreamExt;
use iceberg::arrow::ArrowReaderBuilder;
use iceberg::spec::TableProperties;
use iceberg::table::Table;
use iceberg::{Runtime, TableIdent};
use serde::Serialize;

use super::commit::{self, CommitKind, CommitOutcome, CommitRequest};
use super::summary_keys::MAINTENANCE;
use super::{DataFileInfo, Lake, write};
use crate::error::{Error, Result};

/// How files are chosen and sized.
#[derive(Debug, Clone, Copy)]
pub struct RewriteOptions {
    /// Target size of the files written; `None`: the table's `write.target-file-size-bytes`
    /// (Iceberg's default, 512 MiB, when unset).
    pub target_size: Option<u64>,
    /// A partition is rewritten when it has at least this many small files (Iceberg's
    /// `min-input-files`, default 5).
    pub min_input_files: usize,
}

/// What a rewrite did to one table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RewriteOutcome {
    pub table: String,
    pub partitions_rewritten: usize,
    pub files_before: usize,
    pub files_after: usize,
    pub rewritten_files: usize,
    pub added_files: usize,
    pub rewritten_bytes: u64,
    pub added_bytes: u64,
    /// The replace commit (absent when no partition needed a rewrite).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitOutcome>,
}

/// The partitions worth rewriting: partition path → the small files to rewrite.
fn plan(
    files: &[DataFileInfo],
    default_spec: i32,
    target: u64,
    min_input_files: usize,
) -> BTreeMap<String, Vec<&DataFileInfo>> {
    let small_bound = target / 4 * 3;
    let mut by_partition: BTreeMap<String, Vec<&DataFileInfo>> = BTreeMap::new();
    for f in files
        .iter()
        .filter(|f| f.spec_id == default_spec && f.size_bytes < small_bound)
    {
        by_partition.entry(f.partition.clone()).or_default().push(f);
    }
    by_partition.retain(|_, small| {
        let bytes: u64 = small.iter().map(|f| f.size_bytes).sum();
        small.len() >= 2 && (small.len() >= min_input_files.max(2) || bytes >= target)
    });
    by_partition
}

/// The target file size: the option, else the table's property, else Iceberg's default.
fn target_size(table: &Table, opts: &RewriteOptions) -> u64 {
    opts.target_size.unwrap_or_else(|| {
        table
            .metadata()
            .properties()
            .get(TableProperties::PROPERTY_WRITE_TARGET_FILE_SIZE_BYTES)
            .and_then(|v| v.parse().ok())
            .unwrap_or(TableProperties::PROPERTY_WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT as u64)
    })
}

/// Reads the rows of `paths` (live files of snapshot `snapshot_id`).
async fn read_files(
    table: &Table,
    snapshot_id: i64,
    paths: &HashSet<String>,
) -> Result<Vec<RecordBatch>> {
    let scan = table.scan().snapshot_id(snapshot_id).select_all().build()?;
    let wanted = paths.clone();
    let tasks = scan
        .plan_files()
        .await?
        .try_filter(move |t| futures::future::ready(wanted.contains(&t.data_file_path)));
    let reader = ArrowReaderBuilder::new(table.file_io().clone(), Runtime::current()).build();
    let batches = reader
        .read(Box::pin(tasks))?
        .stream()
        .try_collect::<Vec<_>>()
        .await?;
    Ok(batches)
}

impl Lake {
    /// Compacts the small files of `ident` (see the module docs).
    pub async fn rewrite_data_files(
        &self,
        ident: &TableIdent,
        opts: &RewriteOptions,
    ) -> Result<RewriteOutcome> {
        let table = self.table(ident).await?;
        let files = self.data_files(ident, None).await?;
        let mut outcome = RewriteOutcome {
            table: ident.to_string(),
            files_before: files.len(),
            files_after: files.len(),
            ..Default::default()
        };
        let Some(snapshot_id) = table.metadata().current_snapshot_id() else {
            return Ok(outcome);
        };
        let target = target_size(&table, opts);
        let default_spec = table.metadata().default_partition_spec_id();
        let groups = plan(&files, default_spec, target, opts.min_input_files);
        if groups.is_empty() {
            return Ok(outcome);
        }

        let prefix = format!(
            "rewrite-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let mut added = Vec::new();
        let mut replaced: HashSet<String> = HashSet::new();
        // One partition at a time: memory holds one partition's rows, not the table's.
        let written: Result<()> = async {
            for (n, small) in groups.values().enumerate() {
                let paths: HashSet<String> = small.iter().map(|f| f.path.clone()).collect();
                let batches = read_files(&table, snapshot_id, &paths).await?;
                let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
                let listed: u64 = small.iter().map(|f| f.records).sum();
                if rows != listed {
                    return Err(Error::Catalog(format!(
                        "{ident}: partition {} read {rows} rows from files whose manifests list \
                         {listed}; nothing rewritten",
                        small[0].partition
                    )));
                }
                let part_prefix = format!("{prefix}-{n}");
                let new_files =
                    write::write_data_files_sized(&table, &batches, &part_prefix, target as usize)
                        .await?;
                outcome.rewritten_bytes += small.iter().map(|f| f.size_bytes).sum::<u64>();
                added.extend(new_files);
                replaced.extend(paths);
            }
            Ok(())
        }
        .await;
        if let Err(e) = written {
            commit::delete_data_files(table.file_io(), &added).await;
            return Err(e);
        }
        // That the new files hold exactly the rows of the replaced ones is checked by the
        // commit itself (`CommitKind::Rewrite`), on the base it is built on.

        outcome.partitions_rewritten = groups.len();
        outcome.rewritten_files = replaced.len();
        outcome.added_files = added.len();
        outcome.added_bytes = added.iter().map(|f| f.file_size_in_bytes()).sum();
        outcome.files_after = files.len() - replaced.len() + added.len();
        super::failpoint_before_commit(ident, &added).await;
        let kind = CommitKind::Rewrite(replaced);
        let request = CommitRequest {
            kind: &kind,
            files: added,
            properties: HashMap::from([(MAINTENANCE.into(), "rewrite-data-files".into())]),
            precondition: None,
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
        outcome.commit = Some(committed);
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(partition: &str, size: u64) -> DataFileInfo {
        DataFileInfo {
            path: format!("{partition}/{size}-{}.parquet", uuid::Uuid::new_v4()),
            partition: partition.into(),
            records: 1,
            size_bytes: size,
            spec_id: 0,
        }
    }

    #[test]
    fn a_partition_is_rewritten_when_it_has_enough_small_files() {
        let files = vec![
            // five small files: rewritten
            file("day=1", 10),
            file("day=1", 10),
            file("day=1", 10),
            file("day=1", 10),
            file("day=1", 10),
            // two small files: too few and too small together
            file("day=2", 10),
            file("day=2", 10),
            // two small files that make a target-size file together
            file("day=3", 60),
            file("day=3", 60),
            // one large file and one small one: nothing to merge
            file("day=4", 90),
            file("day=4", 10),
        ];
        let plan = plan(&files, 0, 100, 5);
        let parts: Vec<_> = plan.keys().map(String::as_str).collect();
        assert_eq!(parts, ["day=1", "day=3"]);
        assert_eq!(plan["day=1"].len(), 5);
    }

    #[test]
    fn files_of_another_spec_and_large_files_stay() {
        let mut old = file("day=1", 10);
        old.spec_id = 1;
        let files = vec![old, file("day=1", 10), file("day=1", 80), file("day=1", 10)];
        let plan = plan(&files, 0, 100, 2);
        assert_eq!(plan["day=1"].len(), 2, "{:?}", plan["day=1"]);
        assert!(
            plan["day=1"]
                .iter()
                .all(|f| f.spec_id == 0 && f.size_bytes == 10)
        );
    }
}
