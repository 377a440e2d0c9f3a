//! One container per job, for real: the project's image built with podman (no Docker engine,
//! no registry: `tests/support/podman.sh`) from the binaries this build compiled, and the
//! Airflow DAGs run through DockerOperator against podman's Docker API, on host networking,
//! against a real broker (Apache Kafka) and a lake the containers share by a bind mount.

mod common;

use std::os::unix::fs::MetadataExt;

use common::airflow::{Airflow, DAYS, daily_runs_equal_a_backfill};
use common::containers::{Engine, image, podman};
use common::{Backend, LakeEnv};
use serde_json::Value;

const PROGRAMS: [&str; 8] = [
    "olistlake",
    "olist-synth",
    "olist-prepare",
    "olist-replay",
    "bronze-load",
    "silver-build",
    "gold-bcg",
    "gold-leadtime",
];

#[test]
fn every_program_answers_in_the_image_which_runs_as_10001_and_holds_no_secret() {
    let image = image();
    for program in PROGRAMS {
        let help = podman(&["run", "--rm", image, program, "--help"]);
        assert!(
            help.contains("Usage:"),
            "{program} --help in the image:\n{help}"
        );
    }
    // Without arguments the image prints the admin CLI's help; an unknown job is refused.
    assert!(podman(&["run", "--rm", image]).contains("Usage: olistlake"));
    let refused = std::process::Command::new("podman")
        .args(["run", "--rm", image, "rm", "-rf", "/"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));

    let config: Value = serde_json::from_str(&podman(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config}}",
        image,
    ]))
    .unwrap();
    assert_eq!(config["User"], "10001:10001", "{config}");
    let id = podman(&["run", "--rm", "--entrypoint", "id", image]);
    assert!(
        id.starts_with("uid=10001(olistlake) gid=10001(olistlake)"),
        "{id}"
    );

    // No secret: no credential-like variable, and the files the image adds are the executable,
    // its links and the entrypoint (the home directory holds only the skeleton dotfiles).
    for var in config["Env"].as_array().unwrap() {
        let var = var.as_str().unwrap().to_ascii_uppercase();
        for word in ["SECRET", "PASSWORD", "TOKEN", "ACCESS_KEY", "CREDENTIAL"] {
            assert!(!var.contains(word), "image environment holds {var}");
        }
    }
    let added = podman(&[
        "run",
        "--rm",
        "--user",
        "0",
        "--entrypoint",
        "sh",
        image,
        "-c",
        "ls -A /usr/local/bin /home/olistlake; \
         find / -xdev \\( -name '.env' -o -name 'credentials' -o -name 'id_rsa*' -o -name '*.key' \\) -print",
    ]);
    let mut names: Vec<&str> = added
        .lines()
        .filter(|l| !l.is_empty() && !l.ends_with(':'))
        .collect();
    names.sort_unstable();
    let mut expected: Vec<&str> = PROGRAMS
        .iter()
        .copied()
        .chain([
            "olistlake-multicall",
            "olistlake-entrypoint",
            ".bashrc",
            ".profile",
            ".bash_logout",
        ])
        .collect();
    expected.sort_unstable();
    assert_eq!(
        names, expected,
        "files in /usr/local/bin and the home, and secrets found"
    );

    let size: u64 = podman(&["image", "inspect", "--format", "{{.Size}}", image])
        .trim()
        .parse()
        .unwrap();
    println!("image {image}: {} MB", size / 1_000_000);
}

