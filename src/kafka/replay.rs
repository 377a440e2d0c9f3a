//! The replay producer: publishes the prepared tables to Kafka as change events in event-time
//! order (spec section 4).
//!
//! The timeline is a pure function of the prepared tables and the seed: drivers (order status
//! rows sorted by time, order id and status rank; reviews at their creation date) each emit
//! their linked records, and every message gets a sequence number in an `olistlake.seq`
//! header. The partition of a message is computed here (murmur2 of the key, as Kafka's default
//! partitioner), so on restart the producer reads the last sequence number of every partition
//! and skips exactly what is already there: no duplicates, no gaps.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Decimal128Type, Float64Type, Int32Type, TimeUnit, TimestampMicrosecondType,
};
use rdkafka::ClientContext;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use serde::Serialize;

use super::client::{KafkaClient, SEQ_HEADER};
use super::codec::shortest_twos_complement;
use super::flat::{FlatSchema, Prim, long};
use super::registry::{Registry, value_subject};
use super::topics::{TOPICS, Topic};
use crate::error::{Error, Result};
use crate::olist::rng::Rng;

/// Replay settings.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// Seconds of data time per wall second; `None` = as fast as the broker takes it.
    pub speed: Option<f64>,
    /// Longer gaps between events (data time) are shortened to this.
    pub max_gap: Duration,
    /// Only events at or after this data time (ms since epoch), and before `until`.
    pub from_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub seed: u64,
    pub partitions: i32,
    pub replication: i32,
}

/// Live figures of a running replay, exported on `/metrics`.
#[derive(Debug, Default)]
pub struct ReplayStats {
    pub sent: Vec<AtomicU64>,
    pub delivered: Vec<AtomicU64>,
    pub errors: AtomicU64,
    pub skipped: AtomicU64,
    /// Data time of the last event handed to the producer (ms since epoch).
    pub clock_ms: AtomicI64,
    /// How far behind schedule the producer is (ms of wall time).
    pub lag_ms: AtomicI64,
    pub done: AtomicBool,
}

impl ReplayStats {
    pub fn new() -> Arc<ReplayStats> {
        Arc::new(ReplayStats {
            sent: TOPICS.iter().map(|_| AtomicU64::new(0)).collect(),
            delivered: TOPICS.iter().map(|_| AtomicU64::new(0)).collect(),
            ..Default::default()
        })
    }

    /// Prometheus text exposition (docs/metrics.md).
    pub fn render(&self) -> String {
        use crate::metrics::{Exposition, Kind};
        let mut e = Exposition::default();
        for (t, n) in TOPICS.iter().zip(&self.delivered) {
            e.add(
                Kind::Counter,
                "olistlake_replay_events_total",
                "Events the broker acknowledged, per topic.",
                &[("topic", t.name)],
                n.load(Ordering::Relaxed) as f64,
            );
        }
        e.gauge(
            "olistlake_replay_clock_seconds",
            "Data time of the newest event sent, Unix seconds.",
            &[],
            self.clock_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        );
        e.gauge(
            "olistlake_replay_lag_seconds",
            "Wall time the producer is behind its schedule (0 at --speed max).",
            &[],
            self.lag_ms.load(Ordering::Relaxed).max(0) as f64 / 1000.0,
        );
        e.add(
            Kind::Counter,
            "olistlake_replay_errors_total",
            "Events the broker refused or failed to acknowledge.",
            &[],
            self.errors.load(Ordering::Relaxed) as f64,
        );
        e.add(
            Kind::Counter,
            "olistlake_replay_skipped_total",
            "Events already in Kafka, skipped on resume.",
            &[],
            self.skipped.load(Ordering::Relaxed) as f64,
        );
        e.gauge(
            "olistlake_replay_done",
            "1 once the replay reached the end of its range, else 0.",
            &[],
            f64::from(u8::from(self.done.load(Ordering::Relaxed))),
        );
        e.render()
    }
}

/// What a replay run did.
#[derive(Debug, Default, Serialize)]
pub struct ReplayReport {
    pub sent: HashMap<&'static str, u64>,
    pub skipped_already_in_kafka: u64,
    pub last_data_time_ms: Option<i64>,
    pub interrupted: bool,
}

