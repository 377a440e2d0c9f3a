//! Runs a transform job: views, models, scoping, checks, commits (see the module docs).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::compute::{filter_record_batch, is_not_null, is_null};
use arrow::datatypes::{Schema, SchemaRef};
use chrono::NaiveDateTime;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use iceberg::spec::Transform;
use serde::Serialize;
use serde_json::{Map, Value};

use super::functions;
use super::jobs::JobSpec;
use super::model::{self, DROP_REASON, Level, Model, Scope};
use super::state::{self, StateUse};
use crate::error::{Error, Exit, Result};
use crate::job::JobRun;
use crate::lake::consistent::RUN_TABLES;
use crate::lake::scanned::{CountedTable, FILE_COLUMN, PlannedFile};
use crate::lake::{CommitKind, Lake, PartitionSource, Pinned, ReadAt, TableDef, tables};

/// Options of the transform jobs beyond the interval.
#[derive(Debug, Clone)]
pub struct Options {
    /// The BCG category (gold-bcg).
    pub category: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            category: "health_beauty".into(),
        }
    }
}

/// Summary-property key recording the BCG category a table was built for.
pub const CATEGORY_KEY: &str = "olistlake.bcg.category";

/// A run's tables committed at once (two cores).
const COMMITS_AT_ONCE: usize = 2;

/// The outcome of one check on one table.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub table: String,
    pub check: String,
    pub level: Level,
    pub failing_rows: u64,
}

/// One model's result, ready to be checked and committed.
struct Output {
    model: Model,
    kind: Option<CommitKind>,
    rows: Vec<RecordBatch>,
    computed: usize,
    dropped: BTreeMap<String, u64>,
    /// Seconds spent computing the model (the rest of its lap is scoping).
    computed_s: f64,
    /// A restricted run's view of the whole table after its commit (the model's rows merged
    /// into the table's other rows), for the checks and figures that refer to the model.
    complete: Option<(SchemaRef, Vec<RecordBatch>)>,
    /// Whether the rows it writes include rows of the table as the run read it (so its commit
    /// must find the table as it was read).
    keeps_read_rows: bool,
    /// The partitions an interval run's rows touch.
    partitions: usize,
}

/// Wall time per phase of a run, for the summary (benchmarks read it).
#[derive(Default)]
struct Phases {
    last: Option<std::time::Instant>,
    laps: Map<String, Value>,
}

impl Phases {
    fn elapsed(&mut self) -> f64 {
        let now = std::time::Instant::now();
        let secs = self.last.map_or(0.0, |t| (now - t).as_secs_f64());
        self.last = Some(now);
        secs
    }

    fn lap(&mut self, name: &str) {
        let secs = self.elapsed();
        self.laps.insert(name.into(), round_ms(secs));
    }

    fn lap_computed(&mut self, table: &str, computed: f64) {
        let secs = self.elapsed();
        self.laps.insert(
            table.into(),
            serde_json::json!({"compute": round_ms(computed), "scope": round_ms(secs - computed)}),
        );
    }

    fn report(&self) -> Value {
        Value::Object(self.laps.clone())
    }
}

fn round_ms(s: f64) -> Value {
    Value::from((s * 1000.0).round() / 1000.0)
}

