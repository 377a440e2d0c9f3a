//! The `olistlake` binary as separate processes: concurrent writers never lose a commit
//! (SQLite and PostgreSQL catalogs, and racing the iceberg crate's own fast_append), a writer
//! killed between writing files and committing leaves the table at its old snapshot, and bad
//! configuration fails clearly with the right exit code.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Decimal128Array, Int64Array, RecordBatch, StringArray};
use chrono::NaiveDate;
use common::{Backend, LakeEnv, run_ok, summary};
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{Catalog, CatalogBuilder};
use olistlake::lake::{ReadAt, tables};
use parquet::arrow::ArrowWriter;

fn batch(day: &str, n: i64, tag: &str) -> RecordBatch {
    let d = (NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap()
        - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
    .num_days() as i32;
    let ids: Vec<i64> = (0..n).collect();
    RecordBatch::try_from_iter(vec![
        (
            "day",
            Arc::new(Date32Array::from(vec![d; n as usize])) as ArrayRef,
        ),
        ("id", Arc::new(Int64Array::from(ids.clone()))),
        (
            "value",
            Arc::new(StringArray::from(
                ids.iter().map(|i| format!("{tag}#{i}")).collect::<Vec<_>>(),
            )),
        ),
        (
            "amount",
            Arc::new(
                Decimal128Array::from(vec![12345i128; n as usize])
                    .with_precision_and_scale(18, 2)
                    .unwrap(),
            ),
        ),
        ("run_id", Arc::new(StringArray::from(vec![tag; n as usize]))),
    ])
    .unwrap()
}

fn parquet(dir: &Path, name: &str, b: &RecordBatch) -> PathBuf {
    let path = dir.join(format!("{name}.parquet"));
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), b.schema(), None).unwrap();
    w.write(b).unwrap();
    w.close().unwrap();
    path
}

const T: &str = "ops.self_check";

async fn counts(env: &LakeEnv) -> BTreeMap<String, i64> {
    let lake = env.lake().await;
    let b = lake
        .sql(
            &format!("SELECT CAST(day AS VARCHAR) d, COUNT(*) n FROM {T} GROUP BY day"),
            &ReadAt::current(),
        )
        .await
        .unwrap();
    let mut m = BTreeMap::new();
    for b in b {
        let d = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
        let d = d.as_any().downcast_ref::<StringArray>().unwrap();
        let n = arrow::compute::cast(b.column(1), &arrow::datatypes::DataType::Int64).unwrap();
        let n = n.as_any().downcast_ref::<Int64Array>().unwrap();
        for i in 0..b.num_rows() {
            m.insert(d.value(i).to_string(), n.value(i));
        }
    }
    m
}

