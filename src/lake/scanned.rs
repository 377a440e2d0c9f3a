//! Scans of the lake's tables, and what they open: data files and bytes per table, for the run
//! summary's `metrics.inputs` (how a run's reads compare with its interval is then a number,
//! not a guess).
//!
//! [`CountedTable`] plans a scan with the iceberg crate (files pruned by partition and column
//! bounds with the pushed-down filters), records the planned files, and reads them with the
//! crate's Arrow reader, spread over the session's target partitions: reading many small
//! files is CPU-bound, and the crate's own DataFusion scan reads a table on one core.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, DictionaryArray, Int32Array, RecordBatch, RecordBatchOptions, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::stats::{Precision, Statistics};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::{StreamExt, TryStreamExt};
use iceberg::scan::FileScanTask;
use iceberg::table::Table;
use iceberg_datafusion::IcebergStaticTableProvider;
use iceberg_datafusion::physical_plan::convert_filters_to_predicate;
use serde::Serialize;

/// Parquet footer bytes fetched with the first read of a file: the lake's files are small, so
/// one read usually brings the whole footer (and often the whole file).
const FOOTER_HINT: usize = 64 * 1024;

/// Files each output partition of a scan reads at once (as the crate's scan does per core).
const FILES_IN_FLIGHT: usize = 2;

/// A data file larger than this is read as several byte ranges (each reads the row groups
/// whose middle it holds, as Iceberg's split planning does), so that one large file (a
/// state table's) is read by every core, not one.
const SPLIT_BYTES: u64 = 8 * 1024 * 1024;

/// The column [`CountedTable::with_file_column`] adds: the path of the data file a row is in.
pub const FILE_COLUMN: &str = "_file";

/// The scans of one table in a session.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TableScans {
    /// Scans planned (a table read by several statements is scanned several times).
    pub scans: u64,
    /// Distinct data files the scans open.
    pub files_scanned: u64,
    /// Their size in bytes.
    pub bytes_scanned: u64,
    /// Files opened over all scans (a file read twice counts twice).
    pub file_opens: u64,
    #[serde(skip)]
    files: BTreeSet<String>,
}

/// Per-table scan counts of one session (`namespace.table` → counts), shared by its tables.
#[derive(Debug, Clone, Default)]
pub struct ScanLog(Arc<Mutex<BTreeMap<String, TableScans>>>);

impl ScanLog {
    fn record(&self, table: &str, files: impl IntoIterator<Item = (String, u64)>) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let entry = log.entry(table.to_string()).or_default();
        entry.scans += 1;
        for (path, bytes) in files {
            entry.file_opens += 1;
            if entry.files.insert(path) {
                entry.files_scanned += 1;
                entry.bytes_scanned += bytes;
            }
        }
    }

    /// The counts so far, by table.
    pub fn snapshot(&self) -> BTreeMap<String, TableScans> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// An Iceberg table provider whose scans are counted in a [`ScanLog`].
#[derive(Debug)]
pub struct CountedTable {
    inner: IcebergStaticTableProvider,
    table: Table,
    /// The snapshot the session pins (None: the table has none yet).
    snapshot_id: Option<i64>,
    name: String,
    log: ScanLog,
    /// When set, the only data files any scan reads (those added after a state's snapshot).
    only: Option<Arc<HashSet<String>>>,
    /// The table's columns without the readers' field metadata (`PARQUET:field_id`): a
    /// union of a scan with computed rows must see one schema on both sides.
    schema: SchemaRef,
    /// Whether the last column is [`FILE_COLUMN`].
    file_column: bool,
    /// With the file column: the files the last scan planned (what a row-level rewrite may
    /// replace), as the manifests describe them.
    planned: Arc<Mutex<Vec<PlannedFile>>>,
}

/// A data file a scan planned, as its manifest entry describes it.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    pub path: String,
    /// Its partition value (None from a writer that records none).
    pub partition: Option<iceberg::spec::Struct>,
    /// Its row count.
    pub records: Option<u64>,
    /// Whether delete files apply to it (another engine's row-level deletes): a read of it
    /// then holds fewer rows than its count.
    pub has_deletes: bool,
}