/// Runs `spec` for the run's interval (or a full refresh) and commits its tables.
pub async fn run(lake: &Lake, spec: &JobSpec, opts: &Options, run: &mut JobRun) -> Result<Exit> {
    let models = spec.models()?;
    let mut clock = Phases::default();
    clock.elapsed();
    // Every table exists after a run (dashboards and the next jobs can query them), but only
    // the job's own (what it reads and writes) are loaded: each load parses the table's whole
    // metadata file, which lists every snapshot it keeps.
    let own = |qualified: &str| {
        spec.reads(qualified) || models.iter().any(|m| m.table.qualified() == qualified)
    };
    lake.preload(
        tables::ALL
            .iter()
            .filter(|t| own(&t.qualified()))
            .map(|t| t.ident())
            .collect(),
    )
    .await;
    lake.ensure_tables_evolving(tables::ALL, &|t| own(&t.qualified()))
        .await?;
    if spec.name == "gold-bcg" {
        guard_category(lake, opts, run.full_refresh).await?;
    } else {
        valid_category(opts)?;
    }

    // 1. Pin what is read (the session reads each table at one snapshot): every commit names
    //    the input snapshots. Silver is read as the last complete silver run left it, never
    //    half-way through one (see `lake::consistent`).
    let silver: Vec<&TableDef> = tables::ALL
        .iter()
        .copied()
        .filter(|t| t.namespace == "silver" && spec.reads(&t.qualified()))
        .collect();
    let read_at = ReadAt {
        as_of_ms: None,
        snapshots: lake.consistent_snapshots(&silver).await?,
    };
    let session = lake.session_of(&read_at, &own).await?;
    // The monitor's clock: --end, else just after the newest copy bronze holds.
    let as_of = match run.interval.end {
        Some(end) if spec.as_of_end => Some(end),
        None if spec.as_of_end => bronze_clock(&session).await?,
        _ => None,
    };
    // Bronze as the compacted state plus the files added since (see `transform::state`).
    let state_use = if spec.keeps_state {
        StateUse::Keep {
            full: run.full_refresh,
        }
    } else if spec.as_of_end {
        match as_of {
            Some(end) => StateUse::Read {
                known_before: Some(end),
            },
            None => StateUse::Bypass,
        }
    } else {
        StateUse::Read { known_before: None }
    };
    let topics = state::attach(lake, &session, state_use, &run.commit_context()).await?;
    let crate::lake::LakeSession {
        ctx,
        pinned,
        scans,
        tables: loaded,
    } = session;
    // The snapshot each table was read at: a restricted run keeps the rows it did not compute
    // from it, so it commits only while the table is still there (see the commits below).
    let read_snapshots: BTreeMap<String, i64> = pinned
        .iter()
        .map(|(q, p)| (q.clone(), p.snapshot_id))
        .collect();
    run.metric("state", serde_json::to_value(&topics).unwrap_or_default());
    let mut pinned: BTreeMap<String, Pinned> =
        pinned.into_iter().filter(|(q, _)| spec.reads(q)).collect();
    for (topic, t) in &topics {
        if let Some(id) = t.snapshot_id {
            // read from what this run wrote
            pinned.insert(
                format!("state.{topic}"),
                Pinned {
                    snapshot_id: id,
                    records: t.rows.map(|r| r as u64),
                },
            );
        }
    }
    run.metric("rows_read", rows_read(&pinned));
    if spec.category {
        run.metric("category", opts.category.clone());
    }
    let inputs: BTreeMap<String, i64> = pinned
        .iter()
        .map(|(q, p)| (q.clone(), p.snapshot_id))
        .collect();
    functions::register(&ctx);
    if spec.name == "gold-bcg" && run.full_refresh {
        category_has_rows(&ctx, &opts.category).await?;
    }

    clock.lap("pin_inputs");
    // 2. Views. A restricted job computes only the keys its interval affects (all of them on
    //    a full refresh).
    let restricted = spec.restricted_by.is_some() && !run.full_refresh;
    run.metric("restricted", restricted);
    // gold-bcg sums ALL from the quarters its tables hold, once they hold every period: a
    // run that computed them all (a full refresh, or a first run) says so in its commits
    // (`olistlake.periods`), and its interval runs carry that on; a compaction keeps it.
    // Without it (the first run, another engine's write since) the run computes and rewrites
    // every period.
    let mut sums_quarters = spec.sales_from_quarters && !run.full_refresh;
    for t in PERIOD_TABLES {
        if sums_quarters {
            let summary = lake.data_summary(&t.ident()).await?;
            sums_quarters = summary.is_some_and(|s| s.get(PERIODS_KEY).is_some_and(|v| v == "all"));
        }
    }
    let every_period = run.full_refresh || (spec.sales_from_quarters && !sums_quarters);
    run.metric("sums_quarters", sums_quarters);
    let mut params = parameters(&ctx, spec, opts, run, restricted, sums_quarters, as_of).await?;
    // The touched periods' (and affected months') ranges are known only once the relation they
    // come from is materialised: the statements are chosen with a stand-in naming it, and
    // rendered when they run.
    let mut planned = params.clone();
    for (name, relation) in [
        (TOUCHED_RANGES, "delivery_quarters"),
        (SALES_READ, "touched_periods"),
        (AFFECTED_MONTHS, AFFECTED_MONTHS),
        (AFFECTED_PURCHASE_MONTHS, AFFECTED_PURCHASE_MONTHS),
    ] {
        if !params.contains_key(name) {
            planned.insert(
                name,
                format!("(delivered_customer IN (SELECT period FROM {relation}))"),
            );
        }
    }
    let mut prelude = Vec::new();
    let mut raw = Vec::new();
    for (file, sql) in spec.preludes {
        if Some(*file) == spec.restricted_by && !restricted {
            continue;
        }
        for stmt in model::statements(sql) {
            prelude.push(((*file, raw.len()), model::render(file, &stmt, &planned)?));
            raw.push(stmt);
        }
    }
    let mut readers = Vec::new();
    for m in &models {
        readers.push(model::reads_of(m, &model::render(m.file, m.sql, &planned)?));
    }
    for (file, sql) in spec.borrowed.iter().chain(spec.figures.iter()) {
        readers.push(model::code(&model::render(file, sql, &planned)?));
    }
    let interval = (run.interval.start, run.interval.end);
    // An interval whose bronze rows touch no key cannot change a model whose every scope is
    // bound by the touched keys: stop before computing anything. The touched keys are known
    // once `scope.sql` has run, and every later relation (affected keys, touched periods) is
    // derived from them, so the run asks then, before the statements that read the keys'
    // history (at the end if no statement follows them).
    let may_touch_nothing = !run.full_refresh && models.iter().all(|m| m.needs_touched_keys);
    // whether the interval touches any key, once asked
    let (mut scope_ran, mut any_touched) = (false, None);
    for ((file, i), _) in model::needed_statements(prelude, &readers) {
        if may_touch_nothing && scope_ran && any_touched.is_none() && file != SCOPE_FILE {
            let any = any_touched_key(&ctx).await?;
            any_touched = Some(any);
            if !any {
                break;
            }
        }
        derive_touched_ranges(&ctx, sums_quarters, interval, &mut params, &raw[i]).await?;
        execute(&ctx, file, &model::render(file, &raw[i], &params)?).await?;
        scope_ran |= file == SCOPE_FILE;
    }
    if any_touched != Some(false) {
        for m in &models {
            derive_touched_ranges(&ctx, sums_quarters, interval, &mut params, m.sql).await?;
        }
    }
    let touches_nothing = match any_touched {
        Some(any) => !any,
        None => may_touch_nothing && !any_touched_key(&ctx).await?,
    };
    if touches_nothing {
        clock.lap("views");
        run.metric("timings_s", clock.report());
        run.metric("inputs", scanned(&scans));
        tracing::info!(
            "the interval touches no key of {}: nothing to do",
            spec.name
        );
        return Ok(Exit::NothingToDo);
    }

    // 3–4. Models, then what each rewrites.
    clock.lap("views");
    for (file, sql) in spec.borrowed {
        let m = Model::parse(file, sql)?;
        let (schema, batches) = query(&ctx, file, &model::render(file, sql, &params)?).await?;
        register(&ctx, m.name(), schema, batches)?;
    }
    if !spec.borrowed.is_empty() {
        clock.lap("borrowed");
    }
    // What reads a partial model's whole table: the checks of the models scoped otherwise
    // (a check of a model with the same scope looks only at rows that scope recomputes: see
    // `check`), and the figures. `(scope, checks)` per model.
    let checkers: Vec<(Scope, String)> = models
        .iter()
        .flat_map(|m| {
            m.checks
                .iter()
                .map(|(_, c)| (m.scope.clone(), c.to_string()))
        })
        .collect();
    let figures_code = match spec.figures {
        Some((file, sql)) => model::code(&model::render(file, sql, &params)?),
        None => String::new(),
    };
    // A restricted run reads each partitioned table it rewrites with the file of every row,
    // so that its commit replaces only the files holding rows it changes.
    if restricted {
        for m in models.iter().filter(|m| !m.table.partition.is_empty()) {
            let q = m.table.qualified();
            if let (Some(table), Some(snapshot)) = (loaded.get(&q), read_snapshots.get(&q)) {
                let provider = CountedTable::new(table.clone(), Some(*snapshot), q, scans.clone())
                    .await?
                    .with_file_column();
                ctx.register_table(by_file(m), Arc::new(provider))?;
            }
        }
    }
    drop(loaded);
    let bar = crate::job::progress(models.len() as u64, spec.name);
    let mut outputs = Vec::new();
    for m in models {
        bar.set_message(m.table.qualified());
        let name = m.table.qualified();
        // gold-bcg's interval runs compute the touched periods only (see `{sales_read}`), and
        // silver-build's the affected keys only: the table as the run leaves it, where a check
        // or a figure reads it
        let keeps = (restricted || sums_quarters)
            && (model::names_relation(&figures_code, m.name())
                || checkers
                    .iter()
                    .any(|(scope, c)| *scope != m.scope && model::names_relation(c, m.name())));
        let out = compute(lake, &ctx, m, &params, every_period, restricted, keeps).await?;
        clock.lap_computed(&name, out.computed_s);
        outputs.push(out);
        bar.inc(1);
    }
    bar.finish_and_clear();

    // 5. Checks, all before any commit. A restricted run's models hold only their keys' rows;
    //    checks that refer to a model (`references`) see the table the run will leave.
    for out in &outputs {
        if let Some((schema, rows)) = &out.complete {
            register(&ctx, out.model.name(), schema.clone(), rows.clone())?;
        }
    }
    let mut results = Vec::new();
    for out in outputs.iter().filter(|o| o.kind.is_some()) {
        results.extend(check(&ctx, out, restricted).await?);
    }
    clock.lap("checks");
    // "<level> <table>: <check> (<n> rows)", by level.
    let failed = |level: Level| -> Vec<String> {
        results
            .iter()
            .filter(|r| r.failing_rows > 0 && r.level == level)
            .map(|r| {
                format!(
                    "{} {}: {} ({} rows)",
                    level_label(level),
                    r.table,
                    r.check,
                    r.failing_rows
                )
            })
            .collect()
    };
    let (errors, warnings) = (failed(Level::Error), failed(Level::Warn));
    for w in &warnings {
        tracing::warn!("check failed: {}", w.trim_start_matches("warn "));
    }
    run.metric("checks", serde_json::to_value(&results).unwrap_or_default());
    run.metric(
        "checks_failed",
        serde_json::json!({"error": errors.len(), "warn": warnings.len()}),
    );
    run.warnings.extend(warnings);
    // rows left out as invalid (not merely unplaceable) are data errors someone must see
    for out in &outputs {
        for (reason, n) in out.dropped.iter().filter(|(r, _)| r.starts_with("invalid")) {
            let w = format!(
                "{}: {n} row(s) left out, {reason}",
                out.model.table.qualified()
            );
            tracing::warn!("{w}");
            run.warnings.push(w);
        }
    }
    run.metric("tables", table_figures(&outputs));
    if !errors.is_empty() {
        return Err(Error::ChecksFailed(errors.join("; ")));
    }

    // Figures before the commits: a job either commits and reports, or does neither.
    let touched = outputs.iter().any(|o| o.kind.is_some());
    if let Some((file, sql)) = spec.figures.filter(|_| touched) {
        run.metric(
            "figures",
            figures(&ctx, file, &model::render(file, sql, &params)?).await?,
        );
    }

    clock.lap("figures");
    // 6. Commits.
    let mut context = run.commit_context();
    context.input_snapshots = inputs;
    // every table this run commits, so readers can tell a complete run from a half-done one
    let committing: Vec<String> = outputs
        .iter()
        .filter(|o| o.kind.is_some())
        .map(|o| o.model.table.qualified())
        .collect();
    context
        .extra
        .insert(RUN_TABLES.into(), committing.join(","));
    if spec.name == "gold-bcg" {
        context
            .extra
            .insert(CATEGORY_KEY.into(), opts.category.clone());
    }
    if spec.sales_from_quarters {
        context.extra.insert(PERIODS_KEY.into(), "all".into());
    }
    // Tables are committed two at a time: each commit is mostly one thread's work (encoding an
    // unpartitioned table, writing its manifests and metadata file). Once one fails, no other
    // starts; those under way finish, as the sequential order would have let earlier ones.
    let failed = std::sync::atomic::AtomicBool::new(false);
    let (context, read_snapshots, failed) = (&context, &read_snapshots, &failed);
    let mut commits = Vec::new();
    for out in &outputs {
        let Some(kind) = out.kind.clone() else {
            continue;
        };
        commits.push(async move {
            if failed.load(std::sync::atomic::Ordering::SeqCst) {
                return None;
            }
            // A restricted model's partitions carry rows of other keys as this run read them:
            // a commit by another writer since then (a silver-build of another interval run
            // by hand beside this one) must not be overwritten with them. Exit 75; the retry
            // reads the new rows.
            let table = out.model.table.qualified();
            let expected = read_snapshots.get(&table).copied();
            let unchanged = move |md: &iceberg::spec::TableMetadata| {
                if md.current_snapshot_id() == expected {
                    Ok(())
                } else {
                    Err(format!(
                        "{table} was committed to since this run read it; re-run the interval"
                    ))
                }
            };
            // gold-bcg's interval runs read their own tables' other periods in the same way.
            let precondition: Option<&crate::lake::Precondition> =
                (out.keeps_read_rows || sums_quarters).then_some(&unchanged);
            let outcome = lake
                .write_if(
                    &out.model.table.ident(),
                    kind,
                    &out.rows,
                    context,
                    precondition,
                )
                .await;
            if outcome.is_err() {
                failed.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            Some(outcome.map(|o| (o, out)))
        });
    }
    let outcomes: Vec<_> = futures::stream::iter(commits)
        .buffered(COMMITS_AT_ONCE)
        .collect()
        .await;
    let mut first_error = None;
    for outcome in outcomes.into_iter().flatten() {
        match outcome {
            Ok((outcome, out)) => {
                tracing::info!(
                    "{}: {} {} rows",
                    outcome.table,
                    outcome.kind,
                    out.rows.iter().map(|b| b.num_rows()).sum::<usize>()
                );
                run.commits.push(outcome);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    clock.lap("commits");
    run.metric("timings_s", clock.report());
    run.metric("inputs", scanned(&scans));
    if run.commits.is_empty() {
        tracing::info!(
            "the interval touches no partition of {}: nothing to do",
            spec.name
        );
        return Ok(Exit::NothingToDo);
    }
    Ok(Exit::Ok)
}

fn level_label(l: Level) -> &'static str {
    match l {
        Level::Error => "error",
        Level::Warn => "warn",
    }
}

/// A BCG table built for one category must not silently receive partitions of another.
fn valid_category(opts: &Options) -> Result<()> {
    let valid = !opts.category.is_empty()
        && opts
            .category
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(Error::Config(format!(
            "--category `{}`: expected a category name such as health_beauty",
            opts.category
        )));
    }
    Ok(())
}

/// A full refresh for a category no delivered item carries would replace the BCG tables with
/// nothing: a misspelt `--category` is a configuration error, not an empty portfolio.
async fn category_has_rows(ctx: &SessionContext, category: &str) -> Result<()> {
    let sql = format!(
        "SELECT category, count(*) AS n FROM silver.order_product WHERE category IS NOT NULL \
         GROUP BY category ORDER BY (category = '{category}') DESC, n DESC, category LIMIT 6"
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    let known = texts(&batches)?;
    if known.first().map(String::as_str) == Some(category) || known.is_empty() {
        // the category has rows, or silver is empty (nothing to build for any category)
        return Ok(());
    }
    Err(Error::Config(format!(
        "--category `{category}`: no delivered item of silver.order_product has this category, \
         so a full refresh would empty the BCG tables; the largest categories are {}",
        known.join(", ")
    )))
}

async fn guard_category(lake: &Lake, opts: &Options, full_refresh: bool) -> Result<()> {
    valid_category(opts)?;
    let summary = lake.current_summary(&tables::GOLD_BCG.ident()).await?;
    if let Some(current) = summary.as_ref().and_then(|s| s.get(CATEGORY_KEY))
        && *current != opts.category
        && !full_refresh
    {
        return Err(Error::Config(format!(
            "{} holds category `{current}`; rebuild it for `{}` with --full-refresh",
            tables::GOLD_BCG,
            opts.category
        )));
    }
    Ok(())
}

fn ts_literal(t: NaiveDateTime) -> String {
    format!("CAST('{}' AS TIMESTAMP)", t.format("%Y-%m-%d %H:%M:%S%.6f"))
}

fn between(col: &str, start: Option<NaiveDateTime>, end: Option<NaiveDateTime>) -> String {
    let mut parts = Vec::new();
    if let Some(s) = start {
        parts.push(format!("{col} >= {}", ts_literal(s)));
    }
    if let Some(e) = end {
        parts.push(format!("{col} < {}", ts_literal(e)));
    }
    if parts.is_empty() {
        "TRUE".into()
    } else {
        parts.join(" AND ")
    }
}

/// The values of the `{placeholders}` of every file.
async fn parameters(
    ctx: &SessionContext,
    spec: &JobSpec,
    opts: &Options,
    run: &JobRun,
    restricted: bool,
    sums_quarters: bool,
    clock: Option<NaiveDateTime>,
) -> Result<BTreeMap<&'static str, String>> {
    let iv = run.interval;
    let (start, end) = if run.full_refresh {
        (None, None)
    } else {
        (iv.start, iv.end)
    };
    // The monitor's time: --end, or just after the newest event ingested.
    let as_of = match (iv.end, clock) {
        (Some(end), _) | (None, Some(end)) => end,
        (None, None) if spec.as_of_end => newest_ingest(ctx).await?,
        (None, None) => NaiveDateTime::default(),
    };
    let known = if spec.as_of_end {
        format!("ingest_time < {}", ts_literal(as_of))
    } else {
        "TRUE".into()
    };
    // A full refresh rewrites everything: no touched keys to find.
    let in_interval = if run.full_refresh {
        "FALSE".into()
    } else {
        between("ingest_time", start, end)
    };
    let mut params = BTreeMap::from([
        ("in_interval", in_interval),
        (
            "delivered_in_interval",
            between("delivered_customer", start, end),
        ),
        ("known", known),
        ("as_of", ts_literal(as_of)),
        ("category", format!("'{}'", opts.category)),
    ]);
    // `{<topic>_copies}`: the copies the staging views read (an interval run of silver-build:
    // those of the affected keys, materialised by silver/affected.sql).
    for (placeholder, topic) in STAGED_TOPICS {
        let copies = if restricted {
            format!("affected_{topic}")
        } else {
            format!("bronze.{topic}")
        };
        params.insert(placeholder, copies);
    }
    // Whole-history runs read every period; an interval run's ranges are derived later.
    if run.full_refresh {
        params.insert(TOUCHED_RANGES, "TRUE".into());
    }
    if !restricted {
        params.insert(AFFECTED_MONTHS, "TRUE".into());
        params.insert(AFFECTED_PURCHASE_MONTHS, "TRUE".into());
    }
    // The gold tables' periods an interval run keeps (the quarters it does not touch) and
    // replaces (the touched ones and ALL): see gold/bcg_kept.sql.
    let (kept, replaced) = if !sums_quarters {
        ("FALSE".into(), "FALSE".into())
    } else {
        (
            "period <> 'ALL' AND period NOT IN (SELECT period FROM touched_periods)".into(),
            "period IN (SELECT period FROM touched_periods)".into(),
        )
    };
    params.insert("sales_kept", kept);
    params.insert("sales_replaced", replaced);
    params.insert(
        "interval_run",
        if run.full_refresh { "FALSE" } else { "TRUE" }.into(),
    );
    if !sums_quarters {
        let read = if spec.sales_of_category {
            format!("category = '{}'", opts.category)
        } else {
            "TRUE".into()
        };
        params.insert(SALES_READ, read);
    }
    Ok(params)
}

/// The topics the staging views read, with their placeholder (`{<topic>_copies}`).
const STAGED_TOPICS: [(&str, &str); 8] = [
    ("order_status_copies", "order_status"),
    ("payment_copies", "payment"),
    ("order_item_copies", "order_item"),
    ("estimated_delivery_date_copies", "estimated_delivery_date"),
    ("product_copies", "product"),
    ("seller_copies", "seller"),
    ("customer_copies", "customer"),
    ("geolocation_copies", "geolocation"),
];

/// The prelude that materialises the interval's touched keys (`touched_*`).
const SCOPE_FILE: &str = "scope.sql";

/// Snapshot summary key of gold-bcg's commits: `all` = the tables hold every period.
const PERIODS_KEY: &str = "olistlake.periods";
/// The tables whose kept periods gold-bcg's interval runs read.
static PERIOD_TABLES: [&TableDef; 3] = [
    &tables::GOLD_SALE_STATS,
    &tables::GOLD_BCG,
    &tables::GOLD_DELIVERED_ORDER_PRODUCT_BCG,
];

/// `{delivered_in_touched_periods}`: `delivered_customer` within the calendar quarters of
/// `delivery_quarters` (the touched orders' deliveries) and of the interval, as literal
/// ranges the Iceberg scan prunes month partitions by.
const TOUCHED_RANGES: &str = "delivered_in_touched_periods";
/// `{sales_read}`: the delivered items a sales model reads: those of the touched periods
/// when it sums `ALL` from the quarters (gold-bcg), those of the category when only its
/// segments are wanted (gold-leadtime), else all of them.
const SALES_READ: &str = "sales_read";

/// `{affected_delivery_months}`: `delivered_customer` within the months of
/// `affected_delivery_months` (every time an affected order's delivery was stamped with), as
/// literal ranges: where silver-build's interval runs find the rows of the tables partitioned
/// by month of delivery that they replace or keep.
const AFFECTED_MONTHS: &str = "affected_delivery_months";
/// `{affected_purchase_months}`: `purchase` within the months of `affected_purchase_months`
/// (every time an affected order's purchase was stamped with), or null (an order whose
/// purchase event has not come yet): where silver-build's interval runs find the rows of
/// `silver.order_timestamp` (partitioned by month of purchase) that they replace or keep.
const AFFECTED_PURCHASE_MONTHS: &str = "affected_purchase_months";

/// Fills the periods' ranges into `params` once `sql` needs them (the statements before it
/// have materialised the relations they are read from).
async fn derive_touched_ranges(
    ctx: &SessionContext,
    sums_quarters: bool,
    (start, end): (Option<NaiveDateTime>, Option<NaiveDateTime>),
    params: &mut BTreeMap<&'static str, String>,
    sql: &str,
) -> Result<()> {
    let needs = |p: &BTreeMap<&str, String>, name: &str| {
        !p.contains_key(name) && sql.contains(&format!("{{{name}}}"))
    };
    // the sales read exactly the periods they rewrite (the others are kept as they are)
    if needs(params, SALES_READ) && sums_quarters {
        let periods = periods_of(ctx, "touched_periods").await?;
        params.insert(SALES_READ, quarter_ranges("delivered_customer", &periods));
    }
    if needs(params, AFFECTED_MONTHS) {
        let months = periods_of(ctx, AFFECTED_MONTHS).await?;
        params.insert(AFFECTED_MONTHS, month_ranges("delivered_customer", &months));
    }
    if needs(params, AFFECTED_PURCHASE_MONTHS) {
        let months = periods_of(ctx, AFFECTED_PURCHASE_MONTHS).await?;
        params.insert(
            AFFECTED_PURCHASE_MONTHS,
            format!(
                "({}) OR purchase IS NULL",
                month_ranges("purchase", &months)
            ),
        );
    }
    if needs(params, TOUCHED_RANGES) {
        let mut periods = periods_of(ctx, "delivery_quarters").await?;
        if let (Some(start), Some(end)) = (start, end) {
            periods.extend(quarters_between(start.date(), end.date()));
        }
        params.insert(
            TOUCHED_RANGES,
            quarter_ranges("delivered_customer", &periods),
        );
    }
    Ok(())
}

/// The periods a prelude relation lists in its `period` column (quarters, or months' first
/// days; `ALL` left out).
async fn periods_of(ctx: &SessionContext, relation: &str) -> Result<Vec<String>> {
    let batches = execute(
        ctx,
        relation,
        &format!("SELECT DISTINCT period FROM {relation} WHERE period <> 'ALL'"),
    )
    .await?;
    texts(&batches)
}

/// The non-null values of the first column of `batches`, as text.
fn texts(batches: &[RecordBatch]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        let col = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)?;
        let col = col
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("utf8 after cast");
        out.extend(col.iter().flatten().map(str::to_string));
    }
    Ok(out)
}

