//! The Airflow DAGs in a real Airflow 3 (its own venv, SQLite metadata database), with the
//! local-binary switch (OLISTLAKE_RUNNER=local) against a real broker (Apache Kafka) and a local lake:
//! DAG integrity and rendered commands, the exit-code mapping, the replay-clock sensor,
//! `airflow dags test` of the pipeline (a second run changes nothing) and a backfill run equal
//! to the daily runs; plus the deployment files: `docker-compose config` and hadolint.

mod common;

use std::process::Command;

use common::airflow::{Airflow, broker_with_fixture, daily_runs_equal_a_backfill, root, venv_bin};
use common::{Backend, LakeEnv, run_ok};
use tempfile::TempDir;

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
    daily_runs_equal_a_backfill(|lake, bootstrap| Airflow::new(lake, bootstrap).migrated()).await;
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
    run_ok(Command::new(venv_bin("hadolint")).arg(root().join("docker/rest-catalog.Dockerfile")));
}
