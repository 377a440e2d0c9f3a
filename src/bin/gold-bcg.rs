//! `gold-bcg`: sales per quarter and the BCG portfolio of one category, for a data interval.

use std::process::ExitCode;

use clap::Parser;
use olistlake::config::LakeArgs;
use olistlake::job::JobArgs;
use olistlake::transform::{self, CategoryArg, GOLD_BCG, Options};

#[derive(Parser, Debug)]
#[command(
    name = "gold-bcg",
    version,
    about = "Rebuild the sales and BCG periods touched by the data interval [--start, --end)"
)]
struct Args {
    #[command(flatten)]
    category: CategoryArg,
    #[command(flatten)]
    job: JobArgs,
    #[command(flatten)]
    lake: LakeArgs,
}

#[tokio::main]
pub async fn main() -> ExitCode {
    let args = Args::parse();
    let opts = Options {
        category: args.category.category,
    };
    transform::main(&GOLD_BCG, opts, &args.job, &args.lake)
        .await
        .into()
}
