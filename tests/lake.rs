//! The lake layer against real services: commit kinds, time travel, interop with pyiceberg,
//! on a local warehouse with SQLite and PostgreSQL catalogs and on S3 (s3s-fs).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Date32Array, Decimal128Array, Int64Array, RecordBatch, StringArray,
};
use chrono::NaiveDate;
use common::{Backend, LakeEnv, py_rows};
use iceberg::TableIdent;
use olistlake::lake::{CommitContext, CommitKind, Lake, ReadAt, tables};

fn epoch_days(d: &str) -> i32 {
    (NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap()
        - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
    .num_days() as i32
}

/// Rows of an `ops.self_check`-shaped table: `n` rows for `day`, values tagged with `tag`.
fn rows(day: &str, n: i64, tag: &str) -> RecordBatch {
    let ids: Vec<i64> = (0..n).collect();
    RecordBatch::try_from_iter(vec![
        (
            "day",
            Arc::new(Date32Array::from(vec![epoch_days(day); n as usize])) as ArrayRef,
        ),
        ("id", Arc::new(Int64Array::from(ids.clone()))),
        (
            "value",
            Arc::new(StringArray::from(
                ids.iter()
                    .map(|i| format!("{tag}-{day}#{i}"))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "amount",
            Arc::new(
                Decimal128Array::from(
                    ids.iter()
                        .map(|i| *i as i128 * 101 + 99)
                        .collect::<Vec<_>>(),
                )
                .with_precision_and_scale(18, 2)
                .unwrap(),
            ),
        ),
        ("run_id", Arc::new(StringArray::from(vec![tag; n as usize]))),
    ])
    .unwrap()
}

fn ctx(job: &str) -> CommitContext {
    CommitContext {
        job: job.into(),
        run_id: format!("{job}-run"),
        interval: "test".into(),
        ..Default::default()
    }
}

const T: &str = "ops.self_check";

/// A fresh lake on `backend` with the `ops.self_check` table the commit tests write to.
async fn self_check_lake(backend: Backend) -> (LakeEnv, Lake, TableIdent) {
    let env = LakeEnv::new(backend);
    let lake = env.lake().await;
    lake.ensure_tables(&[&tables::OPS_SELF_CHECK])
        .await
        .unwrap();
    (env, lake, tables::OPS_SELF_CHECK.ident())
}

/// Every row as canonical strings, sorted: the shape the pyiceberg reader prints.
async fn df_rows(lake: &Lake, at: &ReadAt) -> Vec<Vec<Option<String>>> {
    let batches = lake
        .sql(
            &format!("SELECT CAST(day AS VARCHAR), CAST(id AS VARCHAR), value, CAST(amount AS VARCHAR), run_id FROM {T}"),
            at,
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    for b in &batches {
        let cols: Vec<_> = (0..b.num_columns())
            .map(|i| arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Utf8).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            out.push(
                cols.iter()
                    .map(|c| {
                        let s = c.as_any().downcast_ref::<StringArray>().unwrap();
                        (!s.is_null(r)).then(|| s.value(r).to_string())
                    })
                    .collect(),
            );
        }
    }
    out.sort_by_key(|r| serde_json::to_string(r).unwrap());
    out
}

async fn per_partition(lake: &Lake) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for f in lake
        .data_files(&tables::OPS_SELF_CHECK.ident(), None)
        .await
        .unwrap()
    {
        *m.entry(f.partition).or_default() += f.records;
    }
    m
}

fn paths_of(files: &[olistlake::lake::DataFileInfo], partition: &str) -> Vec<String> {
    files
        .iter()
        .filter(|f| f.partition == partition)
        .map(|f| f.path.clone())
        .collect()
}

/// Append, overwrite-partitions and replace on a day-partitioned table: exact counts per
/// partition, untouched partitions keep their files, time travel sees the old content, and
/// pyiceberg reads the same rows after each kind of commit.
async fn commit_kinds(backend: Backend) {
    let (env, lake, id) = self_check_lake(backend).await;

    // append three days
    let c1 = lake
        .write(
            &id,
            CommitKind::Append,
            &[
                rows("2017-11-23", 10, "a"),
                rows("2017-11-24", 20, "a"),
                rows("2017-11-25", 30, "a"),
            ],
            &ctx("append"),
        )
        .await
        .unwrap();
    assert_eq!(
        (c1.kind, c1.added_records, c1.deleted_records),
        ("append", 60, 0)
    );
    let before = lake.data_files(&id, None).await.unwrap();
    assert_eq!(
        per_partition(&lake).await,
        BTreeMap::from([
            ("day=2017-11-23".into(), 10),
            ("day=2017-11-24".into(), 20),
            ("day=2017-11-25".into(), 30)
        ])
    );

    // overwrite one day, and name an extra (empty) day that must simply stay empty
    let new = rows("2017-11-24", 5, "b");
    let mut parts = lake
        .partitions_of(&id, std::slice::from_ref(&new))
        .await
        .unwrap();
    parts.extend(
        lake.partitions_of(&id, &[rows("2017-11-30", 1, "x")])
            .await
            .unwrap(),
    );
    let c2 = lake
        .write(
            &id,
            CommitKind::OverwritePartitions(parts),
            &[new],
            &ctx("overwrite"),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            c2.kind,
            c2.added_records,
            c2.deleted_records,
            c2.deleted_files
        ),
        ("overwrite", 5, 20, 1)
    );
    let after = lake.data_files(&id, None).await.unwrap();
    for untouched in ["day=2017-11-23", "day=2017-11-25"] {
        assert_eq!(
            paths_of(&before, untouched),
            paths_of(&after, untouched),
            "{untouched} files changed"
        );
    }
    assert_ne!(
        paths_of(&before, "day=2017-11-24"),
        paths_of(&after, "day=2017-11-24")
    );
    assert_eq!(
        per_partition(&lake).await,
        BTreeMap::from([
            ("day=2017-11-23".into(), 10),
            ("day=2017-11-24".into(), 5),
            ("day=2017-11-25".into(), 30)
        ])
    );
    let py = env.py(&["rows", T]);
    assert_eq!(
        py_rows(&py["rows"]),
        df_rows(&lake, &ReadAt::current()).await
    );
    assert_eq!(py["count"], 45);

    // time travel to the first snapshot sees the old day
    let old = df_rows(&lake, &ReadAt::snapshot(T, c1.snapshot_id)).await;
    assert_eq!(old.len(), 60);
    assert_eq!(
        old.iter()
            .filter(|r| r[0].as_deref() == Some("2017-11-24"))
            .count(),
        20
    );
    let py_old = env.py(&["rows", T, "--snapshot", &c1.snapshot_id.to_string()]);
    assert_eq!(py_rows(&py_old["rows"]), old);

    // replace the whole table
    let c3 = lake
        .write(
            &id,
            CommitKind::Replace,
            &[rows("2018-01-01", 3, "c")],
            &ctx("replace"),
        )
        .await
        .unwrap();
    assert_eq!((c3.added_records, c3.deleted_records), (3, 45));
    assert_eq!(
        per_partition(&lake).await,
        BTreeMap::from([("day=2018-01-01".into(), 3)])
    );
    let py = env.py(&["rows", T]);
    assert_eq!(py["count"], 3);
    assert_eq!(
        py_rows(&py["rows"]),
        df_rows(&lake, &ReadAt::current()).await
    );

    // summaries carry the job fields and totals; pyiceberg sees the same history
    let snaps = lake.snapshots(&id).await.unwrap();
    assert_eq!(snaps.len(), 3);
    for (s, job) in snaps.iter().zip(["append", "overwrite", "replace"]) {
        assert_eq!(s.summary["olistlake.job"], job);
        assert_eq!(s.summary["olistlake.run-id"], format!("{job}-run"));
        assert_eq!(s.summary["olistlake.interval"], "test");
    }
    assert_eq!(snaps[2].summary["total-records"], "3");
    assert_eq!(snaps[1].summary["total-records"], "45");
    assert_eq!(snaps[1].operation, "overwrite");
    let py_snaps = env.py(&["snapshots", T]);
    assert_eq!(py_snaps["current"], c3.snapshot_id);
    assert_eq!(py_snaps["snapshots"].as_array().unwrap().len(), 3);
    assert_eq!(py_snaps["snapshots"][1]["parent_id"], c1.snapshot_id);

    // rollback to the overwrite, then read it back with both readers
    lake.rollback(&id, c2.snapshot_id).await.unwrap();
    assert_eq!(
        lake.current_snapshot_id(&id).await.unwrap(),
        Some(c2.snapshot_id)
    );
    let py = env.py(&["rows", T]);
    assert_eq!(py["count"], 45);
    assert_eq!(
        py_rows(&py["rows"]),
        df_rows(&lake, &ReadAt::current()).await
    );
}

/// Many commits of alternating kinds: pyiceberg and DataFusion agree at every snapshot, and a
/// pyiceberg overwrite in between is read correctly by ours.
async fn many_commits(backend: Backend, n: usize) {
    let (env, lake, id) = self_check_lake(backend).await;
    let days = ["2017-11-23", "2017-11-24", "2017-11-25", "2017-11-26"];
    for i in 0..n {
        let day = days[i % days.len()];
        let tag = format!("c{i}");
        let batch = rows(day, (i % 7 + 1) as i64, &tag);
        let kind = match i % 5 {
            0 | 3 => CommitKind::Append,
            1 | 4 => CommitKind::OverwritePartitions(
                lake.partitions_of(&id, std::slice::from_ref(&batch))
                    .await
                    .unwrap(),
            ),
            _ => {
                if i % 10 == 2 {
                    CommitKind::Replace
                } else {
                    CommitKind::Append
                }
            }
        };
        lake.write(&id, kind, &[batch], &ctx("many")).await.unwrap();
        if i == n / 2 {
            // pyiceberg's own copy-on-write overwrite of one day, in between ours
            env.py(&["overwrite-day", T, "2017-11-24", "6"]);
            let rows = df_rows(&lake, &ReadAt::current()).await;
            let py_day: Vec<_> = rows
                .iter()
                .filter(|r| r[0].as_deref() == Some("2017-11-24"))
                .collect();
            assert_eq!(py_day.len(), 6, "our reader sees pyiceberg's overwrite");
            assert!(py_day.iter().all(|r| r[4].as_deref() == Some("pyiceberg")));
        }
    }
    let all = env.py(&["all-snapshots", T]);
    let all = all.as_object().unwrap();
    let snaps = lake.snapshots(&id).await.unwrap();
    assert_eq!(all.len(), snaps.len());
    let ours = snaps
        .iter()
        .filter(|s| s.summary.get("olistlake.job").map(String::as_str) == Some("many"))
        .count();
    assert_eq!(ours, n, "every one of our commits is a snapshot");
    // pyiceberg's overwrite is a delete snapshot plus an append snapshot
    assert_eq!(snaps.len(), n + 2);
    for s in &snaps {
        let ours = df_rows(&lake, &ReadAt::snapshot(T, s.snapshot_id)).await;
        let theirs = py_rows(&all[&s.snapshot_id.to_string()]);
        assert_eq!(ours, theirs, "snapshot {} ({})", s.snapshot_id, s.operation);
        let total: usize = s.summary["total-records"].parse().unwrap();
        assert_eq!(total, ours.len(), "total-records of {}", s.snapshot_id);
    }
}

/// An overwrite by file (a row-level change, copy-on-write): the named files go, the new ones
/// come, every other file of the same partition stays; pyiceberg reads what DataFusion reads.
/// A file another commit removed meanwhile fails the commit as a concurrent write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overwrite_by_file_replaces_only_the_files_named() {
    let (env, lake, id) = self_check_lake(Backend::LocalSqlite).await;
    for (n, tag) in [(10, "a"), (20, "b")] {
        lake.write(
            &id,
            CommitKind::Append,
            &[rows("2017-11-23", n, tag)],
            &ctx("append"),
        )
        .await
        .unwrap();
    }
    let before = lake.data_files(&id, None).await.unwrap();
    let (small, big) = (&before[0], &before[1]);
    let (small, big) = if small.records == 10 {
        (small, big)
    } else {
        (big, small)
    };
    let replaced = HashSet::from([small.path.clone()]);
    let c = lake
        .write(
            &id,
            CommitKind::OverwriteFiles(replaced.clone()),
            &[rows("2017-11-23", 3, "c")],
            &ctx("by-file"),
        )
        .await
        .unwrap();
    assert_eq!(
        (c.kind, c.added_records, c.deleted_records, c.deleted_files),
        ("overwrite", 3, 10, 1)
    );
    let after = lake.data_files(&id, None).await.unwrap();
    assert!(after.contains(big), "the file not named was rewritten");
    assert!(!after.iter().any(|f| f.path == small.path));
    assert_eq!(
        per_partition(&lake).await,
        BTreeMap::from([("day=2017-11-23".into(), 23)])
    );
    let py = env.py(&["rows", T]);
    assert_eq!(py["count"], 23);
    assert_eq!(
        py_rows(&py["rows"]),
        df_rows(&lake, &ReadAt::current()).await
    );
    // the same file again: it is gone, so the rows it held were changed by another commit
    let err = lake
        .write(
            &id,
            CommitKind::OverwriteFiles(replaced),
            &[rows("2017-11-23", 1, "d")],
            &ctx("by-file"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, olistlake::error::Error::ConcurrentWrite { .. }),
        "{err}"
    );
    assert_eq!(lake.data_files(&id, None).await.unwrap(), after);
}

