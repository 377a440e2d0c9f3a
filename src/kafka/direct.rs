//! The replay landed in bronze without a broker: the same timeline, Avro encoding and bronze
//! decoding as `olist-replay` followed by `bronze-load`, with Kafka's part (partitioning by key,
//! offsets, record timestamps) done in memory. For the benchmarks and the tests of the layers
//! above bronze, at scales the local broker cannot serve quickly.

use crate::error::Result;
use crate::kafka::bronze::{Decoded, Raw, decode_messages};
use crate::kafka::registry::{Registry, value_subject};
use crate::kafka::replay::{Event, Prepared, partition_for};
use crate::kafka::topics::TOPICS;
use crate::lake::{CommitContext, CommitKind, Lake};

/// Registers the nine value schemas; returns their ids in topic order.
pub async fn register_schemas(registry: &Registry) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    for t in &TOPICS {
        ids.push(
            registry
                .register(&value_subject(t.name), t.schema())
                .await?,
        );
    }
    Ok(ids)
}

/// The messages Kafka would hold after replaying `events`, per topic: key-partitioned, offsets
/// counted per partition, record timestamp = ingest time.
pub fn encode(
    prepared: &Prepared,
    events: &[Event],
    ids: &[u32],
    partitions: i32,
) -> Result<Vec<Vec<Raw>>> {
    let mut raws: Vec<Vec<Raw>> = TOPICS.iter().map(|_| Vec::new()).collect();
    let mut next: Vec<Vec<i64>> = TOPICS
        .iter()
        .map(|_| vec![0; partitions as usize])
        .collect();
    for ev in events {
        let key = prepared.key(ev);
        let partition = partition_for(key.as_bytes(), partitions);
        let offset = &mut next[ev.topic][partition as usize];
        raws[ev.topic].push(Raw {
            partition,
            offset: *offset,
            timestamp_ms: ev.ingest_ms,
            key: Some(key.to_string()),
            payload: Some(prepared.payload(ev, ids[ev.topic])?),
        });
        *offset += 1;
    }
    Ok(raws)
}

/// Decodes every topic's messages as bronze-load does.
pub async fn decode(registry: &Registry, raws: Vec<Vec<Raw>>) -> Result<Vec<Decoded>> {
    let loaded_at = chrono::Utc::now().timestamp_micros();
    let mut out = Vec::new();
    for (topic, raw) in TOPICS.iter().zip(raws) {
        out.push(decode_messages(registry, topic, raw, loaded_at, None).await?);
    }
    Ok(out)
}

/// Appends the decoded rows to the bronze tables (one commit per table); returns the rows.
pub async fn append(lake: &Lake, decoded: &[Decoded], ctx: &CommitContext) -> Result<u64> {
    lake.ensure_tables(&TOPICS.iter().map(|t| t.bronze).collect::<Vec<_>>())
        .await?;
    let mut rows = 0;
    for (topic, d) in TOPICS.iter().zip(decoded) {
        lake.write(&topic.bronze.ident(), CommitKind::Append, &d.batches, ctx)
            .await?;
        rows += d.rows;
    }
    Ok(rows)
}

/// The whole path: `events` (a replay timeline, possibly cut) landed in bronze.
pub async fn land(
    lake: &Lake,
    registry: &Registry,
    prepared: &Prepared,
    events: &[Event],
    partitions: i32,
) -> Result<u64> {
    let ids = register_schemas(registry).await?;
    let raws = encode(prepared, events, &ids, partitions)?;
    let decoded = decode(registry, raws).await?;
    let ctx = CommitContext {
        job: "land-without-broker".into(),
        run_id: uuid::Uuid::now_v7().to_string(),
        interval: "..".into(),
        ..Default::default()
    };
    append(lake, &decoded, &ctx).await
}
