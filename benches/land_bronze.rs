//! Lands a prepared dataset's whole replay in the bronze tables of a lake, without a broker
//! (`kafka::direct`: the rows bronze-load would land). Sets up the transform benchmark at
//! scales the local broker cannot serve quickly.
//! Usage: cargo run --example land-bronze -- PREPARED_DIR [--from DAY] [--until DAY]
//! (lake from OLISTLAKE_* as usual). `--from`/`--until` land only the events ingested in
//! [from, until) (days as YYYY-MM-DD), as a catch-up load of that stretch would.

use anyhow::Context;
use clap::Parser;
use olistlake::config::LakeArgs;
use olistlake::kafka::direct;
use olistlake::kafka::registry::Registry;
use olistlake::kafka::replay::{Prepared, timeline};
use olistlake::lake::Lake;

#[derive(Parser)]
struct Args {
    prepared: std::path::PathBuf,
    /// Land the events ingested on or after this day.
    #[arg(long)]
    from: Option<chrono::NaiveDate>,
    /// Land the events ingested before this day.
    #[arg(long)]
    until: Option<chrono::NaiveDate>,
    #[command(flatten)]
    lake: LakeArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let prepared = Prepared::load(&args.prepared).context("prepared tables")?;
    let ms = |d: chrono::NaiveDate| {
        d.and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_millis()
    };
    let (lo, hi) = (
        args.from.map_or(i64::MIN, ms),
        args.until.map_or(i64::MAX, ms),
    );
    let events: Vec<_> = timeline(&prepared, 42)
        .into_iter()
        .filter(|e| e.ingest_ms >= lo && e.ingest_ms < hi)
        .collect();
    let cfg = args.lake.resolve()?;
    let registry = Registry::open(&format!(
        "file:{}",
        std::env::temp_dir()
            .join(format!("land-bronze-{}.json", std::process::id()))
            .display()
    ))?;
    let lake = Lake::open(&cfg).await?;
    let rows = direct::land(&lake, &registry, &prepared, &events, 3).await?;
    println!("{rows}");
    Ok(())
}
