//! Plumbing shared by every batch job: the data interval, run ids, logging, progress bars,
//! the one-line JSON summary on stdout, exit codes, and the `ops.job_runs` record.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::{Map, Value};

use futures::future::BoxFuture;

use crate::config::LakeArgs;
use crate::error::{Error, Exit, Result};
use crate::lake::{CommitContext, CommitOutcome, Lake, tables};

/// Flags of every interval-scoped batch job.
#[derive(Args, Debug, Clone, Default)]
pub struct JobArgs {
    /// Start of the data interval, inclusive (ISO 8601 date or datetime; offsets are converted
    /// to UTC). Airflow passes `data_interval_start`.
    #[arg(long, env = "OLISTLAKE_START")]
    pub start: Option<String>,

    /// End of the data interval, exclusive (ISO 8601). Airflow passes `data_interval_end`.
    #[arg(long, env = "OLISTLAKE_END")]
    pub end: Option<String>,

    /// Rebuild everything instead of the partitions the interval touches.
    #[arg(long)]
    pub full_refresh: bool,

    /// Run id recorded in every commit (default: a new UUID v7). Airflow passes its run id.
    #[arg(long, env = "OLISTLAKE_RUN_ID")]
    pub run_id: Option<String>,

    /// Prometheus Pushgateway URL (`http://host:9091`) the run's metrics are pushed to when it
    /// ends (docs/metrics.md). A failed push is logged and does not change the exit code.
    #[arg(long, env = "OLISTLAKE_PUSHGATEWAY")]
    pub pushgateway: Option<String>,
}

/// A half-open data-time interval `[start, end)`; either bound may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Interval {
    pub start: Option<NaiveDateTime>,
    pub end: Option<NaiveDateTime>,
}

impl Interval {
    pub fn parse(start: Option<&str>, end: Option<&str>) -> Result<Self> {
        let start = start.map(parse_instant).transpose()?;
        let end = end.map(parse_instant).transpose()?;
        if let (Some(s), Some(e)) = (start, end)
            && s >= e
        {
            return Err(Error::Config(format!(
                "empty interval: --start {s} is not before --end {e}"
            )));
        }
        Ok(Interval { start, end })
    }

    pub fn contains(&self, t: NaiveDateTime) -> bool {
        self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t < e)
    }

    /// `start/end` as recorded in snapshot summaries (`..` for an open bound).
    pub fn label(&self) -> String {
        let f = |t: Option<NaiveDateTime>| {
            t.map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
                .unwrap_or_else(|| "..".into())
        };
        format!("{}/{}", f(self.start), f(self.end))
    }
}

/// Parses an ISO 8601 date (`2017-11-24`), naive datetime (`2017-11-24T10:00:00`, space or
/// `T`, optional fraction) or datetime with offset (`…+00:00`, `…Z`, converted to UTC).
pub fn parse_instant(s: &str) -> Result<NaiveDateTime> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Ok(dt.with_timezone(&Utc).naive_utc());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(dt);
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%:z"] {
        if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
            return Ok(dt.with_timezone(&Utc).naive_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists"));
    }
    Err(Error::Config(format!(
        "`{s}` is not an ISO 8601 date or datetime (e.g. 2017-11-24 or 2017-11-24T00:00:00+00:00)"
    )))
}

/// Turns transparent huge pages off for this process (Linux; elsewhere a no-op). The
/// allocator asks the kernel for them, and the kernel then zeroes 2 MiB at the first touch of
/// each (and, with its default `defrag=madvise`, compacts memory to find one when the host's
/// memory is fragmented), for a run that touches a few hundred MiB once. Measured on this
/// project's 2-core machine, runs alternating with the build before, seconds apart (as a
/// schedule runs them): a silver-build full refresh at scale 1 took 2.4–4.8 s with them (up
/// to 5 s of CPU in the kernel) and 1.9–2.0 s without; gold-bcg's scheduled day at scale 10
/// 3.5–4.5 s against 2.1–2.2 s. The kernel's own choice of huge pages for other programs is
/// untouched.
pub fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes no pointers; it sets a flag of this process's memory
    // map, which every later page fault reads. A kernel without it returns an error, ignored:
    // the pages are then as before.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Runs a lake program's `main` on a multi-threaded runtime. Before starting it, library
