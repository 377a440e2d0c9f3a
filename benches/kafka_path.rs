//! Benchmark of the Kafka path's own code, without a broker: build the replay timeline from
//! prepared tables, encode every message (Avro, Confluent framing), decode them as bronze-load
//! does, and write the bronze tables to a scratch lake. Separates our throughput from the
//! broker's. Usage: cargo run --example kafka-path -- PREPARED_DIR

use std::time::Instant;

use anyhow::Context;
use olistlake::config::LakeArgs;
use olistlake::kafka::bronze::{Raw, decode_messages};
use olistlake::kafka::registry::{Registry, value_subject};
use olistlake::kafka::replay::{Prepared, partition_for, timeline};
use olistlake::kafka::topics::TOPICS;
use olistlake::lake::{CommitContext, CommitKind, Lake};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .context("usage: kafka-path PREPARED_DIR")?;
    let scratch = tempfile::TempDir::new()?;
    let mut rows = Vec::new();
    let mut row = |phase: &str, n: u64, secs: f64| {
        rows.push(format!(
            "{phase:<22} {n:>10} {secs:>9.2} {:>12.0}",
            n as f64 / secs
        ));
    };

    let t = Instant::now();
    let prepared = Prepared::load(std::path::Path::new(&dir))?;
    let events = timeline(&prepared, 42);
    row("timeline", events.len() as u64, t.elapsed().as_secs_f64());

    let registry = Registry::open(&format!(
        "file:{}",
        scratch.path().join("registry.json").display()
    ))?;
    let mut ids = Vec::new();
    for t in &TOPICS {
        ids.push(
            registry
                .register(&value_subject(t.name), t.schema())
                .await?,
        );
    }
    let t = Instant::now();
    let mut raws: Vec<Vec<Raw>> = TOPICS.iter().map(|_| Vec::new()).collect();
    for ev in &events {
        let payload = prepared.payload(ev, ids[ev.topic])?;
        let offset = raws[ev.topic].len() as i64;
        raws[ev.topic].push(Raw {
            partition: partition_for(ev.key.as_bytes(), 3),
            offset,
            timestamp_ms: ev.ingest_ms,
            key: Some(ev.key.clone()),
            payload: Some(payload),
        });
    }
    row(
        "encode (replay side)",
        events.len() as u64,
        t.elapsed().as_secs_f64(),
    );
    drop(events);

    let t = Instant::now();
    let mut decoded = Vec::new();
    let mut n = 0;
    for (topic, raw) in TOPICS.iter().zip(raws) {
        let d = decode_messages(&registry, topic, raw, 0).await?;
        n += d.rows;
        decoded.push(d.batches);
    }
    row("decode (bronze side)", n, t.elapsed().as_secs_f64());

    let lake = Lake::open(
        &LakeArgs {
            warehouse: scratch.path().join("lake").display().to_string(),
            catalog_uri: None,
            catalog_name: "olistlake".into(),
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_path_style: true,
        }
        .resolve()?,
    )
    .await?;
    lake.ensure_tables(&TOPICS.iter().map(|t| t.bronze).collect::<Vec<_>>())
        .await?;
    let t = Instant::now();
    let ctx = CommitContext {
        job: "bench".into(),
        run_id: "bench".into(),
        interval: "bench".into(),
        ..Default::default()
    };
    for (topic, batches) in TOPICS.iter().zip(&decoded) {
        lake.write(&topic.bronze.ident(), CommitKind::Append, batches, &ctx)
            .await?;
    }
    row("write bronze (Parquet)", n, t.elapsed().as_secs_f64());

    println!(
        "{:<22} {:>10} {:>9} {:>12}",
        "phase", "messages", "seconds", "per_second"
    );
    for r in rows {
        println!("{r}");
    }
    Ok(())
}