/// The quarters (`2017-Q4`) holding a day of `[start, end)`.
fn quarters_between(start: chrono::NaiveDate, end: chrono::NaiveDate) -> Vec<String> {
    use chrono::Datelike;
    let mut out = Vec::new();
    let mut q = chrono::NaiveDate::from_ymd_opt(start.year(), (start.month0() / 3) * 3 + 1, 1);
    while let Some(d) = q.filter(|d| *d < end) {
        out.push(functions::quarter_label(d));
        q = d.checked_add_months(chrono::Months::new(3));
    }
    out
}

/// The calendar quarters `periods` (`2017-Q4`) as a predicate on `col`, adjacent quarters
/// merged into one range. `FALSE` for none; `TRUE` when one is not a quarter (read all).
fn quarter_ranges(col: &str, periods: &[String]) -> String {
    let mut starts = Vec::new();
    for p in periods {
        let parsed = p.split_once("-Q").and_then(|(y, q)| {
            let (y, q) = (y.parse::<i32>().ok()?, q.parse::<u32>().ok()?);
            (1..=4).contains(&q).then_some(())?;
            chrono::NaiveDate::from_ymd_opt(y, 3 * (q - 1) + 1, 1)
        });
        match parsed {
            Some(d) => starts.push(d),
            None => return "TRUE".into(),
        }
    }
    date_ranges(col, starts, 3)
}