// ---------------------------------------------------------------------------------------------
// The timeline

/// Rows per in-memory batch of a prepared table (a row's address packs its batch and its row
/// within the batch into 32 bits).
const BATCH_ROWS: usize = 1 << 16;

/// A row of a prepared table: its batch in the high 16 bits and its row in the low 16, so that
/// numeric order is file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowRef(u32);

impl RowRef {
    fn new(batch: usize, row: usize) -> RowRef {
        RowRef(((batch as u32) << 16) | row as u32)
    }

    fn batch(self) -> usize {
        (self.0 >> 16) as usize
    }

    fn row(self) -> usize {
        (self.0 & 0xffff) as usize
    }
}

/// How one Avro field of a topic is written from a prepared row (column index where there is one).
#[derive(Debug, Clone, Copy)]
enum Put {
    /// The prepared table has no such column: the field is null.
    Absent,
    Str(usize),
    Int(usize),
    Double(usize),
    Decimal(usize),
    /// A microsecond timestamp column written as timestamp-millis.
    Millis(usize),
    /// The event's ingest time.
    Ingest,
}

/// Columns held dictionary-encoded (per batch): few distinct values, or each value on several
/// rows (an order has up to five status rows). At scale 10 this saves ~140 MB.
const DICTIONARY_COLUMNS: &[(&str, &str)] = &[
    ("order_status", "order_id"),
    ("order_status", "status"),
    ("payment", "payment_type"),
];

fn dictionary_of_strings() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn is_string(t: &DataType) -> bool {
    t == &DataType::Utf8 || t == &dictionary_of_strings()
}

/// A string column's value (plain or dictionary-encoded); None when null.
fn string_at(column: &dyn Array, row: usize) -> Option<&str> {
    if column.is_null(row) {
        return None;
    }
    match column.data_type() {
        DataType::Dictionary(_, _) => {
            let dict = column.as_dictionary::<Int32Type>();
            let key = dict.keys().value(row) as usize;
            Some(dict.values().as_string::<i32>().value(key))
        }
        _ => Some(column.as_string::<i32>().value(row)),
    }
}

/// FNV-1a: a deterministic hash of a key for the lookup index.
fn key_hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A prepared table held in memory, with its topic's encoding plan and a lookup by key.
struct Table {
    path: String,
    batches: Vec<RecordBatch>,
    /// The key column (a message's Kafka key is its row's value there).
    key: usize,
    /// Every row's key hash, sorted, beside the row it belongs to (equal hashes in file order):
    /// a lookup by key without a copy of every key. Empty for tables never looked up.
    hashes: Vec<u64>,
    rows: Vec<RowRef>,
    /// Where each run of hashes with the same top `bits` bits starts in `hashes` (one more entry
    /// than runs): a lookup scans a handful of hashes instead of searching all of them.
    directory: Vec<u32>,
    bits: u32,
    /// One entry per Avro field of the topic, in schema order, with the union's null branch.
    plan: Vec<(Put, Option<u8>)>,
}

impl Table {
    fn load(dir: &Path, topic: &Topic, indexed: bool) -> Result<Table> {
        let path = dir.join(format!("{}.parquet", topic.name));
        let shown = path.display().to_string();
        let file = std::fs::File::open(&path)
            .map_err(|e| Error::InvalidInput(format!("{shown}: {e} (run olist-prepare first)")))?;
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(BATCH_ROWS).build())
            .map_err(|e| Error::InvalidInput(format!("{shown}: {e}")))?;
        let schema = arrow::record_batch::RecordBatchReader::schema(&reader);
        let mut batches = Vec::new();
        for batch in reader {
            // the decoder's buffers are sized for growth, and the replay holds every table
            // for its whole run: give the spare capacity back
            let (schema, mut columns, _) = batch?.into_parts();
            for (field, c) in schema.fields().iter().zip(&mut columns) {
                if DICTIONARY_COLUMNS.contains(&(topic.name, field.name().as_str())) {
                    *c = arrow::compute::cast(c, &dictionary_of_strings())?;
                } else if let Some(c) = Arc::get_mut(c) {
                    c.shrink_to_fit();
                }
            }
            let schema = Arc::new(arrow::datatypes::Schema::new(
                schema
                    .fields()
                    .iter()
                    .zip(&columns)
                    .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
                    .collect::<Vec<_>>(),
            ));
            batches.push(RecordBatch::try_new(schema, columns)?);
        }
        if batches.len() > 1 << 16 {
            return Err(Error::InvalidInput(format!(
                "{shown}: more than {} rows",
                (1u64 << 16) * BATCH_ROWS as u64
            )));
        }
        let column = |name: &str| schema.index_of(name).ok();
        let key = column(topic.key)
            .ok_or_else(|| Error::InvalidInput(format!("{shown}: no column {}", topic.key)))?;
        if !is_string(schema.field(key).data_type()) {
            return Err(Error::InvalidInput(format!(
                "{shown}: key column {} is not a string",
                topic.key
            )));
        }

