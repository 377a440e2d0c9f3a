//! Apache Spark (PySpark 3.5, local[2], the Iceberg Spark runtime from Maven Central) on the
//! lake the jobs write: it reads every silver and gold table through the JDBC catalog (SQLite,
//! PostgreSQL) and through a REST catalog with exactly the rows DataFusion reads, and its
//! maintenance procedures commit snapshots the next olistlake run builds on with nothing lost.
//! And the transforms written a second time as PySpark jobs compute the same tables.
//! `tests/support/spark.sh install` (run by `tests/run.sh`) provides PySpark and the jars.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::pipeline::{land_fixture, run_all};
use common::{Backend, LakeEnv, text_rows};
use olistlake::lake::{Lake, ReadAt, tables};
use serde_json::Value;

fn spark_sh(arg: &str) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/spark.sh");
    let out = Command::new(script).arg(arg).output().unwrap();
    assert!(out.status.success(), "spark.sh {arg}");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Runs `tests/support/spark_lake.py` on this lake's catalog and parses its JSON answer.
fn spark(env: &LakeEnv, args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/spark_lake.py");
    let kind = if env.catalog_uri.starts_with("http") {
        "rest"
    } else {
        "jdbc"
    };
    let out = Command::new(spark_sh("python"))
        .arg(script)
        .args(["--catalog-type", kind, "--uri", &env.catalog_uri])
        .args(["--warehouse", &env.py_warehouse()])
        .arg("--jars")
        .arg(spark_sh("jars"))
        .args(args)
        .output()
        .expect("run PySpark");
    assert!(
        out.status.success(),
        "spark {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("spark JSON")
}

/// Every silver and gold table's rows as DataFusion reads them, cast to text.
async fn datafusion_rows(lake: &Lake, table: &tables::TableDef) -> Vec<Vec<Option<String>>> {
    let cols: Vec<String> = table
        .columns
        .iter()
        .map(|(c, _, _)| format!("CAST({c} AS VARCHAR)"))
        .collect();
    let q = format!("SELECT {} FROM {}", cols.join(", "), table.qualified());
    let mut rows = text_rows(&lake.sql(&q, &ReadAt::current()).await.unwrap());
    rows.sort();
    rows
}

fn spark_rows(v: &Value) -> Vec<Vec<Option<String>>> {
    let mut rows = common::py_rows(&v["rows"]);
    rows.sort();
    rows
}

fn silver_and_gold() -> Vec<&'static tables::TableDef> {
    tables::ALL
        .iter()
        .filter(|d| d.namespace == "silver" || d.namespace == "gold")
        .copied()
        .collect()
}

