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

    /// The replay producer's settings: idempotent, acks=all, lz4, batched with a 10 ms linger.
    pub fn producer_config(&self) -> ClientConfig {
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
            .set("queue.buffering.max.messages", "500000")
            .set("message.timeout.ms", "60000");
        c
    }

    /// A consumer for manual assignment; the group id only names the informational commit.
    pub fn consumer(&self, group: &str) -> Result<BaseConsumer<EofIsNotAnError>> {
        self.base()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest")
            // tansu answers large fetches slowly: ask for little at a time, wait long enough
            .set("fetch.max.bytes", "4194304")
            .set("max.partition.fetch.bytes", "1048576")
            .set("fetch.wait.max.ms", "20")
            .set("socket.timeout.ms", "120000")
            .create_with_context(EofIsNotAnError)
            .map_err(|e| unreachable("consumer", e))
    }

    /// Creates the topics that are missing, with infinite retention (record timestamps lie
    /// years in the past, so time-based retention would delete them at once).
    pub fn ensure_topics(&self, topics: &[&str], partitions: i32, replication: i32) -> Result<()> {
        let admin: AdminClient<DefaultClientContext> = self
            .base()
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
        // metadata catches up with a short delay
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            let names = self.topic_names()?;
            if topics.iter().all(|t| names.contains(&t.to_string())) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(Error::BrokerUnreachable(
            "created topics did not appear in the metadata".into(),
        ))
    }

    fn topic_names(&self) -> Result<Vec<String>> {
        let c: BaseConsumer = self
            .base()
            .create()
            .map_err(|e| unreachable("metadata client", e))?;
        let md = c
            .fetch_metadata(None, TIMEOUT)
            .map_err(|e| unreachable(&format!("metadata from {}", self.bootstrap), e))?;
        Ok(md.topics().iter().map(|t| t.name().to_string()).collect())
    }

    /// The partitions of a topic (0 when the topic does not exist).
    pub fn partition_count(&self, topic: &str) -> Result<i32> {
        let c: BaseConsumer = self
            .base()
            .create()
            .map_err(|e| unreachable("metadata client", e))?;
        let md = c
            .fetch_metadata(Some(topic), TIMEOUT)
            .map_err(|e| unreachable(&format!("metadata of {topic} from {}", self.bootstrap), e))?;
        Ok(md
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map(|t| t.partitions().len() as i32)
            .unwrap_or(0))
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
                consumer
                    .fetch_watermarks(topic, p, TIMEOUT)
                    .map(|(lo, hi)| (p, lo, hi))
                    .map_err(|e| unreachable(&format!("watermarks of {topic}/{p}"), e))
            })
            .collect()
    }

    /// The `olistlake.seq` header of the last message of every non-empty partition.
    pub fn last_sequence_numbers(&self, topics: &[&str]) -> Result<HashMap<(String, i32), u64>> {
        let mut out = HashMap::new();
        self.for_last_messages(topics, |topic, p, m| {
            if let Some(seq) = super::replay::seq_of(m) {
                out.insert((topic.to_string(), p), seq);
            }
        })?;
        Ok(out)
    }

    /// The replay clock as Kafka shows it: the newest record timestamp (ms) of the last
    /// messages of `topics` (None when they are empty). Record timestamps are ingest times.
    pub fn newest_timestamp(&self, topics: &[&str]) -> Result<Option<i64>> {
        let mut newest = None;
        self.for_last_messages(topics, |_, _, m| {
            use rdkafka::Message;
            if let Some(t) = m.timestamp().to_millis() {
                newest = Some(newest.map_or(t, |n: i64| n.max(t)));
            }
        })?;
        Ok(newest)
    }

    /// Calls `f` with the last message of every non-empty partition of `topics`.
    fn for_last_messages(
        &self,
        topics: &[&str],
        mut f: impl FnMut(&str, i32, &rdkafka::message::BorrowedMessage<'_>),
    ) -> Result<()> {
        let consumer = self.consumer("olistlake-last-messages")?;
        for topic in topics {
            for (p, lo, hi) in self.watermarks(&consumer, topic)? {
                if hi <= lo {
                    continue;
                }
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(topic, p, Offset::Offset(hi - 1))
                    .map_err(|e| unreachable("assign", e))?;
                consumer
                    .assign(&tpl)
                    .map_err(|e| unreachable("assign", e))?;
                let deadline = Instant::now() + TIMEOUT;
                loop {
                    match consumer.poll(Duration::from_millis(200)) {
                        Some(Ok(m)) => {
                            use rdkafka::Message;
                            if m.offset() == hi - 1 {
                                f(topic, p, &m);
                                break;
                            }
                        }
                        Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
                        Some(Err(e)) => {
                            return Err(unreachable(&format!("reading the end of {topic}/{p}"), e));
                        }
                        None if Instant::now() > deadline => {
                            return Err(Error::BrokerUnreachable(format!(
                                "no answer reading the end of {topic}/{p}"
                            )));
                        }
                        None => {}
                    }
                }
            }
        }
        Ok(())
    }
}