        let flat = FlatSchema::of(topic.schema()).ok_or_else(|| {
            Error::InvalidInput(format!("{}: not a record of primitives", topic.name))
        })?;
        let mut plan = Vec::new();
        for (name, prim, null) in flat.fields() {
            let put = if name == "ingest_time" && *prim == Prim::TsMillis {
                Put::Ingest
            } else {
                match column(name).map(|i| (i, schema.field(i).data_type())) {
                    None => Put::Absent,
                    Some((i, t)) if is_string(t) && *prim == Prim::Str => Put::Str(i),
                    Some((i, DataType::Int32)) if *prim == Prim::Int => Put::Int(i),
                    Some((i, DataType::Float64)) if *prim == Prim::Double => Put::Double(i),
                    Some((i, DataType::Decimal128(_, _))) if *prim == Prim::Decimal => {
                        Put::Decimal(i)
                    }
                    Some((i, DataType::Timestamp(TimeUnit::Microsecond, _)))
                        if *prim == Prim::TsMillis =>
                    {
                        Put::Millis(i)
                    }
                    Some((_, t)) => {
                        return Err(Error::InvalidInput(format!(
                            "{shown}: column {name} is {t}, topic {} wants {prim:?}",
                            topic.name
                        )));
                    }
                }
            };
            if matches!(put, Put::Absent) && null.is_none() {
                return Err(Error::InvalidInput(format!(
                    "{shown}: no column for {}'s required field {name}",
                    topic.name
                )));
            }
            plan.push((put, *null));
        }

