//! `gold-leadtime`: delivery lead times for a data interval and the open-order monitor as of
//! its end (its orders labelled with the --category portfolio's segments).

use std::process::ExitCode;

use clap::Parser;
use olistlake::config::LakeArgs;
use olistlake::job::JobArgs;
use olistlake::transform::{self, CategoryArg, GOLD_LEADTIME, Options};

#[derive(Parser, Debug)]
#[command(
    name = "gold-leadtime",
    version,
    about = "Rebuild lead times touched by [--start, --end) and the delivery monitor as of --end"
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
    transform::main(&GOLD_LEADTIME, opts, &args.job, &args.lake)
        .await
        .into()
}
