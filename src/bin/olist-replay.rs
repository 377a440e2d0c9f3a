//! `olist-replay`: the continuous producer that replays the prepared Olist tables into Kafka.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use olistlake::config::{KafkaArgs, LakeArgs};
use olistlake::kafka::client::KafkaClient;
use olistlake::kafka::registry::Registry;
use olistlake::kafka::replay::{ReplayConfig, ReplayStats, replay};
use olistlake::{Error, job};

#[derive(Parser, Debug)]
#[command(
    name = "olist-replay",
    version,
    about = "Replay the prepared Olist tables into Kafka as change events, in event-time order"
)]
struct Args {
    /// Directory of the prepared tables (olist-prepare output).
    #[arg(long, env = "OLISTLAKE_PREPARED", default_value = "data/prepared")]
    prepared: PathBuf,
    /// Seconds of data time replayed per wall second, or `max` for as fast as the broker takes.
    #[arg(long, env = "OLISTLAKE_REPLAY_SPEED", default_value = "max")]
    speed: String,
    /// Gaps in data time longer than this many seconds are shortened to it.
    #[arg(long, default_value_t = 3600.0)]
    max_gap: f64,
    /// Start of the data time to replay (ISO 8601); earlier events are not sent.
    #[arg(long)]
    from: Option<String>,
    /// End of the data time to replay (exclusive).
    #[arg(long)]
    until: Option<String>,
    /// Seed of the ingest-time jitter: the same seed gives byte-identical messages.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Partitions of the topics the producer creates.
    #[arg(long, env = "OLISTLAKE_TOPIC_PARTITIONS", default_value_t = 3)]
    partitions: i32,
    /// Replication factor of the topics the producer creates.
    #[arg(long, env = "OLISTLAKE_TOPIC_REPLICATION", default_value_t = 1)]
    replication: i32,
    /// Address of the Prometheus `/metrics` endpoint (empty to disable).
    #[arg(long, env = "OLISTLAKE_METRICS_ADDR", default_value = "127.0.0.1:9464")]
    metrics_addr: String,
    /// After the last event, keep serving `/metrics` until SIGTERM or Ctrl-C, so Prometheus
    /// keeps seeing the final figures (a deployment's producer; the summary prints on exit).
    #[arg(long, env = "OLISTLAKE_REPLAY_HOLD")]
    hold: bool,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    lake: LakeArgs,
}

#[tokio::main]
pub async fn main() -> ExitCode {
    job::init_logging();
    let args = Args::parse();
    let start = Instant::now();
    let stats = ReplayStats::new();
    let result = run(&args, stats.clone()).await.map(|report| {
        let status = if report.interrupted {
            "interrupted"
        } else {
            "ok"
        };
        serde_json::json!({"status": status, "report": report})
    });
    job::tool_summary("olist-replay", start, result).into()
}

async fn run(
    args: &Args,
    stats: Arc<ReplayStats>,
) -> olistlake::Result<olistlake::kafka::replay::ReplayReport> {
    let kafka = args.kafka.resolve(&args.lake)?;
    let speed = match args.speed.as_str() {
        "max" => None,
        s => Some(s.parse::<f64>().ok().filter(|v| *v > 0.0).ok_or_else(|| {
            Error::Config(format!(
                "--speed must be a positive number or `max`, got `{s}`"
            ))
        })?),
    };
    let ms = |s: &Option<String>| {
        s.as_deref()
            .map(|v| job::parse_instant(v).map(|t| t.and_utc().timestamp_millis()))
            .transpose()
    };
    let cfg = ReplayConfig {
        speed,
        max_gap: Duration::from_secs_f64(args.max_gap.max(0.0)),
        from_ms: ms(&args.from)?,
        until_ms: ms(&args.until)?,
        seed: args.seed,
        partitions: args.partitions,
        replication: args.replication,
    };
    if !args.metrics_addr.is_empty() {
        let s = stats.clone();
        let addr = olistlake::metrics::serve(&args.metrics_addr, Arc::new(move || s.render()))?;
        tracing::info!("metrics on http://{addr}/metrics");
    }
    // Ctrl-C / SIGTERM: stop sending, flush what is queued, exit cleanly.
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
        tracing::info!("stopping: flushing queued messages");
        s.store(true, Ordering::Relaxed);
    });
    let progress = stats.clone();
    let reporter = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let sent: u64 = progress
                .sent
                .iter()
                .map(|a| a.load(Ordering::Relaxed))
                .sum();
            let clock =
                chrono::DateTime::from_timestamp_millis(progress.clock_ms.load(Ordering::Relaxed))
                    .map(|t| t.naive_utc().to_string())
                    .unwrap_or_default();
            tracing::info!(sent, clock, "replaying");
        }
    });
    let client = KafkaClient::new(&kafka.bootstrap);
    let registry = Registry::open(&kafka.registry)?;
    let prepared = args.prepared.clone();
    let result = replay(&client, &registry, &prepared, &cfg, stats, stop.clone()).await;
    reporter.abort();
    if args.hold && !args.metrics_addr.is_empty() && result.is_ok() {
        tracing::info!("replay done; serving /metrics until stopped");
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    result
}
