//! Lands a prepared dataset's whole replay in the bronze tables of a lake, without a broker
//! (`kafka::direct`: the rows bronze-load would land). Sets up the transform benchmark at
//! scales the local broker cannot serve quickly.
//! Usage: cargo run --example land-bronze -- PREPARED_DIR (lake from OLISTLAKE_* as usual)

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
    #[command(flatten)]
    lake: LakeArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let prepared = Prepared::load(&args.prepared).context("prepared tables")?;
    let events = timeline(&prepared, 42);
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