/// The calendar months starting on `months` (`2018-08-01`) as a predicate on `col`, adjacent
/// months merged. `FALSE` for none; `TRUE` when one is not the first day of a month.
fn month_ranges(col: &str, months: &[String]) -> String {
    let mut starts = Vec::new();
    for m in months {
        match chrono::NaiveDate::parse_from_str(m, "%Y-%m-%d") {
            Ok(d) if chrono::Datelike::day(&d) == 1 => starts.push(d),
            _ => return "TRUE".into(),
        }
    }
    date_ranges(col, starts, 1)
}

/// Periods of `step` months starting on `starts` as literal ranges of `col`, adjacent ones
/// merged. `FALSE` for none.
fn date_ranges(col: &str, mut starts: Vec<chrono::NaiveDate>, step: u32) -> String {
    starts.sort();
    starts.dedup();
    let next = |d: chrono::NaiveDate| d.checked_add_months(chrono::Months::new(step)).unwrap_or(d);
    let mut ranges: Vec<(chrono::NaiveDate, chrono::NaiveDate)> = Vec::new();
    for d in starts {
        match ranges.last_mut() {
            Some((_, end)) if *end == d => *end = next(d),
            _ => ranges.push((d, next(d))),
        }
    }
    if ranges.is_empty() {
        return "FALSE".into();
    }
    let ranges: Vec<String> = ranges
        .into_iter()
        .map(|(s, e)| {
            let at = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).unwrap_or_default();
            format!("({})", between(col, Some(at(s)), Some(at(e))))
        })
        .collect();
    format!("({})", ranges.join(" OR "))
}

/// Greatest `ingest_time` the monitor's clock may take: a corrupt time beyond silver's
/// data-time window must not become it.
const LATEST_CLOCK: &str = "2099-12-31 23:59:59";

