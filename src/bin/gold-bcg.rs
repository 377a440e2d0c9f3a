//! `gold-bcg`: sales per quarter and the BCG portfolio of one category, for a data interval.

use std::process::ExitCode;

use clap::Parser;
use olistlake::config::LakeArgs;
use olistlake::job::{self, JobArgs};
use olistlake::transform::{self, GOLD_BCG, Options};

#[derive(Parser, Debug)]
#[command(
    name = "gold-bcg",
    version,
    about = "Rebuild the sales and BCG periods touched by the data interval [--start, --end)"
)]
struct Args {
    /// Product category of the BCG portfolio (English name, as in silver).
    #[arg(long, env = "OLISTLAKE_BCG_CATEGORY", default_value = "health_beauty")]
    category: String,
    #[command(flatten)]
    job: JobArgs,
    #[command(flatten)]
    lake: LakeArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let opts = Options {
        category: args.category.clone(),
    };
    job::run_with_lake("gold-bcg", &args.job, &args.lake, |lake, run| {
        Box::pin(async move { transform::run(lake, &GOLD_BCG, &opts, run).await })
    })
    .await
    .into()
}
