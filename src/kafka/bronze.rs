//! `bronze-load`: Kafka → `bronze.<topic>`, exactly once.
//!
//! For each topic: the start offsets are the ones stored in the bronze table's latest snapshot
//! summary (`olistlake.kafka.offsets` = `partition:next_offset,…`), never consumer-group state.
//! The end is fixed when the run starts: the high-water marks, or with `--end` the first
//! message whose record timestamp is at or after it (timestamps are checked on every message;
//! `offsets_for_times` alone is not trusted). Decoded rows are appended in one commit that also
//! stores the new offsets. Undecodable messages go to `bronze._quarantine` first; on a re-run
//! after a crash the quarantine skips the (topic, partition, offset) it already holds, so
//! nothing is quarantined twice and for every topic Kafka = bronze + quarantine.
//!
//! Concurrent loaders: both commits are conditional (see [`crate::lake::Precondition`]). The
//! bronze commit goes ahead only while the table still holds the offsets this run started
//! from, the quarantine commit only when no other commit quarantined messages of the same
//! topic since this run read the quarantine. The loser commits nothing, deletes its files and
//! exits 75; its retry starts from the winner's offsets.
//!
//! Unknown schema ids: a message whose schema id the registry does not know may be decodable
//! with the right registry (a loader pointed at the wrong one), so it is never quarantined by
//! default. The partition's load stops just before it (the offsets are not advanced past it),
//! what precedes it is committed, and the run exits 75 naming topic, partition, offset and id.
//! `--quarantine-unknown-schemas` is the operator's explicit decision that such messages are
//! foreign data: they are then quarantined like any undecodable message.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use super::client::KafkaClient;
use super::codec::{Cell, RowBuilder, avro_to_cell, decode, frame};
use super::flat::FlatSchema;
use super::registry::Registry;
use super::topics::Topic;
use crate::error::{Error, Exit, Result};
use crate::job::JobRun;
use crate::lake::tables::BRONZE_QUARANTINE;
use crate::lake::write::StreamWriter;
use crate::lake::{CommitKind, CommitOutcome, Lake, ReadAt, current_ancestry};
use iceberg::spec::TableMetadata;

/// Snapshot-summary key of the consumed offsets.
pub use crate::lake::summary_keys::KAFKA_OFFSETS as OFFSETS_KEY;
/// Snapshot-summary key naming the topic a bronze or quarantine commit loaded.
pub const TOPIC_KEY: &str = "olistlake.kafka.topic";
const BATCH_ROWS: usize = 100_000;

/// How long the loader waits for the next message before it counts the broker as unreachable
/// (`OLISTLAKE_KAFKA_IDLE_TIMEOUT_S`, default 30).
fn idle_timeout() -> Duration {
    Duration::from_secs(
        std::env::var("OLISTLAKE_KAFKA_IDLE_TIMEOUT_S")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30),
    )
}

/// `0:12,1:7` → {0: 12, 1: 7}.
pub fn parse_offsets(s: &str) -> Result<BTreeMap<i32, i64>> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (a, b) = p
                .split_once(':')
                .ok_or_else(|| Error::Catalog(format!("bad offsets `{s}`")))?;
            Ok((
                a.parse()
                    .map_err(|_| Error::Catalog(format!("bad offsets `{s}`")))?,
                b.parse()
                    .map_err(|_| Error::Catalog(format!("bad offsets `{s}`")))?,
            ))
        })
        .collect()
}