impl CountedTable {
    pub async fn new(
        table: Table,
        snapshot_id: Option<i64>,
        name: String,
        log: ScanLog,
    ) -> iceberg::Result<Self> {
        let inner = match snapshot_id {
            Some(id) => {
                IcebergStaticTableProvider::try_new_from_table_snapshot(table.clone(), id).await?
            }
            None => IcebergStaticTableProvider::try_new_from_table(table.clone()).await?,
        };
        let schema = without_metadata(&inner.schema());
        Ok(CountedTable {
            schema,
            inner,
            table,
            snapshot_id,
            name,
            log,
            only: None,
            file_column: false,
            planned: Arc::default(),
        })
    }

    /// The same table with one more column, [`FILE_COLUMN`]: which data file each row is read
    /// from (a row-level rewrite replaces only the files holding the rows it changes).
    pub fn with_file_column(mut self) -> Self {
        if !self.file_column {
            let mut fields: Vec<_> = self.schema.fields().iter().cloned().collect();
            fields.push(Arc::new(file_field()));
            self.schema = Arc::new(Schema::new(fields));
            self.file_column = true;
        }
        self
    }

    /// The files the last scan of a table with the file column planned.
    pub fn planned_files(&self) -> Vec<PlannedFile> {
        self.planned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The same table restricted to the data files `paths` (the files added since a state).
    pub fn only_files(mut self, paths: HashSet<String>) -> Self {
        self.only = Some(Arc::new(paths));
        self
    }

    /// A copy of this table (same snapshot, same file column) whose scans read only the data
    /// files `paths`, and which keeps its own list of planned files.
    pub fn of_files(&self, paths: HashSet<String>) -> Self {
        CountedTable {
            inner: self.inner.clone(),
            table: self.table.clone(),
            snapshot_id: self.snapshot_id,
            name: self.name.clone(),
            log: self.log.clone(),
            only: Some(Arc::new(paths)),
            schema: self.schema.clone(),
            file_column: self.file_column,
            planned: Arc::default(),
        }
    }

    /// The file tasks of a scan of `columns` (all when None) with `filters`.
    async fn plan(
        &self,
        columns: Option<Vec<String>>,
        filters: &[Expr],
    ) -> iceberg::Result<Vec<FileScanTask>> {
        // The session pins every table that has a snapshot; one without has no files.
        let Some(snapshot) = self.snapshot_id else {
            return Ok(Vec::new());
        };
        let scan = self.table.scan().snapshot_id(snapshot);
        let mut scan = match columns {
            Some(columns) => scan.select(columns),
            None => scan.select_all(),
        };
        if let Some(predicate) = convert_filters_to_predicate(filters) {
            scan = scan.with_filter(predicate);
        }
        let tasks: Vec<FileScanTask> = scan.build()?.plan_files().await?.try_collect().await?;
        Ok(tasks
            .into_iter()
            .filter(|t| {
                self.only
                    .as_ref()
                    .is_none_or(|o| o.contains(&t.data_file_path))
            })
            .collect())
    }
}

#[async_trait]
impl TableProvider for CountedTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let schema = self.schema.clone();
        let file_index = self.file_column.then(|| schema.fields().len() - 1);
        let all: Vec<usize> = (0..schema.fields().len()).collect();
        let p = projection.unwrap_or(&all);
        let output = Arc::new(schema.project(p)?);
        // the position of the file column in the output, and the table columns to read
        let file_at = p.iter().position(|i| Some(*i) == file_index);
        let columns: Vec<String> = p
            .iter()
            .filter(|i| Some(**i) != file_index)
            .map(|i| schema.field(*i).name().clone())
            .collect();
        let columns = (projection.is_some() || file_index.is_some()).then_some(columns);
        let tasks = self
            .plan(columns, filters)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        self.log.record(
            &self.name,
            tasks
                .iter()
                .map(|t| (t.data_file_path.clone(), t.file_size_in_bytes)),
        );
        if self.file_column {
            *self.planned.lock().unwrap_or_else(|e| e.into_inner()) = tasks
                .iter()
                .map(|t| PlannedFile {
                    path: t.data_file_path.clone(),
                    partition: t.partition.clone(),
                    records: t.record_count,
                    has_deletes: !t.deletes.is_empty(),
                })
                .collect();
        }
        let lanes = state.config().target_partitions().max(1);
        Ok(Arc::new(FilesScan::new(
            self.table.clone(),
            self.name.clone(),
            output,
            spread(split(tasks, SPLIT_BYTES), lanes, |t| t.length),
            limit,
            file_at,
        )))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        if !self.file_column {
            return self.inner.supports_filters_pushdown(filters);
        }
        // the file column is not the table's: a filter on it is applied above the scan
        let on_file = |f: &Expr| f.column_refs().iter().any(|c| c.name == FILE_COLUMN);
        let table: Vec<&Expr> = filters.iter().copied().filter(|f| !on_file(f)).collect();
        let mut pushed = self.inner.supports_filters_pushdown(&table)?.into_iter();
        Ok(filters
            .iter()
            .map(|f| {
                if on_file(f) {
                    TableProviderFilterPushDown::Unsupported
                } else {
                    pushed
                        .next()
                        .unwrap_or(TableProviderFilterPushDown::Unsupported)
                }
            })
            .collect())
    }
}

