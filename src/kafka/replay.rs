//! The replay producer: publishes the prepared tables to Kafka as change events in event-time
//! order (spec section 4).
//!
//! The timeline is a pure function of the prepared tables and the seed: drivers (order status
//! rows sorted by time, order id and status rank; reviews at their creation date) each emit
//! their linked records, and every message gets a sequence number in an `olistlake.seq`
//! header. The partition of a message is computed here (murmur2 of the key, as Kafka's default
//! partitioner), so on restart the producer reads the last sequence number of every partition
//! and skips exactly what is already there: no duplicates, no gaps.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use apache_avro::types::Value;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Decimal128Type, Float64Type, Int32Type, TimestampMicrosecondType,
};
use rdkafka::ClientContext;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use serde::Serialize;

use super::client::{KafkaClient, SEQ_HEADER};
use super::codec::{encode, i128_to_decimal};
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

/// A prepared table held in memory, with row lookup by its key column.
struct Table {
    batches: Vec<RecordBatch>,
    /// The key column (a message's Kafka key is its row's value there).
    key: String,
    /// key → (batch, row) of every row with that key, in file order.
    index: HashMap<String, Vec<(usize, usize)>>,
}

impl Table {
    fn load(dir: &Path, name: &str, key: &str) -> Result<Table> {
        let path = dir.join(format!("{name}.parquet"));
        let file = std::fs::File::open(&path).map_err(|e| {
            Error::InvalidInput(format!("{}: {e} (run olist-prepare first)", path.display()))
        })?;
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(65_536).build())
            .map_err(|e| Error::InvalidInput(format!("{}: {e}", path.display())))?;
        let batches: Vec<RecordBatch> = reader.collect::<std::result::Result<_, _>>()?;
        let mut index: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        for (bi, b) in batches.iter().enumerate() {
            let col = b
                .column_by_name(key)
                .ok_or_else(|| Error::InvalidInput(format!("{}: no column {key}", path.display())))?
                .as_string::<i32>();
            for r in 0..b.num_rows() {
                if col.is_valid(r) {
                    index
                        .entry(col.value(r).to_string())
                        .or_default()
                        .push((bi, r));
                }
            }
        }
        Ok(Table {
            batches,
            key: key.to_string(),
            index,
        })
    }

    fn rows(&self, key: &str) -> &[(usize, usize)] {
        self.index.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    fn str(&self, at: (usize, usize), col: &str) -> Option<&str> {
        let c = self.batches[at.0].column_by_name(col)?.as_string::<i32>();
        c.is_valid(at.1).then(|| c.value(at.1))
    }

    /// A row as the topic's Avro fields (without `ingest_time`).
    fn avro(&self, at: (usize, usize), topic: &Topic) -> Vec<(String, Value)> {
        let b = &self.batches[at.0];
        topic
            .fields()
            .into_iter()
            .filter(|f| f != "ingest_time")
            .map(|f| {
                let v = match b.column_by_name(&f) {
                    None => Value::Null,
                    Some(c) if c.is_null(at.1) => Value::Null,
                    Some(c) => match c.data_type() {
                        DataType::Utf8 => {
                            Value::String(c.as_string::<i32>().value(at.1).to_string())
                        }
                        DataType::Int32 => Value::Int(c.as_primitive::<Int32Type>().value(at.1)),
                        DataType::Float64 => {
                            Value::Double(c.as_primitive::<Float64Type>().value(at.1))
                        }
                        DataType::Decimal128(_, _) => {
                            i128_to_decimal(c.as_primitive::<Decimal128Type>().value(at.1))
                        }
                        DataType::Timestamp(_, _) => Value::TimestampMillis(
                            c.as_primitive::<TimestampMicrosecondType>()
                                .value(at.1)
                                .div_euclid(1000),
                        ),
                        _ => Value::Null,
                    },
                };
                (f, v)
            })
            .collect()
    }
}

/// All prepared tables.
pub struct Prepared {
    order_status: Table,
    payment: Table,
    order_item: Table,
    product: Table,
    seller: Table,
    customer: Table,
    geolocation: Table,
    estimated: Table,
    review: Table,
}

impl Prepared {
    pub fn load(dir: &Path) -> Result<Prepared> {
        Ok(Prepared {
            order_status: Table::load(dir, "order_status", "order_id")?,
            payment: Table::load(dir, "payment", "order_id")?,
            order_item: Table::load(dir, "order_item", "order_id")?,
            product: Table::load(dir, "product", "product_id")?,
            seller: Table::load(dir, "seller", "seller_id")?,
            customer: Table::load(dir, "customer", "customer_id")?,
            geolocation: Table::load(dir, "geolocation", "zip_code")?,
            estimated: Table::load(dir, "estimated_delivery_date", "order_id")?,
            review: Table::load(dir, "review", "review_id")?,
        })
    }
}

