//! What a batch job pushes to the Pushgateway, derived from its JSON run summary (so the
//! metrics and the summary cannot disagree). Three groups, each replaced as a whole:
//! - `{job}`: the last run (duration, exit code, rows per table, checks, phase timings);
//! - `{job, record="last_success"}`: the end time of the last successful run, pushed only on
//!   success, so a failed run does not erase it;
//! - `{job="gold-leadtime", category, as_of}`: the delivery figures as of a data time, one
//!   group per data time, so re-running an interval replaces its figures and a backfill
//!   leaves the history queryable by the `as_of` label.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde_json::Value;

use super::Exposition;

/// Monitor stages and days-overdue buckets, always all pushed (0 when empty) so that a
/// stage that empties reads 0 instead of disappearing.
pub const STAGES: [&str; 3] = ["awaiting_approval", "awaiting_carrier", "in_transit"];
pub const OVERDUE_BUCKETS: [&str; 5] = ["1-3", "4-7", "8-14", "15-30", "31+"];
const LEAD_TIME_STAGES: [&str; 4] = ["approve", "carrier", "customer", "total"];

/// One Pushgateway group and its metrics.
#[derive(Debug)]
pub struct Group {
    pub grouping: Vec<(String, String)>,
    pub metrics: Exposition,
}

impl Group {
    fn new(grouping: &[(&str, &str)]) -> Group {
        Group {
            grouping: grouping
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            metrics: Exposition::default(),
        }
    }
}

/// The groups a run pushes, from its summary and the wall time it finished (Unix seconds).
pub fn groups(summary: &Value, finished_s: f64) -> Vec<Group> {
    let job = summary["job"].as_str().unwrap_or("unknown");
    let mut out = vec![run_group(job, summary, finished_s)];
    if matches!(summary["status"].as_str(), Some("ok" | "nothing_to_do")) {
        let mut g = Group::new(&[("job", job), ("record", "last_success")]);
        g.metrics.gauge(
            "olistlake_job_last_success_timestamp_seconds",
            "End time of the job's last successful run (exit 0 or 99), Unix seconds.",
            &[],
            finished_s,
        );
        out.push(g);
    }
    if let Some(g) = delivery_group(job, summary) {
        out.push(g);
    }
    out
}

