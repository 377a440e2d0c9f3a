//! Compacted bronze state: what a run reads in place of the whole history.
//!
//! Bronze keeps every CDC copy (a file per topic, month and load), and the transforms need
//! only a few of them (`jobs/state.sql`: the first event of each order status and of each
//! time a delivery was stamped with, the latest copy of each key, the copies where a dimension
//! changed). `state.<topic>` holds exactly those, in one small unpartitioned table per topic,
//! and names in its snapshot summary the bronze snapshot and the rules it was computed from. A
//! run then sees `bronze.<topic>` as
//!
//! ```text
//!   state.<topic>  ∪  the bronze files added after that snapshot (the tail)
//! ```
//!
//! which gives the staging views and scopes the same answers as all of bronze: each rule is a
//! minimum or maximum over a total order, and a copy that is both in the state and in the tail
//! (a compaction rewrote its file) is the same row twice, which no rule counts.
//!
//! silver-build keeps the state: it rebuilds it from all of bronze on `--full-refresh` or when
//! the recorded snapshot is no longer an ancestor of bronze's (a rollback, an expiry), and
//! folds the tail in once it holds more than [`TAIL_FILES_BEFORE_REFRESH`] files or more than
//! an eighth of the state's rows ([`TAIL_ROWS_BEFORE_REFRESH`]). The gold jobs only read
//! it. The state is a function of a bronze snapshot alone, so it can be committed before the
//! run's own tables, and a failed run leaves it valid.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::NaiveDateTime;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use futures::{FutureExt, StreamExt, TryStreamExt};
use iceberg::spec::TableMetadata;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::lake::scanned::{CountedTable, ScanLog};
use crate::lake::{CommitContext, CommitKind, Lake, LakeSession, Pinned, TableDef, tables};
use crate::transform::model;
use crate::transform::runner::first_row_i64;
use iceberg::table::Table;

/// Bronze files a run reads beside the state before silver-build folds them into it: a daily
/// schedule adds one file per topic per day, so the state is rewritten every few weeks and
/// no run reads more than this many bronze files per topic.
pub const TAIL_FILES_BEFORE_REFRESH: usize = 16;

/// The share of the state's rows the tail may add before silver-build folds it in: a catch-up
/// load of months lands few (monthly) files holding many rows, which every later run would
/// otherwise read beside the state.
pub const TAIL_ROWS_BEFORE_REFRESH: (u64, u64) = (1, 8);

/// Whether silver-build folds a tail of `files` files and `rows` rows into a state of
/// `state_rows` rows (see [`TAIL_FILES_BEFORE_REFRESH`], [`TAIL_ROWS_BEFORE_REFRESH`]; a state
/// whose summary lacks its row count, written by another engine, is judged by files alone).
fn tail_needs_folding(files: usize, rows: u64, state_rows: Option<u64>) -> bool {
    let (share, of) = TAIL_ROWS_BEFORE_REFRESH;
    files > TAIL_FILES_BEFORE_REFRESH || state_rows.is_some_and(|s| rows * of > s * share)
}

/// State tables refreshed at once (two cores: one reads while another writes).
const REFRESHES_AT_ONCE: usize = 2;

/// Summary key: the bronze snapshot a state table was computed from.
pub const BRONZE_SNAPSHOT: &str = "olistlake.state.bronze-snapshot-id";
/// Summary key: the newest `ingest_time` among the state's rows (µs), or `none`.
pub const MAX_INGEST: &str = "olistlake.state.max-ingest-us";
/// Summary key: whether some state row has no `ingest_time`.
pub const NULL_INGEST: &str = "olistlake.state.null-ingest";
/// Summary key: the fingerprint of the `state.sql` statement the state was computed with. A
/// state kept by other rules (an older release's) may lack copies the current ones keep, so
/// it serves no run: silver-build rebuilds it from all of bronze, the gold jobs read bronze.
pub const RULES: &str = "olistlake.state.rules";

/// A stable fingerprint of a statement (64-bit FNV-1a of its text, hex): the same in every
/// build, unlike the standard library's hasher.
fn rules_fingerprint(sql: &str) -> String {
    let hash = sql.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

const STATE_SQL: (&str, &str) = (
    "state.sql",
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/jobs/state.sql")),
);

/// What a run may do with the state.
#[derive(Debug, Clone, Copy)]
pub enum StateUse {
    /// silver-build: read it, and refresh it when needed (`full`: rebuild from all of bronze).
    Keep { full: bool },
    /// The gold jobs: read it when it is valid for the run. `known_before`: the run sees only
    /// copies ingested before this time (the delivery monitor); `None` inside: it sees all.
    Read { known_before: Option<NaiveDateTime> },
    /// Read all of bronze (the monitor without an end whose clock bronze's file statistics
    /// cannot give: it is then read from the rows).
    Bypass,
}

/// How a run saw one topic, for the run summary (`metrics.state`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TopicState {
    /// `bronze` (all of it), `state` (the state plus the tail) or `refreshed` (the state was
    /// rewritten by this run, and read from memory).
    pub read: &'static str,
    /// Bronze files read beside the state.
    pub tail_files: usize,
    /// Rows of the state as written (refreshed only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<usize>,
    #[serde(skip)]
    pub snapshot_id: Option<i64>,
}

