//! `bronze-load`: land the replay topics in `bronze.<topic>` exactly once.

use std::process::ExitCode;

use clap::Parser;
use olistlake::config::{KafkaArgs, LakeArgs};
use olistlake::job::{self, JobArgs, JobRun};
use olistlake::kafka::bronze;
use olistlake::kafka::client::KafkaClient;
use olistlake::kafka::registry::Registry;
use olistlake::kafka::topics::{self, TOPICS};
use olistlake::lake::Lake;
use olistlake::{Error, Exit};

#[derive(Parser, Debug)]
#[command(
    name = "bronze-load",
    version,
    about = "Load the Kafka topics into the bronze Iceberg tables, exactly once"
)]
struct Args {
    /// Topics to load (comma-separated; default all nine).
    #[arg(long, value_delimiter = ',')]
    topics: Vec<String>,
    /// Quarantine messages whose schema id the registry does not know. By default the load of
    /// such a message's partition stops before it and the run exits 75, since the right
    /// registry may decode it; pass this once you know they are foreign data.
    #[arg(long)]
    quarantine_unknown_schemas: bool,
    /// `--end` bounds the load to messages whose record timestamp is before it; `--start` is
    /// recorded but the start is always the offsets stored in the bronze table.
    #[command(flatten)]
    job: JobArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    lake: LakeArgs,
}

pub fn main() -> ExitCode {
    olistlake::job::block_on(run())
}

async fn run() -> ExitCode {
    let args = Args::parse();
    let (job_args, lake_args) = (args.job.clone(), args.lake.clone());
    job::run_with_lake("bronze-load", &job_args, &lake_args, |lake, run| {
        Box::pin(async move { go(&args, lake, run).await })
    })
    .await
    .into()
}

async fn go(args: &Args, lake: &Lake, run: &mut JobRun) -> olistlake::Result<Exit> {
    if args.job.full_refresh {
        return Err(Error::Config(
            "bronze is append-only: --full-refresh does not apply to bronze-load".into(),
        ));
    }
    let kafka = args.kafka.resolve(&args.lake)?;
    let selected: Vec<&'static topics::Topic> = if args.topics.is_empty() {
        TOPICS.iter().collect()
    } else {
        args.topics
            .iter()
            .map(|t| {
                topics::by_name(t.trim())
                    .ok_or_else(|| Error::Config(format!("unknown topic `{t}`")))
            })
            .collect::<olistlake::Result<_>>()?
    };
    let client = KafkaClient::new(&kafka.bootstrap);
    let registry = Registry::open(&kafka.registry)?;
    registry.check_exists().await?;
    let unknown = if args.quarantine_unknown_schemas {
        bronze::UnknownSchemas::Quarantine
    } else {
        bronze::UnknownSchemas::Stop
    };
    bronze::load(lake, &client, &registry, &selected, unknown, run).await
}