/// The monitor's clock without `--end`, from the pinned `bronze.order_status` files' upper
/// bounds of `ingest_time`: just after the newest copy. Known before reading anything, it lets
/// the run read the state (which keeps only the copies its rules pick, not every copy's time)
/// instead of all of bronze. `None` (the clock is then read from the rows, over all of bronze)
/// when a file records no bound, or the newest bound is past [`LATEST_CLOCK`].
async fn bronze_clock(session: &crate::lake::LakeSession) -> Result<Option<NaiveDateTime>> {
    let name = tables::BRONZE_ORDER_STATUS.qualified();
    let (Some(table), Some(pinned)) = (session.tables.get(&name), session.pinned.get(&name)) else {
        return Ok(None);
    };
    let bound = crate::lake::column_upper_bound(table, pinned.snapshot_id, "ingest_time").await?;
    let latest =
        NaiveDateTime::parse_from_str(LATEST_CLOCK, "%Y-%m-%d %H:%M:%S").expect("a valid constant");
    Ok(match bound.as_ref().map(|d| d.literal()) {
        Some(iceberg::spec::PrimitiveLiteral::Long(micros)) => {
            chrono::DateTime::from_timestamp_micros(*micros)
                .map(|t| t.naive_utc())
                .filter(|t| *t <= latest)
                // ingest times are whole milliseconds: one more includes the newest copy
                .map(|t| t + chrono::Duration::milliseconds(1))
        }
        _ => None,
    })
}

async fn newest_ingest(ctx: &SessionContext) -> Result<NaiveDateTime> {
    let batches = ctx
        .sql(&format!(
            "SELECT CAST(max(ingest_time) AS BIGINT) AS t FROM bronze.order_status \
             WHERE ingest_time <= TIMESTAMP '{LATEST_CLOCK}'"
        ))
        .await?
        .collect()
        .await?;
    let micros = first_i64(&batches).unwrap_or(0);
    // Ingest times are whole milliseconds: one more includes the newest event.
    Ok(chrono::DateTime::from_timestamp_micros(micros + 1_000)
        .unwrap_or_default()
        .naive_utc())
}

/// Whether any `touched_*` relation the preludes made holds a row.
async fn any_touched_key(ctx: &SessionContext) -> Result<bool> {
    let names: Vec<String> = ctx
        .catalog("datafusion")
        .and_then(|c| c.schema("public"))
        .map(|s| s.table_names())
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.starts_with("touched_"))
        .collect();
    if names.is_empty() {
        return Ok(true); // nothing to tell by: compute
    }
    for name in names {
        let rows = ctx
            .sql(&format!("SELECT 1 FROM {name} LIMIT 1"))
            .await?
            .collect()
            .await?;
        if rows.iter().any(|b| b.num_rows() > 0) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The first value of a one-number query result (None when null or absent).
fn first_i64(batches: &[RecordBatch]) -> Option<i64> {
    first_row_i64(batches, 0)
}

/// Column `column` of a query result's first row, as a 64-bit integer (None when null or
/// absent).
pub(super) fn first_row_i64(batches: &[RecordBatch], column: usize) -> Option<i64> {
    let b = batches.first().filter(|b| b.num_rows() > 0)?;
    let a = b
        .column(column)
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()?;
    a.is_valid(0).then(|| a.value(0))
}

/// Runs one statement of `file`; returns its rows and their schema (the batches' own when
/// there are any: they can differ from the plan's in nullability).
async fn query(
    ctx: &SessionContext,
    file: &str,
    sql: &str,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let model_err = |source| Error::ModelQuery {
        file: file.to_string(),
        source,
    };
    let started = std::time::Instant::now();
    let df = ctx.sql(sql).await.map_err(model_err)?;
    let planned: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let batches = if tracing::enabled!(tracing::Level::TRACE) {
        // the executed plan with each operator's rows and time, as EXPLAIN ANALYZE prints it
        // (`OLISTLAKE_LOG=olistlake=trace`): where a statement's time goes
        let plan = df.create_physical_plan().await.map_err(model_err)?;
        let batches = datafusion::physical_plan::collect(plan.clone(), ctx.task_ctx())
            .await
            .map_err(model_err)?;
        let shown = datafusion::physical_plan::display::DisplayableExecutionPlan::with_metrics(
            plan.as_ref(),
        )
        .indent(true);
        tracing::trace!("{file}: executed plan:\n{shown}");
        batches
    } else {
        df.collect().await.map_err(model_err)?
    };
    let schema = batches.first().map(|b| b.schema()).unwrap_or(planned);
    // which statement of a file costs what (`OLISTLAKE_LOG=olistlake=debug`)
    tracing::debug!(
        "{file}: {:.3} s: {}",
        started.elapsed().as_secs_f64(),
        sql.trim_start().lines().next().unwrap_or_default()
    );
    Ok((schema, batches))
}

async fn execute(ctx: &SessionContext, file: &str, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(query(ctx, file, sql).await?.1)
}

fn register(
    ctx: &SessionContext,
    name: &str,
    schema: SchemaRef,
    rows: Vec<RecordBatch>,
) -> Result<()> {
    ctx.deregister_table(name)?;
    // Batches may differ from each other and from the plan in nullability only; the table
    // takes the widest (all nullable) form.
    let schema = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ));
    let rows = rows
        .into_iter()
        .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![rows])?))?;
    Ok(())
}