fn run_group(job: &str, s: &Value, finished_s: f64) -> Group {
    let mut g = Group::new(&[("job", job)]);
    let m = &mut g.metrics;
    let metrics = &s["metrics"];
    m.gauge(
        "olistlake_job_duration_seconds",
        "Wall time of the job's last run.",
        &[],
        s["duration_s"].as_f64().unwrap_or(0.0),
    );
    m.gauge(
        "olistlake_job_exit_code",
        "Exit code of the job's last run: 0 ok, 99 nothing to do, 75 retryable, 1 failed.",
        &[],
        s["exit_code"].as_f64().unwrap_or(1.0),
    );
    m.gauge(
        "olistlake_job_last_run_timestamp_seconds",
        "End time of the job's last run, whatever its outcome, Unix seconds.",
        &[],
        finished_s,
    );
    if let Some(end) = s["interval"]["end"].as_str().and_then(unix_seconds) {
        m.gauge(
            "olistlake_job_interval_end_timestamp_seconds",
            "End of the data interval of the job's last run (absent for an open end), Unix seconds.",
            &[],
            end,
        );
    }

    // Rows read: bronze-load reads messages per topic; silver and gold read their inputs whole.
    let mut read: BTreeMap<String, f64> = BTreeMap::new();
    let mut quarantined: BTreeMap<String, f64> = BTreeMap::new();
    if let Some(topics) = metrics["topics"].as_object() {
        for (topic, t) in topics {
            let table = format!("bronze.{topic}");
            read.insert(table.clone(), num(&t["messages"]));
            quarantined.insert(table, num(&t["quarantined"]));
        }
    }
    if let Some(inputs) = metrics["rows_read"].as_object() {
        for (table, n) in inputs {
            read.insert(table.clone(), num(n));
        }
    }
    let (mut files, mut bytes): (BTreeMap<String, f64>, BTreeMap<String, f64>) = Default::default();
    if let Some(inputs) = metrics["inputs"].as_object() {
        for (table, t) in inputs {
            files.insert(table.clone(), num(&t["files_scanned"]));
            bytes.insert(table.clone(), num(&t["bytes_scanned"]));
        }
    }
    let mut written: BTreeMap<String, f64> = BTreeMap::new();
    for c in s["commits"].as_array().into_iter().flatten() {
        let table = c["table"].as_str().unwrap_or("unknown").to_string();
        *written.entry(table).or_default() += num(&c["added_records"]);
    }
    let mut partitions: BTreeMap<String, f64> = BTreeMap::new();
    if let Some(tables) = metrics["tables"].as_object() {
        for (table, t) in tables {
            let left_out = t["rows_left_out"]
                .as_object()
                .map_or(0.0, |r| r.values().map(num).sum());
            quarantined.insert(table.clone(), left_out);
            written.entry(table.clone()).or_default();
            if let Some(p) = t["partitions"].as_f64() {
                partitions.insert(table.clone(), p);
            }
        }
    }
    for (name, help, values) in [
        (
            "olistlake_job_rows_read",
            "Rows the job's last run read, per input table (bronze-load: messages per topic).",
            &read,
        ),
        (
            "olistlake_job_rows_written",
            "Rows the job's last run committed, per table.",
            &written,
        ),
        (
            "olistlake_job_rows_quarantined",
            "Rows the job's last run set aside, per table: messages sent to bronze._quarantine \
             by bronze-load, rows left out with a _drop_reason by silver and gold.",
            &quarantined,
        ),
        (
            "olistlake_job_partitions_rewritten",
            "Partitions the job's last run overwrote, per partitioned table.",
            &partitions,
        ),
        (
            "olistlake_job_files_scanned",
            "Data files the last run of a silver or gold job opened, per table read.",
            &files,
        ),
        (
            "olistlake_job_bytes_scanned",
            "Bytes of the data files the last run of a silver or gold job opened, per table read.",
            &bytes,
        ),
    ] {
        for (table, n) in values {
            m.gauge(name, help, &[("table", table)], *n);
        }
    }

    if let Some(checks) = metrics["checks"].as_array() {
        for level in ["error", "warn"] {
            let of_level = checks.iter().filter(|c| c["level"] == level);
            let total = of_level.clone().count() as f64;
            let failed = of_level
                .filter(|c| c["failing_rows"].as_u64().unwrap_or(0) > 0)
                .count() as f64;
            m.gauge(
                "olistlake_job_checks",
                "Data checks the job's last run evaluated, per level.",
                &[("level", level)],
                total,
            );
            m.gauge(
                "olistlake_job_checks_failed",
                "Data checks that failed in the job's last run, per level (an error aborts the commits).",
                &[("level", level)],
                failed,
            );
        }
    }
    if let Some(phases) = metrics["timings_s"].as_object() {
        for (phase, v) in phases {
            let help = "Wall time of one phase of the job's last run (per table: compute, scope).";
            match v {
                Value::Object(parts) => {
                    for (part, secs) in parts {
                        m.gauge(
                            "olistlake_job_phase_duration_seconds",
                            help,
                            &[("phase", part), ("table", phase)],
                            num(secs),
                        );
                    }
                }
                secs => m.gauge(
                    "olistlake_job_phase_duration_seconds",
                    help,
                    &[("phase", phase)],
                    num(secs),
                ),
            }
        }
    }
    g
}