/// The fixture's history to 2017-12-01 through the three jobs, then Spark reads every silver
/// and gold table: the same rows as DataFusion, table by table.
async fn spark_reads_what_datafusion_reads(backend: Backend) {
    let env = LakeEnv::new(backend);
    let lake = env.lake().await;
    land_fixture(&env, &lake, None, "2017-12-01").await;
    run_all(&env, &["--end", "2017-11-30"]);
    run_all(&env, &["--start", "2017-11-30", "--end", "2017-12-01"]);
    let defs = silver_and_gold();
    let names: Vec<String> = defs.iter().map(|d| d.qualified()).collect();
    let mut args = vec!["rows"];
    args.extend(names.iter().map(String::as_str));
    let theirs = spark(&env, &args);
    for def in defs {
        let q = def.qualified();
        let ours = datafusion_rows(&lake, def).await;
        assert!(!ours.is_empty(), "{q} is empty");
        assert_eq!(
            ours,
            spark_rows(&theirs[&q]),
            "{q}: Spark and DataFusion differ ({backend:?})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_reads_every_silver_and_gold_table_jdbc_sqlite() {
    spark_reads_what_datafusion_reads(Backend::LocalSqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_reads_every_silver_and_gold_table_jdbc_postgres() {
    spark_reads_what_datafusion_reads(Backend::LocalPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_reads_every_silver_and_gold_table_rest_catalog() {
    spark_reads_what_datafusion_reads(Backend::LocalRest).await;
}

/// Spark's `rewrite_data_files` and `rewrite_manifests` commit `replace` snapshots on two
/// silver tables between two interval runs; the next runs read Spark's snapshots and commit on
/// top of them, and every table ends equal to a lake where Spark never ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn olistlake_commits_after_spark_maintenance_with_nothing_lost() {
    let end = "2017-12-01";
    let build = |env: &LakeEnv, spark_between: bool| {
        run_all(env, &["--end", "2017-11-29"]);
        // a second commit per table: more than one manifest for rewrite_manifests to merge
        run_all(env, &["--start", "2017-11-27", "--end", "2017-11-28"]);
        if spark_between {
            let r = spark(
                env,
                &[
                    "call",
                    "rewrite_data_files",
                    "silver.delivered_order_product",
                ],
            );
            assert!(r["rewritten_data_files_count"].as_u64().unwrap() > 0, "{r}");
            let m = spark(
                env,
                &["call", "rewrite_manifests", "silver.order_timestamp"],
            );
            assert!(m["rewritten_manifests_count"].as_u64().unwrap() > 1, "{m}");
        }
        run_all(env, &["--start", "2017-11-29", "--end", "2017-11-30"]);
        run_all(env, &["--start", "2017-11-30", "--end", end]);
    };

    let (env, lake) = equal_with_and_without_spark(end, build).await;

    for table in ["silver.delivered_order_product", "silver.order_timestamp"] {
        // Spark's replace snapshot is an ancestor of the current one, which is olistlake's
        let snaps = spark(&env, &["snapshots", table]);
        let snaps = snaps.as_array().unwrap();
        let replace = snaps
            .iter()
            .position(|s| s["operation"] == "replace")
            .unwrap_or_else(|| panic!("{table}: no Spark replace snapshot in {snaps:?}"));
        assert!(
            replace + 1 < snaps.len(),
            "{table}: nothing committed after Spark"
        );
        for w in snaps[replace..].windows(2) {
            assert_eq!(
                w[1]["parent_id"], w[0]["snapshot_id"],
                "{table}: history forks"
            );
        }
    }
    // and Spark reads olistlake's commit on top of its own
    let def = tables::ALL
        .iter()
        .find(|d| d.qualified() == "silver.delivered_order_product")
        .unwrap();
    let theirs = spark(&env, &["rows", "silver.delivered_order_product"]);
    assert_eq!(
        datafusion_rows(&lake, def).await,
        spark_rows(&theirs["silver.delivered_order_product"])
    );
}

/// Spark deletes rows of a silver table merge-on-read (position delete files): a file with
/// deletes cannot be rewritten by file (its live rows are known only by reading it), so the
/// next interval run rewrites the partitions it touches from what it read, as before files were
/// replaced one by one. The deleted rows are those of the orders that run recomputes: after it,
/// every table equals a lake where Spark never ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interval_run_rewrites_a_table_with_sparks_row_deletes() {
    let (day, end) = ("2017-11-29", "2017-11-30");
    let build = |env: &LakeEnv, spark_between: bool| {
        run_all(env, &["--end", day]);
        if spark_between {
            let table = "olistlake.silver.order_timestamp";
            let r = spark(
                env,
                &[
                    "sql",
                    &format!(
                        "ALTER TABLE {table} SET TBLPROPERTIES \
                         ('write.delete.mode' = 'merge-on-read')"
                    ),
                    &format!(
                        "DELETE FROM {table} WHERE order_id IN (SELECT order_id FROM \
                         olistlake.bronze.order_status WHERE ingest_time >= TIMESTAMP '{day}' \
                         AND ingest_time < TIMESTAMP '{end}')"
                    ),
                    &format!("SELECT * FROM {table}.delete_files"),
                ],
            );
            assert!(r["rows"][2].as_u64().unwrap() > 0, "no delete file: {r}");
        }
        run_all(env, &["--start", day, "--end", end]);
    };
    equal_with_and_without_spark(end, build).await;
}

/// Two lakes of the fixture landed up to `end` and built by `build`, the second with Spark's
/// step (`true`); every silver and gold table of both must hold the same rows. Returns the
/// lake Spark worked on.
async fn equal_with_and_without_spark(
    end: &str,
    build: impl Fn(&LakeEnv, bool),
) -> (LakeEnv, Lake) {
    let control = LakeEnv::new(Backend::LocalSqlite);
    let control_lake = control.lake().await;
    land_fixture(&control, &control_lake, None, end).await;
    build(&control, false);
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    land_fixture(&env, &lake, None, end).await;
    build(&env, true);
    let ours = common::lake_contents(&lake, &["silver", "gold"], &[]).await;
    let theirs = common::lake_contents(&control_lake, &["silver", "gold"], &[]).await;
    for (table, rows) in &theirs {
        assert_eq!(
            &ours[table], rows,
            "{table}: differs from the lake without Spark"
        );
    }
    (env, lake)
}

/// The transforms written a second time, as PySpark jobs from the specification
/// (`tests/support/spark_jobs.py`: DataFrame code, not the project's SQL), compute every
/// silver and gold table of the fixture's history with exactly the project's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_jobs_written_from_the_spec_compute_the_same_tables() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    let end = "2017-12-01";
    land_fixture(&env, &lake, None, end).await;
    run_all(&env, &["--full-refresh", "--end", end]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/spark_jobs.py");
    let out = Command::new(spark_sh("python"))
        .arg(script)
        .args([
            "--uri",
            &env.catalog_uri,
            "--warehouse",
            &env.py_warehouse(),
        ])
        .args(["--end", end, "--compare", "--jars"])
        .arg(spark_sh("jars"))
        .output()
        .expect("run PySpark");
    assert!(
        out.status.success(),
        "spark_jobs.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).expect("spark_jobs JSON");
    for def in silver_and_gold() {
        let q = def.qualified();
        let rows = result["rows"][&q].as_u64().unwrap_or_default();
        assert!(rows > 0, "{q}: Spark computed no rows: {result}");
        assert_eq!(
            result["compare"][&q],
            serde_json::json!({"only_spark": 0, "only_olistlake": 0}),
            "{q}: Spark's rows differ from the project's ({rows} rows)"
        );
    }
}
