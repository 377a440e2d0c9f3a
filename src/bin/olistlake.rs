//! `olistlake`: the admin CLI of the lake (tables, snapshots, rollback, expiry, SQL, loads and
//! the self-check).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use olistlake::config::{KafkaArgs, LakeArgs};
use olistlake::job::{self, JobArgs, JobRun};
use olistlake::lake::{self, CommitKind, Lake, ReadAt, tables};
use olistlake::{Error, Exit, cli};

#[derive(Parser, Debug)]
#[command(
    name = "olistlake",
    version,
    about = "Administer the olistlake Iceberg lakehouse"
)]
struct Cli {
    #[command(flatten)]
    lake: LakeArgs,

    /// Print JSON instead of human tables.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create the namespaces (bronze, state, silver, gold, ops) and every table that is missing.
    Init,
    /// Rows, files, size and last snapshot of every table.
    Tables,
    /// Snapshot history of one table, oldest first, with summaries.
    Snapshots {
        /// `namespace.table`
        table: String,
    },
    /// Move a table's current snapshot back to an older one (a new metadata version; nothing
    /// is deleted, so a rollback can itself be rolled back).
    Rollback {
        /// `namespace.table`
        table: String,
        /// The snapshot id to return to.
        #[arg(long)]
        to: i64,
    },
    /// Expire old snapshots and delete the files no remaining snapshot references.
    ExpireSnapshots {
        /// Only this table (default: every table).
        #[arg(long)]
        table: Option<String>,
        /// Expire snapshots older than this: a duration (`7d`, `12h`, `30m`, `0s`) or an
        /// ISO 8601 instant.
        #[arg(long, default_value = "7d")]
        older_than: String,
        /// Always keep at least this many most recent snapshots.
        #[arg(long, default_value_t = 5)]
        retain_last: usize,
    },
    /// Delete data files no snapshot references (left by writers killed before their
    /// commit), once they are older than the cutoff.
    RemoveOrphanFiles {
        /// Only this table (default: every table).
        #[arg(long)]
        table: Option<String>,
        /// Only files older than this (`3d`, `12h`, `30m`, `0s`) or an ISO 8601 instant.
        #[arg(long, default_value = "3d")]
        older_than: String,
        /// List what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Compact small data files: per partition, rewrite the files smaller than ¾ of the
    /// target size into files of about the target size, in one `replace` commit per table
    /// that keeps every row (and bronze's Kafka offsets). Safe beside running jobs: a job that
    /// rewrites the same partition meanwhile wins and this exits 75.
    RewriteDataFiles {
        /// Only this table (default: every table).
        #[arg(long)]
        table: Option<String>,
        /// Size of the files written (`128MiB`, `64MB`, bytes); default: the table's
        /// `write.target-file-size-bytes`, else 512 MiB.
        #[arg(long)]
        target_size: Option<String>,
        /// Rewrite a partition once it has this many small files (or two that together reach
        /// the target size).
        #[arg(long, default_value_t = 5)]
        min_input_files: usize,
    },
    /// Run SQL over the lake (tables are `namespace.table`).
    Sql {
        query: String,
        /// Read one table at a snapshot: `namespace.table=SNAPSHOT_ID` (repeatable).
        #[arg(long = "snapshot", value_name = "TABLE=ID")]
        snapshots: Vec<String>,
        /// Read every table as it was at this instant (ISO 8601, UTC).
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Load Parquet files into a table with one commit of the given kind.
    Load {
        /// `namespace.table`
        table: String,
        /// Parquet files whose columns match the table's by name.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// append: add rows; overwrite: replace the partitions the rows fall into; replace:
        /// replace the whole table.
        #[arg(long, value_enum, default_value_t = Mode::Append)]
        mode: Mode,
        #[command(flatten)]
        job: JobArgs,
    },
    /// Print the replay clock: the newest record timestamp in the replay topics (data time).
    /// With `--passed T`, exit 0 when the clock is at or past T and 99 when not yet (what the
    /// Airflow sensor asks before an interval is processed).
    ReplayClock {
        /// An instant (ISO 8601) the clock must have reached.
        #[arg(long)]
        passed: Option<String>,
        #[command(flatten)]
        kafka: KafkaArgs,
    },
    /// Create, append, overwrite, replace and read back a scratch table: proves the lake works
    /// with this configuration.
    SelfCheck {
        #[command(flatten)]
        job: JobArgs,
    },
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum Mode {
    Append,
    Overwrite,
    Replace,
}

pub fn main() -> ExitCode {
    olistlake::job::block_on(cli_main())
}

async fn cli_main() -> ExitCode {
    job::init_logging();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Fatal.into()
            } else {
                Exit::Ok.into()
            };
        }
    };
    match run(cli).await {
        Ok(exit) => exit.into(),
        Err(e) => {
            let exit = e
                .downcast_ref::<Error>()
                .map(Error::exit)
                .unwrap_or(Exit::Fatal);
            eprintln!("error: {e:#}");
            exit.into()
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<Exit> {
    if let Command::ReplayClock { passed, kafka } = &cli.command {
        return Ok(replay_clock(kafka, passed.as_deref(), cli.json)?);
    }
    let config = cli.lake.resolve()?;
    match cli.command {
        Command::Load {
            table,
            files,
            mode,
            job,
        } => Ok(job::run_with_lake("load", &job, &cli.lake, |lake, run| {
            Box::pin(async move { load(lake, run, &table, &files, mode).await })
        })
        .await),
        Command::SelfCheck { job } => Ok(job::run_with_lake(
            "self-check",
            &job,
            &cli.lake,
            |lake, run| Box::pin(cli::self_check(lake, run)),
        )
        .await),
        command => {
            // reading a lake that is not there must not create an empty catalog in its place
            let reads_only = matches!(
                command,
                Command::Tables | Command::Snapshots { .. } | Command::Sql { .. }
            );
            if reads_only
                && let olistlake::config::CatalogUri::Sqlite(path) = &config.catalog
                && !path.exists()
            {
                return Err(Error::Config(format!(
                    "no catalog at {} (wrong --warehouse or --catalog-uri? `olistlake init` \
                     creates one)",
                    path.display()
                ))
                .into());
            }
            let lake = Lake::open(&config).await?;
            admin(&lake, command, cli.json).await
        }
    }
}

async fn admin(lake: &Lake, command: Command, json: bool) -> anyhow::Result<Exit> {
    match command {
        Command::Init => {
            lake.ensure_tables(tables::ALL).await?;
            eprintln!("{} tables ready", tables::ALL.len());
        }
        Command::Tables => {
            let mut stats = Vec::new();
            for ident in lake.list_tables().await? {
                stats.push(lake.stats(&ident).await?);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                print!("{}", cli::render_tables(&stats));
            }
        }
        Command::Snapshots { table } => {
            let snaps = lake.snapshots(&lake::ident(&table)?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&snaps)?);
            } else {
                print!("{}", cli::render_snapshots(&snaps));
            }
        }
        Command::Rollback { table, to } => {
            let location = lake.rollback(&lake::ident(&table)?, to).await?;
            let out = serde_json::json!({"table": table, "current_snapshot_id": to, "metadata_location": location});
            println!("{out}");
        }
        Command::ExpireSnapshots {
            table,
            older_than,
            retain_last,
        } => {
            let cutoff = cli::parse_cutoff(&older_than)?;
            let targets = targets(lake, table).await?;
            let mut outcomes = Vec::new();
            for ident in targets {
                outcomes.push(lake.expire_snapshots(&ident, cutoff, retain_last).await?);
            }
            print_outcomes(json, &outcomes, |o| {
                format!(
                    "{:<45} expired {:>4} snapshots, deleted {:>5} data files, {:>4} manifests, {:>4} manifest lists",
                    o.table,
                    o.expired_snapshots,
                    o.deleted_data_files,
                    o.deleted_manifests,
                    o.deleted_manifest_lists
                )
            })?;
        }
        Command::RemoveOrphanFiles {
            table,
            older_than,
            dry_run,
        } => {
            let cutoff = cli::parse_cutoff(&older_than)?;
            let age = (chrono::Utc::now().timestamp_millis() - cutoff).max(0) as u64;
            let targets = targets(lake, table).await?;
            let mut outcomes = Vec::new();
            for ident in targets {
                outcomes.push(
                    lake.remove_orphan_files(
                        &ident,
                        std::time::Duration::from_millis(age),
                        dry_run,
                    )
                    .await?,
                );
            }
            print_outcomes(json, &outcomes, |o| {
                format!(
                    "{:<45} {:>6} data files, {:>6} referenced, {:>4} orphans{}",
                    o.table,
                    o.data_files_listed,
                    o.referenced,
                    o.orphans.len(),
                    if dry_run { " (dry run)" } else { " deleted" }
                )
            })?;
        }
        Command::RewriteDataFiles {
            table,
            target_size,
            min_input_files,
        } => {
            let opts = lake::RewriteOptions {
                target_size: target_size.as_deref().map(cli::parse_size).transpose()?,
                min_input_files,
            };
            let mut outcomes = Vec::new();
            for ident in targets(lake, table).await? {
                outcomes.push(lake.rewrite_data_files(&ident, &opts).await?);
            }
            print_outcomes(json, &outcomes, |o| {
                format!(
                    "{:<45} {:>4} partitions: {:>6} files → {:>6} ({} rewritten into {})",
                    o.table,
                    o.partitions_rewritten,
                    o.files_before,
                    o.files_after,
                    o.rewritten_files,
                    o.added_files
                )
            })?;
        }
        Command::Sql {
            query,
            snapshots,
            as_of,
        } => {
            let mut at = ReadAt::current();
            if let Some(ts) = as_of {
                at.as_of_ms = Some(job::parse_instant(&ts)?.and_utc().timestamp_millis());
            }
            for s in snapshots {
                let (t, id) = s.split_once('=').context("--snapshot wants TABLE=ID")?;
                at.snapshots.insert(
                    t.to_string(),
                    id.parse().context("snapshot id must be a number")?,
                );
            }
            let batches = lake.sql(&query, &at).await?;
            if json {
                print!("{}", cli::batches_to_json_lines(&batches)?);
            } else {
                println!("{}", arrow::util::pretty::pretty_format_batches(&batches)?);
            }
        }
        Command::Load { .. } | Command::SelfCheck { .. } | Command::ReplayClock { .. } => {
            unreachable!("handled in run")
        }
    }
    Ok(Exit::Ok)
}

/// Per-table outcomes of a maintenance command: a JSON array, or one line each.
fn print_outcomes<T: serde::Serialize>(
    json: bool,
    outcomes: &[T],
    line: impl Fn(&T) -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(outcomes)?);
    } else {
        for o in outcomes {
            println!("{}", line(o));
        }
    }
    Ok(())
}