/// An interval run asks which partitions its scope touches from the partition columns alone
/// (the table's other columns are not read): those rows pick the partitions, and of the rows
/// to write only those in them are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_partitions_touched_are_picked_from_their_columns_alone() {
    let (_env, lake, id) = self_check_lake(Backend::LocalSqlite).await;
    let sources = lake.partition_sources(&id).await.unwrap();
    assert_eq!(
        sources,
        vec![olistlake::lake::PartitionSource {
            column: "day".into(),
            transform: iceberg::spec::Transform::Identity,
            timestamp: false,
        }]
    );
    let days = |d: &[&str]| {
        RecordBatch::try_from_iter(vec![(
            "day",
            Arc::new(Date32Array::from(
                d.iter().map(|d| epoch_days(d)).collect::<Vec<_>>(),
            )) as ArrayRef,
        )])
        .unwrap()
    };
    let touched = [days(&["2017-11-24", "2017-11-30"]), days(&["2017-11-24"])];
    let written = [
        rows("2017-11-23", 2, "a"),
        rows("2017-11-24", 3, "a"),
        rows("2017-11-25", 4, "a"),
    ];
    let (parts, kept) = lake
        .select_partitions(&id, &touched, &written)
        .await
        .unwrap();
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert_eq!(kept.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    let c = lake
        .write(
            &id,
            CommitKind::OverwritePartitions(parts),
            &kept,
            &ctx("o"),
        )
        .await
        .unwrap();
    assert_eq!((c.added_records, c.deleted_records), (3, 0));
    assert_eq!(
        per_partition(&lake).await,
        BTreeMap::from([("day=2017-11-24".into(), 3)])
    );
    // a column the table does not have is refused, not ignored
    let stray = RecordBatch::try_from_iter(vec![(
        "dia",
        Arc::new(Date32Array::from(vec![0])) as ArrayRef,
    )])
    .unwrap();
    let err = lake
        .select_partitions(&id, &[stray], &written)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown column `dia`"), "{err}");
}