/// Runs one model, registers its result under the model's name, and decides what to rewrite.
async fn compute(
    lake: &Lake,
    ctx: &SessionContext,
    m: Model,
    params: &BTreeMap<&'static str, String>,
    full_refresh: bool,
    restricted: bool,
    read_back: bool,
) -> Result<Output> {
    let started = std::time::Instant::now();
    let sql = model::render(m.file, m.sql, params)?;
    let (schema, batches) = query(ctx, m.file, &sql).await?;
    let (schema, kept, dropped_rows) = split_dropped(schema, batches)?;
    register(ctx, m.name(), schema, kept.clone())?;
    let computed = kept.iter().map(|b| b.num_rows()).sum();
    let computed_s = started.elapsed().as_secs_f64();
    let ident = m.table.ident();

    let mut complete = None;
    let mut keeps_read_rows = false;
    let mut partitions = 0;
    let (kind, rows, dropped) = match (&m.scope, full_refresh) {
        (Scope::All, _) | (_, true) => {
            let old_rows = lake.stats(&ident).await?.rows;
            let kind = (computed > 0 || old_rows > 0).then_some(CommitKind::Replace);
            (kind, kept, count_reasons(&dropped_rows)?)
        }
        (Scope::Rows(predicate), false) => {
            // An unpartitioned table is replaced when any row is in scope: one row tells.
            let limit = if m.table.partition.is_empty() {
                " LIMIT 1"
            } else {
                ""
            };
            // A restricted run reads the table twice (the rows in scope, and the rows it
            // keeps): read its files once, into memory.
            let files_at = restricted && reads_by_file(ctx, &m)?;
            // only the partitions the scope's rows can be in (`scope within:`)
            let within = m
                .within
                .as_ref()
                .map(|w| model::render(m.file, w, params))
                .transpose()?;
            let sources = lake.partition_sources(&ident).await?;
            // A restricted run whose table nothing reads back, and whose read is not already
            // narrowed to the partitions its rows are in, reads first only the columns that
            // say which files and partitions it rewrites; the whole rows of the files it
            // replaces are read after (a day's new customers replace no file of the 950 k
            // rows of `silver.user_location`'s customer partition at scale 10).
            let narrow = files_at && !read_back && within.is_none();
            let table = if restricted {
                let current = format!("{}__current", m.name());
                let within = match &within {
                    Some(w) => format!(" WHERE {w}"),
                    None => String::new(),
                };
                let columns = if narrow {
                    narrow_columns(&m, predicate, &sources)
                } else {
                    m.table.column_list()
                };
                if files_at {
                    // each row with its file; `__current` is the same rows without it
                    let sql = format!(
                        "SELECT {columns}, {FILE_COLUMN} FROM {}{within}",
                        by_file(&m)
                    );
                    let (schema, rows) = query(ctx, m.file, &sql).await?;
                    let keep: Vec<usize> = (0..schema.fields().len() - 1).collect();
                    let plain = rows
                        .iter()
                        .map(|b| b.project(&keep))
                        .collect::<std::result::Result<Vec<_>, _>>()?;
                    register(ctx, &current, Arc::new(schema.project(&keep)?), plain)?;
                    register(ctx, &tagged(&m), schema, rows)?;
                    // its rows in scope, for both the partitions and the files they are in
                    let sql = format!("SELECT * FROM {} WHERE {predicate}", tagged(&m));
                    let (schema, rows) = query(ctx, m.file, &sql).await?;
                    register(ctx, &hits(&m), schema, rows)?;
                } else {
                    let sql = format!("SELECT {columns} FROM {}{within}", m.table.qualified());
                    let (schema, rows) = query(ctx, m.file, &sql).await?;
                    register(ctx, &current, schema, rows)?;
                }
                current
            } else {
                m.table.qualified()
            };
            // Only which partitions hold rows in scope is asked here: read the columns the
            // partition values come from (a row per partition where they are truncated).
            let keys = partition_keys(&sources);
            let mut touched = execute(
                ctx,
                m.file,
                &format!("SELECT {keys} FROM {} WHERE {predicate}{limit}", m.name()),
            )
            .await?;
            // (when the model's rows already hold one, the table is not read for another)
            if limit.is_empty() || touched.iter().all(|b| b.num_rows() == 0) {
                // the table's rows in scope, only in the partitions that can hold them (a
                // restricted run's copy was read from those alone)
                let within = match &within {
                    Some(w) if !restricted => format!(" AND ({w})"),
                    _ => String::new(),
                };
                let sql = if files_at {
                    format!("SELECT {keys} FROM {}", hits(&m))
                } else {
                    format!("SELECT {keys} FROM {table} WHERE ({predicate}){within}{limit}")
                };
                touched.extend(execute(ctx, m.file, &sql).await?);
            }
            // A restricted model holds only the rows of its scope: the partitions it rewrites
            // keep their other rows (no input of theirs is in the interval).
            let source = if restricted {
                keeps_read_rows = true;
                // The table as the run leaves it, where something reads it (a check of a
                // model scoped otherwise) or the partitions are overwritten from it; a commit
                // by file takes its rows from the files it replaces.
                if read_back || !files_at {
                    let (schema, merged) = merge_restricted(ctx, &m, &table, predicate).await?;
                    if read_back {
                        complete = Some((schema, merged.clone()));
                    }
                    merged
                } else {
                    Vec::new()
                }
            } else {
                // A model computed over the touched periods only: the checks and figures see
                // the table as the run leaves it (its other partitions as they are).
                if read_back {
                    complete = Some(merge_restricted(ctx, &m, &table, predicate).await?);
                }
                kept
            };
            // (the rows to write by file are chosen below)
            let rows_in = if files_at { &[][..] } else { &source[..] };
            let (parts, rows) = lake.select_partitions(&ident, &touched, rows_in).await?;
            partitions = parts.len();
            let (kind, rows) = if parts.is_empty() {
                (None, Vec::new())
            } else if files_at {
                match overwrite_by_file(ctx, &m, predicate, &parts, narrow).await? {
                    Some((replaced, rows)) => (Some(CommitKind::OverwriteFiles(replaced)), rows),
                    // a file with another engine's deletes: its partitions as before
                    None => {
                        let merged = match &complete {
                            Some((_, merged)) => merged.clone(),
                            None => {
                                if narrow {
                                    // the whole rows this time
                                    let sql = format!(
                                        "SELECT {} FROM {}",
                                        m.table.column_list(),
                                        by_file(&m)
                                    );
                                    let (schema, rows) = query(ctx, m.file, &sql).await?;
                                    ctx.deregister_table(&table)?;
                                    register(ctx, &table, schema, rows)?;
                                }
                                merge_restricted(ctx, &m, &table, predicate).await?.1
                            }
                        };
                        let (parts, rows) =
                            lake.select_partitions(&ident, &touched, &merged).await?;
                        (Some(CommitKind::OverwritePartitions(parts)), rows)
                    }
                }
            } else if m.table.partition.is_empty() {
                (Some(CommitKind::Replace), rows)
            } else {
                (Some(CommitKind::OverwritePartitions(parts)), rows)
            };
            if restricted {
                // what is kept of the copy read above is in the rows to write: free it
                ctx.deregister_table(&table)?;
                ctx.deregister_table(hits(&m).as_str())?;
            }
            let dropped = match &dropped_rows {
                Some((schema, rows)) => {
                    let name = format!("{}__dropped", m.name());
                    register(ctx, &name, schema.clone(), rows.clone())?;
                    let hits = execute(
                        ctx,
                        m.file,
                        &format!("SELECT * FROM {name} WHERE {predicate}"),
                    )
                    .await?;
                    count_reasons(&Some((schema.clone(), hits)))?
                }
                None => BTreeMap::new(),
            };
            (kind, rows, dropped)
        }
    };
    Ok(Output {
        model: m,
        kind,
        rows,
        computed,
        dropped,
        computed_s,
        complete,
        keeps_read_rows,
        partitions,
    })
}

/// The select list of a scope's read of the partitions it touches: the distinct values of
/// the columns the table's partition values are computed from, a timestamp truncated to its
/// transform's period (so one row per partition, not per row), or a constant for an
/// unpartitioned table (where one row tells).
fn partition_keys(sources: &[PartitionSource]) -> String {
    if sources.is_empty() {
        return "1 AS touched".to_string();
    }
    let mut columns: Vec<String> = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let quoted = format!("\"{}\"", source.column.replace('"', "\"\""));
        let unit = match source.transform {
            Transform::Year => Some("year"),
            Transform::Month => Some("month"),
            Transform::Day => Some("day"),
            Transform::Hour => Some("hour"),
            _ => None,
        };
        // a column two fields share is read as it is (each field transforms it its own way)
        let shared = sources
            .iter()
            .enumerate()
            .any(|(j, o)| j != i && o.column == source.column);
        if shared && columns.contains(&quoted) {
            continue;
        }
        columns.push(match unit {
            Some(unit) if source.timestamp && !shared => {
                format!("date_trunc('{unit}', {quoted}) AS {quoted}")
            }
            _ => quoted,
        });
    }
    format!("DISTINCT {}", columns.join(", "))
}