pub fn format_offsets(o: &BTreeMap<i32, i64>) -> String {
    o.iter()
        .map(|(p, n)| format!("{p}:{n}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Per-topic outcome.
#[derive(Debug, Default, Serialize)]
pub struct TopicLoad {
    pub messages: u64,
    pub rows: u64,
    pub quarantined: u64,
    pub offsets: BTreeMap<i32, i64>,
    /// Partitions whose load stopped before a message with an unknown schema id:
    /// partition → (offset, schema id).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub stopped_at_unknown_schema: BTreeMap<i32, (i64, u32)>,
    /// The load's commits (quarantine, then rows and offsets).
    #[serde(skip)]
    pub commits: Vec<CommitOutcome>,
}

/// How the loader treats messages whose schema id the registry does not know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnknownSchemas {
    /// Stop the partition before the message and exit 75 (the default).
    #[default]
    Stop,
    /// Quarantine it (`--quarantine-unknown-schemas`).
    Quarantine,
}

/// The offsets the table's rows were loaded up to: those of its current snapshot or, when
/// another writer made it (a compaction by Spark or `rewrite_data_files`, a pyiceberg commit:
/// their summaries do not carry the key), of its nearest ancestor that has them, as Iceberg's
/// Kafka Connect sink finds its own. Empty for a table without rows; an error for a table
/// with rows whose retained history has none (see [`Error::OffsetsNotFound`]).
fn offsets_in(table: &str, md: &TableMetadata) -> Result<BTreeMap<i32, i64>> {
    let Some(current) = md.current_snapshot() else {
        return Ok(BTreeMap::new());
    };
    if let Some(stored) =
        current_ancestry(md).find_map(|s| s.summary().additional_properties.get(OFFSETS_KEY))
    {
        return parse_offsets(stored);
    }
    let records = current
        .summary()
        .additional_properties
        .get("total-records")
        .and_then(|v| v.parse::<u64>().ok());
    match records {
        Some(0) => Ok(BTreeMap::new()),
        records => Err(Error::OffsetsNotFound {
            table: table.to_string(),
            rows: records.map_or("an unknown number of".into(), |n| n.to_string()),
        }),
    }
}

/// The bronze commit's precondition: the table still holds the offsets the run started from.
fn offsets_unchanged(
    table: String,
    expected: BTreeMap<i32, i64>,
) -> impl Fn(&TableMetadata) -> std::result::Result<(), String> + Send + Sync {
    move |md| {
        let now = offsets_in(&table, md).map_err(|e| e.to_string())?;
        if now == expected {
            Ok(())
        } else {
            Err(format!(
                "its stored Kafka offsets are now `{}`, this run started from `{}`",
                format_offsets(&now),
                format_offsets(&expected)
            ))
        }
    }
}

/// The quarantine commit's precondition: since snapshot `since` (what this run read; None: an
/// empty table) no commit quarantined messages of `topic`.
fn no_quarantine_since(
    topic: &'static str,
    since: Option<i64>,
) -> impl Fn(&TableMetadata) -> std::result::Result<(), String> + Send + Sync {
    move |md| {
        for s in current_ancestry(md) {
            if Some(s.snapshot_id()) == since {
                return Ok(());
            }
            if s.summary()
                .additional_properties
                .get(TOPIC_KEY)
                .map(String::as_str)
                == Some(topic)
            {
                return Err(format!(
                    "snapshot {} quarantined messages of {topic} after this run read the quarantine",
                    s.snapshot_id()
                ));
            }
        }
        match since {
            None => Ok(()),
            Some(id) => Err(format!(
                "the snapshot this run read ({id}) is no longer in the table's history"
            )),
        }
    }
}

/// The offsets stored with a bronze table's current snapshot.
pub async fn stored_offsets(lake: &Lake, topic: &Topic) -> Result<BTreeMap<i32, i64>> {
    let table = lake.table(&topic.bronze.ident()).await?;
    offsets_in(&topic.bronze.qualified(), table.metadata())
}

/// Loads every topic of `topics`; returns `NothingToDo` when no topic had new messages.
pub async fn load(
    lake: &Lake,
    kafka: &KafkaClient,
    registry: &Registry,
    topics: &[&'static Topic],
    unknown: UnknownSchemas,
    run: &mut JobRun,
) -> Result<Exit> {
    let defs: Vec<_> = topics
        .iter()
        .map(|t| t.bronze)
        .chain([&BRONZE_QUARANTINE])
        .collect();
    lake.ensure_tables(&defs).await?;
    let loader = Loader {
        lake,
        kafka,
        registry,
        end_ms: run.interval.end.map(|e| e.and_utc().timestamp_millis()),
        unknown,
    };
    let mut any = false;
    let mut report = BTreeMap::new();
    let mut stopped = Vec::new();
    let mut stuck = Vec::new();
    let mut failed = None;
    // a few topics at a time: one topic's fetching, decoding and last writes overlap
    // another's; every load runs to its end before any outcome is acted on, so a failed one
    // never leaves another half done
    let loads: Vec<Result<TopicLoad>> = {
        let (loader, run) = (&loader, &*run);
        let each: Vec<_> = topics
            .iter()
            .copied()
            .map(|topic| load_topic(loader, topic, run))
            .collect();
        futures::stream::iter(each)
            .buffered(TOPICS_AT_ONCE)
            .collect()
            .await
    };
    // the topics' consumers close together, within one time bound
    let _ = tokio::task::spawn_blocking(crate::kafka::client::wait_for_closing_consumers).await;
    for (topic, load) in topics.iter().zip(loads) {
        // a partition that cannot be read past must not keep the other topics from loading
        let mut r = match load {
            Ok(r) => r,
            Err(Error::PartitionStuck(what)) => {
                tracing::error!("{what}; going on with the other topics");
                stuck.push(what);
                continue;
            }
            // the other topics' outcomes are still recorded; the first failure is the run's
            Err(e) => {
                tracing::error!(topic = topic.name, "{e}");
                failed.get_or_insert(e);
                continue;
            }
        };
        any |= r.messages > 0;
        run.commits.append(&mut r.commits);
        for (p, (offset, id)) in &r.stopped_at_unknown_schema {
            stopped.push(format!(
                "{}/{p} at offset {offset} (schema id {id})",
                topic.name
            ));
        }
        if r.quarantined > 0 {
            run.warnings.push(format!(
                "{}: {} message(s) quarantined in bronze._quarantine",
                topic.name, r.quarantined
            ));
        }
        run.metric(&format!("rows_{}", topic.name), r.rows);
        run.metric(&format!("quarantined_{}", topic.name), r.quarantined);
        report.insert(topic.name, r);
    }
    let (rows, q): (u64, u64) = report
        .values()
        .fold((0, 0), |(a, b), r| (a + r.rows, b + r.quarantined));
    run.metric("rows_loaded", rows);
    run.metric("quarantined", q);
    run.metric("topics", serde_json::to_value(&report).unwrap_or_default());
    if let Some(e) = failed {
        return Err(e);
    }
    if !stuck.is_empty() {
        return Err(Error::PartitionStuck(stuck.join("; ")));
    }
    if !stopped.is_empty() {
        return Err(Error::UnknownSchema(stopped.join(", ")));
    }
    Ok(if any { Exit::Ok } else { Exit::NothingToDo })
}

/// A message as read from Kafka.
#[derive(Debug, Clone)]
pub struct Raw {
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<String>,
    pub payload: Option<Vec<u8>>,
}

/// Messages of one topic turned into bronze rows and quarantine rows.
pub struct Decoded {
    pub batches: Vec<RecordBatch>,
    pub rows: u64,
    /// The quarantine rows (one batch) and their (partition, offset).
    pub quarantine: RecordBatch,
    pub quarantined: Vec<(i32, i64)>,
}

impl Decoded {
    /// Adds a later chunk's rows and quarantine rows.
    fn absorb(&mut self, other: Decoded) -> Result<()> {
        self.batches.extend(other.batches);
        self.rows += other.rows;
        if other.quarantine.num_rows() > 0 {
            self.quarantine = arrow::compute::concat_batches(
                &self.quarantine.schema(),
                [&self.quarantine, &other.quarantine],
            )?;
        }
        self.quarantined.extend(other.quarantined);
        Ok(())
    }
}

/// Topics loaded at once.
const TOPICS_AT_ONCE: usize = 3;

/// Messages read before they are decoded (bounds memory: raw messages are dropped as soon as
/// their rows exist).
const DECODE_CHUNK: usize = 50_000;

/// Decodes a topic's messages (in read order) into bronze rows; what cannot be decoded becomes
/// a quarantine row with the reason. With `stop_at_unknown`, a message whose schema id the
/// registry does not know is not quarantined: it ends its partition's range (recorded there as
/// partition → (offset, id), also across calls), and later messages of that partition are left
/// out (see the module docs).
pub async fn decode_messages(
    registry: &Registry,
    topic: &'static Topic,
    raws: Vec<Raw>,
    loaded_at: i64,
    mut stop_at_unknown: Option<&mut BTreeMap<i32, (i64, u32)>>,
) -> Result<Decoded> {
    let reader_schema = topic.schema();
    let mut good = RowBuilder::new(topic.bronze);
    let mut bad = RowBuilder::new(&BRONZE_QUARANTINE);
    let mut batches = Vec::new();
    let mut quarantined = Vec::new();
    let mut rows = 0u64;
    let mut plans = HashMap::new();
    for raw in raws {
        let stopped_before = |stopped: &BTreeMap<i32, (i64, u32)>| {
            stopped
                .get(&raw.partition)
                .is_some_and(|(o, _)| raw.offset >= *o)
        };
        if stop_at_unknown.as_deref().is_some_and(stopped_before) {
            continue;
        }
        let reason =
            match decode_one(registry, topic, reader_schema, &raw, loaded_at, &mut plans).await? {
                Outcome::Row(cells) => {
                    good.push(&cells)
                        .map_err(|e| Error::InvalidInput(format!("{}: {e}", topic.name)))?;
                    rows += 1;
                    if good.len() >= BATCH_ROWS {
                        batches.push(good.finish()?);
                    }
                    continue;
                }
                Outcome::UnknownSchema(id) => match stop_at_unknown.as_deref_mut() {
                    Some(stopped) => {
                        stopped.insert(raw.partition, (raw.offset, id));
                        continue;
                    }
                    None => format!("unknown schema id {id}"),
                },
                Outcome::Quarantine(reason) => reason,
            };
        tracing::warn!(
            topic = topic.name,
            partition = raw.partition,
            offset = raw.offset,
            "quarantined: {reason}"
        );
        bad.push(&[
            Cell::Str(topic.name.to_string()),
            Cell::Int(raw.partition),
            Cell::Long(raw.offset),
            raw.key.clone().map(Cell::Str).unwrap_or(Cell::Null),
            raw.payload.clone().map(Cell::Bytes).unwrap_or(Cell::Null),
            Cell::Str(reason),
            Cell::Micros(raw.timestamp_ms * 1000),
            Cell::Micros(loaded_at),
        ])
        .map_err(Error::InvalidInput)?;
        quarantined.push((raw.partition, raw.offset));
    }
    if !good.is_empty() {
        batches.push(good.finish()?);
    }
    Ok(Decoded {
        batches,
        rows,
        quarantine: bad.finish()?,
        quarantined,
    })
}

/// What every topic's load shares.
struct Loader<'a> {
    lake: &'a Lake,
    kafka: &'a KafkaClient,
    registry: &'a Registry,
    /// `--end` as record-timestamp milliseconds.
    end_ms: Option<i64>,
    unknown: UnknownSchemas,
}

async fn load_topic(loader: &Loader<'_>, topic: &'static Topic, run: &JobRun) -> Result<TopicLoad> {
    let Loader {
        lake,
        kafka,
        registry,
        end_ms,
        unknown,
    } = loader;
    let (end_ms, unknown) = (*end_ms, *unknown);
    let table = topic.bronze.ident();
    let started = Instant::now();
    let stored = stored_offsets(lake, topic).await?;
    let mut offsets = stored.clone();
    // a consumer of its own: topics load side by side
    let consumer = &kafka.consumer_closed_later("olistlake-bronze-load")?;
    let marks = kafka.watermarks(consumer, topic.name)?;
    if marks.is_empty() {
        tracing::warn!(topic = topic.name, "topic does not exist: nothing to load");
        return Ok(TopicLoad {
            offsets,
            ..Default::default()
        });
    }

    // the range of each partition: [start, stop), stop fixed now
    let mut stop: BTreeMap<i32, i64> = BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    for (p, lo, hi) in &marks {
        let start = offsets.get(p).copied().unwrap_or(*lo).max(*lo);
        if start > *hi {
            return Err(Error::InvalidInput(format!(
                "{}/{p}: stored offset {start} is beyond the high-water mark {hi} (was the topic recreated?)",
                topic.name
            )));
        }
        offsets.insert(*p, start);
        if start < *hi {
            stop.insert(*p, *hi);
            tpl.add_partition_offset(topic.name, *p, Offset::Offset(start))
                .map_err(|e| Error::BrokerUnreachable(e.to_string()))?;
        }
    }
    if stop.is_empty() {
        return Ok(TopicLoad {
            offsets,
            ..Default::default()
        });
    }
    consumer
        .assign(&tpl)
        .map_err(|e| Error::BrokerUnreachable(format!("assign {}: {e}", topic.name)))?;

    // read, decoding every DECODE_CHUNK messages and writing the rows to their day's file
    // while reading on; a day's file is closed once every partition being read is past it
    let loaded_at = chrono::Utc::now().timestamp_micros();
    let mut decoded = decode_messages(registry, topic, Vec::new(), loaded_at, None).await?;
    let mut writer = lake.stream_writer(&table, &run.commit_context()).await?;
    let mut last_ts: HashMap<i32, i64> = HashMap::new();
    let mut stopped: BTreeMap<i32, (i64, u32)> = BTreeMap::new();
    let mut raws: Vec<Raw> = Vec::with_capacity(DECODE_CHUNK);
    let mut next = offsets.clone();
    let mut open: HashSet<i32> = stop.keys().copied().collect();
    let mut idle_since = Instant::now();
    let mut transient: Option<String> = None;
    let bar = crate::job::progress(
        stop.iter().map(|(p, hi)| (hi - offsets[p]) as u64).sum(),
        topic.name,
    );
    // on any failure the files written so far are deleted: nothing of this run stays behind
    let read: Result<()> = async {
        while !open.is_empty() {
            // never block the thread: the other topics' loads share it
            let polled = match consumer.poll(Duration::ZERO) {
                None => {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    None
                }
                some => some,
            };
            match polled {
                Some(Ok(m)) => {
                    idle_since = Instant::now();
                    let p = m.partition();
                    if !open.contains(&p) || m.offset() < next[&p] {
                        continue;
                    }
                    if m.offset() >= stop[&p] {
                        open.remove(&p);
                        continue;
                    }
                    let ts = m.timestamp().to_millis().unwrap_or(i64::MIN);
                    if end_ms.is_some_and(|e| ts >= e) {
                        // the first message at or after --end closes the partition's range
                        stop.insert(p, m.offset());
                        open.remove(&p);
                        continue;
                    }
                    raws.push(Raw {
                        partition: p,
                        offset: m.offset(),
                        timestamp_ms: ts,
                        key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                        payload: m.payload().map(<[u8]>::to_vec),
                    });
                    next.insert(p, m.offset() + 1);
                    last_ts.insert(p, ts);
                    bar.inc(1);
                    if next[&p] >= stop[&p] {
                        open.remove(&p);
                    }
                    if raws.len() >= DECODE_CHUNK {
                        let chunk = std::mem::replace(&mut raws, Vec::with_capacity(DECODE_CHUNK));
                        let stop = (unknown == UnknownSchemas::Stop).then_some(&mut stopped);
                        let part = decode_messages(registry, topic, chunk, loaded_at, stop).await?;
                        write_rows(&mut writer, &mut decoded, part).await?;
                        // every partition still being read is past this time: the bronze
                        // partitions (months of ingest_time) that end before it are done
                        let read_to = open.iter().map(|p| last_ts.get(p).copied()).min().flatten();
                        if let Some(t) = read_to {
                            writer.close_ended_by(t).await?;
                        }
                    }
                }
                Some(Err(KafkaError::PartitionEOF(p)))
                    if next
                        .get(&p)
                        .is_some_and(|n| *n >= stop.get(&p).copied().unwrap_or(0)) =>
                {
                    open.remove(&p);
                }
                // the end of a partition not yet read to its stop offset: keep polling
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                // a broker of the cluster lost: librdkafka fetches from the new leader
                Some(Err(e)) if crate::kafka::client::is_transient(&e) => {
                    transient = Some(e.to_string());
                    if idle_since.elapsed() > idle_timeout() {
                        return Err(Error::BrokerUnreachable(format!(
                            "reading {}: {e}",
                            topic.name
                        )));
                    }
                }
                Some(Err(e)) => {
                    return Err(Error::BrokerUnreachable(format!(
                        "reading {}: {e}",
                        topic.name
                    )));
                }
                None if idle_since.elapsed() > idle_timeout() => {
                    if let Some(e) = &transient {
                        return Err(Error::BrokerUnreachable(format!(
                            "reading {}: nothing for {} s, last error: {e}",
                            topic.name,
                            idle_timeout().as_secs()
                        )));
                    }
                    let waiting: Vec<String> = open
                        .iter()
                        .map(|p| {
                            format!("{}/{p} at offset {} (end {})", topic.name, next[p], stop[p])
                        })
                        .collect();
                    return Err(Error::PartitionStuck(format!(
                        "no message for {} s from {}",
                        idle_timeout().as_secs(),
                        waiting.join(", ")
                    )));
                }
                None => {}
            }
        }
        bar.finish_and_clear();
        // every message below each partition's stop offset was read (offsets may have gaps)
        for (p, s) in &stop {
            next.insert(*p, *s);
        }
        let stop = (unknown == UnknownSchemas::Stop).then_some(&mut stopped);
        let part = decode_messages(registry, topic, raws, loaded_at, stop).await?;
        write_rows(&mut writer, &mut decoded, part).await?;
        Ok(())
    }
    .await;
    if let Err(e) = read {
        writer.abort().await;
        return Err(e);
    }
    let read_decode_s = started.elapsed().as_secs_f64();
    // a message with an unknown schema id ends its partition's range (see the module docs)
    for (p, (offset, id)) in &stopped {
        tracing::error!(
            topic = topic.name,
            partition = p,
            offset,
            schema_id = id,
            "unknown schema id: this partition's load stops before it"
        );
        next.insert(*p, *offset);
    }
    let Decoded {
        rows,
        quarantine,
        quarantined,
        ..
    } = decoded;
    let n_msgs = rows + quarantined.len() as u64;
    if n_msgs == 0 && next == stored {
        return Ok(TopicLoad {
            offsets: next,
            stopped_at_unknown_schema: stopped,
            ..Default::default()
        });
    }

    // every data file written before anything is committed
    let files = writer.finish().await?;
    let n_files = files.len();

    // quarantine first (skipping what an interrupted earlier run already put there) …
    let mut commits = Vec::new();
    let mut ctx = run.commit_context();
    if !quarantined.is_empty() {
        let q = BRONZE_QUARANTINE.ident();
        let read_at = lake.current_snapshot_id(&q).await?;
        let already = quarantined_offsets(lake, topic.name, read_at).await?;
        let batch = quarantine;
        let keep: Vec<bool> = quarantined.iter().map(|k| !already.contains(k)).collect();
        let batch = arrow::compute::filter_record_batch(&batch, &keep.into())?;
        if batch.num_rows() > 0 {
            let mut qctx = ctx.clone();
            qctx.extra.insert(TOPIC_KEY.into(), topic.name.into());
            let check = no_quarantine_since(topic.name, read_at);
            let c = match lake
                .write_if(&q, CommitKind::Append, &[batch], &qctx, Some(&check))
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    lake.discard_written(&table, &files).await;
                    return Err(e);
                }
            };
            commits.push(c);
        }
    }
    // … then the rows and the offsets, in one commit, valid only on the offsets read at start
    ctx.extra.insert(OFFSETS_KEY.into(), format_offsets(&next));
    ctx.extra.insert(TOPIC_KEY.into(), topic.name.into());
    ctx.input_rows = Some(n_msgs);
    let check = offsets_unchanged(topic.bronze.qualified(), stored);
    let c = lake
        .commit_written_if(&table, CommitKind::Append, files, &ctx, Some(&check))
        .await?;
    commits.push(c);

    // informational: the consumer group's committed offsets follow the table
    let mut commit = TopicPartitionList::new();
    for (p, o) in &next {
        let _ = commit.add_partition_offset(topic.name, *p, Offset::Offset(*o));
    }
    // asynchronous: a broker that stopped answering must not hang a load that has committed
    if let Err(e) = consumer.commit(&commit, CommitMode::Async) {
        tracing::debug!("informational offset commit failed: {e}");
    }
    tracing::debug!(
        topic = topic.name,
        messages = n_msgs,
        files = n_files,
        read_decode_s,
        total_s = started.elapsed().as_secs_f64(),
        "loaded"
    );
    Ok(TopicLoad {
        messages: n_msgs,
        rows,
        quarantined: quarantined.len() as u64,
        offsets: next,
        stopped_at_unknown_schema: stopped,
        commits,
    })
}