        let mut index: Vec<(u64, RowRef)> = Vec::new();
        if indexed {
            for (bi, b) in batches.iter().enumerate() {
                let col = b.column(key);
                for r in 0..b.num_rows() {
                    if let Some(k) = string_at(col, r) {
                        index.push((key_hash(k), RowRef::new(bi, r)));
                    }
                }
            }
            index.sort_unstable();
        }
        let (hashes, rows): (Vec<u64>, Vec<RowRef>) = index.into_iter().unzip();
        // about four hashes per directory entry
        let bits = (hashes.len() / 4).max(1).ilog2().clamp(1, 30);
        let mut directory = Vec::with_capacity((1 << bits) + 1);
        let mut at = 0;
        for prefix in 0..=(1u64 << bits) {
            while at < hashes.len() && hashes[at] >> (64 - bits) < prefix {
                at += 1;
            }
            directory.push(at as u32);
        }
        Ok(Table {
            path: shown,
            batches,
            key,
            hashes,
            rows,
            directory,
            bits,
            plan,
        })
    }

    /// The rows whose key is `key`, in file order.
    fn rows<'t>(&'t self, key: &'t str) -> impl Iterator<Item = RowRef> + 't {
        let h = key_hash(key);
        let prefix = (h >> (64 - self.bits)) as usize;
        let (lo, hi) = match self.directory.get(prefix..prefix + 2) {
            Some(&[lo, hi]) => (lo as usize, hi as usize),
            _ => (0, 0),
        };
        let start = lo + self.hashes[lo..hi].partition_point(|x| *x < h);
        self.hashes[start..hi]
            .iter()
            .zip(&self.rows[start..hi])
            .take_while(move |(x, _)| **x == h)
            .map(|(_, r)| *r)
            .filter(move |r| self.str_at(*r, self.key) == Some(key))
    }

    fn first(&self, key: &str) -> Option<RowRef> {
        self.rows(key).next()
    }

    fn str_at(&self, at: RowRef, col: usize) -> Option<&str> {
        string_at(self.batches[at.batch()].column(col), at.row())
    }

    /// A string column's value by name (None when null or when there is no such column).
    fn str(&self, at: RowRef, col: &str) -> Option<&str> {
        let i = self.batches.first()?.schema_ref().index_of(col).ok()?;
        self.str_at(at, i)
    }

    /// A row as its topic's Avro value in the Confluent wire format, into `out`.
    fn encode(&self, at: RowRef, ingest_ms: i64, schema_id: u32, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        out.push(0);
        out.extend_from_slice(&schema_id.to_be_bytes());
        let (b, r) = (&self.batches[at.batch()], at.row());
        for (field, (put, null)) in self.plan.iter().enumerate() {
            let valid = match *put {
                Put::Absent => false,
                Put::Ingest => true,
                Put::Str(c) | Put::Int(c) | Put::Double(c) | Put::Decimal(c) | Put::Millis(c) => {
                    b.column(c).is_valid(r)
                }
            };
            match (valid, null) {
                (false, Some(n)) => {
                    long(i64::from(*n), out);
                    continue;
                }
                (false, None) => {
                    return Err(Error::InvalidInput(format!(
                        "{}: row {}: field {field} is required but null",
                        self.path,
                        at.batch() * BATCH_ROWS + r
                    )));
                }
                (true, Some(n)) => long(1 - i64::from(*n), out),
                (true, None) => {}
            }
            match *put {
                Put::Str(c) => {
                    let v = string_at(b.column(c), r).unwrap_or_default();
                    long(v.len() as i64, out);
                    out.extend_from_slice(v.as_bytes());
                }
                Put::Int(c) => long(
                    i64::from(b.column(c).as_primitive::<Int32Type>().value(r)),
                    out,
                ),
                Put::Double(c) => out.extend_from_slice(
                    &b.column(c)
                        .as_primitive::<Float64Type>()
                        .value(r)
                        .to_le_bytes(),
                ),
                Put::Decimal(c) => {
                    // bytes-backed decimal: the shortest big-endian two's complement
                    let bytes = b
                        .column(c)
                        .as_primitive::<Decimal128Type>()
                        .value(r)
                        .to_be_bytes();
                    let bytes = shortest_twos_complement(&bytes);
                    long(bytes.len() as i64, out);
                    out.extend_from_slice(bytes);
                }
                Put::Millis(c) => long(
                    b.column(c)
                        .as_primitive::<TimestampMicrosecondType>()
                        .value(r)
                        .div_euclid(1000),
                    out,
                ),
                Put::Ingest => long(ingest_ms, out),
                Put::Absent => {}
            }
        }
        Ok(())
    }
}

// Topic indices in TOPICS (checked by a test).
const ORDER_STATUS: usize = 0;
const PAYMENT: usize = 1;
const ORDER_ITEM: usize = 2;
const PRODUCT: usize = 3;
const SELLER: usize = 4;
const CUSTOMER: usize = 5;
const GEOLOCATION: usize = 6;
const ESTIMATED: usize = 7;
const REVIEW: usize = 8;

/// All prepared tables, in topic order.
pub struct Prepared {
    tables: Vec<Table>,
}

impl Prepared {
    pub fn load(dir: &Path) -> Result<Prepared> {
        let tables = TOPICS
            .iter()
            .enumerate()
            // the drivers' tables are walked, never looked up
            .map(|(i, t)| Table::load(dir, t, !matches!(i, ORDER_STATUS | REVIEW)))
            .collect::<Result<_>>()?;
        Ok(Prepared { tables })
    }

    /// The Kafka key of an event: its row's key column.
    pub fn key(&self, ev: &Event) -> &str {
        let table = &self.tables[ev.topic];
        table.str_at(ev.row, table.key).unwrap_or_default()
    }

