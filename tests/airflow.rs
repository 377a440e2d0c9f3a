//! The Airflow DAGs in a real Airflow 3 (its own venv, SQLite metadata database), with the
//! local-binary switch (OLISTLAKE_RUNNER=local) against a real broker (Apache Kafka) and a local lake:
//! DAG integrity and rendered commands, the exit-code mapping, the replay-clock sensor,
//! `airflow dags test` of the pipeline (a second run changes nothing) and a backfill run equal
//! to the daily runs; plus the deployment files: `docker-compose config` and hadolint.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Backend, Broker, LakeEnv, run_ok};
use olistlake::lake::{Lake, ReadAt};
use serde_json::Value;
use tempfile::TempDir;

fn venv_bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("OLISTLAKE_AIRFLOW_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::cache_dir().join("venv-airflow"));
    let p = dir.join("bin").join(name);
    assert!(
        p.exists(),
        "{} missing: run tests/support/setup.sh",
        p.display()
    );
    p
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// An Airflow home (SQLite metadata database) whose tasks run the local binaries against one
/// lake and one broker.
struct Airflow {
    home: TempDir,
    env: Vec<(String, String)>,
}

impl Airflow {
    /// Jobs run locally against `lake` and the broker at `bootstrap`.
    fn new(lake: &LakeEnv, bootstrap: &str) -> Airflow {
        let home = TempDir::new().unwrap();
        let bin_dir = common::binary("olistlake").parent().unwrap().to_path_buf();
        let mut env: Vec<(String, String)> = lake.env.clone();
        for (k, v) in [
            ("AIRFLOW_HOME", home.path().display().to_string()),
            ("AIRFLOW__CORE__LOAD_EXAMPLES", "False".into()),
            (
                "AIRFLOW__CORE__DAGS_FOLDER",
                root().join("dags").display().to_string(),
            ),
            ("OLISTLAKE_RUNNER", "local".into()),
            ("OLISTLAKE_BIN_DIR", bin_dir.display().to_string()),
            ("OLISTLAKE_KAFKA_BOOTSTRAP", bootstrap.into()),
            ("OLISTLAKE_METRICS_ADDR", String::new()),
            ("OLISTLAKE_SENSOR_POKE_SECONDS", "1".into()),
            // the dashboards' DuckDB views, refreshed by the pipeline's last task
            (
                "OLISTLAKE_REFRESH_VIEWS",
                format!(
                    "{} {}",
                    common::superset_python().display(),
                    root().join("docker/superset/olistlake_views.py").display()
                ),
            ),
            (
                "OLISTLAKE_DUCKDB",
                home.path().join("lake.duckdb").display().to_string(),
            ),
        ] {
            env.push((k.to_string(), v));
        }
        Airflow { home, env }
    }

    /// With a migrated metadata database and the DAGs' pools (for `airflow dags test`).
    fn migrated(lake: &LakeEnv, bootstrap: &str) -> Airflow {
        let a = Airflow::new(lake, bootstrap);
        a.ok(&["db", "migrate"]);
        for p in ["bronze", "silver", "gold"] {
            a.ok(&["pools", "set", &format!("olistlake_{p}"), "2", p]);
        }
        a
    }

    fn cmd(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(self.home.path());
        c
    }

    fn ok(&self, args: &[&str]) -> Output {
        run_ok(self.cmd(&venv_bin("airflow")).args(args))
    }

    /// Runs tests/support/airflow_check.py; returns its JSON answer.
    fn check(&self, args: &[&str]) -> Value {
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

    /// `airflow dags test DAG DATE [--conf JSON]`; asserts the run succeeded.
    fn dags_test(&self, dag: &str, date: &str, conf: Option<&str>) {
        let mut args = vec!["dags", "test", dag, date];
        if let Some(c) = conf {
            args.extend(["--conf", c]);
        }
        let out = self.ok(&args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            text.contains("state=success"),
            "{dag} {date}: the run did not succeed:\n{}",
            &text[text.len().saturating_sub(6000)..]
        );
        assert!(
            !text.contains("new_state=failed"),
            "{dag} {date}: a task failed"
        );
    }
}

/// The fixture replayed (all of it, or events before `until`) into a fresh broker. The schema
/// registry (a `file:` one in the prepared dir) is shared by every lake fed from the broker.
fn broker_with_fixture(lake: &mut LakeEnv, until: Option<&str>) -> (Broker, TempDir) {
    let broker = Broker::start();
    let prepared = common::prepared_fixture();
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

fn share_registry(lake: &mut LakeEnv, prepared: &TempDir) {
    let registry = format!("file:{}", prepared.path().join("registry.json").display());
    lake.env
        .push(("OLISTLAKE_SCHEMA_REGISTRY".into(), registry));
}

/// Every bronze, silver and gold table, without the columns that differ between equal loads.
async fn contents(lake: &Lake) -> common::Contents {
    common::lake_contents(
        lake,
        &["bronze", "silver", "gold"],
        &["_loaded_at", "_kafka_partition", "_kafka_offset"],
    )
    .await
}

async fn query_count(lake: &Lake, table: &str) -> usize {
    let b = lake
        .sql(&format!("SELECT * FROM {table}"), &ReadAt::current())
        .await
        .unwrap();
    b.iter().map(|b| b.num_rows()).sum()
}

#[test]
fn dags_import_with_the_designed_shape() {
    let lake = LakeEnv::new(Backend::LocalSqlite);
    Airflow::new(&lake, "127.0.0.1:9").check(&["integrity"]);
}

#[test]
fn exit_codes_map_to_skip_retry_and_fail() {
    let lake = LakeEnv::new(Backend::LocalSqlite);
    let v = Airflow::new(&lake, "127.0.0.1:9").check(&["exit-codes"]);
    assert_eq!(v["outcomes"]["retryable"], "retryable", "{v}");
}

#[test]
fn sensor_waits_for_the_replay_clock() {
    let mut lake = LakeEnv::new(Backend::LocalSqlite);
    // The replay has reached 2017-06-01 only.
    let (broker, prepared) = broker_with_fixture(&mut lake, Some("2017-06-01T00:00:00"));
    let airflow = Airflow::new(&lake, &broker.bootstrap);
    let early = airflow.check(&["sensor", "2017-05-20T00:00:00+00:00"]);
    assert_eq!(early["done"], true, "{early}");
    let late = airflow.check(&["sensor", "2017-07-01T00:00:00+00:00"]);
    assert_eq!(late["done"], false, "{late}");
    // The replay moves on: the same interval is now done.
    run_ok(
        lake.bin("olist-replay")
            .arg("--prepared")
            .arg(prepared.path())
            .args(["--speed", "max"])
            .env("OLISTLAKE_KAFKA_BOOTSTRAP", &broker.bootstrap)
            .env("OLISTLAKE_METRICS_ADDR", ""),
    );
    let later = airflow.check(&["sensor", "2017-07-01T00:00:00+00:00"]);
    assert_eq!(later["done"], true, "{later}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dags_test_runs_the_pipeline_and_a_backfill_equals_the_daily_runs() {
    let mut daily = LakeEnv::new(Backend::LocalSqlite);
    let (broker, prepared) = broker_with_fixture(&mut daily, None);

    // Three daily runs of olist_pipeline: the intervals 2017-11-23 .. 2017-11-26.
    let airflow = Airflow::migrated(&daily, &broker.bootstrap);
    for day in ["2017-11-24", "2017-11-25", "2017-11-26"] {
        airflow.dags_test("olist_pipeline", day, None);
    }
    let lake = daily.lake().await;
    let first = contents(&lake).await;
    assert!(
        airflow.home.path().join("lake.duckdb").exists(),
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
    airflow.dags_test("olist_pipeline", "2017-11-26", None);
    let again = contents(&lake).await;
    assert!(first == again, "re-running a day changed a table");

    // olist_backfill over the same three days, on a second lake fed by the same broker.
    let mut backfilled = LakeEnv::new(Backend::LocalSqlite);
    share_registry(&mut backfilled, &prepared);
    let airflow_b = Airflow::migrated(&backfilled, &broker.bootstrap);
    airflow_b.dags_test(
        "olist_backfill",
        "2017-11-26",
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
}

/// The image's one executable: each program name runs that program; another name is refused.
#[test]
fn multicall_executable_runs_the_program_it_is_called_as() {
    let dir = TempDir::new().unwrap();
    let multicall = common::binary("olistlake-multicall");
    for (name, about) in [
        ("silver-build", "silver partitions"),
        ("gold-leadtime", "delivery monitor"),
        ("olistlake", "Administer the olistlake"),
        ("olist-synth", "Olist"),
    ] {
        let link = dir.path().join(name);
        std::os::unix::fs::symlink(&multicall, &link).unwrap();
        let out = run_ok(Command::new(&link).arg("--help"));
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains(about), "{name} --help:\n{help}");
    }
    let link = dir.path().join("not-a-job");
    std::os::unix::fs::symlink(&multicall, &link).unwrap();
    let out = Command::new(&link).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("silver-build"));
}

#[test]
fn compose_file_validates_and_dockerfile_lints_clean() {
    // Fill .env.example's blanks with placeholders; compose must accept the result.
    let dir = TempDir::new().unwrap();
    let example = std::fs::read_to_string(root().join(".env.example")).unwrap();
    let filled: String = example
        .lines()
        .map(|l| {
            if l.ends_with('=') && !l.starts_with('#') {
                format!("{l}placeholder")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let env_file = dir.path().join(".env");
    std::fs::write(&env_file, filled).unwrap();
    run_ok(
        Command::new("docker-compose")
            .arg("--env-file")
            .arg(&env_file)
            .arg("-f")
            .arg(root().join("docker/compose.yaml"))
            .args(["config", "-q"]),
    );
    // Without the secrets compose refuses to start (nothing has a default password).
    let missing = Command::new("docker-compose")
        .arg("--env-file")
        .arg(root().join(".env.example"))
        .arg("-f")
        .arg(root().join("docker/compose.yaml"))
        .args(["config", "-q"])
        .output()
        .unwrap();
    assert!(!missing.status.success(), "compose accepted empty secrets");
    run_ok(Command::new(venv_bin("hadolint")).arg(root().join("Dockerfile")));
    run_ok(Command::new(venv_bin("hadolint")).arg(root().join("docker/superset/Dockerfile")));
}