/// What a state table's current snapshot says about itself.
#[derive(Debug, Clone, Copy)]
struct Recorded {
    bronze_snapshot: i64,
    max_ingest_us: Option<i64>,
    null_ingest: bool,
}

impl Recorded {
    /// What the snapshot records, if it is a state computed by `rules` (a fingerprint).
    fn of(md: &TableMetadata, snapshot_id: i64, rules: &str) -> Option<Recorded> {
        let props = &md
            .snapshot_by_id(snapshot_id)?
            .summary()
            .additional_properties;
        if props.get(RULES).map(String::as_str) != Some(rules) {
            return None;
        }
        Some(Recorded {
            bronze_snapshot: props.get(BRONZE_SNAPSHOT)?.parse().ok()?,
            max_ingest_us: props.get(MAX_INGEST).and_then(|v| v.parse().ok()),
            null_ingest: props.get(NULL_INGEST).is_none_or(|v| v != "false"),
        })
    }

    /// Whether the state gives what all of bronze gives to a reader that sees only copies
    /// ingested before `t`: every kept copy is such a copy (each kept copy is the extreme of its
    /// key, so no hidden copy was needed in its place).
    fn complete_before(&self, t: NaiveDateTime) -> bool {
        let t_us = t.and_utc().timestamp_micros();
        !self.null_ingest && self.max_ingest_us.is_none_or(|m| m < t_us)
    }
}

/// Whether `ancestor` is `snapshot` or one of its ancestors in `md`.
fn is_ancestor(md: &TableMetadata, ancestor: i64, snapshot: i64) -> bool {
    crate::lake::ancestry(md, Some(snapshot)).any(|s| s.snapshot_id() == ancestor)
}

/// A state to rewrite: its bronze table, itself, its statement, bronze's pinned snapshot.
type Refresh = (&'static TableDef, &'static TableDef, String, Pinned);

/// One topic of a run, as [`attach`] found it.
struct Topic<'a> {
    bronze: &'static TableDef,
    state: &'static TableDef,
    /// Bronze's snapshot in the session.
    pinned: Pinned,
    table: &'a Table,
    /// Its `state.sql` statement.
    sql: &'a String,
    /// Where the state serves the run: the lookup of its tail, the bronze files (with their
    /// row counts) added since the state's snapshot.
    tail: Option<tokio::task::JoinHandle<Result<HashMap<String, u64>>>>,
}