    /// The Kafka value of an event: its row plus `ingest_time`, Avro in the Confluent wire
    /// format with the given schema id, written into `out` (cleared first).
    pub fn payload_into(&self, ev: &Event, schema_id: u32, out: &mut Vec<u8>) -> Result<()> {
        self.tables[ev.topic].encode(ev.row, ev.ingest_ms, schema_id, out)
    }

    /// [`Prepared::payload_into`] into a new buffer.
    pub fn payload(&self, ev: &Event, schema_id: u32) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(128);
        self.payload_into(ev, schema_id, &mut out)?;
        Ok(out)
    }
}

/// One message of the timeline. Its value is built from the prepared row when it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    pub topic: usize,
    pub ingest_ms: i64,
    /// Data time of the driver that emitted it (for --from/--until and pacing).
    pub driver_ms: i64,
    /// The row in the topic's prepared table.
    pub row: RowRef,
}

/// What sets the timeline moving: an order status row (ranked by status) or a review (after
/// the status rows of the same instant).
#[derive(Debug, Clone, Copy)]
struct Driver {
    ms: i64,
    row: RowRef,
    rank: u8,
}

const REVIEW_RANK: u8 = 10;

fn status_rank(s: &str) -> u8 {
    match s {
        "purchase" => 0,
        "approved" => 1,
        "delivered_carrier" => 2,
        "delivered_customer" => 3,
        _ => 4,
    }
}

/// The replay timeline, generated as it is read: drivers sorted by (time, rank, id, file
/// order), each followed by its linked records, with sequence numbers and ingest times. Only
/// the drivers are held (16 bytes each), not the events.
pub struct Timeline<'p> {
    p: &'p Prepared,
    drivers: std::vec::IntoIter<Driver>,
    rng: Rng,
    last_ingest: i64,
    seq: u64,
    pending: VecDeque<Event>,
}