/// `airflow dags test olist_pipeline` for three days with every job a container; a second run
/// of a day changes nothing; olist_backfill through containers equals the daily runs; each
/// job's summary is its task's XCom.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_and_backfill_run_as_containers_through_docker_operator() {
    let engine = Engine::start();
    let (airflow, lake) = daily_runs_equal_a_backfill(|lake, bootstrap| {
        Airflow::in_containers(lake, bootstrap, &engine).migrated()
    })
    .await;

    let tis = airflow.task_instances("olist_pipeline", Some(DAYS[0]));
    for (task, job) in [
        ("bronze_load", "bronze-load"),
        ("silver_build", "silver-build"),
        ("gold_bcg", "gold-bcg"),
        ("gold_leadtime", "gold-leadtime"),
    ] {
        assert_eq!(tis[task]["state"], "success", "{tis}");
        let summary = &tis[task]["xcom"];
        assert_eq!(
            summary["job"], job,
            "{task}'s XCom is not its summary: {summary}"
        );
        assert_eq!(summary["status"], "ok", "{summary}");
    }
    // The lake was written by the image's user, not by this process.
    let owners: Vec<u32> = common::files_under(&lake.dir().join("warehouse"))
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().uid())
        .collect();
    assert!(
        !owners.is_empty() && owners.iter().all(|&u| u == 10001),
        "file owners {owners:?}"
    );
    // Every container was removed after its task.
    let left = podman(&[
        "ps",
        "-a",
        "--filter",
        &format!("ancestor={}", engine.image),
        "-q",
    ]);
    assert!(left.trim().is_empty(), "containers left behind: {left}");
}

/// The exit-code contract through real containers, each failure made through the job's inputs
/// or configuration: 99 (nothing in the interval) skips the task; 75 (the catalog database
/// refuses connections) is retried with backoff until the retries run out; 1 (a bad flag value)
/// fails at once.
#[test]
fn container_exit_codes_skip_retry_and_fail() {
    let engine = Engine::start();
    let lake = LakeEnv::new(Backend::LocalSqlite);
    let mut airflow = Airflow::in_containers(&lake, "127.0.0.1:9", &engine);
    airflow.set_env("OLISTLAKE_RETRIES", "2");
    airflow.set_env("OLISTLAKE_RETRY_DELAY_SECONDS", "2");
    // no dashboards here: the views refresh has nothing to do
    airflow.unset_env("OLISTLAKE_DUCKDB");
    let mut airflow = airflow.migrated();

    let skipped = backfill_silver_build(&airflow, "2017-01-01", "2017-01-01T00:00:00+00:00");
    assert_eq!(skipped["state"], "skipped", "{skipped}");
    assert_eq!(skipped["tries"], 1, "{skipped}");

    let fatal = backfill_silver_build(&airflow, "2017-01-02", "yesterday");
    assert_eq!(fatal["state"], "failed", "{fatal}");
    assert_eq!(fatal["tries"], 1, "retried a fatal failure: {fatal}");

    airflow.set_env("OLISTLAKE_CATALOG_URI", "postgres://u:p@127.0.0.1:9/none");
    let retried = backfill_silver_build(&airflow, "2017-01-03", "2017-01-01T00:00:00+00:00");
    assert_eq!(retried["state"], "failed", "{retried}");
    assert_eq!(retried["tries"], 3, "not retried twice: {retried}");
    let waits = retried["retry_waits"].as_array().unwrap();
    assert_eq!(waits.len(), 2, "{retried}");
    let (first, second) = (waits[0].as_f64().unwrap(), waits[1].as_f64().unwrap());
    eprintln!("waits between tries: {first} s, {second} s");
    // A 2 s delay doubled per try: about 2 s, then 4-7 s (a fixed delay would give 2 s twice;
    // `airflow dags test` looks for due retries once a second).
    assert!(
        first >= 2.0 && second >= 4.0 && second >= first + 1.5,
        "no backoff between the tries: waits {first} s, {second} s"
    );
}

/// One `olist_backfill` run (logical date `date`) of silver-build alone over
/// [`start`, 2017-01-02); returns its task instance (state, tries, retry waits).
fn backfill_silver_build(airflow: &Airflow, date: &str, start: &str) -> Value {
    let conf = format!(
        r#"{{"start": "{start}", "end": "2017-01-02T00:00:00+00:00", "full_refresh": false,
             "jobs": ["silver-build"]}}"#
    );
    airflow.dags_run("olist_backfill", date, Some(&conf));
    airflow.task_instances("olist_backfill", None)["silver_build"].clone()
}