/// Registers every `bronze.<topic>` of the session as the state plus the tail where the state
/// serves the run, refreshing it first when `how` allows; returns how each topic was read.
pub async fn attach(
    lake: &Lake,
    session: &LakeSession,
    how: StateUse,
    commit: &CommitContext,
) -> Result<BTreeMap<String, TopicState>> {
    let LakeSession {
        ctx,
        pinned,
        scans,
        tables: loaded,
    } = session;
    let mut out = BTreeMap::new();
    if matches!(how, StateUse::Bypass) {
        return Ok(out);
    }
    let statements: BTreeMap<String, String> =
        model::named_statements(STATE_SQL.1).into_iter().collect();
    let mut refreshes: Vec<Refresh> = Vec::new();
    let full = matches!(how, StateUse::Keep { full: true });
    let table = |def: &TableDef| {
        loaded
            .get(&def.qualified())
            .ok_or_else(|| Error::Catalog(format!("{def} is not in the session")))
    };
    let mut topics = Vec::new();
    for (bronze, state) in tables::TOPICS {
        // An empty bronze table has nothing to compact: its scans read no file.
        let Some(b) = pinned.get(&bronze.qualified()) else {
            continue;
        };
        let bronze_table = table(bronze)?;
        let sql = statements
            .get(bronze.name)
            .ok_or_else(|| Error::Model(format!("state.sql: no statement for {}", bronze.name)))?;
        let recorded = match pinned.get(&state.qualified()).filter(|_| !full) {
            Some(p) => Recorded::of(
                table(state)?.metadata(),
                p.snapshot_id,
                &rules_fingerprint(sql),
            )
            .filter(|r| is_ancestor(bronze_table.metadata(), r.bronze_snapshot, b.snapshot_id)),
            None => None,
        };
        let serves = match (how, recorded) {
            (_, None) | (StateUse::Bypass, _) => false,
            (StateUse::Keep { .. }, Some(_)) => true,
            (StateUse::Read { known_before }, Some(r)) => {
                known_before.is_none_or(|t| r.complete_before(t))
            }
        };
        // The tail is found by reading the manifests bronze added since the state: parsing
        // them is most of a run's set-up once a tail holds a few days of loads, so every
        // topic's lookup starts here, on its own task, and they run side by side.
        let tail = recorded.filter(|_| serves).map(|r| {
            let (bronze_table, snapshot) = (bronze_table.clone(), b.snapshot_id);
            tokio::spawn(async move {
                Lake::files_added_since(&bronze_table, r.bronze_snapshot, snapshot).await
            })
        });
        topics.push(Topic {
            bronze,
            state,
            pinned: *b,
            table: bronze_table,
            sql,
            tail,
        });
    }
    for topic in topics {
        let Topic {
            bronze,
            state,
            pinned: b,
            table: bronze_table,
            sql,
            tail,
        } = topic;
        let serves = tail.is_some();
        let (mut tail_files, mut fold) = (0, false);
        if let Some(lookup) = tail {
            let tail = lookup
                .await
                .map_err(|e| Error::Catalog(format!("finding a state's tail: {e}")))??;
            tail_files = tail.len();
            let state_rows = pinned.get(&state.qualified()).and_then(|p| p.records);
            fold = tail_needs_folding(tail_files, tail.values().sum(), state_rows);
            let tail = tail.into_keys().collect();
            let bronze_table = bronze_table.clone();
            see_state_plus_tail(ctx, bronze, state, bronze_table, b.snapshot_id, tail, scans)
                .await?;
        }
        let refresh = matches!(how, StateUse::Keep { .. }) && (!serves || fold);
        if refresh {
            refreshes.push((bronze, state, sql.clone(), b));
        }
        out.insert(
            bronze.name.to_string(),
            TopicState {
                read: if serves { "state" } else { "bronze" },
                tail_files,
                rows: None,
                snapshot_id: None,
            },
        );
    }
    // The refreshes are independent: run them side by side (each is mostly file reads).
    let jobs: Vec<_> = refreshes
        .into_iter()
        .map(|(bronze, state, sql, b)| {
            async move {
                let (rows, snapshot) =
                    refresh_state(lake, ctx, bronze, state, &sql, &b, commit).await?;
                Ok::<_, Error>((bronze, rows, snapshot))
            }
            .boxed()
        })
        .collect();
    let done: Vec<(&'static TableDef, usize, i64)> = futures::stream::iter(jobs)
        .buffer_unordered(REFRESHES_AT_ONCE)
        .try_collect()
        .await?;
    for (bronze, rows, snapshot) in done {
        if let Some(t) = out.get_mut(bronze.name) {
            t.read = "refreshed";
            t.rows = Some(rows);
            t.snapshot_id = Some(snapshot);
        }
    }
    Ok(out)
}

/// Re-registers `bronze.<topic>` as `state.<topic> UNION ALL` the bronze files added after
/// the state's snapshot, both in the state's columns: the bronze lineage columns, which no
/// transform reads, are not in the state (and a state table written before they were left
/// out still has them until the first job that loads it brings its schema to the definition).
async fn see_state_plus_tail(
    ctx: &SessionContext,
    bronze: &TableDef,
    state: &TableDef,
    bronze_table: Table,
    bronze_snapshot: i64,
    tail: HashSet<String>,
    scans: &ScanLog,
) -> Result<()> {
    let name = bronze.qualified();
    let columns = state.column_list();
    let view = if tail.is_empty() {
        ctx.sql(&format!("SELECT {columns} FROM {}", state.qualified()))
            .await?
            .into_view()
    } else {
        let provider = CountedTable::new(
            bronze_table,
            Some(bronze_snapshot),
            name.clone(),
            scans.clone(),
        )
        .await?
        .only_files(tail);
        let tail_name = format!("_tail_{}", bronze.name);
        ctx.deregister_table(&tail_name)?;
        ctx.register_table(&tail_name, Arc::new(provider))?;
        ctx.sql(&format!(
            "SELECT {columns} FROM {} UNION ALL SELECT {columns} FROM {tail_name}",
            state.qualified()
        ))
        .await?
        .into_view()
    };
    ctx.deregister_table(&name)?;
    ctx.register_table(&name, view)?;
    Ok(())
}

/// Computes the state of one topic from `bronze.<topic>` as registered, commits it, and
/// registers the new rows as `bronze.<topic>` for the rest of the run.
async fn refresh_state(
    lake: &Lake,
    ctx: &SessionContext,
    bronze: &TableDef,
    state: &TableDef,
    sql: &str,
    bronze_pin: &Pinned,
    commit: &CommitContext,
) -> Result<(usize, i64)> {
    let started = std::time::Instant::now();
    let query = format!("SELECT {} FROM ({sql})", state.column_list());
    let df = ctx.sql(&query).await.map_err(|source| Error::ModelQuery {
        file: STATE_SQL.0.to_string(),
        source,
    })?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.map_err(|source| Error::ModelQuery {
        file: STATE_SQL.0.to_string(),
        source,
    })?;
    let rows = batches.iter().map(|b| b.num_rows()).sum();
    let computed = started.elapsed().as_secs_f64();
    let name = bronze.qualified();
    ctx.deregister_table(&name)?;
    // two partitions: the models read it on both cores
    let mut halves = vec![Vec::new(), Vec::new()];
    for (i, b) in batches.iter().enumerate() {
        halves[i % 2].push(b.clone());
    }
    ctx.register_table(&name, Arc::new(MemTable::try_new(schema, halves)?))?;

    let figures = ctx
        .sql(&format!(
            "SELECT CAST(max(ingest_time) AS BIGINT) AS newest, \
                    count(*) FILTER (WHERE ingest_time IS NULL) AS no_time FROM {name}"
        ))
        .await?
        .collect()
        .await?;
    let newest = first_row_i64(&figures, 0);
    let no_time = first_row_i64(&figures, 1).unwrap_or(0);

    let mut context = commit.clone();
    context.input_snapshots = BTreeMap::from([(name.clone(), bronze_pin.snapshot_id)]);
    context.input_rows = bronze_pin.records;
    context.extra = BTreeMap::from([
        (BRONZE_SNAPSHOT.into(), bronze_pin.snapshot_id.to_string()),
        (
            MAX_INGEST.into(),
            newest.map_or_else(|| "none".into(), |v| v.to_string()),
        ),
        (NULL_INGEST.into(), (no_time > 0).to_string()),
        (RULES.into(), rules_fingerprint(sql)),
    ]);
    let outcome = lake
        .write(&state.ident(), CommitKind::Replace, &batches, &context)
        .await?;
    tracing::info!(
        "{}: state refreshed, {rows} rows ({computed:.2} s computing, {:.2} s writing)",
        state.qualified(),
        started.elapsed().as_secs_f64() - computed
    );
    Ok((rows, outcome.snapshot_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_is_folded_in_past_sixteen_files_or_an_eighth_of_the_states_rows() {
        // a daily schedule: one small file a day, folded on the seventeenth
        assert!(!tail_needs_folding(16, 16 * 700, Some(365_000)));
        assert!(tail_needs_folding(17, 17 * 700, Some(365_000)));
        // a catch-up of months: few files, many rows
        assert!(!tail_needs_folding(3, 45_000, Some(365_000)));
        assert!(tail_needs_folding(3, 46_000, Some(365_000)));
        // an empty state takes in any tail; an unknown row count leaves the files to decide
        assert!(tail_needs_folding(1, 1, Some(0)));
        assert!(!tail_needs_folding(1, 1_000_000, None));
    }

    #[test]
    fn the_rules_fingerprint_is_stable_and_tells_statements_apart() {
        // FNV-1a's published test vectors: the fingerprint must not change between builds
        assert_eq!(rules_fingerprint(""), "cbf29ce484222325");
        assert_eq!(rules_fingerprint("a"), "af63dc4c8601ec8c");
        let statements = model::named_statements(STATE_SQL.1);
        let prints: HashSet<String> = statements
            .iter()
            .map(|(_, sql)| rules_fingerprint(sql))
            .collect();
        assert_eq!(prints.len(), statements.len());
    }

    #[test]
    fn every_topic_has_a_state_statement() {
        let names: HashSet<String> = model::named_statements(STATE_SQL.1)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        for (bronze, state) in tables::TOPICS {
            assert!(names.contains(bronze.name), "{bronze}");
            assert_eq!(state.name, bronze.name);
        }
        assert_eq!(names.len(), tables::TOPICS.len());
    }

    #[test]
    fn a_state_serves_a_bounded_reader_only_when_all_its_rows_are_older() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        let us = |s: &str| t(s).and_utc().timestamp_micros();
        let r = Recorded {
            bronze_snapshot: 1,
            max_ingest_us: Some(us("2017-11-24 10:00:00")),
            null_ingest: false,
        };
        assert!(r.complete_before(t("2017-11-25 00:00:00")));
        assert!(!r.complete_before(t("2017-11-24 10:00:00")));
        assert!(
            !Recorded {
                null_ingest: true,
                ..r
            }
            .complete_before(t("2018-01-01 00:00:00"))
        );
    }
}
