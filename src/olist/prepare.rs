//! `olist-prepare`: the nine raw CSV files (real or synthetic) → the nine event-ready tables of
//! spec section 3, as Parquet (default) or TSV.
//!
//! Files are read one at a time and streamed into the outputs; only the order index (order id →
//! customer id and purchase time), the item de-duplication set and the geolocation aggregates
//! are held in memory. Outputs go to a temporary directory inside `--out` and are moved into
//! place only when every input has been read without error: bad input writes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, Decimal128Builder, Float64Builder, Int32Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field as ArrowField, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use super::facts::{BRAZIL_LAT, BRAZIL_LNG};
use super::raw::{self, RawReader};
use crate::error::{Error, Result};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Parquet,
    /// Tab-separated, header line, empty field = null; tab, line breaks and backslash inside a
    /// value are written as `\t`, `\n`, `\r`, `\\`.
    Tsv,
}

/// Categories the translation table lacks, translated by hand.
pub const HAND_TRANSLATIONS: [(&str, &str); 2] = [
    ("pc_gamer", "gaming_pc"),
    (
        "portateis_cozinha_e_preparadores_de_alimentos",
        "portable_kitchen_and_food_preparators",
    ),
];

/// Order statuses of the dataset.
pub const ORDER_STATUSES: [&str; 8] = [
    "delivered",
    "shipped",
    "canceled",
    "unavailable",
    "invoiced",
    "processing",
    "created",
    "approved",
];

/// Per-table counts of the run.
#[derive(Debug, Default, Serialize)]
pub struct TableReport {
    pub rows_read: u64,
    pub rows_written: u64,
    /// Reason → rows dropped.
    pub dropped: BTreeMap<String, u64>,
    /// Rows kept but worth knowing about (e.g. a category without translation).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub notes: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct PrepareReport {
    pub tables: BTreeMap<&'static str, TableReport>,
    /// Files written, by table.
    pub files: BTreeMap<&'static str, String>,
}

impl PrepareReport {
    fn table(&mut self, name: &'static str) -> &mut TableReport {
        self.tables.entry(name).or_default()
    }

