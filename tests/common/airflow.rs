//! A real Airflow 3 (its own venv, SQLite metadata database) running the project's DAGs, with
//! the jobs either as local binaries (OLISTLAKE_RUNNER=local) or as containers of the image
//! through podman's Docker API (the DockerOperator path).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use olistlake::lake::{Lake, ReadAt};
use serde_json::Value;
use tempfile::TempDir;

use super::containers::Engine;
use super::{Broker, Contents, LakeEnv, run_ok};

pub fn venv_bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("OLISTLAKE_AIRFLOW_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::cache_dir().join("venv-airflow"));
    let p = dir.join("bin").join(name);
    assert!(
        p.exists(),
        "{} missing: run tests/support/setup.sh",
        p.display()
    );
    p
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// An Airflow home whose tasks run the jobs against one lake and one broker.
pub struct Airflow {
    pub home: TempDir,
    env: Vec<(String, String)>,
}

impl Airflow {
    /// Jobs run as the local binaries.
    pub fn new(lake: &LakeEnv, bootstrap: &str) -> Airflow {
        let bin_dir = super::binary("olistlake").parent().unwrap().to_path_buf();
        Airflow::with_runner(
            lake,
            bootstrap,
            &[
                ("OLISTLAKE_RUNNER", "local".into()),
                ("OLISTLAKE_BIN_DIR", bin_dir.display().to_string()),
            ],
        )
    }

    /// Jobs run as containers of `engine`'s image (DockerOperator through its Docker API), on
    /// host networking, with the lake's directory and the schema registry's bind-mounted at
    /// the same paths (made writable for the image's user, uid 10001).
    pub fn in_containers(lake: &LakeEnv, bootstrap: &str, engine: &Engine) -> Airflow {
        let mut mounts = vec![format!("{0}:{0}", lake.dir().display())];
        open_to_all(lake.dir(), 0o777);
        if let Some((_, reg)) = lake
            .env
            .iter()
            .find(|(k, _)| k == "OLISTLAKE_SCHEMA_REGISTRY")
            && let Some(path) = reg.strip_prefix("file:")
        {
            let dir = Path::new(path).parent().unwrap();
            open_to_all(dir, 0o755);
            mounts.push(format!("{0}:{0}:ro", dir.display()));
        }
        Airflow::with_runner(
            lake,
            bootstrap,
            &[
                ("OLISTLAKE_RUNNER", "docker".into()),
                ("OLISTLAKE_IMAGE", engine.image.clone()),
                ("OLISTLAKE_DOCKER_URL", engine.docker_url()),
                ("OLISTLAKE_DOCKER_NETWORK", "host".into()),
                ("OLISTLAKE_DOCKER_MOUNTS", mounts.join(",")),
            ],
        )
    }

    fn with_runner(lake: &LakeEnv, bootstrap: &str, runner: &[(&str, String)]) -> Airflow {
        let home = TempDir::new().unwrap();
        let mut env: Vec<(String, String)> = lake.env.clone();
        for (k, v) in [
            ("AIRFLOW_HOME", home.path().display().to_string()),
            ("AIRFLOW__CORE__LOAD_EXAMPLES", "False".into()),
            (
                "AIRFLOW__CORE__DAGS_FOLDER",
                root().join("dags").display().to_string(),
            ),
            ("OLISTLAKE_KAFKA_BOOTSTRAP", bootstrap.into()),
            ("OLISTLAKE_METRICS_ADDR", String::new()),
            ("OLISTLAKE_SENSOR_POKE_SECONDS", "1".into()),
            // the dashboards' DuckDB views, refreshed by the pipeline's last task
            (
                "OLISTLAKE_REFRESH_VIEWS",
                format!(
                    "{} {}",
                    super::superset_python().display(),
                    root().join("docker/superset/olistlake_views.py").display()
                ),
            ),
            (
                "OLISTLAKE_DUCKDB",
                home.path().join("lake.duckdb").display().to_string(),
            ),
        ]
        .into_iter()
        .chain(runner.iter().map(|(k, v)| (*k, v.clone())))
        {
            env.push((k.to_string(), v));
        }
        Airflow { home, env }
    }

    /// With a migrated metadata database and the DAGs' pools (for `airflow dags test`).
    pub fn migrated(self) -> Airflow {
        self.ok(&["db", "migrate"]);
        for p in ["bronze", "silver", "gold"] {
            self.ok(&["pools", "set", &format!("olistlake_{p}"), "2", p]);
        }
        self
    }

    /// Sets (or replaces) one variable of the environment Airflow and its jobs run with.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// Removes one variable from the environment Airflow and its jobs run with.
    pub fn unset_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    fn cmd(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(self.home.path());
        c
    }

    pub fn ok(&self, args: &[&str]) -> Output {
        run_ok(self.cmd(&venv_bin("airflow")).args(args))
    }

    /// Runs tests/support/airflow_check.py; returns its JSON answer.
    pub fn check(&self, args: &[&str]) -> Value {
        let out = self
            .cmd(&venv_bin("python"))
            .arg(root().join("tests/support/airflow_check.py"))
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().rev().find(|l| l.starts_with('{'));
        let v: Value = last
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| {
                panic!(
                    "airflow_check {args:?}: no JSON\n{stdout}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        assert!(
            out.status.success() && v["ok"] == true,
            "airflow_check {args:?}: {v}"
        );
        v
    }

    /// `airflow dags test DAG DATE [--conf JSON]`, whatever its outcome; returns its output.
    pub fn dags_run(&self, dag: &str, date: &str, conf: Option<&str>) -> String {
        let mut args = vec!["dags", "test", dag, date];
        if let Some(c) = conf {
            args.extend(["--conf", c]);
        }
        let out = self.cmd(&venv_bin("airflow")).args(&args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    /// `airflow dags test DAG DATE [--conf JSON]`; asserts the run succeeded.
    pub fn dags_test(&self, dag: &str, date: &str, conf: Option<&str>) {
        let text = self.dags_run(dag, date, conf);
        assert!(
            text.contains("state=success") && !text.contains("new_state=failed"),
            "{dag} {date}: the run did not succeed or a task failed:\n{}",
            &text[text.floor_char_boundary(text.len().saturating_sub(8000))..]
        );
    }

    /// The task instances of `dag`'s run for the logical date `date` (YYYY-MM-DD), or of its
    /// newest run: task id → {state, tries, xcom (its return value), retry_waits}.
    pub fn task_instances(&self, dag: &str, date: Option<&str>) -> Value {
        let v = self.check(&["runs", dag]);
        let runs = v["runs"].as_array().unwrap();
        let run = match date {
            Some(d) => runs
                .iter()
                .find(|r| r["logical_date"].as_str().is_some_and(|l| l.starts_with(d))),
            None => runs.last(),
        };
        run.unwrap_or_else(|| panic!("no {dag} run for {date:?}: {v}"))["tasks"].clone()
    }
}

fn open_to_all(dir: &Path, mode: u32) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The fixture replayed (all of it, or events before `until`) into a fresh broker. The schema
/// registry (a `file:` one in the prepared dir) is shared by every lake fed from the broker.
pub fn broker_with_fixture(lake: &mut LakeEnv, until: Option<&str>) -> (Broker, TempDir) {
    let broker = Broker::start();
    let prepared = super::prepared_fixture();
    share_registry(lake, &prepared);
    let mut replay = lake.bin("olist-replay");
    replay
        .arg("--prepared")
        .arg(prepared.path())
        .args(["--speed", "max"])
        .env("OLISTLAKE_KAFKA_BOOTSTRAP", &broker.bootstrap)
        .env("OLISTLAKE_METRICS_ADDR", "");
    if let Some(u) = until {
        replay.args(["--until", u]);
    }
    run_ok(&mut replay);
    (broker, prepared)
}

pub fn share_registry(lake: &mut LakeEnv, prepared: &TempDir) {
    let registry = format!("file:{}", prepared.path().join("registry.json").display());
    lake.env
        .push(("OLISTLAKE_SCHEMA_REGISTRY".into(), registry));
}

/// Every bronze, silver and gold table, without the columns that differ between equal loads.
pub async fn contents(lake: &Lake) -> Contents {
    super::lake_contents(
        lake,
        &["bronze", "silver", "gold"],
        &["_loaded_at", "_kafka_partition", "_kafka_offset"],
    )
    .await
}

pub async fn query_count(lake: &Lake, table: &str) -> usize {
    let b = lake
        .sql(&format!("SELECT * FROM {table}"), &ReadAt::current())
        .await
        .unwrap();
    b.iter().map(|b| b.num_rows()).sum()
}

/// The days the pipeline tests run: the intervals 2017-11-23 .. 2017-11-26.
pub const DAYS: [&str; 3] = ["2017-11-24", "2017-11-25", "2017-11-26"];

/// Three daily runs of olist_pipeline, a second run of the last day (which must change no
/// table), then olist_backfill over the same days on a second lake fed by the same broker,
/// which must equal the daily runs table by table. `airflow` makes an Airflow home (migrated)
/// for a lake; returns the daily runs' home for further checks.
pub async fn daily_runs_equal_a_backfill(
    airflow: impl Fn(&LakeEnv, &str) -> Airflow,
) -> (Airflow, LakeEnv) {
    let mut daily = super::LakeEnv::new(super::Backend::LocalSqlite);
    let (broker, prepared) = broker_with_fixture(&mut daily, None);

    let runs = airflow(&daily, &broker.bootstrap);
    for day in DAYS {
        runs.dags_test("olist_pipeline", day, None);
    }
    let lake = daily.lake().await;
    let first = contents(&lake).await;
    assert!(
        runs.home.path().join("lake.duckdb").exists(),
        "refresh_dashboards wrote no DuckDB file"
    );
    for t in [
        "silver.order_timestamp",
        "gold.sale_stats",
        "gold.delivery_monitor",
    ] {
        assert!(!first[t].is_empty(), "{t} is empty after the runs");
    }
    // A second run of the same day changes no table's content.
    runs.dags_test("olist_pipeline", DAYS[2], None);
    let again = contents(&lake).await;
    assert!(first == again, "re-running a day changed a table");

    let mut backfilled = super::LakeEnv::new(super::Backend::LocalSqlite);
    share_registry(&mut backfilled, &prepared);
    let backfill = airflow(&backfilled, &broker.bootstrap);
    backfill.dags_test(
        "olist_backfill",
        DAYS[2],
        Some(
            r#"{"start": "2017-11-23T00:00:00+00:00", "end": "2017-11-26T00:00:00+00:00",
                "full_refresh": false,
                "jobs": ["bronze-load", "silver-build", "gold-bcg", "gold-leadtime"]}"#,
        ),
    );
    let other = contents(&backfilled.lake().await).await;
    let quarantined = query_count(&backfilled.lake().await, "bronze._quarantine").await;
    assert_eq!(quarantined, 0, "messages quarantined in the backfill lake");
    for (t, rows) in &first {
        let only_daily: Vec<_> = rows
            .iter()
            .filter(|r| !other[t].contains(r))
            .take(3)
            .collect();
        let only_backfill: Vec<_> = other[t]
            .iter()
            .filter(|r| !rows.contains(r))
            .take(3)
            .collect();
        assert!(
            &other[t] == rows,
            "{t}: the backfill ({} rows) differs from the daily runs ({} rows)\n daily only: {only_daily:?}\n backfill only: {only_backfill:?}",
            other[t].len(),
            rows.len()
        );
    }
    (runs, daily)
}