impl<'p> Timeline<'p> {
    pub fn new(p: &'p Prepared, seed: u64) -> Timeline<'p> {
        let rows = |t: usize| {
            p.tables[t]
                .batches
                .iter()
                .map(RecordBatch::num_rows)
                .sum::<usize>()
        };
        let mut drivers = Vec::with_capacity(rows(ORDER_STATUS) + rows(REVIEW));
        let status = &p.tables[ORDER_STATUS];
        for (bi, b) in status.batches.iter().enumerate() {
            let (Some(ids), Some(st), Some(ts)) = (
                b.column_by_name("order_id"),
                b.column_by_name("status"),
                b.column_by_name("timestamp"),
            ) else {
                continue;
            };
            let ts = ts.as_primitive::<TimestampMicrosecondType>();
            for r in 0..b.num_rows() {
                if ts.is_valid(r) && ids.is_valid(r) {
                    drivers.push(Driver {
                        ms: ts.value(r).div_euclid(1000),
                        row: RowRef::new(bi, r),
                        rank: status_rank(string_at(st, r).unwrap_or_default()),
                    });
                }
            }
        }
        for (bi, b) in p.tables[REVIEW].batches.iter().enumerate() {
            let Some(ts) = b.column_by_name("review_creation_date") else {
                continue;
            };
            let ts = ts.as_primitive::<TimestampMicrosecondType>();
            for r in 0..b.num_rows() {
                if ts.is_valid(r) {
                    drivers.push(Driver {
                        ms: ts.value(r).div_euclid(1000),
                        row: RowRef::new(bi, r),
                        rank: REVIEW_RANK,
                    });
                }
            }
        }
        let id = |d: &Driver| {
            let t = &p.tables[if d.rank == REVIEW_RANK {
                REVIEW
            } else {
                ORDER_STATUS
            }];
            t.str_at(d.row, t.key).unwrap_or_default()
        };
        // a total order (rows are unique within a table, and ranks keep the tables apart)
        drivers.sort_unstable_by(|a, b| {
            (a.ms, a.rank)
                .cmp(&(b.ms, b.rank))
                .then_with(|| id(a).cmp(id(b)))
                .then(a.row.cmp(&b.row))
        });
        Timeline {
            p,
            drivers: drivers.into_iter(),
            rng: Rng::new(seed).fork(9),
            last_ingest: i64::MIN,
            seq: 0,
            pending: VecDeque::new(),
        }
    }

    /// Drivers not yet expanded.
    pub fn drivers_left(&self) -> usize {
        self.drivers.len()
    }

    fn push(&mut self, topic: usize, driver_ms: i64, ingest: i64, row: RowRef) -> i64 {
        // ingest times never go backwards, so a partition's record timestamps are ordered
        let ingest = ingest.max(self.last_ingest + 1);
        self.last_ingest = ingest;
        self.seq += 1;
        self.pending.push_back(Event {
            seq: self.seq,
            topic,
            ingest_ms: ingest,
            driver_ms,
            row,
        });
        ingest
    }

    /// A record linked to the driver at `ts`, published 50–100 ms after the previous one.
    fn linked(&mut self, topic: usize, ts: i64, row: RowRef, t: &mut i64) {
        let ingest = *t + self.rng.range(50, 100);
        *t = self.push(topic, ts, ingest, row);
    }

    /// The driver's event and its linked records.
    fn expand(&mut self, d: Driver) {
        let p = self.p;
        let ts = d.ms;
        let t = ts + self.rng.range(10, 200);
        if d.rank == REVIEW_RANK {
            self.push(REVIEW, ts, t, d.row);
            return;
        }
        let mut t = self.push(ORDER_STATUS, ts, t, d.row);
        let status = &p.tables[ORDER_STATUS];
        let id = status.str_at(d.row, status.key).unwrap_or_default();
        match d.rank {
            0 => {
                // purchase: payments, items, their products and sellers, the sellers' places,
                // the customer and the customer's place
                let payment = &p.tables[PAYMENT];
                let mut customer = None;
                for row in payment.rows(id) {
                    customer = customer.or_else(|| payment.str(row, "customer_id"));
                    self.linked(PAYMENT, ts, row, &mut t);
                }
                let items = &p.tables[ORDER_ITEM];
                let mut products: Vec<&str> = Vec::new();
                let mut sellers: Vec<&str> = Vec::new();
                for row in items.rows(id) {
                    self.linked(ORDER_ITEM, ts, row, &mut t);
                    if let Some(pid) = items.str(row, "product_id")
                        && !products.contains(&pid)
                    {
                        products.push(pid);
                    }
                    if let Some(sid) = items.str(row, "seller_id")
                        && !sellers.contains(&sid)
                    {
                        sellers.push(sid);
                    }
                }
                for pid in products {
                    if let Some(row) = p.tables[PRODUCT].first(pid) {
                        self.linked(PRODUCT, ts, row, &mut t);
                    }
                }
                let seller = &p.tables[SELLER];
                let mut zips = Vec::new();
                for sid in sellers {
                    if let Some(row) = seller.first(sid) {
                        if let Some(z) = seller.str(row, "zip_code") {
                            zips.push(z);
                        }
                        self.linked(SELLER, ts, row, &mut t);
                    }
                }
                let places = &p.tables[GEOLOCATION];
                let mut seen = HashSet::new();
                for z in zips {
                    if seen.insert(z)
                        && let Some(row) = places.first(z)
                    {
                        self.linked(GEOLOCATION, ts, row, &mut t);
                    }
                }
                let customers = &p.tables[CUSTOMER];
                if let Some(cid) = customer
                    && let Some(row) = customers.first(cid)
                {
                    let zip = customers.str(row, "zip_code");
                    self.linked(CUSTOMER, ts, row, &mut t);
                    if let Some(z) = zip
                        && let Some(row) = places.first(z)
                    {
                        self.linked(GEOLOCATION, ts, row, &mut t);
                    }
                }
            }
            1 => {
                for row in p.tables[ESTIMATED].rows(id) {
                    self.linked(ESTIMATED, ts, row, &mut t);
                }
            }
            _ => {}
        }
    }
}

impl Iterator for Timeline<'_> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some(ev);
            }
            let d = self.drivers.next()?;
            self.expand(d);
        }
    }
}