/// Writes a decoded chunk's rows and keeps its count and quarantine rows in `decoded`.
async fn write_rows(
    writer: &mut StreamWriter,
    decoded: &mut Decoded,
    mut part: Decoded,
) -> Result<()> {
    for batch in std::mem::take(&mut part.batches) {
        writer.write(&batch)?;
    }
    decoded.absorb(part)
}

/// (partition, offset) of a topic's messages in the quarantine at snapshot `at`.
async fn quarantined_offsets(
    lake: &Lake,
    topic: &str,
    at: Option<i64>,
) -> Result<HashSet<(i32, i64)>> {
    let Some(at) = at else {
        return Ok(HashSet::new());
    };
    let sql = format!(
        "SELECT \"partition\", \"offset\" FROM bronze._quarantine WHERE topic = '{}'",
        topic.replace('\'', "''")
    );
    let read_at = ReadAt::snapshot(&BRONZE_QUARANTINE.ident().to_string(), at);
    let batches: Vec<RecordBatch> = lake.sql(&sql, &read_at).await?;
    let mut out = HashSet::new();
    for b in batches {
        let p = b.column(0).as_primitive::<Int32Type>();
        let o = b.column(1).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            out.insert((p.value(i), o.value(i)));
        }
    }
    Ok(out)
}

