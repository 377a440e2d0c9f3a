//! Lands a prepared dataset's whole replay in the bronze tables of a lake, without a broker
//! (`kafka::direct`: the rows bronze-load would land). Sets up the transform benchmark at
//! scales the local broker cannot serve quickly.
//! Usage: cargo run --example land-bronze -- PREPARED_DIR [--from DAY] [--until DAY]
//! (lake from OLISTLAKE_* as usual). `--from`/`--until` land only the events ingested in
//! [from, until) (days as YYYY-MM-DD), as a catch-up load of that stretch would.
//! `--each-day PROGRAM` lands the events one day of ingest time at a time and runs
//! `PROGRAM DAY NEXT_DAY` after each day, as a daily schedule meets the data (the prepared
//! tables are loaded once); a failing PROGRAM stops it.

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
    /// Land one day at a time and run this program with the day and the next after each.
    #[arg(long)]
    each_day: Option<std::path::PathBuf>,
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
    let Some(program) = args.each_day else {
        let rows = direct::land(&lake, &registry, &prepared, &events, 3).await?;
        println!("{rows}");
        return Ok(());
    };
    // by day of ingest time (a stable sort: the replay's order within a day is kept; jitter
    // lets a few events of a day follow the next day's first ones in the replay)
    const DAY_MS: i64 = 86_400_000;
    let mut events = events;
    events.sort_by_key(|e| e.ingest_ms.div_euclid(DAY_MS));
    let mut rows = 0;
    let mut start = 0;
    while start < events.len() {
        let day_number = events[start].ingest_ms.div_euclid(DAY_MS);
        let day = chrono::DateTime::from_timestamp_millis(day_number * DAY_MS)
            .context("ingest time out of range")?
            .date_naive();
        let next = day.succ_opt().context("day out of range")?;
        let end = start
            + events[start..].partition_point(|e| e.ingest_ms.div_euclid(DAY_MS) == day_number);
        rows += direct::land(&lake, &registry, &prepared, &events[start..end], 3).await?;
        let status = std::process::Command::new(&program)
            .arg(day.to_string())
            .arg(next.to_string())
            .status()
            .with_context(|| format!("running {}", program.display()))?;
        anyhow::ensure!(
            status.success(),
            "{} {day} failed: {status}",
            program.display()
        );
        start = end;
    }
    println!("{rows}");
    Ok(())
}