/// backtraces are turned off unless `RUST_LIB_BACKTRACE` asks for them: `RUST_BACKTRACE=1`
/// (common in shells and CI) otherwise makes every error a library creates capture one, and
/// the iceberg crate creates (and drops) an error per data file it reads: ~0.5 s of a full
/// refresh of silver at scale 1. Panics keep their backtraces (they follow `RUST_BACKTRACE`).
/// Avro's name checks are replaced before any manifest is read (`avro_names`), and
/// transparent huge pages are turned off ([`without_huge_pages`]).
pub fn block_on<F: std::future::Future>(main: F) -> F::Output {
    without_huge_pages();
    crate::avro_names::install();
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: no other thread exists yet (the runtime is built below), so nothing reads
        // the environment while it changes.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
        .block_on(main)
}

/// Sends logs to stderr (stdout carries only the JSON summary). `OLISTLAKE_LOG` or `RUST_LOG`
/// set the filter; default `info`.
pub fn init_logging() {
    let filter = std::env::var("OLISTLAKE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// A progress bar drawn only when stderr is a terminal.
pub fn progress(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{msg:>14} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    bar
}

/// The summary line of a tool that is not an interval job (generator, prepare, replay): on
/// success `fields` (a JSON object, which may set its own `status`) after `job`, `status`,
/// `exit_code` and `duration_s`; on failure the error, also on stderr. Returns the exit code.
pub fn tool_summary(job: &str, started: Instant, result: Result<Value>) -> Exit {
    let (exit, mut out) = match result {
        Ok(fields) => {
            let mut out = serde_json::json!({"job": job, "status": "ok", "exit_code": 0});
            if let (Some(o), Value::Object(f)) = (out.as_object_mut(), fields) {
                o.extend(f);
            }
            (Exit::Ok, out)
        }
        Err(e) => {
            eprintln!("error: {e}");
            let out = serde_json::json!({
                "job": job, "status": "failed", "exit_code": e.exit().code(), "error": e.to_string()
            });
            (e.exit(), out)
        }
    };
    out["duration_s"] = started.elapsed().as_secs_f64().into();
    println!("{out}");
    exit
}

/// The JSON object printed as the last stdout line of every job.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub job: String,
    pub run_id: String,
    pub status: &'static str,
    pub exit_code: u8,
    pub interval: Interval,
    pub full_refresh: bool,
    pub duration_s: f64,
    pub commits: Vec<CommitOutcome>,
    pub metrics: Map<String, Value>,
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One job run: collects commits and figures, then reports them.
#[derive(Debug)]
pub struct JobRun {
    pub job: String,
    pub run_id: String,
    pub interval: Interval,
    pub full_refresh: bool,
    pub commits: Vec<CommitOutcome>,
    pub metrics: Map<String, Value>,
    pub warnings: Vec<String>,
    pushgateway: Option<String>,
    started: Instant,
    started_at: DateTime<Utc>,
}

impl JobRun {
    pub fn new(job: &str, args: &JobArgs) -> Result<JobRun> {
        let interval = Interval::parse(args.start.as_deref(), args.end.as_deref())?;
        Ok(JobRun::with_interval(job, args, interval))
    }

    /// A run whose interval could not be parsed: reported (summary line, metrics) with an
    /// open interval, like any failed run.
    pub fn unparsed(job: &str, args: &JobArgs) -> JobRun {
        JobRun::with_interval(job, args, Interval::default())
    }

    fn with_interval(job: &str, args: &JobArgs, interval: Interval) -> JobRun {
        JobRun {
            job: job.to_string(),
            run_id: args
                .run_id
                .clone()
                .filter(|r| !r.trim().is_empty())
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
            interval,
            full_refresh: args.full_refresh,
            commits: Vec::new(),
            metrics: Map::new(),
            warnings: Vec::new(),
            pushgateway: args.pushgateway.clone().filter(|u| !u.trim().is_empty()),
            started: Instant::now(),
            started_at: Utc::now(),
        }
    }

    /// The context every commit of this run carries.
    pub fn commit_context(&self) -> CommitContext {
        CommitContext {
            job: self.job.clone(),
            run_id: self.run_id.clone(),
            interval: if self.full_refresh {
                "full".into()
            } else {
                self.interval.label()
            },
            ..Default::default()
        }
    }

    pub fn metric(&mut self, key: &str, value: impl Into<Value>) {
        self.metrics.insert(key.to_string(), value.into());
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Prints the summary line, records the run in `ops.job_runs` (when a lake is open) and
    /// returns the process exit code.
    pub async fn finish(self, result: Result<Exit>, lake: Option<&Lake>) -> Exit {
        let (exit, error) = match result {
            Ok(exit) => (exit, None),
            Err(e) => {
                tracing::error!("{e}");
                (e.exit(), Some(e.to_string()))
            }
        };
        let status = match exit {
            Exit::Ok => "ok",
            Exit::NothingToDo => "nothing_to_do",
            Exit::Retryable => "retryable_error",
            Exit::Fatal => "failed",
        };
        let summary = RunSummary {
            job: self.job.clone(),
            run_id: self.run_id.clone(),
            status,
            exit_code: exit.code(),
            interval: self.interval,
            full_refresh: self.full_refresh,
            duration_s: self.started.elapsed().as_secs_f64(),
            commits: self.commits.clone(),
            metrics: self.metrics.clone(),
            warnings: self.warnings.clone(),
            error,
        };
        if let Some(lake) = lake
            && let Err(e) = record_run(lake, &self, &summary).await
        {
            tracing::warn!("could not record the run in ops.job_runs: {e}");
        }
        if let Some(gateway) = &self.pushgateway {
            push_metrics(gateway, &summary).await;
        }
        println!(
            "{}",
            serde_json::to_string(&summary).unwrap_or_else(|_| "{}".into())
        );
        exit
    }
}

/// Pushes the run's metrics; a Pushgateway that is down must not fail a job whose data
/// is committed, so errors are logged only.
async fn push_metrics(gateway: &str, summary: &RunSummary) {
    let Ok(value) = serde_json::to_value(summary) else {
        return;
    };
    let finished = Utc::now().timestamp_millis() as f64 / 1000.0;
    for group in crate::metrics::jobs::groups(&value, finished) {
        if let Err(e) = crate::metrics::push(gateway, &group.grouping, group.metrics.render()).await
        {
            tracing::warn!("metrics not pushed: {e}");
        }
    }
}

/// The body of every lake job's `main`: starts the run, opens the lake, runs `body`, prints
/// the summary and records the run. Returns the exit code.
pub async fn run_with_lake<F>(name: &str, args: &JobArgs, lake: &LakeArgs, body: F) -> Exit
where
    F: for<'a> FnOnce(&'a Lake, &'a mut JobRun) -> BoxFuture<'a, Result<Exit>>,
{
    init_logging();
    let mut run = match JobRun::new(name, args) {
        Ok(r) => r,
        // every exit path prints the summary line
        Err(e) => return JobRun::unparsed(name, args).finish(Err(e), None).await,
    };
    let opened = match lake.resolve() {
        Ok(cfg) => Lake::open(&cfg).await,
        Err(e) => Err(e),
    };
    let lake = match opened {
        Ok(l) => l,
        Err(e) => return run.finish(Err(e), None).await,
    };
    let result = body(&lake, &mut run).await;
    run.finish(result, Some(&lake)).await
}

/// Appends the run's rows to `ops.job_runs`: one per table committed, or one for the run.
async fn record_run(lake: &Lake, run: &JobRun, summary: &RunSummary) -> Result<()> {
    use arrow::array::{
        ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
        TimestampMicrosecondArray,
    };
    use std::sync::Arc;

    let def = &tables::OPS_JOB_RUNS;
    lake.ensure_tables(&[def]).await?;
    let rows: Vec<Option<&CommitOutcome>> = if run.commits.is_empty() {
        vec![None]
    } else {
        run.commits.iter().map(Some).collect()
    };
    let n = rows.len();
    let micros = |t: Option<NaiveDateTime>| t.map(|t| t.and_utc().timestamp_micros());
    let finished = Utc::now().timestamp_micros();
    let summary_json = serde_json::to_string(summary).ok();
    let inputs = serde_json::to_string(&run.commit_context().input_snapshots).ok();
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "run_id",
            Arc::new(StringArray::from(vec![run.run_id.as_str(); n])),
        ),
        (
            "job",
            Arc::new(StringArray::from(vec![run.job.as_str(); n])),
        ),
        (
            "interval_start",
            Arc::new(TimestampMicrosecondArray::from(vec![
                micros(
                    run.interval.start
                );
                n
            ])),
        ),
        (
            "interval_end",
            Arc::new(TimestampMicrosecondArray::from(vec![
                micros(
                    run.interval.end
                );
                n
            ])),
        ),
        (
            "full_refresh",
            Arc::new(BooleanArray::from(vec![run.full_refresh; n])),
        ),
        (
            "started_at",
            Arc::new(
                TimestampMicrosecondArray::from(vec![run.started_at.timestamp_micros(); n])
                    .with_timezone("+00:00"),
            ),
        ),
        (
            "finished_at",
            Arc::new(TimestampMicrosecondArray::from(vec![finished; n]).with_timezone("+00:00")),
        ),
        (
            "status",
            Arc::new(StringArray::from(vec![summary.status; n])),
        ),
        (
            "exit_code",
            Arc::new(Int32Array::from(vec![summary.exit_code as i32; n])),
        ),
        (
            "table_name",
            Arc::new(StringArray::from(
                rows.iter()
                    .map(|c| c.map(|c| c.table.as_str()))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "commit_kind",
            Arc::new(StringArray::from(
                rows.iter().map(|c| c.map(|c| c.kind)).collect::<Vec<_>>(),
            )),
        ),
        (
            "snapshot_id",
            Arc::new(Int64Array::from(
                rows.iter()
                    .map(|c| c.map(|c| c.snapshot_id))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "rows_written",
            Arc::new(Int64Array::from(
                rows.iter()
                    .map(|c| c.map(|c| c.added_records as i64))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "input_snapshots",
            Arc::new(StringArray::from(vec![inputs.as_deref(); n])),
        ),
        (
            "summary",
            Arc::new(StringArray::from(vec![summary_json.as_deref(); n])),
        ),
    ];
    let batch = RecordBatch::try_from_iter(columns)?;
    let mut ctx = run.commit_context();
    ctx.job = format!("{}:record", run.job);
    lake.write(
        &def.ident(),
        crate::lake::CommitKind::Append,
        &[batch],
        &ctx,
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_job_process_runs_without_transparent_huge_pages() {
        let thp = || {
            std::fs::read_to_string("/proc/self/status")
                .unwrap()
                .lines()
                .find_map(|l| l.strip_prefix("THP_enabled:").map(|v| v.trim().to_string()))
        };
        let during = block_on(async { thp() });
        // (a kernel before 5.0 does not report it)
        if let Some(during) = during {
            assert_eq!(during, "0");
        }
    }

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn parses_dates_datetimes_and_offsets() {
        assert_eq!(
            parse_instant("2017-11-24").unwrap(),
            dt("2017-11-24 00:00:00")
        );
        assert_eq!(
            parse_instant("2017-11-24T10:30:00").unwrap(),
            dt("2017-11-24 10:30:00")
        );
        assert_eq!(
            parse_instant("2017-11-24 10:30:00").unwrap(),
            dt("2017-11-24 10:30:00")
        );
        assert_eq!(
            parse_instant("2017-11-24T00:00:00+00:00").unwrap(),
            dt("2017-11-24 00:00:00")
        );
        assert_eq!(
            parse_instant("2017-11-24T01:00:00+01:00").unwrap(),
            dt("2017-11-24 00:00:00")
        );
        assert_eq!(
            parse_instant("2017-11-24T00:00:00Z").unwrap(),
            dt("2017-11-24 00:00:00")
        );
        assert_eq!(
            parse_instant("2017-11-24T00:00:00.250").unwrap(),
            dt("2017-11-24 00:00:00") + chrono::Duration::milliseconds(250)
        );
        assert!(parse_instant("24/11/2017").is_err());
        assert!(
            parse_instant("2017-11-24 00:00:00 +00:00").is_err()
                || parse_instant("2017-11-24 00:00:00 +00:00").is_ok()
        );
    }

    #[test]
    fn interval_is_half_open() {
        let i = Interval::parse(Some("2017-11-24"), Some("2017-11-25")).unwrap();
        assert!(i.contains(dt("2017-11-24 00:00:00")));
        assert!(i.contains(dt("2017-11-24 23:59:59")));
        assert!(!i.contains(dt("2017-11-25 00:00:00")));
        assert!(!i.contains(dt("2017-11-23 23:59:59")));
        assert_eq!(i.label(), "2017-11-24T00:00:00/2017-11-25T00:00:00");
        let open = Interval::parse(None, Some("2017-01-01")).unwrap();
        assert!(open.contains(dt("2000-01-01 00:00:00")));
        assert_eq!(open.label(), "../2017-01-01T00:00:00");
    }

    #[test]
    fn empty_or_reversed_interval_is_a_config_error() {
        let e = Interval::parse(Some("2017-11-25"), Some("2017-11-24")).unwrap_err();
        assert_eq!(e.exit(), Exit::Fatal);
        assert!(Interval::parse(Some("2017-11-24"), Some("2017-11-24")).is_err());
    }

    #[test]
    fn run_ids_default_to_fresh_uuids() {
        let a = JobRun::new("x", &JobArgs::default()).unwrap();
        let b = JobRun::new("x", &JobArgs::default()).unwrap();
        assert_ne!(a.run_id, b.run_id);
        let given = JobRun::new(
            "x",
            &JobArgs {
                run_id: Some("manual__1".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(given.run_id, "manual__1");
        assert_eq!(given.commit_context().interval, "../..");
    }
}