/// The one table named, or every table.
async fn targets(
    lake: &Lake,
    table: Option<String>,
) -> olistlake::Result<Vec<iceberg::TableIdent>> {
    match table {
        Some(t) => Ok(vec![lake::ident(&t)?]),
        None => lake.list_tables().await,
    }
}

/// The replay clock from Kafka (the driver topic's newest record timestamp).
fn replay_clock(kafka: &KafkaArgs, passed: Option<&str>, json: bool) -> olistlake::Result<Exit> {
    let bootstrap = kafka
        .kafka_bootstrap
        .as_deref()
        .filter(|b| !b.trim().is_empty())
        .ok_or_else(|| {
            Error::Config("--kafka-bootstrap (OLISTLAKE_KAFKA_BOOTSTRAP) is not set".into())
        })?;
    let client = olistlake::kafka::client::KafkaClient::new(bootstrap);
    let newest = client.newest_timestamp(&["order_status"])?;
    let clock = newest.and_then(chrono::DateTime::from_timestamp_millis);
    let target = passed.map(job::parse_instant).transpose()?;
    let reached = match (clock, target) {
        (_, None) => true,
        (Some(c), Some(t)) => c.naive_utc() >= t,
        (None, Some(_)) => false,
    };
    let text = clock.map(|c| c.naive_utc().format("%Y-%m-%dT%H:%M:%S%.3f").to_string());
    if json {
        println!(
            "{}",
            serde_json::json!({"clock": text, "clock_ms": newest, "passed": target.map(|t| t.to_string()), "reached": reached})
        );
    } else {
        println!("{}", text.as_deref().unwrap_or("(no events yet)"));
    }
    Ok(if reached { Exit::Ok } else { Exit::NothingToDo })
}

async fn load(
    lake: &Lake,
    run: &mut JobRun,
    table: &str,
    files: &[PathBuf],
    mode: Mode,
) -> olistlake::Result<Exit> {
    let ident = lake::ident(table)?;
    let batches = cli::read_parquet_files(files)?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let kind = match mode {
        Mode::Append => CommitKind::Append,
        Mode::Overwrite => {
            CommitKind::OverwritePartitions(lake.partitions_of(&ident, &batches).await?)
        }
        Mode::Replace => CommitKind::Replace,
    };
    let mut ctx = run.commit_context();
    ctx.input_rows = Some(rows as u64);
    let outcome = lake.write(&ident, kind, &batches, &ctx).await?;
    run.metric("rows_read", rows as u64);
    run.commits.push(outcome);
    Ok(Exit::Ok)
}