/// How messages written with one schema id become one topic's bronze rows, worked out once
/// per id (the loader's hot path decodes millions of messages with a handful of ids).
struct Plan {
    writer: Arc<apache_avro::Schema>,
    /// Set when the id belongs to another record (another topic's schema): every message
    /// with it is quarantined with this reason.
    wrong_record: Option<String>,
    /// The fast decoder, for the flat shape every topic schema has.
    flat: Option<FlatSchema>,
    /// Per bronze column, the position of its value among the writer's fields (None: a
    /// Kafka column, or a field the writer lacks and the reader defaults to null).
    sources: Vec<Option<usize>>,
}

impl Plan {
    fn new(
        id: u32,
        writer: Arc<apache_avro::Schema>,
        topic: &Topic,
        reader: &apache_avro::Schema,
    ) -> Plan {
        let (written_as, expected) = (writer.name(), reader.name());
        let wrong_record = (written_as.map(|n| n.fullname(None))
            != expected.map(|n| n.fullname(None)))
        .then(|| {
            format!(
                "schema id {id} is a `{}` record, not this topic's `{}`",
                written_as.map(|n| n.fullname(None)).unwrap_or_default(),
                expected.map(|n| n.fullname(None)).unwrap_or_default()
            )
        });
        let flat = FlatSchema::of(&writer);
        let sources = topic
            .bronze
            .columns
            .iter()
            .map(|(name, _, _)| flat.as_ref().and_then(|f| f.field_index(name)))
            .collect();
        Plan {
            writer,
            wrong_record,
            flat,
            sources,
        }
    }
}