/// `schema` with no field- or schema-level metadata.
fn without_metadata(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_metadata(Default::default()))
            .collect::<Vec<_>>(),
    ))
}

/// Each task of a file over `piece` bytes as byte ranges of about `piece` bytes, its row
/// count shared among them in proportion. A file with delete files is read whole: positional
/// deletes number the rows of the whole file.
fn split(tasks: Vec<FileScanTask>, piece: u64) -> Vec<FileScanTask> {
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        let whole = task.start == 0 && task.length == task.file_size_in_bytes;
        if !whole || !task.deletes.is_empty() || task.length <= piece {
            out.push(task);
            continue;
        }
        let n = task.length.div_ceil(piece);
        let (size, rows) = (task.length, task.record_count);
        for i in 0..n {
            let (start, end) = (size * i / n, size * (i + 1) / n);
            let mut part = task.clone();
            part.start = start;
            part.length = end - start;
            // rows before `end` minus rows before `start`, so the parts sum to the whole
            part.record_count = rows.map(|r| {
                let upto = |b: u64| (u128::from(r) * u128::from(b) / u128::from(size)) as u64;
                upto(end) - upto(start)
            });
            out.push(part);
        }
    }
    out
}

/// Splits items into at most `lanes` groups of about equal weight (heaviest first, each to the
/// lightest group).
fn spread<T>(mut items: Vec<T>, lanes: usize, weight: impl Fn(&T) -> u64) -> Vec<Vec<T>> {
    let lanes = lanes.min(items.len()).max(1);
    items.sort_by_key(|t| std::cmp::Reverse(weight(t)));
    let mut groups: Vec<(u64, Vec<T>)> = (0..lanes).map(|_| (0, Vec::new())).collect();
    for item in items {
        let lightest = groups
            .iter_mut()
            .min_by_key(|(w, _)| *w)
            .expect("at least one lane");
        lightest.0 += weight(&item);
        lightest.1.push(item);
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// Reads planned file tasks, one group per output partition.
#[derive(Debug)]
struct FilesScan {
    table: Table,
    name: String,
    groups: Vec<Vec<FileScanTask>>,
    limit: Option<usize>,
    properties: Arc<PlanProperties>,
    /// Where the output holds [`FILE_COLUMN`], if it does.
    file_at: Option<usize>,
}

impl FilesScan {
    fn new(
        table: Table,
        name: String,
        schema: SchemaRef,
        groups: Vec<Vec<FileScanTask>>,
        limit: Option<usize>,
        file_at: Option<usize>,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(groups.len()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        FilesScan {
            table,
            name,
            groups,
            limit,
            properties,
            file_at,
        }
    }
}

impl DisplayAs for FilesScan {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let tasks = self.groups.iter().flatten();
        let ranges = tasks.clone().count();
        let files = tasks
            .map(|t| &t.data_file_path)
            .collect::<BTreeSet<_>>()
            .len();
        write!(
            f,
            "FilesScan {}: {files} files as {ranges} ranges in {} groups",
            self.name,
            self.groups.len()
        )
    }
}

impl ExecutionPlan for FilesScan {
    fn name(&self) -> &str {
        "FilesScan"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    /// The rows the planned files hold, as an upper bound (`Inexact`: the pushed-down filters
    /// and delete files may leave some out), so that DataFusion's join selection builds its
    /// hash table on the smaller input. Without it a `key IN (SELECT …)` over a state table
    /// hashed the whole state (90 k customers at scale 1) to probe it with a day's few
    /// hundred keys. (No byte size: the files' compressed size is not the rows' size in
    /// memory that a table held in memory reports, so rows are what both sides compare.)
    fn partition_statistics(&self, partition: Option<usize>) -> DFResult<Statistics> {
        let tasks: Vec<&FileScanTask> = match partition {
            Some(p) => self.groups.get(p).into_iter().flatten().collect(),
            None => self.groups.iter().flatten().collect(),
        };
        let mut stats = Statistics::new_unknown(&self.schema());
        if let Some(rows) = tasks.iter().map(|t| t.record_count).sum::<Option<u64>>() {
            let rows = usize::try_from(rows).unwrap_or(usize::MAX);
            stats.num_rows = Precision::Inexact(self.limit.map_or(rows, |l| rows.min(l)));
        }
        Ok(stats)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DFResult<SendableRecordBatchStream> {
        let tasks = self.groups.get(partition).cloned().unwrap_or_default();
        // Batches of the session's size, as DataFusion's own Parquet scan makes them (the
        // crate's reader otherwise keeps the Parquet reader's 1,024 rows, and every operator
        // above the scan then handles eight times as many batches).
        let reader = self
            .table
            .reader_builder()
            .with_batch_size(context.session_config().batch_size())
            .with_data_file_concurrency_limit(FILES_IN_FLIGHT)
            .with_metadata_size_hint(FOOTER_HINT)
            .build();
        let batches = match self.file_at {
            None => reader
                .read(futures::stream::iter(tasks.into_iter().map(Ok)).boxed())
                .map_err(|e| DataFusionError::External(Box::new(e)))?
                .stream()
                .map_err(|e| DataFusionError::External(Box::new(e)))
                .boxed(),
            // one file at a time, each batch told its file
            Some(at) => futures::stream::iter(tasks)
                .map(move |task| {
                    let path = task.data_file_path.clone();
                    let one = futures::stream::iter([Ok(task)]).boxed();
                    match reader.clone().read(one) {
                        Ok(batches) => batches
                            .stream()
                            .map_err(|e| DataFusionError::External(Box::new(e)))
                            .and_then(move |b| {
                                futures::future::ready(with_file(b, at, &path).map_err(Into::into))
                            })
                            .boxed(),
                        Err(e) => futures::stream::once(futures::future::ready(Err(
                            DataFusionError::External(Box::new(e)),
                        )))
                        .boxed(),
                    }
                })
                .flatten()
                .boxed(),
        };
        // A limit is a hint here (DataFusion applies it again above the scan): stop reading
        // once it is reached.
        let mut remaining = self.limit.unwrap_or(usize::MAX);
        let schema = self.properties.eq_properties.schema().clone();
        let batches = batches.and_then(move |b| {
            futures::future::ready(
                RecordBatch::try_new_with_options(
                    schema.clone(),
                    b.columns().to_vec(),
                    &RecordBatchOptions::new().with_row_count(Some(b.num_rows())),
                )
                .map_err(Into::into),
            )
        });
        let batches = batches.try_filter_map(move |b| {
            let out = if remaining == 0 {
                None
            } else if b.num_rows() <= remaining {
                remaining -= b.num_rows();
                Some(b)
            } else {
                let cut = b.slice(0, remaining);
                remaining = 0;
                Some(cut)
            };
            futures::future::ready(Ok(out))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.properties.eq_properties.schema().clone(),
            batches,
        )))
    }
}

/// The file column: dictionary-encoded, as every row of a batch names the same file (a
/// plain text column repeated the path on each of the 950 k rows of `silver.user_location`'s
/// customers at scale 10, and every query over them hashed or compared it).
fn file_field() -> Field {
    Field::new(
        FILE_COLUMN,
        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        false,
    )
}

/// `batch` with a column at `at` naming `path` on every row.
fn with_file(
    batch: RecordBatch,
    at: usize,
    path: &str,
) -> datafusion::arrow::error::Result<RecordBatch> {
    let mut columns = batch.columns().to_vec();
    let file: ArrayRef = Arc::new(DictionaryArray::<Int32Type>::try_new(
        Int32Array::from(vec![0; batch.num_rows()]),
        Arc::new(StringArray::from(vec![path])),
    )?);
    columns.insert(at, file);
    let mut fields: Vec<_> = batch.schema().fields().iter().cloned().collect();
    fields.insert(at, Arc::new(file_field()));
    RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_balances_bytes_over_lanes() {
        let groups = spread(vec![5u64, 1, 9, 3, 4, 2], 2, |w| *w);
        let sums: Vec<u64> = groups.iter().map(|g| g.iter().sum()).collect();
        assert_eq!(sums, vec![12, 12]);
        assert_eq!(spread(vec![7u64], 4, |w| *w), vec![vec![7]]);
        assert_eq!(
            spread(Vec::<u64>::new(), 2, |w| *w),
            vec![Vec::<u64>::new()]
        );
    }

    fn task(size: u64, rows: u64) -> FileScanTask {
        FileScanTask::builder()
            .with_file_size_in_bytes(size)
            .with_start(0)
            .with_length(size)
            .with_record_count(Some(rows))
            .with_data_file_path(format!("f{size}.parquet"))
            .with_data_file_format(iceberg::spec::DataFileFormat::Parquet)
            .with_schema(Arc::new(iceberg::spec::Schema::builder().build().unwrap()))
            .with_project_field_ids(vec![])
            .with_case_sensitive(true)
            .build()
    }

    #[test]
    fn a_large_file_is_read_as_byte_ranges_covering_it_once() {
        let parts = split(vec![task(10, 7), task(25, 1000)], 10);
        let ranges: Vec<(u64, u64, Option<u64>)> = parts
            .iter()
            .map(|t| (t.start, t.length, t.record_count))
            .collect();
        // the small file whole; the large one in three contiguous ranges, rows shared
        assert_eq!(
            ranges,
            vec![
                (0, 10, Some(7)),
                (0, 8, Some(320)),
                (8, 8, Some(320)),
                (16, 9, Some(360))
            ]
        );
        // a file with delete files is never split
        let mut deleted = task(25, 1000);
        deleted.deletes = vec![iceberg::scan::FileScanTaskDeleteFile {
            file_path: "d.parquet".into(),
            file_size_in_bytes: 1,
            file_type: iceberg::spec::DataContentType::PositionDeletes,
            partition_spec_id: 0,
            equality_ids: None,
        }];
        assert_eq!(split(vec![deleted], 10).len(), 1);
    }

    #[test]
    fn files_count_once_per_run_and_opens_per_scan() {
        let log = ScanLog::default();
        log.record("bronze.review", [("a".into(), 10), ("b".into(), 5)]);
        log.record("bronze.review", [("a".into(), 10)]);
        log.record("silver.user_location", []);
        let s = log.snapshot();
        let review = &s["bronze.review"];
        assert_eq!(
            (
                review.scans,
                review.files_scanned,
                review.bytes_scanned,
                review.file_opens
            ),
            (2, 2, 15, 3)
        );
        assert_eq!(s["silver.user_location"].scans, 1);
        assert_eq!(s["silver.user_location"].files_scanned, 0);
    }
}
