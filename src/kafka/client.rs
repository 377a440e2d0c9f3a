//! Kafka connection helpers (librdkafka via `rdkafka`): configuration, topic creation,
//! metadata, watermarks and reading a partition's last message.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::error::{Error, Result};

/// Header carrying a message's position in the replay timeline.
pub const SEQ_HEADER: &str = "olistlake.seq";

/// librdkafka settings applied over the project's own, `key=value` separated by commas.
pub const OPTIONS_ENV: &str = "OLISTLAKE_KAFKA_OPTIONS";

/// Parses `OLISTLAKE_KAFKA_OPTIONS`: `key=value` pairs separated by commas (blank ones skipped).
pub fn parse_options(list: &str) -> Result<Vec<(String, String)>> {
    list.split(',')
        .map(str::trim)
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => Err(Error::InvalidInput(format!(
                "{OPTIONS_ENV}: `{}` is not key=value",
                kv.split('=').next().unwrap_or_default()
            ))),
        })
        .collect()
}

/// How long a metadata or watermark request may take before the broker counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct KafkaClient {
    bootstrap: String,
}

fn unreachable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::BrokerUnreachable(format!("{what}: {e}"))
}

/// The consumers' context: the loader asks for end-of-partition events and handles them, so
/// librdkafka's default of logging each one as a "global error" is only noise.
pub struct EofIsNotAnError;

impl rdkafka::ClientContext for EofIsNotAnError {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        use rdkafka::error::{KafkaError, RDKafkaErrorCode};
        if !matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        ) {
            tracing::error!("librdkafka: {error}: {reason}");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for EofIsNotAnError {}

/// Consumer errors librdkafka recovers from by itself (a broker connection lost, a leader
/// moved): the caller keeps polling, within its own time bound.
pub fn is_transient(e: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        e,
        KafkaError::MessageConsumption(
            Code::BrokerTransportFailure
                | Code::AllBrokersDown
                | Code::NotLeaderForPartition
                | Code::LeaderNotAvailable
                | Code::RequestTimedOut
                | Code::NetworkException
                | Code::OperationTimedOut
        ) | KafkaError::Global(Code::BrokerTransportFailure | Code::AllBrokersDown)
    )
}

/// How long a request answered with "not leader" / "leader not available" is asked again
/// before the broker counts as unreachable.
const LEADER_SETTLE: Duration = Duration::from_secs(30);

/// The answers of a live broker whose partition leadership is changing (retriable in Kafka's
/// protocol): asking again shortly after succeeds.
fn is_leader_moving(e: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        e.rdkafka_error_code(),
        Some(
            Code::NotLeaderForPartition
                | Code::LeaderNotAvailable
                | Code::UnknownTopicOrPartition
                | Code::UnknownLeaderEpoch
                | Code::FencedLeaderEpoch
        )
    )
}

/// How long closing a consumer may take. librdkafka's close waits for the group
/// coordinator's outstanding requests (the informational offset commit), which never end while
/// a broker is frozen.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A consumer whose close is bounded by [`CLOSE_TIMEOUT`]: on drop it is closed on a thread of
/// its own, abandoned (and the process free to exit) if the close does not finish in time.
pub struct BoundedConsumer(Option<BaseConsumer<EofIsNotAnError>>, CloseMode);

/// How a dropped [`BoundedConsumer`] is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseMode {
    /// The drop waits for the close (bounded).
    Wait,
    /// The drop starts the close; [`wait_for_closing_consumers`] waits for it.
    Later,
}

/// Closes started by dropped consumers, with the time each may last until.
static CLOSING: std::sync::Mutex<Vec<(Instant, std::sync::mpsc::Receiver<()>)>> =
    std::sync::Mutex::new(Vec::new());

/// Waits for the closes of the consumers made with [`KafkaClient::consumer_closed_later`] and
/// dropped so far, each at most [`CLOSE_TIMEOUT`] after its drop (so several take as long as
/// one); those still closing then are abandoned.
pub fn wait_for_closing_consumers() {
    let pending = std::mem::take(&mut *CLOSING.lock().unwrap_or_else(|e| e.into_inner()));
    let abandoned = pending
        .into_iter()
        .filter(|(until, closed)| {
            closed
                .recv_timeout(until.saturating_duration_since(Instant::now()))
                .is_err()
        })
        .count();
    if abandoned > 0 {
        tracing::warn!(
            "{abandoned} Kafka consumer(s) did not close within {} s (broker not answering); abandoned",
            CLOSE_TIMEOUT.as_secs()
        );
    }
}