/// One message of the timeline. Its value is built from the prepared row when it is sent, so
/// the timeline of a large replay stays small.
pub struct Event {
    pub seq: u64,
    pub topic: usize,
    pub ingest_ms: i64,
    /// Data time of the driver that emitted it (for --from/--until and pacing).
    pub driver_ms: i64,
    /// (batch, row) in the topic's prepared table.
    pub row: (usize, usize),
}

impl Prepared {
    fn table(&self, topic: usize) -> &Table {
        match TOPICS[topic].name {
            "order_status" => &self.order_status,
            "payment" => &self.payment,
            "order_item" => &self.order_item,
            "product" => &self.product,
            "seller" => &self.seller,
            "customer" => &self.customer,
            "geolocation" => &self.geolocation,
            "estimated_delivery_date" => &self.estimated,
            _ => &self.review,
        }
    }

    /// The Kafka key of an event: its row's key column (not stored in the event: at scale 10
    /// the timeline has 13 M events, and a copy of each key would cost ~1 GiB).
    pub fn key(&self, ev: &Event) -> &str {
        let table = self.table(ev.topic);
        table.str(ev.row, &table.key).unwrap_or_default()
    }

    /// The Avro fields (without `ingest_time`) of an event.
    pub fn fields(&self, ev: &Event) -> Vec<(String, Value)> {
        self.table(ev.topic).avro(ev.row, &TOPICS[ev.topic])
    }

    /// The Kafka value of an event: its fields plus `ingest_time`, Avro in the Confluent wire
    /// format with the given schema id.
    pub fn payload(&self, ev: &Event, schema_id: u32) -> Result<Vec<u8>> {
        let owned = self.fields(ev);
        let mut fields: Vec<(&str, Value)> =
            owned.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        fields.push(("ingest_time", Value::TimestampMillis(ev.ingest_ms)));
        encode(schema_id, TOPICS[ev.topic].schema(), fields)
    }
}

/// What sets the timeline moving: (time ms, rank, id, row, is a review). Status rows rank by
/// status; reviews come after the status rows of the same instant.
type Driver = (i64, u8, String, (usize, usize), bool);

fn status_rank(s: &str) -> u8 {
    match s {
        "purchase" => 0,
        "approved" => 1,
        "delivered_carrier" => 2,
        "delivered_customer" => 3,
        _ => 4,
    }
}

fn topic_index(name: &str) -> usize {
    TOPICS
        .iter()
        .position(|t| t.name == name)
        .expect("known topic")
}