/// Two writer processes loop over commits to one table at the same time; every commit they
/// report as done is in the table's history and its rows are in the table.
async fn two_writers(backend: Backend) {
    let env = LakeEnv::new(backend);
    run_ok(env.bin("olistlake").arg("init"));
    let a = parquet(env.dir(), "a", &batch("2017-11-23", 10, "a"));
    let b = parquet(env.dir(), "b", &batch("2017-11-24", 7, "b"));
    const N: usize = 12;
    let spawn_loop = |file: PathBuf, mode: &'static str| {
        let cmds: Vec<_> = (0..N)
            .map(|_| {
                let mut c = env.bin("olistlake");
                c.args(["load", T]).arg(&file).args(["--mode", mode]);
                c
            })
            .collect();
        std::thread::spawn(move || {
            let mut attempts = Vec::new();
            for mut c in cmds {
                let out = c.output().unwrap();
                assert!(
                    out.status.success(),
                    "writer failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                attempts.push(summary(&out)["commits"][0]["attempts"].as_u64().unwrap());
            }
            attempts
        })
    };
    let ta = spawn_loop(a, "append");
    let tb = spawn_loop(b, "overwrite");
    let attempts: Vec<u64> = ta
        .join()
        .unwrap()
        .into_iter()
        .chain(tb.join().unwrap())
        .collect();
    let raced = attempts.iter().filter(|a| **a > 1).count();
    eprintln!(
        "{backend:?}: {} commits, {raced} of them rebased after losing a race",
        attempts.len()
    );

    let lake = env.lake().await;
    let snaps = lake
        .snapshots(&tables::OPS_SELF_CHECK.ident())
        .await
        .unwrap();
    assert_eq!(snaps.len(), 2 * N, "a commit was lost");
    // the history is one linear chain
    for w in snaps.windows(2) {
        assert_eq!(w[1].parent_id, Some(w[0].snapshot_id));
        assert_eq!(w[1].sequence_number, w[0].sequence_number + 1);
    }
    assert_eq!(
        counts(&env).await,
        BTreeMap::from([
            ("2017-11-23".to_string(), 10 * N as i64),
            ("2017-11-24".to_string(), 7)
        ])
    );
    let py = env.py(&["rows", T]);
    assert_eq!(py["count"], 10 * N as i64 + 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writer_processes_sqlite() {
    two_writers(Backend::LocalSqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writer_processes_postgres() {
    two_writers(Backend::LocalPostgres).await;
}

/// Through a REST catalog a lost race is the server's 409 on `commitTable`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writer_processes_rest_catalog() {
    two_writers(Backend::LocalRest).await;
}

/// A maintenance command's JSON outcome for the one table it was run on.
fn outcome(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()[0].clone()
}

/// `olistlake remove-orphan-files --table T` with `args`: its outcome.
fn orphans(env: &LakeEnv, args: &[&str]) -> serde_json::Value {
    outcome(&run_ok(
        env.bin("olistlake")
            .args(["--json", "remove-orphan-files", "--table", T])
            .args(args),
    ))
}

/// `olistlake rewrite-data-files`: the small files of a partition become one and every row
/// stays (DataFusion and pyiceberg, now and at every earlier snapshot); a second run has
/// nothing to do; an append made while it runs is kept; an overwrite of the partition it
/// rewrites wins (exit 75, nothing committed, none of its files left behind).
async fn rewrite_data_files(backend: Backend) {
    let env = LakeEnv::new(backend);
    run_ok(env.bin("olistlake").arg("init"));
    let small = parquet(env.dir(), "small", &batch("2017-11-23", 3, "s"));
    let other = parquet(env.dir(), "other", &batch("2017-11-24", 2, "o"));
    let load = |file: &Path, mode: &str| {
        run_ok(
            env.bin("olistlake")
                .args(["load", T])
                .arg(file)
                .args(["--mode", mode]),
        );
    };
    for _ in 0..6 {
        load(&small, "append");
    }
    load(&other, "append");
    load(&other, "append");
    let rewrite = |extra: &[&str]| {
        let mut c = env.bin("olistlake");
        c.args(["rewrite-data-files", "--json", "--table", T])
            .args(extra);
        c
    };
    let before = counts(&env).await;
    let py_before = env.py(&["rows", T]);

    let o = outcome(&run_ok(&mut rewrite(&[])));
    // day 23 has six small files (≥ 5); day 24's two are too few and too small
    assert_eq!(o["partitions_rewritten"], 1, "{o}");
    assert_eq!(
        (o["files_before"].as_u64(), o["files_after"].as_u64()),
        (Some(8), Some(3))
    );
    assert_eq!(o["commit"]["kind"], "rewrite");
    assert_eq!(counts(&env).await, before);
    assert_eq!(env.py(&["rows", T])["rows"], py_before["rows"]);
    let lake = env.lake().await;
    let ident = tables::OPS_SELF_CHECK.ident();
    let snaps = lake.snapshots(&ident).await.unwrap();
    assert_eq!(snaps.last().unwrap().operation, "replace");
    let all = env.py(&["all-snapshots", T]);
    assert_eq!(all.as_object().unwrap().len(), snaps.len());
    assert_eq!(
        all[snaps.last().unwrap().snapshot_id.to_string()],
        py_before["rows"]
    );
    assert_eq!(
        all[snaps[snaps.len() - 2].snapshot_id.to_string()],
        py_before["rows"]
    );

    // nothing left to compact: no commit
    let o = outcome(&run_ok(&mut rewrite(&[])));
    assert_eq!(o["partitions_rewritten"], 0);
    assert!(o.get("commit").is_none());
    assert_eq!(lake.snapshots(&ident).await.unwrap().len(), snaps.len());

    // an append while the rewrite is paused before its commit: both land
    load(&small, "append");
    let child = common::paused_before_commit(
        rewrite(&["--min-input-files", "2"]).stdout(Stdio::piped()),
        3000,
        1,
    );
    load(&small, "append");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(outcome(&out)["partitions_rewritten"], 2, "days 23 and 24");
    let mut expected = before.clone();
    *expected.get_mut("2017-11-23").unwrap() += 6;
    assert_eq!(counts(&env).await, expected);

    // an overwrite of the partition being rewritten: the overwrite wins, the rewrite exits 75
    load(&small, "append");
    let child = common::paused_before_commit(
        rewrite(&["--min-input-files", "2"]).stdout(Stdio::piped()),
        3000,
        1,
    );
    let fresh = parquet(env.dir(), "fresh", &batch("2017-11-23", 4, "w"));
    load(&fresh, "overwrite");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(75), "{out:?}");
    *expected.get_mut("2017-11-23").unwrap() = 4;
    assert_eq!(counts(&env).await, expected);
    let left = orphans(&env, &["--older-than", "0s", "--dry-run"]);
    assert_eq!(left["orphans"], serde_json::json!([]), "{left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrite_data_files_sqlite() {
    rewrite_data_files(Backend::LocalSqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrite_data_files_rest_catalog() {
    rewrite_data_files(Backend::LocalRest).await;
}

/// Our overwrite processes race the iceberg crate's own `fast_append` (through the same
/// catalog): both sides' commits all survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwrite_races_crate_fast_append() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    run_ok(env.bin("olistlake").arg("init"));
    let file = parquet(env.dir(), "ow", &batch("2017-11-24", 5, "ow"));
    const N: usize = 10;
    let cmds: Vec<_> = (0..N)
        .map(|_| {
            let mut c = env.bin("olistlake");
            c.args(["load", T]).arg(&file).args(["--mode", "overwrite"]);
            c
        })
        .collect();
    let writer = std::thread::spawn(move || {
        for mut c in cmds {
            let out = c.output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    });

    // The crate's own writer: its SqlCatalog, its Transaction::fast_append.
    let lake = env.lake().await;
    let catalog = iceberg_catalog_sql::SqlCatalogBuilder::default()
        .with_storage_factory(Arc::new(
            iceberg_storage_opendal::OpenDalResolvingStorageFactory::new(),
        ))
        .load(
            "olistlake",
            HashMap::from([
                (
                    "uri".to_string(),
                    format!(
                        "sqlite://{}?mode=rwc",
                        env.catalog_uri.trim_start_matches("sqlite:")
                    ),
                ),
                ("warehouse".to_string(), format!("file://{}", env.warehouse)),
                ("sql_bind_style".to_string(), "QMark".to_string()),
            ]),
        )
        .await
        .unwrap();
    let ident = tables::OPS_SELF_CHECK.ident();
    let mut appended = 0;
    let mut i = 0;
    while appended < N {
        i += 1;
        let table = catalog.load_table(&ident).await.unwrap();
        let files = olistlake::lake::write::write_data_files(
            &table,
            &[batch("2017-11-23", 3, "fa")],
            &format!("fa-{i}"),
        )
        .await
        .unwrap();
        let tx = Transaction::new(&table);
        let tx = tx.fast_append().add_data_files(files).apply(tx).unwrap();
        match tx.commit(&catalog).await {
            Ok(_) => appended += 1,
            Err(e) if e.retryable() => {
                eprintln!("crate fast_append gave up after its retries: {e}")
            }
            Err(e) => panic!("{e}"),
        }
    }
    writer.join().unwrap();
    let snaps = lake.snapshots(&ident).await.unwrap();
    assert_eq!(snaps.len(), 2 * N);
    assert_eq!(
        counts(&env).await,
        BTreeMap::from([
            ("2017-11-23".to_string(), 3 * N as i64),
            ("2017-11-24".to_string(), 5)
        ])
    );
}

/// kill -9 after the data files are written and before the commit: the table stays readable
/// at its old snapshot with the old rows, a re-run completes, and the orphan cleanup finds
/// and removes the killed writer's file (listing the store through `object_store`).
async fn kill_between_files_and_commit(backend: Backend) {
    let env = LakeEnv::new(backend);
    run_ok(env.bin("olistlake").arg("init"));
    let first = parquet(env.dir(), "first", &batch("2017-11-23", 4, "first"));
    run_ok(env.bin("olistlake").args(["load", T]).arg(&first));
    let lake = env.lake().await;
    let before = lake
        .current_snapshot_id(&tables::OPS_SELF_CHECK.ident())
        .await
        .unwrap();

    let second = parquet(env.dir(), "second", &batch("2017-11-23", 9, "second"));
    let mut child = common::paused_before_commit(
        env.bin("olistlake")
            .args(["load", T])
            .arg(&second)
            .args(["--mode", "overwrite"])
            .stdout(Stdio::null()),
        60_000,
        1,
    );
    // The files exist on disk, unreferenced.
    let table_dir = env.table_dir("ops", "self_check").join("data");
    let parquet_files = common::files_under(&table_dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .count();
    assert_eq!(parquet_files, 2, "old file plus the uncommitted new one");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    assert_eq!(
        lake.current_snapshot_id(&tables::OPS_SELF_CHECK.ident())
            .await
            .unwrap(),
        before
    );
    assert_eq!(
        counts(&env).await,
        BTreeMap::from([("2017-11-23".to_string(), 4)])
    );
    assert_eq!(env.py(&["rows", T])["count"], 4);

    // The killed writer's file is an orphan: a young one is kept, then removed once old.
    let orphans = |args: &[&str]| orphans(&env, args);
    assert_eq!(
        orphans(&["--older-than", "1h"])["orphans"],
        serde_json::json!([])
    );
    let dry = orphans(&["--older-than", "0s", "--dry-run"]);
    assert_eq!(dry["orphans"].as_array().unwrap().len(), 1, "{dry}");
    assert_eq!(dry["deleted"], 0);
    let done = orphans(&["--older-than", "0s"]);
    assert_eq!(done["deleted"], 1, "{done}");
    let left = common::files_under(&table_dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .count();
    assert_eq!(left, 1, "only the committed file remains");
    assert_eq!(env.py(&["rows", T])["count"], 4);

    run_ok(
        env.bin("olistlake")
            .args(["load", T])
            .arg(&second)
            .args(["--mode", "overwrite"]),
    );
    assert_eq!(
        counts(&env).await,
        BTreeMap::from([("2017-11-23".to_string(), 9)])
    );
    // Files of replaced snapshots are still referenced by history: not orphans.
    assert_eq!(orphans(&["--older-than", "0s"])["deleted"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_between_files_and_commit_leaves_old_snapshot() {
    kill_between_files_and_commit(Backend::LocalSqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_between_files_and_commit_leaves_old_snapshot_s3() {
    kill_between_files_and_commit(Backend::S3Sqlite).await;
}

/// The admin CLI end to end: self-check, tables, snapshots, sql, rollback, expire-snapshots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_cli_round_trip() {
    admin_cli(Backend::LocalSqlite).await;
}

/// Rollback and expiry published through a REST catalog (`set-snapshot-ref`,
/// `remove-snapshots` updates).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_cli_round_trip_rest_catalog() {
    admin_cli(Backend::LocalRest).await;
}

async fn admin_cli(backend: Backend) {
    let env = LakeEnv::new(backend);
    let out = run_ok(env.bin("olistlake").arg("self-check"));
    let s = summary(&out);
    assert_eq!(s["status"], "ok");
    assert_eq!(s["exit_code"], 0);
    assert_eq!(s["commits"].as_array().unwrap().len(), 3);
    let run_id = s["run_id"].as_str().unwrap().to_string();
    // re-running is harmless
    run_ok(env.bin("olistlake").arg("self-check"));

    let tables_json: serde_json::Value =
        serde_json::from_slice(&run_ok(env.bin("olistlake").args(["tables", "--json"])).stdout)
            .unwrap();
    let sc = tables_json
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == T)
        .unwrap();
    assert_eq!(sc["rows"], 227);
    assert_eq!(sc["snapshots"], 6);
    let human = String::from_utf8(run_ok(env.bin("olistlake").arg("tables")).stdout).unwrap();
    assert!(
        human.contains("ops.self_check") && human.contains("ops.job_runs"),
        "{human}"
    );

    let snaps: serde_json::Value = serde_json::from_slice(
        &run_ok(env.bin("olistlake").args(["snapshots", T, "--json"])).stdout,
    )
    .unwrap();
    let snaps = snaps.as_array().unwrap();
    assert_eq!(snaps[0]["summary"]["olistlake.run-id"], run_id.as_str());
    let first = snaps[0]["snapshot_id"].as_i64().unwrap();

    // job_runs got one row per commit of each run
    let jr = run_ok(env.bin("olistlake").args([
        "sql",
        "--json",
        "SELECT job, status, table_name FROM ops.job_runs WHERE job = 'self-check'",
    ]));
    assert_eq!(String::from_utf8(jr.stdout).unwrap().lines().count(), 6);

    // rollback and read back
    run_ok(
        env.bin("olistlake")
            .args(["rollback", T, "--to", &first.to_string()]),
    );
    let n = run_ok(env.bin("olistlake").args([
        "sql",
        "--json",
        &format!("SELECT COUNT(*) AS n FROM {T}"),
    ]));
    assert_eq!(String::from_utf8(n.stdout).unwrap().trim(), r#"{"n":430}"#);
    let n = run_ok(env.bin("olistlake").args([
        "sql",
        "--json",
        "--snapshot",
        &format!("{T}={}", snaps[1]["snapshot_id"]),
        &format!("SELECT COUNT(*) AS n FROM {T}"),
    ]));
    assert_eq!(String::from_utf8(n.stdout).unwrap().trim(), r#"{"n":220}"#);

    // expire everything but the current snapshot: files of expired snapshots go, content stays
    let files_before = common::files_under(
        Path::new(&env.warehouse)
            .join("ops/self_check/data")
            .as_path(),
    )
    .len();
    let out = run_ok(env.bin("olistlake").args([
        "expire-snapshots",
        "--table",
        T,
        "--older-than",
        "0s",
        "--retain-last",
        "1",
        "--json",
    ]));
    let exp: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(exp[0]["expired_snapshots"], 5);
    assert!(exp[0]["deleted_data_files"].as_u64().unwrap() > 0);
    let files_after = common::files_under(
        Path::new(&env.warehouse)
            .join("ops/self_check/data")
            .as_path(),
    )
    .len();
    assert_eq!(
        files_before - files_after,
        exp[0]["deleted_data_files"].as_u64().unwrap() as usize
    );
    let n = run_ok(env.bin("olistlake").args([
        "sql",
        "--json",
        &format!("SELECT COUNT(*) AS n FROM {T}"),
    ]));
    assert_eq!(String::from_utf8(n.stdout).unwrap().trim(), r#"{"n":430}"#);
    assert_eq!(env.py(&["rows", T])["count"], 430);
    assert_eq!(
        env.py(&["snapshots", T])["snapshots"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

fn failing(cmd: &mut std::process::Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

/// Bad configuration: a clear message and the right exit code (1 fatal, 75 retryable).
#[test]
fn bad_config_fails_clearly() {
    let env = LakeEnv::new(Backend::LocalSqlite);

    let (code, msg) = failing(
        env.bin("olistlake")
            .args(["tables"])
            .env("OLISTLAKE_CATALOG_URI", "mysql://h/db"),
    );
    assert_eq!(code, 1, "{msg}");
    assert!(msg.contains("unknown catalog scheme `mysql`"), "{msg}");

    let (code, msg) = failing(
        env.bin("olistlake")
            .args(["tables"])
            .env("OLISTLAKE_WAREHOUSE", "s3://lake/w")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY"),
    );
    assert_eq!(code, 1, "{msg}");
    assert!(msg.contains("AWS_ACCESS_KEY_ID"), "{msg}");

    let closed_port = common::ClosedPort::new();
    let closed = closed_port.port;
    let (code, msg) = failing(
        env.bin("olistlake")
            .args(["self-check"])
            .env("OLISTLAKE_WAREHOUSE", "s3://lake/w")
            .env(
                "OLISTLAKE_S3_ENDPOINT",
                format!("http://127.0.0.1:{closed}"),
            )
            .env("AWS_ACCESS_KEY_ID", "k")
            .env("AWS_SECRET_ACCESS_KEY", "s"),
    );
    assert_eq!(code, 75, "{msg}");
    assert!(msg.contains("storage unreachable"), "{msg}");
    assert!(msg.contains("\"status\":\"retryable_error\""), "{msg}");

    let (code, msg) = failing(env.bin("olistlake").args(["tables"]).env(
        "OLISTLAKE_CATALOG_URI",
        format!("postgres://u:secret@127.0.0.1:{closed}/db"),
    ));
    assert_eq!(code, 75, "{msg}");
    assert!(msg.contains("catalog unreachable"), "{msg}");
    assert!(!msg.contains("secret"), "password leaked: {msg}");

    // a REST catalog that does not answer: retryable, and its token never printed
    let (code, msg) = failing(
        env.bin("olistlake")
            .args(["tables"])
            .env(
                "OLISTLAKE_CATALOG_URI",
                format!("http://127.0.0.1:{closed}"),
            )
            .env("OLISTLAKE_CATALOG_TOKEN", "t0ps3cret")
            .env("OLISTLAKE_LOG", "debug"),
    );
    assert_eq!(code, 75, "{msg}");
    assert!(msg.contains("catalog unreachable"), "{msg}");
    assert!(!msg.contains("t0ps3cret"), "token leaked: {msg}");

    let (code, msg) = failing(
        env.bin("olistlake")
            .args(["self-check", "--start", "2017-13-45"]),
    );
    assert_eq!(code, 1, "{msg}");
    assert!(msg.contains("not an ISO 8601"), "{msg}");

    let (code, msg) =
        failing(
            env.bin("olistlake")
                .args(["load", "ops.nope", "/nonexistent.parquet"]),
        );
    assert_eq!(code, 1, "{msg}");
    assert!(msg.contains("/nonexistent.parquet"), "{msg}");
}

/// A real S3 server with wrong credentials: refused, fatal (retrying cannot help).
#[test]
fn wrong_s3_credentials_are_fatal() {
    let env = LakeEnv::new(Backend::S3Sqlite);
    // `init` (a read command such as `tables` stops earlier: the lake has no catalog yet)
    let (code, msg) = failing(
        env.bin("olistlake")
            .args(["init"])
            .env("AWS_SECRET_ACCESS_KEY", "wrong"),
    );
    assert_eq!(code, 1, "{msg}");
    assert!(msg.contains("refused the credentials"), "{msg}");
}

/// The lake options are accepted after the subcommand too; a read command pointed at a lake
/// that does not exist fails (exit 1) without creating a catalog there; a missing table is
/// named once.
#[test]
fn admin_cli_options_after_the_subcommand_and_reads_create_nothing() {
    let dir = tempfile::TempDir::new().unwrap();
    let lake = dir.path().join("lake");
    let olistlake = || {
        let mut c = Command::new(common::binary("olistlake"));
        c.env_remove("OLISTLAKE_WAREHOUSE")
            .env_remove("OLISTLAKE_CATALOG_URI");
        c
    };
    let (code, msg) = failing(olistlake().args(["tables", "--warehouse"]).arg(&lake));
    assert_eq!(code, 1, "{msg}");
    assert!(msg.contains("no catalog at"), "{msg}");
    assert!(!lake.exists(), "a read command created {}", lake.display());

    run_ok(olistlake().args(["init", "--warehouse"]).arg(&lake));
    run_ok(
        olistlake()
            .args(["tables", "--json", "--warehouse"])
            .arg(&lake),
    );
    let (code, msg) = failing(
        olistlake()
            .args(["snapshots", "bronze.nope", "--warehouse"])
            .arg(&lake),
    );
    assert_eq!(code, 1, "{msg}");
    assert_eq!(msg.matches("bronze.nope").count(), 1, "{msg}");
}