/// gold-leadtime's delivery figures, labelled by the data time they hold as of.
fn delivery_group(job: &str, s: &Value) -> Option<Group> {
    let f = &s["metrics"]["figures"];
    let as_of_text = f["monitor"]["as_of"].as_str()?;
    let as_of = unix_seconds(as_of_text)?;
    let as_of_label = chrono::DateTime::from_timestamp(as_of as i64, 0)?
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let category = s["metrics"]["category"].as_str().unwrap_or("unknown");
    let mut g = Group::new(&[
        ("job", job),
        ("category", category),
        ("as_of", &as_of_label),
    ]);
    let m = &mut g.metrics;
    m.gauge(
        "olistlake_delivery_data_time_seconds",
        "Data time the delivery figures hold as of (the run's interval end), Unix seconds.",
        &[],
        as_of,
    );
    for stage in STAGES {
        m.gauge(
            "olistlake_delivery_open_orders",
            "Orders not yet delivered nor canceled as of the data time, per stage.",
            &[("stage", stage)],
            num(&f["open_by_stage"][stage]["orders"]),
        );
    }
    for bucket in OVERDUE_BUCKETS {
        m.gauge(
            "olistlake_delivery_overdue_orders",
            "Open orders past their estimated delivery date as of the data time, per days-overdue bucket.",
            &[("days_overdue", bucket)],
            num(&f["overdue_by_days"][bucket]["orders"]),
        );
    }
    if let Some(by_category) = f["overdue_by_category"].as_object() {
        for (category, v) in by_category {
            m.gauge(
                "olistlake_delivery_overdue_orders_by_category",
                "Open orders past their estimate as of the data time, per product category of the order's first item.",
                &[("product_category", category)],
                num(&v["orders"]),
            );
        }
    }
    let d = &f["deliveries"];
    m.gauge(
        "olistlake_delivery_delivered_orders",
        "Orders delivered in the run's interval (the whole history on a full refresh).",
        &[],
        num(&d["delivered_orders"]),
    );
    m.gauge(
        "olistlake_delivery_late_orders",
        "Orders delivered in the run's interval after their estimated delivery date.",
        &[],
        num(&d["late_orders"]),
    );
    if let Some(share) = d["late_share"].as_f64() {
        m.gauge(
            "olistlake_delivery_late_ratio",
            "Share of the interval's deliveries that were late (0-1; absent with no delivery).",
            &[],
            share,
        );
    }
    for stage in LEAD_TIME_STAGES {
        for (quantile, key) in [("0.5", "median"), ("0.9", "p90")] {
            if let Some(hours) = f["lead_time_hours"][stage][key].as_f64() {
                m.gauge(
                    "olistlake_delivery_lead_time_seconds",
                    "Lead time of the interval's deliveries per stage (approve, carrier, customer, total), exact quantiles.",
                    &[("stage", stage), ("quantile", quantile)],
                    hours * 3600.0,
                );
            }
        }
    }
    Some(g)
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn unix_seconds(text: &str) -> Option<f64> {
    let t: NaiveDateTime = crate::job::parse_instant(text).ok()?;
    Some(t.and_utc().timestamp_millis() as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn leadtime_summary(status: &str) -> Value {
        json!({
            "job": "gold-leadtime", "status": status, "exit_code": 0, "duration_s": 2.5,
            "interval": {"start": "2017-06-01T00:00:00", "end": "2017-06-02T00:00:00"},
            "commits": [{"table": "gold.delivery_monitor", "added_records": 15}],
            "metrics": {
                "category": "health_beauty",
                "rows_read": {"silver.order_timestamp": 994},
                "inputs": {"bronze.order_status": {"scans": 2, "files_scanned": 3, "bytes_scanned": 4096, "file_opens": 4}},
                "tables": {"gold.delivery_monitor": {"rows_written": 15, "partitions": "all",
                           "rows_left_out": {"no date": 2}},
                           "gold.timestamp_stats_wide": {"rows_written": 0, "partitions": 0,
                           "rows_left_out": {}}},
                "checks": [{"level": "error", "failing_rows": 0}, {"level": "warn", "failing_rows": 3}],
                "timings_s": {"views": 0.5, "gold.delivery_monitor": {"compute": 1.0, "scope": 0.1}},
                "figures": {
                    "monitor": {"as_of": "2017-06-02T00:00:00", "open_orders": 4, "overdue_orders": 1},
                    "open_by_stage": {"in_transit": {"orders": 3}, "awaiting_carrier": {"orders": 1}},
                    "overdue_by_days": {"4-7": {"orders": 1}},
                    "overdue_by_category": {"health_beauty": {"orders": 1}},
                    "deliveries": {"delivered_orders": 10, "late_orders": 1, "late_share": 0.1},
                    "lead_time_hours": {"total": {"median": 240.0, "p90": 480.0}}
                }
            }
        })
    }

    #[test]
    fn a_successful_leadtime_run_pushes_three_groups() {
        let g = groups(&leadtime_summary("ok"), 1e9);
        assert_eq!(g.len(), 3);
        let run = g[0].metrics.render();
        for line in [
            "olistlake_job_duration_seconds 2.5",
            "olistlake_job_exit_code 0",
            "olistlake_job_interval_end_timestamp_seconds 1496361600",
            "olistlake_job_rows_read{table=\"silver.order_timestamp\"} 994",
            "olistlake_job_files_scanned{table=\"bronze.order_status\"} 3",
            "olistlake_job_bytes_scanned{table=\"bronze.order_status\"} 4096",
            "olistlake_job_rows_written{table=\"gold.delivery_monitor\"} 15",
            "olistlake_job_rows_written{table=\"gold.timestamp_stats_wide\"} 0",
            "olistlake_job_rows_quarantined{table=\"gold.delivery_monitor\"} 2",
            "olistlake_job_partitions_rewritten{table=\"gold.timestamp_stats_wide\"} 0",
            "olistlake_job_checks{level=\"warn\"} 1",
            "olistlake_job_checks_failed{level=\"warn\"} 1",
            "olistlake_job_checks_failed{level=\"error\"} 0",
            "olistlake_job_phase_duration_seconds{phase=\"compute\",table=\"gold.delivery_monitor\"} 1",
        ] {
            assert!(run.lines().any(|l| l == line), "{line} missing in\n{run}");
        }
        assert_eq!(g[1].grouping[1], ("record".into(), "last_success".into()));
        let d = &g[2];
        assert_eq!(
            d.grouping[2],
            ("as_of".into(), "2017-06-02T00:00:00Z".into())
        );
        let body = d.metrics.render();
        for line in [
            "olistlake_delivery_data_time_seconds 1496361600",
            "olistlake_delivery_open_orders{stage=\"awaiting_approval\"} 0",
            "olistlake_delivery_open_orders{stage=\"in_transit\"} 3",
            "olistlake_delivery_overdue_orders{days_overdue=\"4-7\"} 1",
            "olistlake_delivery_overdue_orders{days_overdue=\"31+\"} 0",
            "olistlake_delivery_overdue_orders_by_category{product_category=\"health_beauty\"} 1",
            "olistlake_delivery_late_ratio 0.1",
            "olistlake_delivery_lead_time_seconds{stage=\"total\",quantile=\"0.9\"} 1728000",
        ] {
            assert!(body.lines().any(|l| l == line), "{line} missing in\n{body}");
        }
    }

    #[test]
    fn a_failed_run_keeps_the_last_success_and_pushes_no_figures() {
        let mut s = leadtime_summary("failed");
        s["exit_code"] = json!(1);
        s["metrics"]["figures"] = Value::Null;
        let g = groups(&s, 1e9);
        assert_eq!(g.len(), 1);
        assert!(
            g[0].metrics
                .render()
                .contains("olistlake_job_exit_code 1\n")
        );
    }

    #[test]
    fn bronze_load_reads_messages_per_topic() {
        let s = json!({"job": "bronze-load", "status": "nothing_to_do", "exit_code": 99,
            "duration_s": 1.0, "interval": {"start": null, "end": null}, "commits": [],
            "metrics": {"topics": {"payment": {"messages": 5, "rows": 4, "quarantined": 1}}}});
        let g = groups(&s, 1e9);
        assert_eq!(g.len(), 2);
        let body = g[0].metrics.render();
        assert!(body.contains("olistlake_job_rows_read{table=\"bronze.payment\"} 5\n"));
        assert!(body.contains("olistlake_job_rows_quarantined{table=\"bronze.payment\"} 1\n"));
        assert!(!body.contains("olistlake_job_interval_end"));
    }
}
