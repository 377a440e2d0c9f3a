//! Benchmark of the Kafka path's own code, without a broker: build the replay timeline from
//! prepared tables, encode every message (Avro, Confluent framing), decode them as bronze-load
//! does, and write the bronze tables to a scratch lake. Separates our throughput from the
//! broker's. Usage: cargo run --example kafka-path -- PREPARED_DIR

use std::time::Instant;

use anyhow::Context;
use olistlake::config::LakeArgs;
use olistlake::kafka::direct;
use olistlake::kafka::registry::Registry;
use olistlake::kafka::replay::{Prepared, timeline};
use olistlake::lake::{CommitContext, Lake};

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
    let ids = direct::register_schemas(&registry).await?;
    let t = Instant::now();
    let raws = direct::encode(&prepared, &events, &ids, 3)?;
    row(
        "encode (replay side)",
        events.len() as u64,
        t.elapsed().as_secs_f64(),
    );
    drop(events);

    let t = Instant::now();
    let decoded = direct::decode(&registry, raws).await?;
    let n = decoded.iter().map(|d| d.rows).sum();
    row("decode (bronze side)", n, t.elapsed().as_secs_f64());

    let lake = Lake::open(
        &LakeArgs {
            warehouse: scratch.path().join("lake").display().to_string(),
            catalog_uri: None,
            catalog_warehouse: None,
            catalog_name: "olistlake".into(),
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_path_style: true,
            max_snapshots: olistlake::lake::DEFAULT_MAX_SNAPSHOTS,
        }
        .resolve()?,
    )
    .await?;
    let t = Instant::now();
    let ctx = CommitContext {
        job: "bench".into(),
        run_id: "bench".into(),
        interval: "bench".into(),
        ..Default::default()
    };
    direct::append(&lake, &decoded, &ctx).await?;
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