/// A scan tells DataFusion how many rows its files hold, so a semi-join of a table with a few
/// of its keys builds the hash table on the few keys (`RightSemi`) and streams the table past
/// it; without the count it hashed the whole table (as a `key IN (SELECT …)` over the state
/// did, for a day's few hundred keys).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_semi_join_builds_on_its_smaller_side() {
    let (_env, lake, id) = self_check_lake(Backend::LocalSqlite).await;
    for day in ["2017-11-23", "2017-11-24"] {
        lake.write(
            &id,
            CommitKind::Append,
            &[rows(day, 1000, "a")],
            &ctx("append"),
        )
        .await
        .unwrap();
    }
    let sql = format!(
        "SELECT count(*) AS n FROM {T} WHERE value IN \
         (SELECT value FROM {T} WHERE day = DATE '2017-11-24' AND id < 3)"
    );
    let at = ReadAt::current();
    let plan = lake.sql(&format!("EXPLAIN {sql}"), &at).await.unwrap();
    let plan = arrow::util::pretty::pretty_format_batches(&plan)
        .unwrap()
        .to_string();
    assert!(
        plan.contains("mode=CollectLeft, join_type=RightSemi"),
        "the join does not build on its small side:\n{plan}"
    );
    let n = lake.sql(&sql, &at).await.unwrap();
    let n = n[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(n.value(0), 3);
}