/// What becomes of one message.
enum Outcome {
    Row(Vec<Cell>),
    /// Undecodable, with the reason.
    Quarantine(String),
    /// Written with a schema id the registry does not know (decodable with the right one).
    UnknownSchema(u32),
}

/// One message → the bronze row, or why not. `plans` caches the [`Plan`] of each schema id
/// met.
async fn decode_one(
    registry: &Registry,
    topic: &Topic,
    reader: &apache_avro::Schema,
    raw: &Raw,
    loaded_at: i64,
    plans: &mut HashMap<u32, Plan>,
) -> Result<Outcome> {
    let Some(payload) = &raw.payload else {
        return Ok(Outcome::Quarantine("message has no value".into()));
    };
    let (id, body) = match frame(payload) {
        Ok(f) => f,
        Err(e) => return Ok(Outcome::Quarantine(e)),
    };
    let plan = match plans.entry(id) {
        std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
        std::collections::hash_map::Entry::Vacant(new) => {
            let Some(writer) = registry.schema_by_id(id).await? else {
                return Ok(Outcome::UnknownSchema(id));
            };
            new.insert(Plan::new(id, writer, topic, reader))
        }
    };
    if let Some(reason) = &plan.wrong_record {
        return Ok(Outcome::Quarantine(reason.clone()));
    }
    // the writer's values in its field order (flat shape), or by name (any other shape)
    let (values, named) = match &plan.flat {
        Some(flat) => match flat.decode_values(body) {
            Ok(v) => (v, Vec::new()),
            Err(e) => return Ok(Outcome::Quarantine(format!("schema id {id}: {e}"))),
        },
        None => match decode(body, &plan.writer, reader) {
            Ok(r) => (Vec::new(), r),
            Err(e) => return Ok(Outcome::Quarantine(format!("schema id {id}: {e}"))),
        },
    };
    let mut cells = Vec::with_capacity(topic.bronze.columns.len());
    for ((name, col, _), source) in topic.bronze.columns.iter().zip(&plan.sources) {
        let cell = match *name {
            "_kafka_key" => raw.key.clone().map(Cell::Str).unwrap_or(Cell::Null),
            "_kafka_partition" => Cell::Int(raw.partition),
            "_kafka_offset" => Cell::Long(raw.offset),
            "_kafka_timestamp" => Cell::Micros(raw.timestamp_ms * 1000),
            "_schema_id" => Cell::Int(id as i32),
            "_loaded_at" => Cell::Micros(loaded_at),
            field => {
                let value = match source {
                    Some(i) => values.get(*i),
                    None => named.iter().find(|(n, _)| n == field).map(|(_, v)| v),
                };
                match value {
                    Some(v) => match avro_to_cell(v, *col) {
                        Ok(c) => c,
                        Err(e) => {
                            return Ok(Outcome::Quarantine(format!(
                                "schema id {id}: field {field}: {e}"
                            )));
                        }
                    },
                    // a field the writer schema lacks and the reader defaults to null
                    None => Cell::Null,
                }
            }
        };
        cells.push(cell);
    }
    Ok(Outcome::Row(cells))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::test_support::history;

    #[test]
    fn offsets_round_trip() {
        let o = parse_offsets("0:12,1:7,2:0").unwrap();
        assert_eq!(o, BTreeMap::from([(0, 12), (1, 7), (2, 0)]));
        assert_eq!(format_offsets(&o), "0:12,1:7,2:0");
        assert!(parse_offsets("").unwrap().is_empty());
        assert!(parse_offsets("x").is_err());
    }

    #[test]
    fn offsets_survive_another_writers_commits() {
        let md = history(&[
            &[(OFFSETS_KEY, "0:5"), ("total-records", "5")],
            &[(OFFSETS_KEY, "0:9"), ("total-records", "9")],
            // a compaction by another engine: same rows, no offsets in its summary
            &[("total-records", "9")],
            &[("total-records", "9")],
        ]);
        assert_eq!(
            offsets_in("bronze.t", &md).unwrap(),
            BTreeMap::from([(0, 9)])
        );
        assert!(offsets_in("bronze.t", &history(&[])).unwrap().is_empty());
    }

    #[test]
    fn rows_without_offsets_are_refused_not_reloaded() {
        let md = history(&[&[("total-records", "9")]]);
        let e = offsets_in("bronze.t", &md).unwrap_err();
        assert!(matches!(e, Error::OffsetsNotFound { .. }), "{e}");
        assert_eq!(e.exit(), Exit::Fatal);
        assert!(e.to_string().contains("bronze.t holds 9 rows"), "{e}");
        // an empty table made by another writer starts from the beginning
        let empty = history(&[&[("total-records", "0")]]);
        assert!(offsets_in("bronze.t", &empty).unwrap().is_empty());
    }
}