/// The columns a narrow read of a restricted model's table takes: those its scope names and
/// those its partition values come from, in the table's order.
fn narrow_columns(m: &Model, scope: &str, sources: &[PartitionSource]) -> String {
    let all: Vec<&str> = m.table.columns.iter().map(|(name, _, _)| *name).collect();
    let named = model::columns_named(scope, &all);
    all.iter()
        .filter(|c| named.contains(c) || sources.iter().any(|s| s.column == **c))
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A touched partition holding this many files or more is rewritten whole by a restricted
/// run (its rows in one file again): each run adds a file to the partitions it touches, and
/// this bounds how many a partition holds (and how many files its next read opens).
const FILES_BEFORE_FOLD: usize = 4;

/// The file-tagged scan of a model's table (see [`CountedTable::with_file_column`]).
fn by_file(m: &Model) -> String {
    format!("{}__files", m.name())
}

/// The rows a restricted run read from its table, each with its file.
fn tagged(m: &Model) -> String {
    format!("{}__current_files", m.name())
}

/// The rows a restricted run read from its table that are in the model's scope, with their
/// file.
fn hits(m: &Model) -> String {
    format!("{}__hits", m.name())
}

/// Whether a file-tagged scan of the model's table is registered (only when the table has a
/// snapshot to read).
fn reads_by_file(ctx: &SessionContext, m: &Model) -> Result<bool> {
    Ok(ctx.table_exist(by_file(m).as_str())?)
}

/// The files the file-tagged scan of the model's table planned (path, partition, rows).
async fn planned_files(ctx: &SessionContext, m: &Model) -> Result<Vec<PlannedFile>> {
    if !reads_by_file(ctx, m)? {
        return Ok(Vec::new());
    }
    let provider = ctx.table_provider(by_file(m).as_str()).await?;
    Ok(provider
        .as_any()
        .downcast_ref::<CountedTable>()
        .map(CountedTable::planned_files)
        .unwrap_or_default())
}

/// A restricted model's commit by file (Iceberg's copy-on-write): the files of its table to
/// replace, and the rows to write in their place. A file holding a row in the model's scope is
/// replaced by its other rows plus the model's rows; a file without one is kept as it is (a
/// day's new keys add a file instead of rewriting the partition). A touched partition that
/// holds [`FILES_BEFORE_FOLD`] files or more has all of them replaced. None when a file to
/// replace has delete files (written by another engine): the caller overwrites partitions.
/// `narrow`: the file-tagged rows hold only the columns the scope and the partition values
/// need; the whole rows of the files to replace are then read from those files alone.
async fn overwrite_by_file(
    ctx: &SessionContext,
    m: &Model,
    scope: &str,
    parts: &[iceberg::spec::Struct],
    narrow: bool,
) -> Result<Option<(HashSet<String>, Vec<RecordBatch>)>> {
    let tagged = tagged(m);
    // rows read per file: a file can be replaced only when the run read all of its rows
    let rows_read = rows_per_file(ctx, m, &tagged).await?;
    let hits = execute(
        ctx,
        m.file,
        &format!("SELECT DISTINCT {FILE_COLUMN} FROM {}", hits(m)),
    )
    .await?;
    let mut replaced: HashSet<String> = texts(&hits)?.into_iter().collect();
    // the files the read planned (those of the partitions `scope within:` names), by partition
    let planned = planned_files(ctx, m).await?;
    let mut by_partition: HashMap<&iceberg::spec::Struct, Vec<&str>> = HashMap::new();
    for f in &planned {
        if let Some(p) = f.partition.as_ref().filter(|p| parts.contains(p)) {
            by_partition.entry(p).or_default().push(&f.path);
        }
    }
    for files in by_partition
        .values()
        .filter(|f| f.len() >= FILES_BEFORE_FOLD)
    {
        replaced.extend(files.iter().map(|p| p.to_string()));
    }
    let planned: HashMap<&str, &PlannedFile> =
        planned.iter().map(|f| (f.path.as_str(), f)).collect();
    if let Some(path) = replaced
        .iter()
        .find(|p| planned.get(p.as_str()).is_some_and(|f| f.has_deletes))
    {
        // (rows deleted by another engine's delete files are not read: the file's live
        // rows are known only by reading, so its partition is rewritten from what was read)
        tracing::debug!(
            "{}: {path} has delete files: overwriting its partitions",
            m.table.qualified()
        );
        return Ok(None);
    }
    let held: HashMap<String, Option<u64>> = replaced
        .iter()
        .map(|p| (p.clone(), planned.get(p.as_str()).and_then(|f| f.records)))
        .collect();
    all_rows_read(
        m,
        &held,
        &rows_read,
        ": its partition must be read whole to be rewritten (`scope within:`)",
    )?;
    if narrow {
        // the whole rows of the files to replace, from those files alone, counted again
        let provider = ctx.table_provider(by_file(m).as_str()).await?;
        let Some(table) = provider.as_any().downcast_ref::<CountedTable>() else {
            return Err(Error::Catalog(format!(
                "{}: the file-tagged scan is not a lake table",
                m.table.qualified()
            )));
        };
        let files = format!("{}__replaced_files", m.name());
        ctx.register_table(&files, Arc::new(table.of_files(replaced.clone())))?;
        let sql = format!(
            "SELECT {}, {FILE_COLUMN} FROM {files}",
            m.table.column_list()
        );
        let (schema, rows) = query(ctx, m.file, &sql).await?;
        ctx.deregister_table(&files)?;
        ctx.deregister_table(&tagged)?;
        register(ctx, &tagged, schema, rows)?;
        let reread = rows_per_file(ctx, m, &tagged).await?;
        all_rows_read(m, &held, &reread, " the second time")?;
    }
    let list = format!("{}__replaced", m.name());
    let paths: Vec<&str> = replaced.iter().map(String::as_str).collect();
    let schema = Arc::new(Schema::new(vec![arrow::datatypes::Field::new(
        FILE_COLUMN,
        arrow::datatypes::DataType::Utf8,
        true,
    )]));
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(paths))])?;
    register(ctx, &list, schema, vec![batch])?;
    // the replaced files' rows merged with the model's, as a restricted run merges its table's
    let replaced_rows = format!(
        "(SELECT * FROM {tagged} WHERE {FILE_COLUMN} IN (SELECT {FILE_COLUMN} FROM {list})) \
         AS replaced_rows"
    );
    let (_, rows) = merge_restricted(ctx, m, &replaced_rows, scope).await?;
    ctx.deregister_table(&tagged)?;
    ctx.deregister_table(&list)?;
    Ok(Some((replaced, rows)))
}

/// Fails unless every file to replace (`held`: its rows, from the manifest) was read whole
/// (`read`: rows read per file); `when` completes the message.
fn all_rows_read(
    m: &Model,
    held: &HashMap<String, Option<u64>>,
    read: &HashMap<String, u64>,
    when: &str,
) -> Result<()> {
    for (path, held) in held {
        let read = read.get(path).copied().unwrap_or(0);
        if *held != Some(read) {
            return Err(Error::Catalog(format!(
                "{}: {path} holds {held:?} rows but {read} were read{when}; nothing committed",
                m.table.qualified()
            )));
        }
    }
    Ok(())
}

/// The rows of the file-tagged relation `tagged`, per file.
async fn rows_per_file(
    ctx: &SessionContext,
    m: &Model,
    tagged: &str,
) -> Result<HashMap<String, u64>> {
    let read = execute(
        ctx,
        m.file,
        &format!("SELECT {FILE_COLUMN}, count(*) FROM {tagged} GROUP BY {FILE_COLUMN}"),
    )
    .await?;
    let mut rows_read: HashMap<String, u64> = HashMap::new();
    for b in &read {
        let counts = arrow::compute::cast(b.column(1), &arrow::datatypes::DataType::UInt64)?;
        let counts = counts
            .as_any()
            .downcast_ref::<arrow::array::UInt64Array>()
            .expect("u64 after cast");
        for (path, n) in texts(std::slice::from_ref(b))?
            .into_iter()
            .zip(counts.iter())
        {
            rows_read.insert(path, n.unwrap_or(0));
        }
    }
    Ok(rows_read)
}

/// The table as a restricted run leaves it: its rows out of the model's scope, and the model's
/// rows (the columns in the table's order, one schema for both).
async fn merge_restricted(
    ctx: &SessionContext,
    m: &Model,
    table: &str,
    scope: &str,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let columns = m.table.column_list();
    let sql = format!(
        "SELECT {columns} FROM {table} WHERE ({scope}) IS NOT TRUE \
         UNION ALL SELECT {columns} FROM {name}",
        name = m.name(),
    );
    query(ctx, m.file, &sql).await
}

type Dropped = Option<(SchemaRef, Vec<RecordBatch>)>;

/// Separates the rows a model leaves out (non-null `_drop_reason`) from the rows it keeps,
/// and removes the column from the kept ones.
fn split_dropped(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(SchemaRef, Vec<RecordBatch>, Dropped)> {
    let Ok(idx) = schema.index_of(DROP_REASON) else {
        return Ok((schema, batches, None));
    };
    let keep_cols: Vec<usize> = (0..schema.fields().len()).filter(|i| *i != idx).collect();
    let kept_schema = Arc::new(schema.project(&keep_cols)?);
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for b in batches {
        let reason = b.column(idx);
        kept.push(filter_record_batch(&b, &is_null(reason)?)?.project(&keep_cols)?);
        dropped.push(filter_record_batch(&b, &is_not_null(reason)?)?);
    }
    Ok((kept_schema, kept, Some((schema, dropped))))
}

fn count_reasons(dropped: &Dropped) -> Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    let Some((schema, batches)) = dropped else {
        return Ok(counts);
    };
    let idx = schema.index_of(DROP_REASON)?;
    for b in batches {
        let reasons = b
            .column(idx)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| Error::Model(format!("{DROP_REASON} must be a string column")))?;
        for r in reasons.iter().flatten() {
            *counts.entry(r.to_string()).or_insert(0) += 1;
        }
    }
    Ok(counts)
}

