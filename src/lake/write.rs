//! Writing Arrow record batches as Iceberg data files (Parquet, compressed as the table's
//! `write.parquet.compression-codec` says), split by partition.
//!
//! Files are written before any commit; a crash before the commit leaves them unreferenced
//! (invisible to readers) and `expire-snapshots` never deletes files a snapshot still uses.

use std::collections::{BTreeMap, HashMap};

use futures::StreamExt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array, new_null_array};
use arrow::compute::{cast, take_record_batch};
use arrow::datatypes::SchemaRef as ArrowSchemaRef;
use iceberg::arrow::{PartitionValueCalculator, arrow_struct_to_literal, schema_to_arrow_schema};
use iceberg::spec::{
    DataFile, DataFileFormat, Literal, NestedField, PartitionKey, PartitionSpecRef,
    PrimitiveLiteral, PrimitiveType, SchemaRef, Struct, StructType, TableProperties, Transform,
    Type,
};
use iceberg::table::Table;
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator, LocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};

/// The table's Arrow schema, with Parquet field ids.
pub fn arrow_schema(table: &Table) -> Result<ArrowSchemaRef> {
    Ok(Arc::new(schema_to_arrow_schema(
        table.metadata().current_schema(),
    )?))
}

/// A batch of some of the table's columns (those its partition values are computed from)
/// spread over all of them, the others null whatever the table requires: for
/// [`Splitter::values`] only, never written.
pub fn widen(
    table_name: &str,
    schema: &ArrowSchemaRef,
    batch: &RecordBatch,
) -> Result<RecordBatch> {
    let given = batch.schema();
    reject_unknown_columns(table_name, schema, &given)?;
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        columns.push(match given.index_of(field.name()) {
            Ok(i) => column_as(table_name, field, batch.column(i))?,
            Err(_) => new_null_array(field.data_type(), batch.num_rows()),
        });
        fields.push(field.as_ref().clone().with_nullable(true));
    }
    Ok(RecordBatch::try_new_with_options(
        Arc::new(arrow::datatypes::Schema::new(fields)),
        columns,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )?)
}

/// An error naming the first column of `given` that the table's `schema` lacks.
fn reject_unknown_columns(
    table_name: &str,
    schema: &ArrowSchemaRef,
    given: &ArrowSchemaRef,
) -> Result<()> {
    match given
        .fields()
        .iter()
        .find(|f| schema.field_with_name(f.name()).is_err())
    {
        Some(f) => Err(Error::InvalidInput(format!(
            "{table_name}: unknown column `{}`",
            f.name()
        ))),
        None => Ok(()),
    }
}

/// `column` as the table's `field` types it (cast when the types differ).
fn column_as(
    table_name: &str,
    field: &arrow::datatypes::Field,
    column: &ArrayRef,
) -> Result<ArrayRef> {
    if column.data_type() == field.data_type() {
        return Ok(column.clone());
    }
    cast(column, field.data_type()).map_err(|e| {
        Error::InvalidInput(format!(
            "{table_name}.{}: cannot convert {} to {}: {e}",
            field.name(),
            column.data_type(),
            field.data_type()
        ))
    })
}