    /// A human summary: rows read, written and dropped per table.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{:<24} {:>10} {:>10}  dropped\n",
            "table", "read", "written"
        );
        for (name, t) in &self.tables {
            let dropped = if t.dropped.is_empty() {
                "-".to_string()
            } else {
                t.dropped
                    .iter()
                    .map(|(k, v)| format!("{v} {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.push_str(&format!(
                "{name:<24} {:>10} {:>10}  {dropped}\n",
                t.rows_read, t.rows_written
            ));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Output tables

#[derive(Clone, Copy)]
enum Kind {
    Str,
    I32,
    F64,
    Money,
    Ts,
}

fn schema(cols: &[(&str, Kind, bool)]) -> SchemaRef {
    Arc::new(Schema::new(
        cols.iter()
            .map(|(n, k, nullable)| {
                let dt = match k {
                    Kind::Str => DataType::Utf8,
                    Kind::I32 => DataType::Int32,
                    Kind::F64 => DataType::Float64,
                    Kind::Money => DataType::Decimal128(18, 2),
                    Kind::Ts => DataType::Timestamp(TimeUnit::Microsecond, None),
                };
                ArrowField::new(*n, dt, *nullable)
            })
            .collect::<Vec<_>>(),
    ))
}

/// A value of a prepared row.
pub enum Cell<'a> {
    Str(Option<&'a str>),
    I32(Option<i32>),
    F64(Option<f64>),
    /// Cents.
    Money(Option<i64>),
    /// Microseconds since the epoch.
    Ts(Option<i64>),
}

enum Col {
    Str(StringBuilder),
    I32(Int32Builder),
    F64(Float64Builder),
    Money(Decimal128Builder),
    Ts(TimestampMicrosecondBuilder),
}

impl Col {
    fn new(k: Kind) -> Col {
        match k {
            Kind::Str => Col::Str(StringBuilder::new()),
            Kind::I32 => Col::I32(Int32Builder::new()),
            Kind::F64 => Col::F64(Float64Builder::new()),
            Kind::Money => Col::Money(
                Decimal128Builder::new()
                    .with_precision_and_scale(18, 2)
                    .expect("valid decimal"),
            ),
            Kind::Ts => Col::Ts(TimestampMicrosecondBuilder::new()),
        }
    }

    fn push(&mut self, c: &Cell) {
        match (self, c) {
            (Col::Str(b), Cell::Str(v)) => b.append_option(*v),
            (Col::I32(b), Cell::I32(v)) => b.append_option(*v),
            (Col::F64(b), Cell::F64(v)) => b.append_option(*v),
            (Col::Money(b), Cell::Money(v)) => b.append_option(v.map(i128::from)),
            (Col::Ts(b), Cell::Ts(v)) => b.append_option(*v),
            _ => unreachable!("cell kind matches the column kind by construction"),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Col::Str(b) => Arc::new(b.finish()),
            Col::I32(b) => Arc::new(b.finish()),
            Col::F64(b) => Arc::new(b.finish()),
            Col::Money(b) => Arc::new(b.finish()),
            Col::Ts(b) => Arc::new(b.finish()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Col::Str(b) => b.len(),
            Col::I32(b) => b.len(),
            Col::F64(b) => b.len(),
            Col::Money(b) => b.len(),
            Col::Ts(b) => b.len(),
        }
    }
}

enum Writer {
    Parquet(Box<ArrowWriter<File>>),
    Tsv(BufWriter<File>),
}

/// One output table being written.
struct Sink {
    schema: SchemaRef,
    cols: Vec<Col>,
    writer: Writer,
    rows: u64,
}

const BATCH_ROWS: usize = 65_536;

impl Sink {
    fn create(dir: &Path, name: &str, cols: &[(&str, Kind, bool)], format: Format) -> Result<Sink> {
        let schema = schema(cols);
        let writer = match format {
            Format::Parquet => {
                let file = File::create(dir.join(format!("{name}.parquet")))?;
                let props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
                    .build();
                Writer::Parquet(Box::new(
                    ArrowWriter::try_new(file, schema.clone(), Some(props))
                        .map_err(|e| Error::InvalidInput(e.to_string()))?,
                ))
            }
            Format::Tsv => {
                let mut w = BufWriter::with_capacity(
                    1 << 20,
                    File::create(dir.join(format!("{name}.tsv")))?,
                );
                let header: Vec<&str> = cols.iter().map(|c| c.0).collect();
                writeln!(w, "{}", header.join("\t"))?;
                Writer::Tsv(w)
            }
        };
        Ok(Sink {
            schema,
            cols: cols.iter().map(|c| Col::new(c.1)).collect(),
            writer,
            rows: 0,
        })
    }

    fn push(&mut self, row: &[Cell]) -> Result<()> {
        for (col, cell) in self.cols.iter_mut().zip(row) {
            col.push(cell);
        }
        self.rows += 1;
        if self.cols[0].len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.cols[0].len() == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self.cols.iter_mut().map(Col::finish).collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)?;
        match &mut self.writer {
            Writer::Parquet(w) => w
                .write(&batch)
                .map_err(|e| Error::InvalidInput(e.to_string()))?,
            Writer::Tsv(w) => write_tsv(w, &batch)?,
        }
        Ok(())
    }

    fn finish(mut self) -> Result<u64> {
        self.flush()?;
        match self.writer {
            Writer::Parquet(w) => {
                w.close().map_err(|e| Error::InvalidInput(e.to_string()))?;
            }
            Writer::Tsv(mut w) => w.flush()?,
        }
        Ok(self.rows)
    }
}

fn write_tsv(w: &mut BufWriter<File>, batch: &RecordBatch) -> Result<()> {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let opts = FormatOptions::default().with_null("");
    let formatters: Vec<ArrayFormatter> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
        .collect::<std::result::Result<_, _>>()?;
    let is_ts: Vec<bool> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| matches!(f.data_type(), DataType::Timestamp(..)))
        .collect();
    for row in 0..batch.num_rows() {
        for (i, f) in formatters.iter().enumerate() {
            if i > 0 {
                w.write_all(b"\t")?;
            }
            let mut v = f.value(row).to_string();
            if is_ts[i] {
                v = v.replace('T', " ");
            }
            for ch in v.chars() {
                match ch {
                    '\t' => w.write_all(b"\\t")?,
                    '\n' => w.write_all(b"\\n")?,
                    '\r' => w.write_all(b"\\r")?,
                    '\\' => w.write_all(b"\\\\")?,
                    c => write!(w, "{c}")?,
                }
            }
        }
        w.write_all(b"\n")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Rules

/// Lower-case, accents folded, surrounding blanks removed: `São Paulo ` → `sao paulo`.
pub fn fold_city(s: &str) -> String {
    s.trim()
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            other => other,
        })
        .collect()
}

pub fn in_brazil(lat: f64, lng: f64) -> bool {
    (BRAZIL_LAT.0..=BRAZIL_LAT.1).contains(&lat) && (BRAZIL_LNG.0..=BRAZIL_LNG.1).contains(&lng)
}

/// Aggregates of one (city, state) within a zip prefix.
#[derive(Default, Clone, Copy)]
struct GeoAcc {
    rows: u64,
    lat: f64,
    lng: f64,
}

/// The modal (city, state) of a prefix, ties broken by city then state name, with the mean
/// coordinates of that city's rows.
fn modal_place(places: &HashMap<(String, String), GeoAcc>) -> Option<(&str, &str, f64, f64)> {
    places
        .iter()
        .max_by(|(ka, a), (kb, b)| a.rows.cmp(&b.rows).then_with(|| kb.cmp(ka)))
        .map(|((city, state), acc)| {
            (
                city.as_str(),
                state.as_str(),
                acc.lat / acc.rows as f64,
                acc.lng / acc.rows as f64,
            )
        })
}

/// Runs the prepare step from `input` into `out`.
pub fn prepare(input: &Path, out: &Path, format: Format) -> Result<PrepareReport> {
    // Every input must be there before anything is written.
    for f in raw::ALL {
        raw::locate(input, f)?;
    }
    std::fs::create_dir_all(out)?;
    let tmp = out.join(format!(".prepare-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir(&tmp)?;
    let result = prepare_into(input, &tmp, format);
    match result {
        Ok(mut report) => {
            let ext = match format {
                Format::Parquet => "parquet",
                Format::Tsv => "tsv",
            };
            for name in report.tables.keys().copied().collect::<Vec<_>>() {
                let file = format!("{name}.{ext}");
                std::fs::rename(tmp.join(&file), out.join(&file))?;
                report
                    .files
                    .insert(name, out.join(&file).display().to_string());
            }
            std::fs::remove_dir_all(&tmp)?;
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

fn prepare_into(input: &Path, dir: &Path, format: Format) -> Result<PrepareReport> {
    use Kind::*;
    let mut report = PrepareReport::default();

    // translation
    let mut translation: HashMap<String, String> = HAND_TRANSLATIONS
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let mut r = RawReader::open(input, &raw::TRANSLATION)?;
    while r.advance()? {
        translation.insert(r.req_str(0)?.to_string(), r.req_str(1)?.to_string());
    }

    // product
    let mut sink = Sink::create(
        dir,
        "product",
        &[
            ("product_id", Str, false),
            ("category", Str, true),
            ("weight_g", I32, true),
            ("length_cm", I32, true),
            ("height_cm", I32, true),
            ("width_cm", I32, true),
        ],
        format,
    )?;
    let mut r = RawReader::open(input, &raw::PRODUCTS)?;
    let t = report.table("product");
    let mut seen = HashSet::new();
    while r.advance()? {
        t.rows_read += 1;
        let id = r.req_str(0)?;
        if !seen.insert(id.to_string()) {
            *t.dropped.entry("duplicate product_id".into()).or_default() += 1;
            continue;
        }
        let category = match r.opt_str(1) {
            None => None,
            Some(pt) => Some(match translation.get(pt) {
                Some(en) => en.as_str(),
                None => {
                    *t.notes
                        .entry(format!(
                            "category `{pt}` has no translation: kept in Portuguese"
                        ))
                        .or_default() += 1;
                    pt
                }
            }),
        };
        for c in [2, 3, 4] {
            r.opt_int(c)?; // validated, not kept
        }
        sink.push(&[
            Cell::Str(Some(id)),
            Cell::Str(category),
            Cell::I32(r.opt_int(5)?),
            Cell::I32(r.opt_int(6)?),
            Cell::I32(r.opt_int(7)?),
            Cell::I32(r.opt_int(8)?),
        ])?;
    }
    report.table("product").rows_written = sink.finish()?;

    // seller
    let mut sink = Sink::create(
        dir,
        "seller",
        &[("seller_id", Str, false), ("zip_code", Str, true)],
        format,
    )?;
    let mut r = RawReader::open(input, &raw::SELLERS)?;
    let t = report.table("seller");
    while r.advance()? {
        t.rows_read += 1;
        sink.push(&[
            Cell::Str(Some(r.req_str(0)?)),
            Cell::Str(r.zip(1)?.as_deref()),
        ])?;
    }
    report.table("seller").rows_written = sink.finish()?;

    // customer
    let mut sink = Sink::create(
        dir,
        "customer",
        &[
            ("customer_id", Str, false),
            ("customer_unique_id", Str, true),
            ("zip_code", Str, true),
        ],
        format,
    )?;
    let mut r = RawReader::open(input, &raw::CUSTOMERS)?;
    let t = report.table("customer");
    while r.advance()? {
        t.rows_read += 1;
        sink.push(&[
            Cell::Str(Some(r.req_str(0)?)),
            Cell::Str(r.opt_str(1)),
            Cell::Str(r.zip(2)?.as_deref()),
        ])?;
    }
    report.table("customer").rows_written = sink.finish()?;

    // orders → order_status (melted, plus the terminal status) and estimated_delivery_date
    let mut status_sink = Sink::create(
        dir,
        "order_status",
        &[
            ("order_id", Str, false),
            ("status", Str, false),
            ("timestamp", Ts, false),
        ],
        format,
    )?;
    let mut est_sink = Sink::create(
        dir,
        "estimated_delivery_date",
        &[
            ("order_id", Str, false),
            ("estimated_delivery_date", Ts, true),
        ],
        format,
    )?;
    let mut orders: HashMap<String, (String, i64)> = HashMap::new();
    let mut r = RawReader::open(input, &raw::ORDERS)?;
    let mut read = 0u64;
    while r.advance()? {
        read += 1;
        let id = r.req_str(0)?;
        let customer = r.req_str(1)?;
        let status = r.req_str(2)?;
        if !ORDER_STATUSES.contains(&status) {
            return Err(Error::InvalidInput(format!(
                "{} line {}, column order_status: unknown status `{status}` (expected one of {ORDER_STATUSES:?})",
                raw::ORDERS.name,
                r.line()
            )));
        }
        let purchase = r.req_ts(3)?;
        let stamps = [
            ("purchase", Some(purchase)),
            ("approved", r.opt_ts(4)?),
            ("delivered_carrier", r.opt_ts(5)?),
            ("delivered_customer", r.opt_ts(6)?),
        ];
        let mut latest = purchase;
        for (name, t) in stamps {
            if let Some(t) = t {
                status_sink.push(&[
                    Cell::Str(Some(id)),
                    Cell::Str(Some(name)),
                    Cell::Ts(Some(t)),
                ])?;
                latest = latest.max(t);
            }
        }
        if status == "canceled" || status == "unavailable" {
            status_sink.push(&[
                Cell::Str(Some(id)),
                Cell::Str(Some(status)),
                Cell::Ts(Some(latest)),
            ])?;
        }
        est_sink.push(&[Cell::Str(Some(id)), Cell::Ts(r.opt_ts(7)?)])?;
        if orders
            .insert(id.to_string(), (customer.to_string(), purchase))
            .is_some()
        {
            return Err(Error::InvalidInput(format!(
                "{} line {}, column order_id: duplicate order `{id}`",
                raw::ORDERS.name,
                r.line()
            )));
        }
    }
    for (name, sink) in [
        ("order_status", status_sink),
        ("estimated_delivery_date", est_sink),
    ] {
        let t = report.table(name);
        t.rows_read = read;
        t.rows_written = sink.finish()?;
    }

    // order_item: exact duplicate rows dropped
    let mut sink = Sink::create(
        dir,
        "order_item",
        &[
            ("order_id", Str, false),
            ("order_item_id", I32, false),
            ("product_id", Str, true),
            ("seller_id", Str, true),
            ("shipping_limit_date", Ts, true),
            ("price", Money, true),
            ("freight_value", Money, true),
        ],
        format,
    )?;
    let mut r = RawReader::open(input, &raw::ITEMS)?;
    let t = report.table("order_item");
    let mut seen: HashSet<u128> = HashSet::new();
    while r.advance()? {
        t.rows_read += 1;
        let row = (
            r.req_str(0)?,
            r.req_int(1)?,
            r.opt_str(2),
            r.opt_str(3),
            r.opt_ts(4)?,
            r.req_money(5)?,
            r.req_money(6)?,
        );
        if !seen.insert(fingerprint(&format!("{row:?}"))) {
            *t.dropped.entry("exact duplicate".into()).or_default() += 1;
            continue;
        }
        sink.push(&[
            Cell::Str(Some(row.0)),
            Cell::I32(Some(row.1)),
            Cell::Str(row.2),
            Cell::Str(row.3),
            Cell::Ts(row.4),
            Cell::Money(Some(row.5)),
            Cell::Money(Some(row.6)),
        ])?;
    }
    drop(seen);
    report.table("order_item").rows_written = sink.finish()?;

    // payment: customer and timestamp from the order
    let mut sink = Sink::create(
        dir,
        "payment",
        &[
            ("order_id", Str, false),
            ("customer_id", Str, true),
            ("payment_sequential", I32, false),
            ("payment_type", Str, true),
            ("payment_installments", I32, true),
            ("payment_value", Money, true),
            ("timestamp", Ts, true),
        ],
        format,
    )?;
    let mut r = RawReader::open(input, &raw::PAYMENTS)?;
    let t = report.table("payment");
    while r.advance()? {
        t.rows_read += 1;
        let id = r.req_str(0)?;
        let Some((customer, purchase)) = orders.get(id) else {
            *t.dropped
                .entry("order not in orders file".into())
                .or_default() += 1;
            continue;
        };
        sink.push(&[
            Cell::Str(Some(id)),
            Cell::Str(Some(customer)),
            Cell::I32(Some(r.req_int(1)?)),
            Cell::Str(r.opt_str(2)),
            Cell::I32(r.opt_int(3)?),
            Cell::Money(Some(r.req_money(4)?)),
            Cell::Ts(Some(*purchase)),
        ])?;
    }
    report.table("payment").rows_written = sink.finish()?;
    drop(orders);

    // review: key (review_id, order_id)
    let mut sink = Sink::create(
        dir,
        "review",
        &[
            ("review_id", Str, false),
            ("order_id", Str, false),
            ("review_score", I32, true),
            ("review_comment_title", Str, true),
            ("review_comment_message", Str, true),
            ("review_creation_date", Ts, true),
            ("review_answer_timestamp", Ts, true),
        ],
        format,
    )?;
    let mut r = RawReader::open(input, &raw::REVIEWS)?;
    let t = report.table("review");
    let mut keys: HashSet<u128> = HashSet::new();
    while r.advance()? {
        t.rows_read += 1;
        let (rid, oid) = (r.req_str(0)?, r.req_str(1)?);
        let score = r.opt_int(2)?;
        if let Some(s) = score
            && !(1..=5).contains(&s)
        {
            return Err(Error::InvalidInput(format!(
                "{} line {}, column review_score: {s} is not a score 1..5",
                raw::REVIEWS.name,
                r.line()
            )));
        }
        if !keys.insert(fingerprint(&format!("{rid}\u{0}{oid}"))) {
            *t.dropped
                .entry("duplicate (review_id, order_id)".into())
                .or_default() += 1;
            continue;
        }
        sink.push(&[
            Cell::Str(Some(rid)),
            Cell::Str(Some(oid)),
            Cell::I32(score),
            Cell::Str(r.opt_str(3)),
            Cell::Str(r.opt_str(4)),
            Cell::Ts(r.opt_ts(5)?),
            Cell::Ts(r.opt_ts(6)?),
        ])?;
    }
    drop(keys);
    report.table("review").rows_written = sink.finish()?;

    // geolocation: box filter, then one row per prefix (modal city/state, mean coordinates)
    let mut r = RawReader::open(input, &raw::GEOLOCATION)?;
    let mut prefixes: HashMap<String, HashMap<(String, String), GeoAcc>> = HashMap::new();
    let mut read = 0u64;
    let mut outside = 0u64;
    while r.advance()? {
        read += 1;
        let zip = r.zip(0)?.ok_or_else(|| {
            Error::InvalidInput(format!(
                "{} line {}, column geolocation_zip_code_prefix: is empty",
                raw::GEOLOCATION.name,
                r.line()
            ))
        })?;
        let (lat, lng) = (r.req_f64(1)?, r.req_f64(2)?);
        if !in_brazil(lat, lng) {
            outside += 1;
            continue;
        }
        let acc = prefixes
            .entry(zip)
            .or_default()
            .entry((fold_city(r.str(3)), r.str(4).trim().to_uppercase()))
            .or_default();
        acc.rows += 1;
        acc.lat += lat;
        acc.lng += lng;
    }
    let mut sink = Sink::create(
        dir,
        "geolocation",
        &[
            ("zip_code", Str, false),
            ("lat", F64, false),
            ("lng", F64, false),
            ("city", Str, true),
            ("state", Str, true),
        ],
        format,
    )?;
    let mut zips: Vec<&String> = prefixes.keys().collect();
    zips.sort();
    for zip in zips {
        if let Some((city, state, lat, lng)) = modal_place(&prefixes[zip]) {
            sink.push(&[
                Cell::Str(Some(zip)),
                Cell::F64(Some(lat)),
                Cell::F64(Some(lng)),
                Cell::Str(Some(city)),
                Cell::Str(Some(state)),
            ])?;
        }
    }
    let t = report.table("geolocation");
    t.rows_read = read;
    if outside > 0 {
        t.dropped.insert("outside the Brazil box".into(), outside);
    }
    let written = sink.finish()?;
    let t = report.table("geolocation");
    t.rows_written = written;
    *t.dropped
        .entry("merged into one row per zip prefix".into())
        .or_default() += read - outside - written;
    Ok(report)
}

/// A 128-bit fingerprint for de-duplication sets (FNV-1a, two lanes).
fn fingerprint(s: &str) -> u128 {
    let (mut a, mut b) = (0xcbf2_9ce4_8422_2325u64, 0x8422_2325_cbf2_9ce4u64);
    for byte in s.bytes() {
        a = (a ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3);
        b = (b ^ byte as u64)
            .wrapping_mul(0x0000_0100_0000_01b3)
            .rotate_left(5);
    }
    ((a as u128) << 64) | b as u128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_and_box() {
        assert_eq!(fold_city(" São Paulo "), "sao paulo");
        assert_eq!(fold_city("GOIÂNIA"), "goiania");
        assert_eq!(fold_city("florianópolis"), "florianopolis");
        assert!(in_brazil(-23.5, -46.6));
        assert!(!in_brazil(45.07, 121.1));
        assert!(!in_brazil(-23.5, -30.0));
        assert!(in_brazil(-33.75, -74.0), "the box edges are inside");
    }

    #[test]
    fn modal_place_ties_by_city_name() {
        let mut m = HashMap::new();
        m.insert(
            ("sao paulo".to_string(), "SP".to_string()),
            GeoAcc {
                rows: 2,
                lat: -47.0,
                lng: -93.0,
            },
        );
        m.insert(
            ("osasco".to_string(), "SP".to_string()),
            GeoAcc {
                rows: 2,
                lat: -46.0,
                lng: -92.0,
            },
        );
        m.insert(
            ("barueri".to_string(), "SP".to_string()),
            GeoAcc {
                rows: 1,
                lat: -23.0,
                lng: -46.0,
            },
        );
        let (city, state, lat, lng) = modal_place(&m).unwrap();
        assert_eq!((city, state), ("osasco", "SP"));
        assert_eq!((lat, lng), (-23.0, -46.0));
    }

    #[test]
    fn fingerprints_differ() {
        assert_ne!(fingerprint("a\u{0}b"), fingerprint("ab"));
        assert_eq!(fingerprint("x"), fingerprint("x"));
    }
}