/// Runs a model's checks on the rows it is about to write.
async fn check(ctx: &SessionContext, out: &Output, restricted: bool) -> Result<Vec<CheckResult>> {
    let relation = format!("{}__written", out.model.name());
    // A restricted run's `references` look at the rows it recomputed: the rows it writes
    // beside them (the rest of the files it replaces) are kept as they were, and so are the
    // rows they refer to (every silver table rewrites an order's rows together). A model
    // with the same scope holds every row those can refer to; one scoped otherwise is
    // merged into the table as the run leaves it, in the partitions the run read.
    let recomputed = match &out.model.scope {
        Scope::Rows(predicate) if restricted => {
            format!("(SELECT * FROM {relation} WHERE {predicate})")
        }
        _ => relation.clone(),
    };
    let schema = match out.rows.first() {
        Some(b) => b.schema(),
        None => ctx.table(out.model.name()).await?.schema().inner().clone(),
    };
    register(ctx, &relation, schema, out.rows.clone())?;
    // the checks of one row at a time in one scan (a query each costs its planning)
    let conditions: Vec<Option<String>> = out
        .model
        .checks
        .iter()
        .map(|(_, c)| c.row_violation())
        .collect();
    let rows: Vec<String> = conditions.iter().flatten().cloned().collect();
    let mut row_counts = Vec::new();
    if !rows.is_empty() {
        let sql = model::row_violations_sql(&relation, &rows);
        let batches = execute(ctx, out.model.file, &sql).await?;
        row_counts = (0..rows.len())
            .map(|i| first_row_i64(&batches, i).unwrap_or(0))
            .collect();
    }
    let mut row_counts = row_counts.into_iter();
    let mut results = Vec::new();
    for ((level, c), condition) in out.model.checks.iter().zip(&conditions) {
        let failing = if condition.is_some() {
            row_counts.next().unwrap_or(0)
        } else {
            let of = match c {
                model::Check::References { .. } => &recomputed,
                _ => &relation,
            };
            let batches = execute(ctx, out.model.file, &c.violations_sql(of)).await?;
            first_i64(&batches).unwrap_or(0)
        };
        results.push(CheckResult {
            table: out.model.table.qualified(),
            check: c.to_string(),
            level: *level,
            failing_rows: failing as u64,
        });
    }
    Ok(results)
}

/// Data files and bytes the run's scans opened, per table read (`metrics.inputs`).
fn scanned(scans: &crate::lake::scanned::ScanLog) -> Value {
    serde_json::to_value(scans.snapshot()).unwrap_or_default()
}

/// Rows of each input at its pinned snapshot: every model reads its inputs whole.
fn rows_read(pinned: &BTreeMap<String, Pinned>) -> Value {
    Value::Object(
        pinned
            .iter()
            .filter_map(|(q, p)| Some((q.clone(), Value::from(p.records?))))
            .collect(),
    )
}

fn table_figures(outputs: &[Output]) -> Value {
    let mut m = Map::new();
    for o in outputs {
        let partitions = match &o.kind {
            Some(CommitKind::OverwritePartitions(p)) => Value::from(p.len()),
            Some(CommitKind::OverwriteFiles(_)) => Value::from(o.partitions),
            Some(CommitKind::Replace) => Value::from("all"),
            _ => Value::from(0),
        };
        m.insert(
            o.model.table.qualified(),
            serde_json::json!({
                "rows_computed": o.computed,
                "rows_written": o.rows.iter().map(|b| b.num_rows()).sum::<usize>(),
                "partitions": partitions,
                "rows_left_out": o.dropped,
            }),
        );
    }
    Value::Object(m)
}

/// Runs a figures file: one-row results become objects, results led by a label column become
/// objects keyed by that label.
async fn figures(ctx: &SessionContext, file: &str, sql: &str) -> Result<Value> {
    let mut out = Map::new();
    for (name, stmt) in model::named_statements(sql) {
        let batches = execute(ctx, file, &stmt).await?;
        let schema = batches
            .first()
            .map(|b| b.schema())
            .unwrap_or_else(|| Arc::new(Schema::empty()));
        let mut writer = arrow::json::ArrayWriter::new(Vec::new());
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        writer.write_batches(&refs)?;
        writer.finish()?;
        let rows: Vec<Map<String, Value>> =
            serde_json::from_slice(&writer.into_inner()).unwrap_or_default();
        let labelled = schema
            .fields()
            .first()
            .is_some_and(|f| f.data_type() == &arrow::datatypes::DataType::Utf8);
        let value = if labelled {
            let label = schema.field(0).name().clone();
            let mut by = Map::new();
            for mut row in rows {
                let key = row
                    .remove(&label)
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                by.insert(key, Value::Object(row));
            }
            Value::Object(by)
        } else {
            rows.into_iter()
                .next()
                .map(Value::Object)
                .unwrap_or(Value::Null)
        };
        out.insert(name, value);
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Periods as a prelude relation lists them (`periods_of`).
    fn periods(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_narrow_read_takes_the_columns_of_the_scope_and_the_partition() {
        let models = super::super::jobs::SILVER_BUILD.models().unwrap();
        let model = |table: &str| {
            models
                .iter()
                .find(|m| m.table.name == table)
                .expect("a silver model")
        };
        let scope = |m: &Model| match &m.scope {
            Scope::Rows(p) => p.clone(),
            Scope::All => panic!("a scoped model"),
        };
        let users = model("user_location");
        let sources = [source("user_type", Transform::Identity, false)];
        assert_eq!(
            narrow_columns(users, &scope(users), &sources),
            "\"user_id\", \"user_type\""
        );
        // a partition column the scope does not name is read too
        let items = model("order_product");
        let sources = [source("delivered_customer", Transform::Month, true)];
        assert_eq!(
            narrow_columns(items, &scope(items), &sources),
            "\"order_id\", \"delivered_customer\""
        );
    }

    fn source(column: &str, transform: Transform, timestamp: bool) -> PartitionSource {
        PartitionSource {
            column: column.into(),
            transform,
            timestamp,
        }
    }

    #[test]
    fn a_scope_reads_partition_columns_truncated_to_their_period() {
        assert_eq!(partition_keys(&[]), "1 AS touched");
        assert_eq!(
            partition_keys(&[source("period", Transform::Identity, false)]),
            "DISTINCT \"period\""
        );
        assert_eq!(
            partition_keys(&[
                source("delivered_customer", Transform::Month, true),
                source("day", Transform::Day, false)
            ]),
            "DISTINCT date_trunc('month', \"delivered_customer\") AS \"delivered_customer\", \"day\""
        );
        // one column under two transforms is read as it is, once
        assert_eq!(
            partition_keys(&[
                source("t", Transform::Day, true),
                source("t", Transform::Hour, true)
            ]),
            "DISTINCT \"t\""
        );
    }

    #[test]
    fn touched_quarters_become_merged_delivery_ranges() {
        let q = periods;
        assert_eq!(quarter_ranges("d", &q(&[])), "FALSE");
        assert_eq!(quarter_ranges("d", &q(&["2017-Q5"])), "TRUE");
        assert_eq!(quarter_ranges("d", &q(&["ALL"])), "TRUE");
        let r = quarter_ranges("d", &q(&["2018-Q1", "2017-Q4", "2017-Q2", "2017-Q4"]));
        assert_eq!(
            r,
            "((d >= CAST('2017-04-01 00:00:00.000000' AS TIMESTAMP) \
             AND d < CAST('2017-07-01 00:00:00.000000' AS TIMESTAMP)) \
             OR (d >= CAST('2017-10-01 00:00:00.000000' AS TIMESTAMP) \
             AND d < CAST('2018-04-01 00:00:00.000000' AS TIMESTAMP)))"
        );
    }

    #[test]
    fn affected_months_become_merged_delivery_ranges() {
        let m = periods;
        assert_eq!(month_ranges("d", &m(&[])), "FALSE");
        // not a month's first day, or not a date: read everything
        assert_eq!(month_ranges("d", &m(&["2017-12-02"])), "TRUE");
        assert_eq!(month_ranges("d", &m(&["2017-12"])), "TRUE");
        let r = month_ranges("d", &m(&["2018-01-01", "2017-12-01", "2017-09-01"]));
        assert_eq!(
            r,
            "((d >= CAST('2017-09-01 00:00:00.000000' AS TIMESTAMP) \
             AND d < CAST('2017-10-01 00:00:00.000000' AS TIMESTAMP)) \
             OR (d >= CAST('2017-12-01 00:00:00.000000' AS TIMESTAMP) \
             AND d < CAST('2018-02-01 00:00:00.000000' AS TIMESTAMP)))"
        );
    }

    #[test]
    fn an_interval_covers_the_quarters_of_its_days() {
        let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            quarters_between(d("2017-11-24"), d("2017-11-25")),
            ["2017-Q4"]
        );
        assert_eq!(
            quarters_between(d("2017-12-30"), d("2018-04-01")),
            ["2017-Q4", "2018-Q1"]
        );
        assert!(quarters_between(d("2017-01-01"), d("2017-01-01")).is_empty());
    }
}