/// Aligns a batch to the table schema by column name: casts types, fills absent nullable
/// columns with nulls, and rejects unknown columns and nulls in required ones.
pub fn conform(
    table_name: &str,
    schema: &ArrowSchemaRef,
    batch: &RecordBatch,
) -> Result<RecordBatch> {
    let given = batch.schema();
    reject_unknown_columns(table_name, schema, &given)?;
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let column = match given.index_of(field.name()) {
            Ok(i) => column_as(table_name, field, batch.column(i))?,
            Err(_) if field.is_nullable() => new_null_array(field.data_type(), batch.num_rows()),
            Err(_) => {
                return Err(Error::InvalidInput(format!(
                    "{table_name}: required column `{}` is missing",
                    field.name()
                )));
            }
        };
        if !field.is_nullable() && column.null_count() > 0 {
            return Err(Error::InvalidInput(format!(
                "{table_name}.{}: {} null value(s) in a required column",
                field.name(),
                column.null_count()
            )));
        }
        columns.push(column);
    }
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The table property naming the Parquet codec, and its level (Iceberg's names).
pub const CODEC_PROPERTY: &str = "write.parquet.compression-codec";
pub const CODEC_LEVEL_PROPERTY: &str = "write.parquet.compression-level";

/// The Parquet codec the table's properties ask for: Iceberg's codec names (`zstd`, the
/// default, at level 3 unless a level is set; `snappy`, `gzip`, `brotli`, `lz4`,
/// `uncompressed`). An unknown name or level is an error naming the table.
pub fn table_compression(table: &str, properties: &HashMap<String, String>) -> Result<Compression> {
    let codec = properties
        .get(CODEC_PROPERTY)
        .map(|c| c.to_ascii_lowercase());
    let level = properties
        .get(CODEC_LEVEL_PROPERTY)
        .map(|l| {
            l.trim().parse::<i32>().map_err(|_| {
                Error::Config(format!(
                    "{table}: {CODEC_LEVEL_PROPERTY} `{l}` is not a number"
                ))
            })
        })
        .transpose()?;
    let bad_level = |e: parquet::errors::ParquetError| {
        Error::Config(format!("{table}: {CODEC_LEVEL_PROPERTY}: {e}"))
    };
    Ok(match codec.as_deref().unwrap_or("zstd") {
        "zstd" => Compression::ZSTD(ZstdLevel::try_new(level.unwrap_or(3)).map_err(bad_level)?),
        "snappy" => Compression::SNAPPY,
        "gzip" => Compression::GZIP(match level {
            Some(l) => GzipLevel::try_new(l as u32).map_err(bad_level)?,
            None => GzipLevel::default(),
        }),
        "brotli" => Compression::BROTLI(match level {
            Some(l) => BrotliLevel::try_new(l as u32).map_err(bad_level)?,
            None => BrotliLevel::default(),
        }),
        // Iceberg's `lz4` is Parquet's LZ4_RAW (the framed Hadoop variant is deprecated)
        "lz4" => Compression::LZ4_RAW,
        "uncompressed" | "none" => Compression::UNCOMPRESSED,
        other => {
            return Err(Error::Config(format!(
                "{table}: {CODEC_PROPERTY} `{other}` is not one of zstd, snappy, gzip, brotli, \
                 lz4, uncompressed"
            )));
        }
    })
}

/// Rows per Parquet row group (the writer's default is 1 Mi): a reader can then split a large
/// file (a state table's, 100–170 MB at scale 10) into byte ranges read in parallel, and prune
/// by the row groups' column bounds at a finer grain. About DuckDB's row group (122,880 rows).
const ROW_GROUP_ROWS: usize = 128 * 1024;

fn writer_properties(table: &Table) -> Result<WriterProperties> {
    let compression = table_compression(
        &table.identifier().to_string(),
        table.metadata().properties(),
    )?;
    let mut builder = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    for field in table.metadata().current_schema().as_struct().fields() {
        if !dictionary_encoded(field) {
            builder =
                builder.set_column_dictionary_enabled(ColumnPath::from(field.name.as_str()), false);
        }
    }
    Ok(builder.build())
}

/// Whether a column's pages are dictionary-encoded: the text columns that repeat a few values
/// (a status, a category, a city), not the keys (`*_id`, nearly one value per row) nor the
/// numbers and times. The Parquet writer tries a dictionary on every column by default and
/// falls back to plain encoding only once a row group's dictionary passes 1 MiB, which 128 Ki
/// distinct timestamps or offsets never do: every value was hashed into a dictionary that
/// saves nothing (a tenth of a full refresh's CPU at scale 1), and the files came out larger.
fn dictionary_encoded(field: &NestedField) -> bool {
    matches!(*field.field_type, Type::Primitive(PrimitiveType::String))
        && !field.name.ends_with("_id")
}

/// The end (exclusive, ms since the epoch) of the time range of partition value `n` of a
/// `year`, `month`, `day` or `hour` transform (units since 1970-01-01T00:00Z, as Iceberg's).
fn partition_end_ms(transform: Transform, n: i32) -> Option<i64> {
    const HOUR_MS: i64 = 3_600_000;
    let months_end = |months: i64| {
        let (y, m) = (
            1970 + months.div_euclid(12),
            months.rem_euclid(12) as u32 + 1,
        );
        let first = chrono::NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, 1)?;
        Some(first.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
    };
    match transform {
        Transform::Hour => Some((i64::from(n) + 1) * HOUR_MS),
        Transform::Day => Some((i64::from(n) + 1) * 24 * HOUR_MS),
        Transform::Month => months_end(i64::from(n) + 1),
        Transform::Year => months_end((i64::from(n) + 1) * 12),
        _ => None,
    }
}

/// Splits batches by partition value in one pass over the rows. (The crate's
/// `RecordBatchPartitionSplitter` filters the whole batch once per partition: rows × partitions,
/// seconds for a first load whose batches span hundreds of partitions.)
pub(crate) struct Splitter {
    calculator: PartitionValueCalculator,
    partition_type: StructType,
    schema: SchemaRef,
    spec: PartitionSpecRef,
}

impl Splitter {
    /// The splitter of `table`'s rows by its default spec; None when it is unpartitioned.
    pub(crate) fn of_table(table: &Table) -> Result<Option<Splitter>> {
        let md = table.metadata();
        let spec = md.default_partition_spec().clone();
        if spec.is_unpartitioned() {
            return Ok(None);
        }
        Splitter::new(md.current_schema().clone(), spec).map(Some)
    }

    fn new(schema: SchemaRef, spec: PartitionSpecRef) -> Result<Splitter> {
        Ok(Splitter {
            calculator: PartitionValueCalculator::try_new(&spec, &schema)?,
            partition_type: spec.partition_type(&schema)?,
            schema,
            spec,
        })
    }

    /// Each row's partition value, in row order.
    fn row_values(&self, batch: &RecordBatch) -> Result<Vec<Struct>> {
        let values = self.calculator.calculate(batch)?;
        arrow_struct_to_literal(&values, &self.partition_type)?
            .into_iter()
            .enumerate()
            .map(|(row, literal)| match literal {
                Some(Literal::Struct(value)) => Ok(value),
                _ => Err(Error::Catalog(format!(
                    "row {row}: no partition value could be computed"
                ))),
            })
            .collect()
    }

    /// The distinct partition values of the batch's rows (none of its rows is copied).
    pub(crate) fn values(&self, batch: &RecordBatch) -> Result<Vec<Struct>> {
        let seen: std::collections::HashSet<Struct> = self.row_values(batch)?.into_iter().collect();
        Ok(seen.into_iter().collect())
    }

    /// The batch's rows grouped by partition, each group in row order.
    pub(crate) fn split(&self, batch: &RecordBatch) -> Result<Vec<(PartitionKey, RecordBatch)>> {
        let mut groups: Vec<(Struct, Vec<u32>)> = Vec::new();
        let mut index: HashMap<Struct, usize> = HashMap::new();
        for (row, value) in self.row_values(batch)?.into_iter().enumerate() {
            let at = *index.entry(value.clone()).or_insert_with(|| {
                groups.push((value, Vec::new()));
                groups.len() - 1
            });
            groups[at].1.push(row as u32);
        }
        groups
            .into_iter()
            .map(|(value, rows)| {
                let key = PartitionKey::new(self.spec.as_ref().clone(), self.schema.clone(), value);
                let part = if rows.len() == batch.num_rows() {
                    batch.clone()
                } else {
                    take_record_batch(batch, &UInt32Array::from(rows))?
                };
                Ok((key, part))
            })
            .collect()
    }
}

type FileWriterBuilder =
    DataFileWriterBuilder<ParquetWriterBuilder, PartitionPaths, DefaultFileNameGenerator>;

/// Data file locations under the table's data folder, in a folder per partition named as
/// Iceberg's Java writers (and Spark) name it: `delivered_customer_month=2018-08`, not the
/// transform's raw value (`=583`) the crate's default generator writes.
#[derive(Clone, Debug)]
struct PartitionPaths(DefaultLocationGenerator);

impl LocationGenerator for PartitionPaths {
    fn generate_location(&self, key: Option<&PartitionKey>, file_name: &str) -> String {
        match key {
            Some(key) if !key.spec().is_unpartitioned() => self
                .0
                .generate_location(None, &format!("{}/{file_name}", partition_path(key))),
            _ => self.0.generate_location(None, file_name),
        }
    }
}

/// `name=value/…` for a partition, each value as Java's `Transform.toHumanString` renders it
/// (months `yyyy-MM`, hours `yyyy-MM-dd-HH`, years `yyyy`; days are dates already) and URL-
/// encoded as Java's `PartitionSpec.partitionToPath` encodes it.
pub fn partition_path(key: &PartitionKey) -> String {
    let types = key.spec().partition_type(key.schema()).ok();
    key.spec()
        .fields()
        .iter()
        .zip(key.data().iter())
        .enumerate()
        .map(|(i, (field, value))| {
            let shown = match (field.transform, value) {
                (
                    Transform::Year | Transform::Month | Transform::Hour,
                    Some(Literal::Primitive(PrimitiveLiteral::Int(n))),
                ) => human_time(field.transform, *n),
                // the crate renders the other transforms' values (dates, strings, numbers) as
                // Java does
                _ => match types.as_ref().and_then(|t| t.fields().get(i)) {
                    Some(f) => field.transform.to_human_string(&f.field_type, value),
                    None => "null".to_string(),
                },
            };
            format!("{}={}", url_encode(&field.name), url_encode(&shown))
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Years, months or hours since 1970 as `yyyy`, `yyyy-MM` or `yyyy-MM-dd-HH`.
fn human_time(transform: Transform, n: i32) -> String {
    match transform {
        Transform::Year => format!("{:04}", 1970 + n),
        Transform::Month => {
            let (y, m) = (1970 + n.div_euclid(12), n.rem_euclid(12) + 1);
            format!("{y:04}-{m:02}")
        }
        _ => chrono::DateTime::from_timestamp(i64::from(n) * 3600, 0)
            .map_or_else(|| n.to_string(), |t| t.format("%Y-%m-%d-%H").to_string()),
    }
}

/// `application/x-www-form-urlencoded` as Java's `URLEncoder` writes it.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Parquet data files of `table` in its data folder, named `<prefix>-…`, rolling over to a
/// new file at `target_size` bytes.
fn file_writer_builder(
    table: &Table,
    prefix: &str,
    target_size: usize,
) -> Result<FileWriterBuilder> {
    let metadata = table.metadata();
    let rolling = RollingFileWriterBuilder::new(
        ParquetWriterBuilder::new(writer_properties(table)?, metadata.current_schema().clone()),
        target_size,
        table.file_io().clone(),
        PartitionPaths(DefaultLocationGenerator::new(metadata)?),
        DefaultFileNameGenerator::new(prefix.to_string(), None, DataFileFormat::Parquet),
    );
    Ok(DataFileWriterBuilder::new(rolling))
}

/// Writes the batches as data files of `table`, one or more per partition. `prefix` makes the
/// file names unique per write (a run id plus a random part).
pub async fn write_data_files(
    table: &Table,
    batches: &[RecordBatch],
    prefix: &str,
) -> Result<Vec<DataFile>> {
    let target = TableProperties::PROPERTY_WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT;
    write_data_files_sized(table, batches, prefix, target).await
}

/// [`write_data_files`], rolling over to a new file once one reaches `target_size` bytes.
pub async fn write_data_files_sized(
    table: &Table,
    batches: &[RecordBatch],
    prefix: &str,
    target_size: usize,
) -> Result<Vec<DataFile>> {
    let qualified = table.identifier().to_string();
    let schema = arrow_schema(table)?;
    let conformed = batches
        .iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| conform(&qualified, &schema, b))
        .collect::<Result<Vec<_>>>()?;
    if conformed.is_empty() {
        return Ok(Vec::new());
    }

    let metadata = table.metadata();
    let iceberg_schema = metadata.current_schema().clone();
    let spec = metadata.default_partition_spec().clone();

    // Group rows by partition, in a stable order (file names follow it).
    let mut groups: BTreeMap<String, (Option<PartitionKey>, Vec<RecordBatch>)> = BTreeMap::new();
    if spec.is_unpartitioned() {
        groups.insert(String::new(), (None, conformed));
    } else {
        let splitter = Splitter::new(iceberg_schema.clone(), spec.clone())?;
        for batch in &conformed {
            for (key, part) in splitter.split(batch)? {
                groups
                    .entry(key.to_path())
                    .or_insert_with(|| (Some(key), Vec::new()))
                    .1
                    .push(part);
            }
        }
    }

    let builder = Arc::new(file_writer_builder(table, prefix, target_size)?);

    // Partitions are independent: write several at a time (a first load of a day-partitioned
    // table can touch hundreds of partitions). The manifest order of files does not matter.
    let writes = groups
        .into_values()
        .map(|(key, parts)| spawn_partition_write(builder.clone(), key, parts));
    let mut files = Vec::new();
    let mut failed = None;
    let mut stream = futures::stream::iter(writes).buffer_unordered(WRITING_AT_ONCE);
    while let Some(written) = stream.next().await {
        match written_files(written) {
            Ok(written) => files.extend(written),
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failed {
        // nothing of a failed write stays behind: its files were never referenced
        super::commit::delete_data_files(table.file_io(), &files).await;
        return Err(e);
    }
    Ok(files)
}

/// Data files written as a stream of batches arrives (bronze-load): rows are held per
/// partition until the caller says the stream has moved past the partition
/// ([`StreamWriter::close_where`]); then its file is written on the runtime's other threads
/// while the caller reads on. A stream in partition order thus writes one file per partition
/// and holds only the rows of the partitions still open; a row arriving for a partition
/// already written goes to another file for it.
pub struct StreamWriter {
    qualified: String,
    schema: ArrowSchemaRef,
    splitter: Option<Splitter>,
    /// The transform of the spec's one field when it is a time transform (bronze: `month` of
    /// `ingest_time`, `day` in tables created before), for [`StreamWriter::close_ended_by`].
    time_transform: Option<Transform>,
    builder: Arc<FileWriterBuilder>,
    /// Rows not yet written, by partition path, with the partition key.
    pending: HashMap<String, (Option<PartitionKey>, Vec<RecordBatch>)>,
    writing: std::collections::VecDeque<tokio::task::JoinHandle<Result<Vec<DataFile>>>>,
    /// Files written so far.
    files: Vec<DataFile>,
    file_io: iceberg::io::FileIO,
}

impl StreamWriter {
    /// A writer of `table`'s data files named with `prefix` (a run id plus a random part).
    pub fn new(table: &Table, prefix: &str) -> Result<StreamWriter> {
        let metadata = table.metadata();
        let iceberg_schema = metadata.current_schema().clone();
        let spec = metadata.default_partition_spec().clone();
        let splitter = (!spec.is_unpartitioned())
            .then(|| Splitter::new(iceberg_schema.clone(), spec.clone()))
            .transpose()?;
        let builder = file_writer_builder(
            table,
            prefix,
            TableProperties::PROPERTY_WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT,
        )?;
        let time_transform = match spec.fields() {
            [field] => Some(field.transform).filter(|t| {
                matches!(
                    t,
                    Transform::Year | Transform::Month | Transform::Day | Transform::Hour
                )
            }),
            _ => None,
        };
        Ok(StreamWriter {
            qualified: table.identifier().to_string(),
            schema: arrow_schema(table)?,
            splitter,
            time_transform,
            builder: Arc::new(builder),
            pending: HashMap::new(),
            writing: Default::default(),
            files: Vec::new(),
            file_io: table.file_io().clone(),
        })
    }

    /// Adds a batch's rows to the partitions they fall into.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = conform(&self.qualified, &self.schema, batch)?;
        let parts = match &self.splitter {
            Some(splitter) => splitter
                .split(&batch)?
                .into_iter()
                .map(|(key, part)| (key.to_path(), Some(key), part))
                .collect(),
            None => vec![(String::new(), None, batch)],
        };
        for (path, key, part) in parts {
            self.pending
                .entry(path)
                .or_insert_with(|| (key, Vec::new()))
                .1
                .push(part);
        }
        Ok(())
    }

    /// Writes the files of the partitions `done` names, in the background: at most
    /// [`WRITING_AT_ONCE`] at a time, waiting for the oldest beyond that (so memory stays
    /// bounded when the caller reads faster than files are written).
    pub async fn close_where(&mut self, done: impl Fn(&Struct) -> bool) -> Result<()> {
        let finished: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, (key, _))| key.as_ref().is_none_or(|k| done(k.data())))
            .map(|(path, _)| path.clone())
            .collect();
        for path in finished {
            let Some((key, parts)) = self.pending.remove(&path) else {
                continue;
            };
            while self.writing.len() >= WRITING_AT_ONCE {
                self.wait_oldest().await?;
            }
            self.writing
                .push_back(spawn_partition_write(self.builder.clone(), key, parts));
        }
        Ok(())
    }

    /// Writes the files of the partitions whose time range ends at or before `t_ms` (ms since
    /// the epoch), when the spec is one time transform: the stream, read in time order, has
    /// left them. With another spec nothing is closed before [`StreamWriter::finish`].
    pub async fn close_ended_by(&mut self, t_ms: i64) -> Result<()> {
        let Some(transform) = self.time_transform else {
            return Ok(());
        };
        self.close_where(|value| match value.fields() {
            [Some(Literal::Primitive(PrimitiveLiteral::Int(n)))] => {
                partition_end_ms(transform, *n).is_some_and(|end| end <= t_ms)
            }
            _ => false,
        })
        .await
    }

    async fn wait_oldest(&mut self) -> Result<()> {
        if let Some(writing) = self.writing.pop_front() {
            self.files.extend(written_files(writing.await)?);
        }
        Ok(())
    }

    /// Partitions with rows not yet written.
    pub fn open_partitions(&self) -> usize {
        self.pending.len()
    }

    /// Drops what is not written yet and deletes every file written: nothing of an abandoned
    /// stream stays behind (its files were never referenced by a snapshot).
    pub async fn abort(mut self) {
        self.pending.clear();
        while !self.writing.is_empty() {
            if let Err(e) = self.wait_oldest().await {
                tracing::warn!("writing the data files of an abandoned stream: {e}");
            }
        }
        super::commit::delete_data_files(&self.file_io, &self.files).await;
    }

    /// Writes every partition's file and returns all the data files written.
    pub async fn finish(mut self) -> Result<Vec<DataFile>> {
        self.close_where(|_| true).await?;
        while !self.writing.is_empty() {
            self.wait_oldest().await?;
        }
        Ok(self.files)
    }
}

/// Writes one partition's rows as data files, on the runtime's threads (so that partitions
/// written at once encode on every core).
fn spawn_partition_write(
    builder: Arc<FileWriterBuilder>,
    key: Option<PartitionKey>,
    parts: Vec<RecordBatch>,
) -> tokio::task::JoinHandle<Result<Vec<DataFile>>> {
    tokio::spawn(async move {
        let mut writer = builder.build(key).await?;
        for part in parts {
            writer.write(part).await?;
        }
        Ok(writer.close().await?)
    })
}

/// The files of a finished [`spawn_partition_write`].
fn written_files(
    joined: std::result::Result<Result<Vec<DataFile>>, tokio::task::JoinError>,
) -> Result<Vec<DataFile>> {
    joined.map_err(|e| Error::Catalog(format!("writing a data file: {e}")))?
}

/// Files written at once (by a [`StreamWriter`], and by [`write_data_files_sized`]).
const WRITING_AT_ONCE: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, TimestampMicrosecondArray};
    use iceberg::arrow::RecordBatchPartitionSplitter;
    use iceberg::spec::{NestedField, PartitionSpec, PrimitiveType, Schema, Transform, Type};

    #[test]
    fn a_time_partition_ends_where_the_next_begins() {
        let ms = |s: &str| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
                .unwrap()
                .and_utc()
                .timestamp_millis()
        };
        for (transform, n, end) in [
            // months since 1970-01: 575 = 2017-12, 577 = 2018-02
            (Transform::Month, 575, "2018-01-01 00:00"),
            (Transform::Month, 577, "2018-03-01 00:00"),
            (Transform::Month, -1, "1970-01-01 00:00"),
            // days since 1970-01-01: 17532 = 2018-01-01
            (Transform::Day, 17532, "2018-01-02 00:00"),
            (Transform::Year, 48, "2019-01-01 00:00"),
            (Transform::Hour, 0, "1970-01-01 01:00"),
        ] {
            assert_eq!(
                partition_end_ms(transform, n),
                Some(ms(end)),
                "{transform} {n}"
            );
        }
        assert_eq!(partition_end_ms(Transform::Identity, 3), None);
    }

    fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_codec_is_the_tables_property_and_zstd_by_default() {
        let level3 = Compression::ZSTD(ZstdLevel::try_new(3).unwrap());
        assert_eq!(table_compression("t", &props(&[])).unwrap(), level3);
        let snappy = props(&[(CODEC_PROPERTY, "SNAPPY")]);
        assert_eq!(
            table_compression("t", &snappy).unwrap(),
            Compression::SNAPPY
        );
        let zstd9 = props(&[(CODEC_PROPERTY, "zstd"), (CODEC_LEVEL_PROPERTY, "9")]);
        assert_eq!(
            table_compression("t", &zstd9).unwrap(),
            Compression::ZSTD(ZstdLevel::try_new(9).unwrap())
        );
        let none = props(&[(CODEC_PROPERTY, "uncompressed")]);
        assert_eq!(
            table_compression("t", &none).unwrap(),
            Compression::UNCOMPRESSED
        );
    }

    #[test]
    fn only_text_that_is_not_a_key_is_dictionary_encoded() {
        let field =
            |name: &str, t: PrimitiveType| NestedField::optional(1, name, Type::Primitive(t));
        assert!(dictionary_encoded(&field("status", PrimitiveType::String)));
        assert!(dictionary_encoded(&field(
            "category",
            PrimitiveType::String
        )));
        assert!(!dictionary_encoded(&field(
            "order_id",
            PrimitiveType::String
        )));
        assert!(!dictionary_encoded(&field(
            "ingest_time",
            PrimitiveType::Timestamp
        )));
        assert!(!dictionary_encoded(&field(
            "_kafka_offset",
            PrimitiveType::Long
        )));
        assert!(!dictionary_encoded(&field("price", PrimitiveType::Double)));
    }

    #[test]
    fn an_unknown_codec_or_level_names_the_table() {
        let lzo = props(&[(CODEC_PROPERTY, "lzo")]);
        let e = table_compression("bronze.order_item", &lzo)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bronze.order_item") && e.contains("lzo"), "{e}");
        let level = props(&[(CODEC_PROPERTY, "zstd"), (CODEC_LEVEL_PROPERTY, "99")]);
        let e = table_compression("gold.x", &level).unwrap_err().to_string();
        assert!(
            e.contains("gold.x") && e.contains(CODEC_LEVEL_PROPERTY),
            "{e}"
        );
    }

    #[test]
    fn splits_like_the_crates_splitter_in_one_pass() {
        let schema = Arc::new(
            Schema::builder()
                .with_fields(vec![
                    NestedField::required(1, "t", Type::Primitive(PrimitiveType::Timestamp)).into(),
                    NestedField::required(2, "n", Type::Primitive(PrimitiveType::Long)).into(),
                ])
                .build()
                .unwrap(),
        );
        let spec = Arc::new(
            PartitionSpec::builder(schema.clone())
                .add_partition_field("t", "t_day", Transform::Day)
                .unwrap()
                .build()
                .unwrap(),
        );
        let day = 86_400_000_000i64;
        // 300 rows over 7 days, interleaved
        let times: Vec<i64> = (0..300).map(|i| (i * 37 % 7) * day + i).collect();
        let batch = RecordBatch::try_new(
            Arc::new(schema_to_arrow_schema(&schema).unwrap()),
            vec![
                Arc::new(TimestampMicrosecondArray::from(times)),
                Arc::new(Int64Array::from((0..300).collect::<Vec<i64>>())),
            ],
        )
        .unwrap();
        let by_path = |parts: Vec<(PartitionKey, RecordBatch)>| -> BTreeMap<String, Vec<i64>> {
            parts
                .into_iter()
                .map(|(k, b)| {
                    let n = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
                    (k.to_path(), n.values().to_vec())
                })
                .collect()
        };
        let ours = by_path(
            Splitter::new(schema.clone(), spec.clone())
                .unwrap()
                .split(&batch)
                .unwrap(),
        );
        let theirs = by_path(
            RecordBatchPartitionSplitter::try_new_with_computed_values(schema, spec)
                .unwrap()
                .split(&batch)
                .unwrap(),
        );
        assert_eq!(ours.len(), 7);
        assert_eq!(ours, theirs);
    }

    #[test]
    fn partition_folders_are_named_as_javas_writers_name_them() {
        let schema = Arc::new(
            Schema::builder()
                .with_fields(vec![
                    NestedField::required(1, "t", Type::Primitive(PrimitiveType::Timestamp)).into(),
                    NestedField::required(2, "s", Type::Primitive(PrimitiveType::String)).into(),
                ])
                .build()
                .unwrap(),
        );
        let spec = |transform: Transform, source: &str, name: &str| {
            PartitionSpec::builder(schema.clone())
                .add_partition_field(source, name, transform)
                .unwrap()
                .build()
                .unwrap()
        };
        let path = |spec: PartitionSpec, value: Literal| {
            partition_path(&PartitionKey::new(
                spec,
                schema.clone(),
                Struct::from_iter([Some(value)]),
            ))
        };
        let int = |n| Literal::Primitive(PrimitiveLiteral::Int(n));
        // 583 months after 1970-01 (Java: TransformUtil.humanMonth)
        assert_eq!(
            path(spec(Transform::Month, "t", "t_month"), int(583)),
            "t_month=2018-08"
        );
        assert_eq!(
            path(spec(Transform::Month, "t", "t_month"), int(-1)),
            "t_month=1969-12"
        );
        assert_eq!(
            path(spec(Transform::Year, "t", "t_year"), int(48)),
            "t_year=2018"
        );
        assert_eq!(
            path(spec(Transform::Hour, "t", "t_hour"), int(424_325)),
            "t_hour=2018-05-29-05"
        );
        assert_eq!(
            path(spec(Transform::Day, "t", "t_day"), int(17_744)),
            "t_day=2018-08-01"
        );
        // identity values URL-encoded as java.net.URLEncoder does
        assert_eq!(
            path(
                spec(Transform::Identity, "s", "s"),
                Literal::string("health beauty/é")
            ),
            "s=health+beauty%2F%C3%A9"
        );
        let none = PartitionKey::new(
            spec(Transform::Month, "t", "t_month"),
            schema.clone(),
            Struct::from_iter([None]),
        );
        assert_eq!(partition_path(&none), "t_month=null");
    }
}