impl std::ops::Deref for BoundedConsumer {
    type Target = BaseConsumer<EofIsNotAnError>;
    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("present until dropped")
    }
}

impl Drop for BoundedConsumer {
    fn drop(&mut self) {
        let Some(consumer) = self.0.take() else {
            return;
        };
        let (done, closed) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(consumer);
            let _ = done.send(());
        });
        if self.1 == CloseMode::Later {
            CLOSING
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((Instant::now() + CLOSE_TIMEOUT, closed));
            return;
        }
        if closed.recv_timeout(CLOSE_TIMEOUT).is_err() {
            tracing::warn!(
                "the Kafka consumer did not close within {} s (broker not answering); abandoned",
                CLOSE_TIMEOUT.as_secs()
            );
        }
    }
}

impl KafkaClient {
    pub fn new(bootstrap: &str) -> KafkaClient {
        KafkaClient {
            bootstrap: bootstrap.to_string(),
        }
    }

    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap)
            .set("socket.timeout.ms", "10000")
            .set("log_level", "3");
        c
    }

    /// `config` with the operator's librdkafka settings (`OLISTLAKE_KAFKA_OPTIONS`, e.g. TLS or
    /// SASL, or producer batching) applied over ours. Values are never logged.
    fn with_options(mut config: ClientConfig) -> Result<ClientConfig> {
        if let Ok(list) = std::env::var(OPTIONS_ENV) {
            for (key, value) in parse_options(&list)? {
                config.set(key, value);
            }
        }
        Ok(config)
    }

    /// The replay producer's settings: idempotent, acks=all, lz4, batched with a 10 ms linger;
    /// then `OLISTLAKE_KAFKA_OPTIONS`.
    pub fn producer_config(&self) -> Result<ClientConfig> {
        let mut c = self.base();
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            // lz4 by default (spec §4); OLISTLAKE_KAFKA_COMPRESSION=zstd|none|… overrides
            .set(
                "compression.type",
                std::env::var("OLISTLAKE_KAFKA_COMPRESSION").unwrap_or_else(|_| "lz4".into()),
            )
            .set("linger.ms", "10")
            .set("batch.num.messages", "10000")
            // a bounded queue: ~0.5 s of sending, and the replay's memory stays flat at scale
            .set("queue.buffering.max.messages", "100000")
            .set("queue.buffering.max.kbytes", "65536")
            .set("message.timeout.ms", "60000");
        Self::with_options(c)
    }

    /// [`KafkaClient::consumer`] whose drop does not wait for its close: several consumers
    /// dropped in turn (bronze-load's, one per topic) close together, and
    /// [`wait_for_closing_consumers`] waits for them once.
    pub fn consumer_closed_later(&self, group: &str) -> Result<BoundedConsumer> {
        let mut consumer = self.consumer(group)?;
        consumer.1 = CloseMode::Later;
        Ok(consumer)
    }

    /// A consumer for manual assignment; the group id only names the informational commit.
    pub fn consumer(&self, group: &str) -> Result<BoundedConsumer> {
        let mut config = self.base();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest")
            // large fetches (a backlog is read at once), little waiting at the end of a range
            .set("fetch.max.bytes", "52428800")
            .set("max.partition.fetch.bytes", "8388608")
            .set("fetch.wait.max.ms", "20")
            .set("queued.max.messages.kbytes", "262144");
        let consumer = Self::with_options(config)?
            .create_with_context(EofIsNotAnError)
            .map_err(|e| unreachable("consumer", e))?;
        Ok(BoundedConsumer(Some(consumer), CloseMode::Wait))
    }

    /// Creates the topics that are missing, with infinite retention (record timestamps lie
    /// years in the past, so time-based retention would delete them at once).
    pub fn ensure_topics(&self, topics: &[&str], partitions: i32, replication: i32) -> Result<()> {
        let admin: AdminClient<DefaultClientContext> = Self::with_options(self.base())?
            .create()
            .map_err(|e| unreachable("admin client", e))?;
        let existing = self.topic_names()?;
        let missing: Vec<NewTopic> = topics
            .iter()
            .filter(|t| !existing.contains(&t.to_string()))
            .map(|t| {
                NewTopic::new(t, partitions, TopicReplication::Fixed(replication))
                    .set("retention.ms", "-1")
            })
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let rt = tokio::runtime::Handle::try_current();
        let fut = admin.create_topics(
            &missing,
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        );
        let results = match rt {
            Ok(h) => tokio::task::block_in_place(|| h.block_on(fut)),
            Err(_) => futures::executor::block_on(fut),
        }
        .map_err(|e| unreachable("create topics", e))?;
        for r in results {
            match r {
                Ok(t) => tracing::info!(topic = %t, partitions, "created topic"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((t, code)) => {
                    return Err(Error::BrokerUnreachable(format!(
                        "creating topic {t}: {code}"
                    )));
                }
            }
        }
        // Metadata catches up with a short delay, and a new partition has no leader until the
        // controller elects one: until then its watermarks and produce requests fail, so wait
        // for every partition of every topic to have a leader.
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if self.all_partitions_led(topics)? {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(Error::BrokerUnreachable(
            "created topics did not get a leader for every partition".into(),
        ))
    }

    /// Every topic exists with at least one partition, and each partition has a leader.
    fn all_partitions_led(&self, topics: &[&str]) -> Result<bool> {
        let md = self.metadata()?;
        Ok(topics.iter().all(|name| {
            md.topics().iter().any(|t| {
                t.name() == *name
                    && t.error().is_none()
                    && !t.partitions().is_empty()
                    && t.partitions()
                        .iter()
                        .all(|p| p.error().is_none() && p.leader() >= 0)
            })
        }))
    }

    fn topic_names(&self) -> Result<Vec<String>> {
        let md = self.metadata()?;
        Ok(md.topics().iter().map(|t| t.name().to_string()).collect())
    }

    /// The cluster's metadata for every topic.
    fn metadata(&self) -> Result<rdkafka::metadata::Metadata> {
        let c: BaseConsumer = Self::with_options(self.base())?
            .create()
            .map_err(|e| unreachable("metadata client", e))?;
        c.fetch_metadata(None, TIMEOUT)
            .map_err(|e| unreachable(&format!("metadata from {}", self.bootstrap), e))
    }

    /// The partitions of a topic (0 when the topic does not exist).
    pub fn partition_count(&self, topic: &str) -> Result<i32> {
        let c: BaseConsumer = Self::with_options(self.base())?
            .create()
            .map_err(|e| unreachable("metadata client", e))?;
        let what = || format!("metadata of {topic} from {}", self.bootstrap);
        let md = c
            .fetch_metadata(Some(topic), TIMEOUT)
            .map_err(|e| unreachable(&what(), e))?;
        let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
            return Ok(0);
        };
        match t.error().map(RDKafkaErrorCode::from) {
            None => Ok(t.partitions().len() as i32),
            Some(RDKafkaErrorCode::UnknownTopicOrPartition) => Ok(0),
            // a topic the broker knows but cannot describe now (its leader being elected
            // after a restart): not a missing topic, whose load would be skipped
            Some(code) => Err(unreachable(&what(), code)),
        }
    }

    /// `(low, high)` watermarks of each partition of a topic.
    pub fn watermarks<C: rdkafka::consumer::ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        topic: &str,
    ) -> Result<Vec<(i32, i64, i64)>> {
        let n = self.partition_count(topic)?;
        (0..n)
            .map(|p| {
                // A broker that answers "not leader" or "leader not available" is alive but
                // between two states (a new partition whose leader the broker's replica
                // manager has not taken on yet, a leader moving): ask again for a bounded
                // time, as Kafka's own clients do with retriable errors.
                let deadline = Instant::now() + LEADER_SETTLE;
                loop {
                    match consumer.fetch_watermarks(topic, p, TIMEOUT) {
                        Ok((lo, hi)) => break Ok((p, lo, hi)),
                        Err(e) if is_leader_moving(&e) && Instant::now() < deadline => {
                            tracing::debug!("watermarks of {topic}/{p}: {e}; asking again");
                            std::thread::sleep(Duration::from_millis(200));
                        }
                        Err(e) => break Err(unreachable(&format!("watermarks of {topic}/{p}"), e)),
                    }
                }
            })
            .collect()
    }

    /// The `olistlake.seq` header of the last message that carries one, in every non-empty
    /// partition. Messages without the header (another producer's, a poison message) are
    /// skipped: the scan goes back from the end until it meets one.
    pub fn last_sequence_numbers(&self, topics: &[&str]) -> Result<HashMap<(String, i32), u64>> {
        Ok(self
            .last_found(topics, |m| super::replay::seq_of(m))?
            .into_iter()
            .map(|(topic, p, seq)| ((topic, p), seq))
            .collect())
    }

    /// The replay clock as Kafka shows it: the newest record timestamp (ms) of the last
    /// messages of `topics` (None when they are empty). Record timestamps are ingest times.
    pub fn newest_timestamp(&self, topics: &[&str]) -> Result<Option<i64>> {
        use rdkafka::Message;
        Ok(self
            .last_found(topics, |m| m.timestamp().to_millis())?
            .into_iter()
            .map(|(_, _, t)| t)
            .max())
    }

    /// For every partition of `topics`, what `pick` finds in its last message for which it
    /// finds anything: (topic, partition, found).
    fn last_found<T>(
        &self,
        topics: &[&str],
        mut pick: impl FnMut(&rdkafka::message::BorrowedMessage<'_>) -> Option<T>,
    ) -> Result<Vec<(String, i32, T)>> {
        let consumer = self.consumer("olistlake-last-messages")?;
        let mut out = Vec::new();
        for topic in topics {
            for (p, lo, hi) in self.watermarks(&consumer, topic)? {
                if let Some(found) = self.scan_back(&consumer, topic, p, lo, hi, &mut pick)? {
                    out.push((topic.to_string(), p, found));
                }
            }
        }
        Ok(out)
    }

    /// What `pick` finds in the last message of `[lo, hi)` for which it finds anything: reads
    /// windows backwards from the end (1 message, then 16, 256, …) until one holds a match.
    fn scan_back<T>(
        &self,
        consumer: &BoundedConsumer,
        topic: &str,
        partition: i32,
        lo: i64,
        hi: i64,
        mut pick: impl FnMut(&rdkafka::message::BorrowedMessage<'_>) -> Option<T>,
    ) -> Result<Option<T>> {
        use rdkafka::Message;
        let (mut end, mut window) = (hi, 1i64);
        while end > lo {
            let start = (end - window).max(lo);
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(topic, partition, Offset::Offset(start))
                .map_err(|e| unreachable("assign", e))?;
            consumer
                .assign(&tpl)
                .map_err(|e| unreachable("assign", e))?;
            let deadline = Instant::now() + TIMEOUT;
            let mut found = None;
            loop {
                match consumer.poll(Duration::from_millis(200)) {
                    Some(Ok(m)) if m.offset() < start => {}
                    Some(Ok(m)) => {
                        if m.offset() >= end {
                            break;
                        }
                        if let Some(v) = pick(&m) {
                            found = Some(v);
                        }
                        if m.offset() >= end - 1 {
                            break;
                        }
                    }
                    Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
                    // one broker of a cluster gone: librdkafka moves to the new leader
                    Some(Err(e)) if is_transient(&e) && Instant::now() <= deadline => {}
                    Some(Err(e)) => {
                        return Err(unreachable(
                            &format!("reading the end of {topic}/{partition}"),
                            e,
                        ));
                    }
                    None if Instant::now() > deadline => {
                        return Err(Error::BrokerUnreachable(format!(
                            "no answer reading the end of {topic}/{partition}"
                        )));
                    }
                    None => {}
                }
            }
            if found.is_some() {
                return Ok(found);
            }
            end = start;
            window = window.saturating_mul(16);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaErrorCode as Code;

    #[test]
    fn leader_movement_is_asked_again_but_silence_is_not() {
        assert!(is_leader_moving(&KafkaError::MetadataFetch(
            Code::NotLeaderForPartition
        )));
        assert!(is_leader_moving(&KafkaError::MetadataFetch(
            Code::LeaderNotAvailable
        )));
        // a broker that does not answer is the caller's time bound, not a retry
        assert!(!is_leader_moving(&KafkaError::MetadataFetch(
            Code::OperationTimedOut
        )));
        assert!(!is_leader_moving(&KafkaError::MetadataFetch(
            Code::AllBrokersDown
        )));
    }

    #[test]
    fn options_are_key_value_pairs_and_a_bad_one_names_only_its_key() {
        assert_eq!(
            parse_options(" linger.ms=50 ,, sasl.password=a=b ").unwrap(),
            vec![
                ("linger.ms".to_string(), "50".to_string()),
                ("sasl.password".to_string(), "a=b".to_string()),
            ]
        );
        assert!(parse_options("").unwrap().is_empty());
        let err = parse_options("linger.ms=5,secret-without-key").unwrap_err();
        assert!(err.to_string().contains("secret-without-key"), "{err}");
        assert!(parse_options("=value").is_err());
    }
}
