//! `gold-leadtime`: delivery lead times for a data interval and the open-order monitor as of
//! its end.

use std::process::ExitCode;

use clap::Parser;
use olistlake::config::LakeArgs;
use olistlake::job::{self, JobArgs};
use olistlake::transform::{self, GOLD_LEADTIME, Options};

#[derive(Parser, Debug)]
#[command(
    name = "gold-leadtime",
    version,
    about = "Rebuild lead times touched by [--start, --end) and the delivery monitor as of --end"
)]
struct Args {
    /// Category whose BCG segments label the monitor's orders (as gold-bcg's --category).
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
    job::run_with_lake("gold-leadtime", &args.job, &args.lake, |lake, run| {
        Box::pin(async move { transform::run(lake, &GOLD_LEADTIME, &opts, run).await })
    })
    .await
    .into()
}
