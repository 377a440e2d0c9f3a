//! `silver-build`: conform bronze into the five silver tables for a data interval.

use std::process::ExitCode;

use clap::Parser;
use olistlake::config::LakeArgs;
use olistlake::job::JobArgs;
use olistlake::transform::{self, Options, SILVER_BUILD};

#[derive(Parser, Debug)]
#[command(
    name = "silver-build",
    version,
    about = "Rebuild the silver partitions touched by the bronze rows ingested in [--start, --end)"
)]
struct Args {
    #[command(flatten)]
    job: JobArgs,
    #[command(flatten)]
    lake: LakeArgs,
}

#[tokio::main]
pub async fn main() -> ExitCode {
    let args = Args::parse();
    let opts = Options::default();
    transform::main(&SILVER_BUILD, opts, &args.job, &args.lake)
        .await
        .into()
}