/// The whole timeline in publication order (for the paths without a broker and the tests).
pub fn timeline(p: &Prepared, seed: u64) -> Vec<Event> {
    Timeline::new(p, seed).collect()
}

// ---------------------------------------------------------------------------------------------
// Publishing

/// Kafka's default partitioner: murmur2 of the key bytes, positive, modulo partitions.
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) as i32 % partitions.max(1)
}

fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = SEED ^ data.len() as u32;
    let chunks = data.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    match rest.len() {
        3 => {
            h ^= (rest[2] as u32) << 16;
            h ^= (rest[1] as u32) << 8;
            h ^= rest[0] as u32;
            h = h.wrapping_mul(M);
        }
        2 => {
            h ^= (rest[1] as u32) << 8;
            h ^= rest[0] as u32;
            h = h.wrapping_mul(M);
        }
        1 => {
            h ^= rest[0] as u32;
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

struct Delivery {
    stats: Arc<ReplayStats>,
}

impl ClientContext for Delivery {}

impl ProducerContext for Delivery {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, topic: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                self.stats.delivered[topic].fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                // a dead broker fails every queued message at once: log the first and then
                // at 10, 100, … and every 10,000 failures, with the count, not one line per message
                let n = self.stats.errors.fetch_add(1, Ordering::Relaxed) + 1;
                if 10u64.pow(n.ilog10()) == n || n.is_multiple_of(10_000) {
                    tracing::error!("delivery failed ({n} failures so far): {e}");
                }
            }
        }
    }
}