/// Builds the whole timeline, in publication order, with sequence numbers and ingest times.
pub fn timeline(p: &Prepared, seed: u64) -> Vec<Event> {
    let mut drivers: Vec<Driver> = Vec::new();
    for (bi, b) in p.order_status.batches.iter().enumerate() {
        let ids = b
            .column_by_name("order_id")
            .expect("order_id")
            .as_string::<i32>();
        let st = b
            .column_by_name("status")
            .expect("status")
            .as_string::<i32>();
        let ts = b
            .column_by_name("timestamp")
            .expect("timestamp")
            .as_primitive::<TimestampMicrosecondType>();
        for r in 0..b.num_rows() {
            if ts.is_valid(r) && ids.is_valid(r) {
                drivers.push((
                    ts.value(r).div_euclid(1000),
                    status_rank(st.value(r)),
                    ids.value(r).to_string(),
                    (bi, r),
                    false,
                ));
            }
        }
    }
    for (bi, b) in p.review.batches.iter().enumerate() {
        let ids = b
            .column_by_name("review_id")
            .expect("review_id")
            .as_string::<i32>();
        let ts = b
            .column_by_name("review_creation_date")
            .expect("date")
            .as_primitive::<TimestampMicrosecondType>();
        for r in 0..b.num_rows() {
            if ts.is_valid(r) {
                drivers.push((
                    ts.value(r).div_euclid(1000),
                    10,
                    ids.value(r).to_string(),
                    (bi, r),
                    true,
                ));
            }
        }
    }
    drivers.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)).then(a.3.cmp(&b.3)));

    let mut rng = Rng::new(seed).fork(9);
    let mut out = Vec::with_capacity(drivers.len() * 3);
    let mut last_ingest = i64::MIN;
    let mut seq = 0u64;
    let mut push =
        |out: &mut Vec<Event>, topic: &str, driver_ms: i64, ingest: i64, row: (usize, usize)| {
            // ingest times never go backwards, so a partition's record timestamps are ordered
            let ingest = ingest.max(last_ingest + 1);
            last_ingest = ingest;
            seq += 1;
            out.push(Event {
                seq,
                topic: topic_index(topic),
                ingest_ms: ingest,
                driver_ms,
                row,
            });
            ingest
        };
    for (ts, rank, id, at, is_review) in drivers {
        let mut t = ts + rng.range(10, 200);
        if is_review {
            push(&mut out, "review", ts, t, at);
            continue;
        }
        t = push(&mut out, "order_status", ts, t, at);
        let mut linked = |out: &mut Vec<Event>, topic: &str, row: (usize, usize), t: &mut i64| {
            *t = push(out, topic, ts, *t + rng.range(50, 100), row);
        };
        match rank {
            0 => {
                // purchase: payments, items, their products and sellers, the sellers' places,
                // the customer and the customer's place
                let mut customer = None;
                for &row in p.payment.rows(&id) {
                    customer =
                        customer.or_else(|| p.payment.str(row, "customer_id").map(str::to_string));
                    linked(&mut out, "payment", row, &mut t);
                }
                let mut products = Vec::new();
                let mut sellers = Vec::new();
                for &row in p.order_item.rows(&id) {
                    linked(&mut out, "order_item", row, &mut t);
                    if let Some(pid) = p.order_item.str(row, "product_id")
                        && !products.contains(&pid.to_string())
                    {
                        products.push(pid.to_string());
                    }
                    if let Some(sid) = p.order_item.str(row, "seller_id")
                        && !sellers.contains(&sid.to_string())
                    {
                        sellers.push(sid.to_string());
                    }
                }
                for pid in products {
                    if let Some(&row) = p.product.rows(&pid).first() {
                        linked(&mut out, "product", row, &mut t);
                    }
                }
                let mut zips = Vec::new();
                for sid in sellers {
                    if let Some(&row) = p.seller.rows(&sid).first() {
                        if let Some(z) = p.seller.str(row, "zip_code") {
                            zips.push(z.to_string());
                        }
                        linked(&mut out, "seller", row, &mut t);
                    }
                }
                let mut seen = HashSet::new();
                for z in zips {
                    if seen.insert(z.clone())
                        && let Some(&row) = p.geolocation.rows(&z).first()
                    {
                        linked(&mut out, "geolocation", row, &mut t);
                    }
                }
                if let Some(cid) = customer
                    && let Some(&row) = p.customer.rows(&cid).first()
                {
                    let zip = p.customer.str(row, "zip_code").map(str::to_string);
                    linked(&mut out, "customer", row, &mut t);
                    if let Some(z) = zip
                        && let Some(&row) = p.geolocation.rows(&z).first()
                    {
                        linked(&mut out, "geolocation", row, &mut t);
                    }
                }
            }
            1 => {
                for &row in p.estimated.rows(&id) {
                    linked(&mut out, "estimated_delivery_date", row, &mut t);
                }
            }
            _ => {}
        }
    }
    out
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
    type DeliveryOpaque = Box<usize>;

    fn delivery(&self, result: &DeliveryResult<'_>, topic: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                self.stats.delivered[*topic].fetch_add(1, Ordering::Relaxed);
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
    let prepared = Prepared::load(prepared_dir)?;
    let events = timeline(&prepared, cfg.seed);
    tracing::info!(events = events.len(), "timeline built");

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

    // what is already in Kafka: the last sequence number of every partition
    let last_seq =
        client.last_sequence_numbers(&TOPICS.iter().map(|t| t.name).collect::<Vec<_>>())?;

    let producer: BaseProducer<Delivery> = client
        .producer_config()
        .create_with_context(Delivery {
            stats: stats.clone(),
        })
        .map_err(|e| Error::BrokerUnreachable(format!("producer: {e}")))?;

    let mut report = ReplayReport::default();
    let start_wall = Instant::now();
    let mut paced_data_ms: i64 = 0;
    let mut prev_driver: Option<i64> = None;
    let mut since_poll = 0u32;
    for ev in &events {
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
        let key = prepared.key(ev);
        let partition = partition_for(key.as_bytes(), partitions[ev.topic]);
        if last_seq
            .get(&(topic.name.to_string(), partition))
            .is_some_and(|s| ev.seq <= *s)
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
        let payload = prepared.payload(ev, schema_ids[ev.topic])?;
        let seq = ev.seq.to_string();
        let mut record = BaseRecord::with_opaque_to(topic.name, Box::new(ev.topic))
            .key(key.as_bytes())
            .payload(&payload)
            .partition(partition)
            .timestamp(ev.ingest_ms)
            .headers(OwnedHeaders::new().insert(Header {
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
        *report.sent.entry(topic.name).or_default() += 1;
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