/// A file of several row groups over the split size is read as byte ranges, in parallel,
/// and each row exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_file_is_read_in_ranges_each_row_once() {
    let (_env, lake, id) = self_check_lake(Backend::LocalSqlite).await;
    let n = 600_000_i64;
    // values that do not compress, so that one file holds well over 8 MiB
    let noise = |i: i64| {
        let mut x = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    };
    let batch = rows("2017-11-24", n, "big");
    let values: Vec<String> = (0..n)
        .map(|i| format!("{:016x}{:016x}", noise(i), noise(i + n)))
        .collect();
    let mut columns = batch.columns().to_vec();
    columns[2] = Arc::new(StringArray::from(values));
    let batch = RecordBatch::try_new(batch.schema(), columns).unwrap();
    lake.write(&id, CommitKind::Append, &[batch], &ctx("append"))
        .await
        .unwrap();
    let files = lake.data_files(&id, None).await.unwrap();
    assert_eq!(files.len(), 1);
    // row groups of 128 Ki rows
    assert_eq!(common::parquet_metadata(&files[0].path).num_row_groups(), 5);
    assert!(files[0].size_bytes > 8 << 20);

    let at = ReadAt::current();
    let sql =
        format!("SELECT count(*), count(DISTINCT id), sum(id), count(DISTINCT value) FROM {T}");
    let plan = lake.sql(&format!("EXPLAIN {sql}"), &at).await.unwrap();
    let plan = arrow::util::pretty::pretty_format_batches(&plan)
        .unwrap()
        .to_string();
    let ranges = plan
        .split("1 files as ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|r| r.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no scan of one file in:\n{plan}"));
    assert!(ranges > 1, "the file is read as one range:\n{plan}");
    let got = lake.sql(&sql, &at).await.unwrap();
    let got: Vec<i64> = (0..4)
        .map(|c| {
            got[0]
                .column(c)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(0)
        })
        .collect();
    assert_eq!(got, vec![n, n, n * (n - 1) / 2, n]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_kinds_local_sqlite() {
    commit_kinds(Backend::LocalSqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_kinds_local_postgres() {
    commit_kinds(Backend::LocalPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_kinds_s3() {
    commit_kinds(Backend::S3Sqlite).await;
}

/// The same commits published through an Iceberg REST catalog server (`commitTable` with
/// requirements) instead of the SQL catalog's pointer swap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_kinds_rest_catalog() {
    commit_kinds(Backend::LocalRest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_commits_agree_with_pyiceberg_rest_catalog() {
    many_commits(Backend::LocalRest, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_commits_agree_with_pyiceberg_local_sqlite() {
    many_commits(Backend::LocalSqlite, 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_commits_agree_with_pyiceberg_postgres() {
    many_commits(Backend::LocalPostgres, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_commits_agree_with_pyiceberg_s3() {
    many_commits(Backend::S3Sqlite, 20).await;
}

/// Every table of the project is created, and pyiceberg lists and reads each one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_tables_created_and_readable_by_pyiceberg() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    lake.ensure_tables(tables::ALL).await.unwrap();
    lake.ensure_tables(tables::ALL).await.unwrap(); // idempotent
    let listed = env.py(&["tables"]);
    let mut want: Vec<String> = tables::ALL.iter().map(|t| t.qualified()).collect();
    want.sort();
    let got: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want);
    for t in tables::ALL {
        let py = env.py(&["rows", &t.qualified()]);
        let cols: Vec<&str> = py["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let want: Vec<&str> = t.columns.iter().map(|c| c.0).collect();
        assert_eq!(cols, want, "{t}");
    }
}

/// A process parses each metadata file once: a table whose catalog pointer has not moved is
/// served from memory (metadata files are immutable), including the one this process just
/// published; once another writer moves the pointer, the next load reads the new file.
#[tokio::test]
async fn a_table_is_parsed_once_per_metadata_file_and_reread_after_another_writer() {
    let (env, lake, id) = self_check_lake(Backend::LocalSqlite).await;
    let first = lake
        .write(
            &id,
            CommitKind::Append,
            &[rows("2017-11-23", 3, "a")],
            &ctx("append"),
        )
        .await
        .unwrap();
    let path = first
        .metadata_location
        .trim_start_matches("file://")
        .to_string();
    assert!(std::path::Path::new(&path).exists(), "{path}");
    let original = std::fs::read(&path).unwrap();
    // unreadable on disk: only a load that reads the file again can notice
    std::fs::write(&path, b"not metadata").unwrap();
    for _ in 0..2 {
        let table = lake.table(&id).await.unwrap();
        assert_eq!(
            table.metadata_location(),
            Some(first.metadata_location.as_str())
        );
        assert_eq!(
            table.metadata().current_snapshot_id(),
            Some(first.snapshot_id)
        );
    }
    // a new process (a new handle) does read it
    assert!(env.lake().await.table(&id).await.is_err());
    std::fs::write(&path, &original).unwrap();

    // another writer commits: the pointer moves and the first handle sees its snapshot
    let second = env
        .lake()
        .await
        .write(
            &id,
            CommitKind::Append,
            &[rows("2017-11-24", 4, "b")],
            &ctx("append"),
        )
        .await
        .unwrap();
    let table = lake.table(&id).await.unwrap();
    assert_eq!(
        table.metadata().current_snapshot_id(),
        Some(second.snapshot_id)
    );
    assert_eq!(
        per_partition(&lake).await,
        BTreeMap::from([("day=2017-11-23".into(), 3), ("day=2017-11-24".into(), 4)])
    );
}

/// Issue 13 (2): 300 appends to one table; its current snapshot lists fewer than
/// `commit.manifest.min-count-to-merge` (Iceberg's default, 100) plus one manifests, as
/// pyiceberg counts them; pyiceberg and DataFusion read the same rows at the first, a middle
/// and the last snapshot; 101 metadata files are left of the 301 written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_stay_bounded_over_300_commits() {
    let (env, lake, id) = self_check_lake(Backend::LocalSqlite).await;
    // every snapshot kept: the first one is read below
    let lake = lake.with_max_snapshots(0);
    let days = ["2017-11-23", "2017-11-24", "2017-11-25", "2017-11-26"];
    let mut most = 0;
    for i in 0..300 {
        let batch = rows(days[i % days.len()], 2, &format!("c{i}"));
        lake.write(&id, CommitKind::Append, &[batch], &ctx("bounded"))
            .await
            .unwrap();
        if i % 50 == 49 {
            let n = env.py(&["manifests", T]).as_u64().unwrap();
            most = most.max(n);
        }
    }
    let n = env.py(&["manifests", T]).as_u64().unwrap();
    assert!(n <= 101 && most <= 101, "{n} manifests now, {most} at most");
    assert!(n < 300, "manifests were merged");
    let snaps = lake.snapshots(&id).await.unwrap();
    assert_eq!(snaps.len(), 300);
    // the metadata files that fell off the log (the last 100 and the current one stay) were
    // deleted by the commits after them (`write.metadata.delete-after-commit.enabled`)
    let metadata_files = common::files_under(&env.table_dir("ops", "self_check").join("metadata"))
        .iter()
        .filter(|p| p.display().to_string().ends_with(".metadata.json"))
        .count();
    assert_eq!(metadata_files, 101);
    for s in [&snaps[0], &snaps[150], &snaps[299]] {
        let ours = df_rows(&lake, &ReadAt::snapshot(T, s.snapshot_id)).await;
        let py = env.py(&["rows", T, "--snapshot", &s.snapshot_id.to_string()]);
        assert_eq!(ours, py_rows(&py["rows"]), "snapshot {}", s.snapshot_id);
    }
    assert_eq!(df_rows(&lake, &ReadAt::current()).await.len(), 600);
}

/// A lake keeps a table's history bounded (`--max-snapshots`): once a commit leaves more than
/// a quarter over the bound, the oldest snapshots expire, whatever their age, and the files
/// only they referenced are deleted (a file a kept snapshot deleted stays, as in Iceberg). Every kept snapshot reads the same in pyiceberg and
/// DataFusion, and the current content is what the commits made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tables_history_stays_bounded() {
    let (env, lake, id) = self_check_lake(Backend::LocalSqlite).await;
    let lake = lake.with_max_snapshots(8);
    let days = ["2017-11-23", "2017-11-24", "2017-11-25"];
    let (mut counts, mut expected) = (Vec::new(), BTreeMap::new());
    for i in 0..60 {
        let day = days[i % days.len()];
        let batch = rows(day, 2, &format!("c{i}"));
        // every fourth commit overwrites its day: the day's earlier files leave the table
        let overwrite = i % 4 == 3;
        let held = expected.entry(day).or_insert(0);
        *held = if overwrite { 2 } else { *held + 2 };
        let kind = if overwrite {
            CommitKind::OverwritePartitions(
                lake.partitions_of(&id, std::slice::from_ref(&batch))
                    .await
                    .unwrap(),
            )
        } else {
            CommitKind::Append
        };
        lake.write(&id, kind, &[batch], &ctx("bounded"))
            .await
            .unwrap();
        counts.push(lake.snapshots(&id).await.unwrap().len());
    }
    // 8 + a quarter (2) at most; down to 8 on each expiry
    assert_eq!(counts.iter().max(), Some(&10), "{counts:?}");
    assert!(counts[10..].iter().all(|&n| n >= 8), "{counts:?}");
    assert!(counts.windows(2).any(|w| w == [10, 8]), "{counts:?}");

    // every file a kept snapshot holds live is still on disk; files only expired snapshots
    // held are gone (a file a kept snapshot's manifests name as deleted stays, as in Iceberg)
    let snaps = lake.snapshots(&id).await.unwrap();
    let mut live = HashSet::new();
    for s in &snaps {
        for f in lake.data_files(&id, Some(s.snapshot_id)).await.unwrap() {
            live.insert(file_name(&f.path));
        }
    }
    let on_disk: HashSet<String> =
        common::files_under(&env.table_dir("ops", "self_check").join("data"))
            .iter()
            .map(|p| file_name(&p.display().to_string()))
            .collect();
    assert!(on_disk.is_superset(&live));
    assert!(
        on_disk.len() < 60,
        "{} of 60 files written are left",
        on_disk.len()
    );

    // every kept snapshot reads the same both ways; the current one holds the last overwrite
    // of each day and the appends after it
    let py = env.py(&["all-snapshots", T]);
    assert_eq!(py.as_object().unwrap().len(), snaps.len());
    for s in &snaps {
        let ours = df_rows(&lake, &ReadAt::snapshot(T, s.snapshot_id)).await;
        assert_eq!(
            ours,
            py_rows(&py[s.snapshot_id.to_string()]),
            "snapshot {}",
            s.snapshot_id
        );
    }
    assert_eq!(
        df_rows(&lake, &ReadAt::current()).await.len(),
        expected.values().sum::<usize>()
    );
}

fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

static EVOLVING_V1: tables::TableDef = tables::TableDef {
    namespace: "ops",
    name: "evolving",
    columns: &[
        ("k", tables::Col::Str, true),
        ("v", tables::Col::Long, false),
    ],
    partition: &[tables::Part::Identity("k")],
    doc: "a table whose definition gains a column",
};
static EVOLVING_V2: tables::TableDef = tables::TableDef {
    columns: &[
        ("k", tables::Col::Str, true),
        ("v", tables::Col::Long, false),
        ("extra", tables::Col::Str, false),
    ],
    ..EVOLVING_V1
};
static EVOLVING_REQUIRED: tables::TableDef = tables::TableDef {
    columns: &[
        ("k", tables::Col::Str, true),
        ("v", tables::Col::Long, false),
        ("extra", tables::Col::Str, false),
        ("must", tables::Col::Str, true),
    ],
    ..EVOLVING_V1
};

/// A table definition that gains an optional column (as gold.delivered_order_product_bcg
/// gained `segment_all`): the existing table gets the column with a fresh field id on the
/// next `ensure_tables`, old rows read it as null in DataFusion and pyiceberg, new rows carry
/// it; doing it again changes nothing; a new required column is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_definition_gaining_a_column_evolves_the_existing_table() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    let id = EVOLVING_V1.ident();
    let batch = |k: &str, v: i64, extra: Option<&str>| {
        let mut cols: Vec<(&str, ArrayRef)> = vec![
            ("k", Arc::new(StringArray::from(vec![k]))),
            ("v", Arc::new(Int64Array::from(vec![v]))),
        ];
        if let Some(e) = extra {
            cols.push(("extra", Arc::new(StringArray::from(vec![e]))));
        }
        RecordBatch::try_from_iter(cols).unwrap()
    };
    lake.ensure_tables(&[&EVOLVING_V1]).await.unwrap();
    lake.write(&id, CommitKind::Append, &[batch("a", 1, None)], &ctx("v1"))
        .await
        .unwrap();
    let unknown = lake
        .write(
            &id,
            CommitKind::Append,
            &[batch("b", 2, Some("x"))],
            &ctx("v1"),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("unknown column `extra`"), "{unknown}");

    lake.ensure_tables(&[&EVOLVING_V2]).await.unwrap();
    lake.ensure_tables(&[&EVOLVING_V2]).await.unwrap();
    let lake = env.lake().await;
    lake.write(
        &id,
        CommitKind::Append,
        &[batch("b", 2, Some("x"))],
        &ctx("v2"),
    )
    .await
    .unwrap();
    let want = vec![
        vec![Some("a".to_string()), Some("1".to_string()), None],
        vec![Some("b".into()), Some("2".into()), Some("x".into())],
    ];
    let df = common::text_rows(
        &lake
            .sql("SELECT k, v, extra FROM ops.evolving", &ReadAt::current())
            .await
            .unwrap(),
    );
    assert_eq!(df, want);
    let py = env.py(&["rows", "ops.evolving"]);
    assert_eq!(py["columns"], serde_json::json!(["k", "v", "extra"]));
    assert_eq!(py_rows(&py["rows"]), want);
    let schemas = env.py(&["schemas", "ops.evolving"]);
    assert_eq!(
        schemas,
        serde_json::json!([[1, 2], [1, 2, 3]]),
        "field ids per schema: one new schema, the new column after last-column-id"
    );

    let refused = lake
        .ensure_tables(&[&EVOLVING_REQUIRED])
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("required column `must`"), "{refused}");
}

static STATE_WIDE: tables::TableDef = tables::TableDef {
    namespace: "state",
    name: "narrowing",
    columns: &[
        ("k", tables::Col::Str, true),
        ("v", tables::Col::Long, false),
        ("lineage", tables::Col::Str, true),
    ],
    partition: &[],
    doc: "a state table whose definition loses a column",
};
static STATE_NARROW: tables::TableDef = tables::TableDef {
    columns: &[
        ("k", tables::Col::Str, true),
        ("v", tables::Col::Long, false),
    ],
    ..STATE_WIDE
};
static OPS_WIDE: tables::TableDef = tables::TableDef {
    namespace: "ops",
    name: "keeping",
    doc: "a table whose definition loses a column it keeps",
    ..STATE_WIDE
};
static OPS_NARROW: tables::TableDef = tables::TableDef {
    columns: STATE_NARROW.columns,
    ..OPS_WIDE
};

/// A state table (derived from bronze) whose definition lost a column, as the states lost
/// bronze's lineage columns: the next `ensure_tables` drops it from the current schema (the ids
/// left are the old ones), its earlier rows read without it in DataFusion and pyiceberg, and
/// rows without it can be written although it was required. A table of another namespace keeps
/// the column. On the SQL and the REST catalog.
async fn a_state_definition_losing_a_column(backend: Backend) {
    let env = LakeEnv::new(backend);
    let lake = env.lake().await;
    lake.ensure_tables(&[&STATE_WIDE, &OPS_WIDE]).await.unwrap();
    let wide = RecordBatch::try_from_iter([
        ("k", Arc::new(StringArray::from(vec!["a"])) as ArrayRef),
        ("v", Arc::new(Int64Array::from(vec![1]))),
        ("lineage", Arc::new(StringArray::from(vec!["kafka"]))),
    ])
    .unwrap();
    for def in [&STATE_WIDE, &OPS_WIDE] {
        lake.write(
            &def.ident(),
            CommitKind::Append,
            std::slice::from_ref(&wide),
            &ctx("wide"),
        )
        .await
        .unwrap();
    }

    lake.ensure_tables(&[&STATE_NARROW, &OPS_NARROW])
        .await
        .unwrap();
    lake.ensure_tables(&[&STATE_NARROW, &OPS_NARROW])
        .await
        .unwrap();
    let lake = env.lake().await;
    assert_eq!(
        env.py(&["schemas", "state.narrowing"]),
        serde_json::json!([[1, 2, 3], [1, 2]]),
        "one new schema, without the column, the other ids kept"
    );
    assert_eq!(
        env.py(&["schemas", "ops.keeping"]),
        serde_json::json!([[1, 2, 3]])
    );
    let narrow = RecordBatch::try_from_iter([
        ("k", Arc::new(StringArray::from(vec!["b"])) as ArrayRef),
        ("v", Arc::new(Int64Array::from(vec![2]))),
    ])
    .unwrap();
    lake.write(
        &STATE_NARROW.ident(),
        CommitKind::Append,
        &[narrow],
        &ctx("narrow"),
    )
    .await
    .unwrap();
    let want = vec![
        vec![Some("a".to_string()), Some("1".to_string())],
        vec![Some("b".to_string()), Some("2".to_string())],
    ];
    let df = common::text_rows(
        &lake
            .sql(
                "SELECT * FROM state.narrowing ORDER BY k",
                &ReadAt::current(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(df, want);
    let py = env.py(&["rows", "state.narrowing"]);
    assert_eq!(py["columns"], serde_json::json!(["k", "v"]));
    let mut rows = py_rows(&py["rows"]);
    rows.sort();
    assert_eq!(rows, want);
    let kept = env.py(&["rows", "ops.keeping"]);
    assert_eq!(kept["columns"], serde_json::json!(["k", "v", "lineage"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_definition_losing_a_column_drops_it_sql_catalog() {
    a_state_definition_losing_a_column(Backend::LocalSqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_definition_losing_a_column_drops_it_rest_catalog() {
    a_state_definition_losing_a_column(Backend::LocalRest).await;
}

/// A table created before its definition gained a property (the metadata files' deletion
/// after commit) gets it on the next `ensure_tables`; a value another writer set stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_definition_gaining_a_property_sets_it_on_the_existing_table() {
    const KEY: &str = "write.metadata.delete-after-commit.enabled";
    let (env, lake, _) = self_check_lake(Backend::LocalSqlite).await;
    assert_eq!(env.py(&["properties", T])[KEY], "true");
    // as the table was before the definition had it
    let removed = env.py(&["properties", T, "--remove", KEY]);
    assert!(removed.get(KEY).is_none(), "{removed}");
    lake.ensure_tables(&[&tables::OPS_SELF_CHECK])
        .await
        .unwrap();
    let props = env.py(&["properties", T]);
    assert_eq!(props[KEY], "true", "{props}");
    assert_eq!(props["comment"], tables::OPS_SELF_CHECK.doc, "{props}");
    // an operator turned it off: kept off
    env.py(&["properties", T, &format!("{KEY}=false")]);
    lake.ensure_tables(&[&tables::OPS_SELF_CHECK])
        .await
        .unwrap();
    assert_eq!(env.py(&["properties", T])[KEY], "false");
}

/// bronze-load's stream writer: rows are held per partition and a partition's file is written
/// once the stream is past it, one file per partition; a late row for a partition already
/// written goes to a second file; the committed table holds every row once (pyiceberg reads
/// the same rows); an abandoned stream leaves no file behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_writes_one_file_per_partition_as_it_moves_past_them() {
    use iceberg::spec::{Literal, PrimitiveLiteral};
    let before = |day: i32| move |p: &iceberg::spec::Struct| matches!(p.fields(), [Some(Literal::Primitive(PrimitiveLiteral::Int(d)))] if *d < day);
    let (env, lake, ident) = self_check_lake(Backend::LocalSqlite).await;
    let days = ["2017-01-01", "2017-01-02", "2017-01-03", "2017-01-04"];
    let mut w = lake.stream_writer(&ident, &ctx("stream")).await.unwrap();
    for d in days {
        w.write(&rows(d, 3, "a")).unwrap();
        w.write(&rows(d, 2, "b")).unwrap();
        w.close_where(before(epoch_days(d))).await.unwrap();
        assert_eq!(w.open_partitions(), 1, "only {d} is still held");
    }
    w.write(&rows("2017-01-01", 1, "late")).unwrap();
    let files = w.finish().await.unwrap();
    assert_eq!(
        files.len(),
        5,
        "one file per day, and one more for the late row"
    );
    lake.commit_written_if(&ident, CommitKind::Append, files, &ctx("stream"), None)
        .await
        .unwrap();
    assert_eq!(
        per_partition(&lake).await,
        BTreeMap::from([
            ("day=2017-01-01".into(), 6),
            ("day=2017-01-02".into(), 5),
            ("day=2017-01-03".into(), 5),
            ("day=2017-01-04".into(), 5)
        ])
    );
    let py = env.py(&["rows", T]);
    assert_eq!(
        py_rows(&py["rows"]),
        df_rows(&lake, &ReadAt::current()).await
    );
    assert_eq!(py["count"], 21);

    // abandoned after two files were written: they are deleted again
    let mut w = lake.stream_writer(&ident, &ctx("stream")).await.unwrap();
    w.write(&rows("2017-02-01", 3, "gone")).unwrap();
    w.write(&rows("2017-02-02", 3, "gone")).unwrap();
    w.close_where(|_| true).await.unwrap();
    w.write(&rows("2017-02-03", 3, "gone")).unwrap();
    w.abort().await;
    let orphans = lake
        .remove_orphan_files(&ident, std::time::Duration::ZERO, true)
        .await
        .unwrap();
    assert!(orphans.orphans.is_empty(), "{:?}", orphans.orphans);
    assert_eq!(env.py(&["rows", T])["count"], 21);
}