/// Runs the replay until the end of its range or until `stop` is set.
pub async fn replay(
    client: &KafkaClient,
    registry: &Registry,
    prepared_dir: &Path,
    cfg: &ReplayConfig,
    stats: Arc<ReplayStats>,
    stop: Arc<AtomicBool>,
) -> Result<ReplayReport> {
    // The producer first: it connects and obtains its idempotent producer id in the
    // background while the prepared tables load (on a new cluster that takes seconds).
    let producer: BaseProducer<Delivery> = client
        .producer_config()?
        .create_with_context(Delivery {
            stats: stats.clone(),
        })
        .map_err(|e| Error::BrokerUnreachable(format!("producer: {e}")))?;
    let prepared = Prepared::load(prepared_dir)?;
    let events = Timeline::new(&prepared, cfg.seed);
    tracing::info!(drivers = events.drivers_left(), "timeline ready");

    // schemas and topics
    let mut schema_ids = Vec::new();
    for t in &TOPICS {
        schema_ids.push(
            registry
                .register(&value_subject(t.name), t.schema())
                .await?,
        );
    }
    client.ensure_topics(
        &TOPICS.iter().map(|t| t.name).collect::<Vec<_>>(),
        cfg.partitions,
        cfg.replication,
    )?;
    let partitions: Vec<i32> = TOPICS
        .iter()
        .map(|t| client.partition_count(t.name))
        .collect::<Result<_>>()?;

    // what is already in Kafka: the last sequence number of every partition, per topic
    let found = client.last_sequence_numbers(&TOPICS.iter().map(|t| t.name).collect::<Vec<_>>())?;
    let last_seq: Vec<Vec<Option<u64>>> = TOPICS
        .iter()
        .zip(&partitions)
        .map(|(t, n)| {
            (0..*n)
                .map(|p| found.get(&(t.name.to_string(), p)).copied())
                .collect()
        })
        .collect();

    let mut report = ReplayReport::default();
    let start_wall = Instant::now();
    let mut paced_data_ms: i64 = 0;
    let mut prev_driver: Option<i64> = None;
    let mut since_poll = 0u32;
    let mut sent = [0u64; TOPICS.len()];
    let mut payload = Vec::with_capacity(256);
    let mut seq = String::new();
    for ev in events {
        if stop.load(Ordering::Relaxed) {
            report.interrupted = true;
            break;
        }
        if cfg.from_ms.is_some_and(|f| ev.driver_ms < f) {
            continue;
        }
        if cfg.until_ms.is_some_and(|u| ev.driver_ms >= u) {
            break;
        }
        let topic = &TOPICS[ev.topic];
        let key = prepared.key(&ev);
        let partition = partition_for(key.as_bytes(), partitions[ev.topic]);
        if last_seq[ev.topic]
            .get(partition as usize)
            .copied()
            .flatten()
            .is_some_and(|s| ev.seq <= s)
        {
            stats.skipped.fetch_add(1, Ordering::Relaxed);
            report.skipped_already_in_kafka += 1;
            continue;
        }
        // pacing: gaps in data time shortened to max_gap, then divided by the speed
        if let Some(speed) = cfg.speed {
            if let Some(prev) = prev_driver {
                paced_data_ms += (ev.driver_ms - prev).clamp(0, cfg.max_gap.as_millis() as i64);
            }
            prev_driver = Some(ev.driver_ms);
            let due = Duration::from_secs_f64(paced_data_ms as f64 / 1000.0 / speed);
            let elapsed = start_wall.elapsed();
            if due > elapsed {
                producer.poll(Duration::ZERO);
                let wait = due - elapsed;
                // sleep in slices so that a stop request is honoured promptly
                let until = Instant::now() + wait;
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep((until - Instant::now()).min(Duration::from_millis(200)));
                    producer.poll(Duration::ZERO);
                }
                stats.lag_ms.store(0, Ordering::Relaxed);
            } else {
                stats
                    .lag_ms
                    .store((elapsed - due).as_millis() as i64, Ordering::Relaxed);
            }
        }
        prepared.payload_into(&ev, schema_ids[ev.topic], &mut payload)?;
        seq.clear();
        write!(seq, "{}", ev.seq).expect("writing to a String");
        let mut record = BaseRecord::with_opaque_to(topic.name, ev.topic)
            .key(key.as_bytes())
            .payload(&payload)
            .partition(partition)
            .timestamp(ev.ingest_ms)
            .headers(OwnedHeaders::new_with_capacity(1).insert(Header {
                key: SEQ_HEADER,
                value: Some(seq.as_bytes()),
            }));
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    r,
                )) => {
                    record = r;
                    producer.poll(Duration::from_millis(50));
                }
                Err((e, _)) => {
                    return Err(Error::BrokerUnreachable(format!(
                        "produce to {}: {e}",
                        topic.name
                    )));
                }
            }
        }
        stats.sent[ev.topic].fetch_add(1, Ordering::Relaxed);
        sent[ev.topic] += 1;
        stats.clock_ms.store(ev.ingest_ms, Ordering::Relaxed);
        report.last_data_time_ms = Some(ev.ingest_ms);
        since_poll += 1;
        if since_poll >= 1000 {
            producer.poll(Duration::ZERO);
            since_poll = 0;
        }
        if stats.errors.load(Ordering::Relaxed) > 0 {
            break;
        }
    }
    for (t, n) in TOPICS.iter().zip(sent) {
        if n > 0 {
            report.sent.insert(t.name, n);
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .map_err(|e| Error::BrokerUnreachable(format!("flushing the producer: {e}")))?;
    if stats.errors.load(Ordering::Relaxed) > 0 {
        return Err(Error::BrokerUnreachable(format!(
            "{} message(s) could not be delivered",
            stats.errors.load(Ordering::Relaxed)
        )));
    }
    if !report.interrupted {
        stats.done.store(true, Ordering::Relaxed);
    }
    Ok(report)
}

/// The headers' sequence number of a consumed message.
pub fn seq_of<M: Message>(m: &M) -> Option<u64> {
    let h = m.headers()?;
    (0..h.count())
        .map(|i| h.get(i))
        .find(|h| h.key == SEQ_HEADER)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Values from Kafka's own partitioner tests (Utils.murmur2).
        assert_eq!(murmur2(b"21") as i32, -973_932_308);
        assert_eq!(murmur2(b"foobar") as i32, -790_332_482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985_981_536);
        assert_eq!(
            murmur2(b"a-little-bit-longer-string") as i32,
            -1_486_304_829
        );
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32,
            -58_897_971
        );
        assert_eq!(murmur2(b"abc") as i32, 479_470_107);
        for p in 1..8 {
            assert!((0..p).contains(&partition_for(b"order-1", p)));
        }
    }
}
