//! Monitoring end to end, against real services: `./monitoring.sh up` starts Prometheus and
//! the Pushgateway (Debian packages) and Superset (its venv) on free 127.0.0.1 ports; the demo
//! pipeline and a few interval runs push their metrics; a replay producer serves `/metrics`.
//! Then, through Prometheus's HTTP API: every metric of docs/metrics.md exists with its labels
//! and the values of the jobs' JSON summaries; every Grafana panel's PromQL returns data; the
//! alert rules pass promtool and evaluate cleanly. Superset: the bundle imports into the fresh
//! instance, every chart's own query (as the browser makes it) returns rows, and screenshots of
//! every dashboard are not blank (kept in test-artifacts/superset/).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn bin_dir() -> PathBuf {
    common::binary("olistlake").parent().unwrap().to_path_buf()
}

fn last_json(stdout: &[u8]) -> Value {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in:\n{text}"));
    serde_json::from_str(line).unwrap()
}

/// `monitoring.sh` with its state in a temporary directory; `down` on drop.
struct Monitoring {
    dir: TempDir,
    env: BTreeMap<String, String>,
}

impl Monitoring {
    fn command(&self, demo: &Path) -> Command {
        let mut c = Command::new(root().join("monitoring.sh"));
        c.env("OLISTLAKE_DEMO_DIR", demo)
            .env("OLISTLAKE_MONITORING_DIR", self.dir.path())
            .env_remove("OLISTLAKE_WAREHOUSE")
            .env_remove("OLISTLAKE_CATALOG_URI");
        c
    }

    fn up(demo: &Path, replay_addr: &str) -> Monitoring {
        let mut m = Monitoring {
            dir: TempDir::new().unwrap(),
            env: BTreeMap::new(),
        };
        let out = m
            .command(demo)
            .args(["up"])
            .env("PROMETHEUS_PORT", "0")
            .env("PUSHGATEWAY_PORT", "0")
            .env("SUPERSET_PORT", "0")
            .env("SCRAPE_INTERVAL", "1s")
            .env("REPLAY_METRICS_ADDR", replay_addr)
            .env("SUPERSET_ADMIN_PASSWORD", "test-only-password")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "monitoring.sh up failed:\n{text}");
        let env = std::fs::read_to_string(m.dir.path().join("env")).unwrap();
        for line in env.lines() {
            if let Some((k, v)) = line.trim_start_matches("export ").split_once('=') {
                m.env.insert(k.to_string(), v.to_string());
            }
        }
        m
    }

    fn url(&self, key: &str) -> &str {
        &self.env[key]
    }
}

impl Drop for Monitoring {
    fn drop(&mut self) {
        let _ = self
            .command(Path::new("."))
            .arg("down")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// An instant query; panics on an API error (a bad expression).
async fn query(prometheus: &str, expr: &str) -> Vec<Value> {
    let resp: Value = reqwest::Client::new()
        .post(format!("{prometheus}/api/v1/query"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("query={}", form_encode(expr)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["status"], "success", "{expr}: {resp}");
    resp["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn value(sample: &Value) -> f64 {
    sample["value"][1].as_str().unwrap().parse().unwrap()
}

/// The one sample of `expr`.
async fn scalar(prometheus: &str, expr: &str) -> f64 {
    let r = query(prometheus, expr).await;
    assert_eq!(r.len(), 1, "{expr}: {r:?}");
    value(&r[0])
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Waits until `expr` returns at least `n` series.
async fn wait_for(prometheus: &str, expr: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if query(prometheus, expr).await.len() >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never returned {n} of {expr}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The metric tables of docs/metrics.md: name → documented labels.
fn metric_spec() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let doc = std::fs::read_to_string(root().join("docs/metrics.md")).unwrap();
    let mut spec = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `olistlake_")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_string();
        let labels = cells[3]
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        spec.insert(name, (cells[2].to_string(), labels));
    }
    assert!(
        spec.len() >= 25,
        "docs/metrics.md lists {} metrics",
        spec.len()
    );
    spec
}

/// A producer serving /metrics that stays up after replaying (`--hold`).
struct Replay {
    /// Taken by `stop`; killed on drop otherwise.
    child: Option<Child>,
    _broker: common::Broker,
}

impl Replay {
    fn start(demo: &Path, dir: &Path, addr: &str) -> Replay {
        let broker = common::Broker::start();
        let child = Command::new(bin_dir().join("olist-replay"))
            .args(["--prepared", &demo.join("prepared").display().to_string()])
            .args(["--speed", "max", "--hold", "--metrics-addr", addr])
            .env("OLISTLAKE_KAFKA_BOOTSTRAP", &broker.bootstrap)
            .env("OLISTLAKE_WAREHOUSE", dir.join("replay-lake"))
            .env_remove("OLISTLAKE_CATALOG_URI")
            .env("OLISTLAKE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Replay {
            child: Some(child),
            _broker: broker,
        }
    }

    /// SIGTERM, then the producer's summary.
    fn stop(mut self) -> Value {
        let child = self.child.take().unwrap();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "replay: {:?}", out.status);
        last_json(&out.stdout)
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs a job pushing to `pushgateway`; its exit code must be one of `codes`.
fn run_job(job: &str, args: &[&str], warehouse: &Path, pushgateway: &str, codes: &[i32]) -> Value {
    let out = Command::new(bin_dir().join(job))
        .args(args)
        .env("OLISTLAKE_WAREHOUSE", warehouse)
        .env_remove("OLISTLAKE_CATALOG_URI")
        .env("OLISTLAKE_PUSHGATEWAY", pushgateway)
        .env("OLISTLAKE_LOG", "warn")
        .output()
        .unwrap();
    let summary = last_json(&out.stdout);
    assert!(
        codes.contains(&out.status.code().unwrap_or(-1)),
        "{job} {args:?}: {summary}"
    );
    summary
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_dashboards_and_alerts_after_a_pipeline_run() {
    let work = TempDir::new().unwrap();
    let demo = work.path().join("demo");
    std::fs::create_dir_all(&demo).unwrap();
    let replay_addr = format!("127.0.0.1:{}", common::free_port());
    let mon = Monitoring::up(&demo, &replay_addr);
    let prometheus = mon.url("PROMETHEUS_URL").to_string();
    let pushgateway = mon.url("PUSHGATEWAY_URL").to_string();

    // The demo pipeline, pushing (bronze-load, then full refreshes of silver and gold).
    common::run_ok(
        Command::new(root().join("demo.sh"))
            .env("OLISTLAKE_DEMO_DIR", &demo)
            .env("OLISTLAKE_BIN_DIR", bin_dir())
            .env("OLISTLAKE_PUSHGATEWAY", &pushgateway)
            .env_remove("OLISTLAKE_WAREHOUSE")
            .env_remove("OLISTLAKE_CATALOG_URI"),
    );
    let demo_summary =
        |job: &str| last_json(&std::fs::read(demo.join(format!("{job}.json"))).unwrap());
    let mut last: BTreeMap<&str, Value> =
        ["bronze-load", "silver-build", "gold-bcg", "gold-leadtime"]
            .into_iter()
            .map(|j| (j, demo_summary(j)))
            .collect();
    let mut leadtime_runs = vec![last["gold-leadtime"].clone()];

    // Three weekly intervals as a scheduler runs them: each gold-leadtime run pushes its
    // figures under its own data time.
    let warehouse = demo.join("lakehouse");
    for (start, end) in [
        ("2018-03-05", "2018-03-12"),
        ("2018-03-12", "2018-03-19"),
        ("2018-03-19", "2018-03-26"),
    ] {
        let interval = ["--start", start, "--end", end];
        last.insert(
            "silver-build",
            run_job(
                "silver-build",
                &interval,
                &warehouse,
                &pushgateway,
                &[0, 99],
            ),
        );
        let s = run_job("gold-leadtime", &interval, &warehouse, &pushgateway, &[0]);
        assert_eq!(
            s["exit_code"], 0,
            "a week of the fixture has deliveries: {s}"
        );
        last.insert("gold-leadtime", s.clone());
        leadtime_runs.push(s);
    }

    // A failing run (a bad --category: exit 1) pushes its failure and keeps the last success.
    let failed = run_job(
        "gold-bcg",
        &["--full-refresh", "--category", "Not a category"],
        &warehouse,
        &pushgateway,
        &[1],
    );
    assert_eq!(failed["status"], "failed");
    last.insert("gold-bcg", failed);

    // The producer, replaying into its own broker and holding /metrics.
    let replay = Replay::start(&demo, work.path(), &replay_addr);
    wait_for(&prometheus, "olistlake_replay_done == 1", 1).await;
    wait_for(&prometheus, "olistlake_delivery_data_time_seconds", 4).await;
    wait_for(
        &prometheus,
        r#"olistlake_job_exit_code{job="gold-bcg"} == 1"#,
        1,
    )
    .await;
    // the last interval run's push must have been scraped
    let last_end = 1522022400.0; // 2018-03-26
    let deadline = Instant::now() + Duration::from_secs(30);
    while scalar(
        &prometheus,
        r#"olistlake_job_interval_end_timestamp_seconds{job="gold-leadtime"}"#,
    )
    .await
        != last_end
    {
        assert!(
            Instant::now() < deadline,
            "the last push never reached Prometheus"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // 1. Every metric of the spec, with its labels.
    for (name, (kind, labels)) in metric_spec() {
        let series = query(&prometheus, &name).await;
        assert!(!series.is_empty(), "{name} ({kind}) is not in Prometheus");
        let seen: BTreeSet<String> = series
            .iter()
            .flat_map(|s| s["metric"].as_object().unwrap().keys().cloned())
            .collect();
        for l in &labels {
            assert!(
                seen.contains(l),
                "{name}: label {l} missing (seen {seen:?})"
            );
        }
        // the Prometheus metadata API knows its type (from the exposition's TYPE line)
        let meta: Value = reqwest::get(format!("{prometheus}/api/v1/metadata?metric={name}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            meta["data"][&name][0]["type"],
            kind.as_str(),
            "{name}: {meta}"
        );
    }

    // 2. Values are those of the job summaries.
    let mut expected: Vec<(String, f64)> = Vec::new();
    let num = |v: &Value| v.as_f64().unwrap_or(0.0);
    for (job, s) in &last {
        let m = &s["metrics"];
        let sel = |extra: &str| format!(r#"{{job="{job}"{extra}}}"#);
        expected.push((
            format!("olistlake_job_exit_code{}", sel("")),
            num(&s["exit_code"]),
        ));
        expected.push((
            format!("olistlake_job_duration_seconds{}", sel("")),
            num(&s["duration_s"]),
        ));
        let mut written: BTreeMap<String, f64> = BTreeMap::new();
        for c in s["commits"].as_array().unwrap() {
            *written
                .entry(c["table"].as_str().unwrap().into())
                .or_default() += num(&c["added_records"]);
        }
        let by_key = |field: &Value, f: &dyn Fn(&Value) -> f64| -> Vec<(String, f64)> {
            field
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), f(v)))
                .collect()
        };
        let labelled = [
            (
                "olistlake_job_rows_written",
                "table",
                written.into_iter().collect(),
            ),
            (
                "olistlake_job_checks_failed",
                "level",
                by_key(&m["checks_failed"], &num),
            ),
            (
                "olistlake_job_rows_read",
                "table",
                by_key(&m["rows_read"], &num),
            ),
            (
                "olistlake_job_files_scanned",
                "table",
                by_key(&m["inputs"], &|t| num(&t["files_scanned"])),
            ),
            (
                "olistlake_job_bytes_scanned",
                "table",
                by_key(&m["inputs"], &|t| num(&t["bytes_scanned"])),
            ),
            (
                "olistlake_job_rows_read",
                "table",
                by_key(&m["topics"], &|t| num(&t["messages"]))
                    .into_iter()
                    .map(|(topic, n)| (format!("bronze.{topic}"), n))
                    .collect(),
            ),
        ];
        for (metric, label, values) in labelled {
            for (key, n) in values {
                expected.push((
                    format!(r#"{metric}{}"#, sel(&format!(r#",{label}="{key}""#))),
                    n,
                ));
            }
        }
    }
    for run in &leadtime_runs {
        let f = &run["metrics"]["figures"];
        let as_of = chrono::NaiveDateTime::parse_from_str(
            f["monitor"]["as_of"].as_str().unwrap(),
            "%Y-%m-%dT%H:%M:%S%.f",
        )
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
        let sel = |extra: &str| {
            format!(r#"{{job="gold-leadtime",category="health_beauty",as_of="{as_of}"{extra}}}"#)
        };
        for stage in ["awaiting_approval", "awaiting_carrier", "in_transit"] {
            expected.push((
                format!(
                    "olistlake_delivery_open_orders{}",
                    sel(&format!(r#",stage="{stage}""#))
                ),
                num(&f["open_by_stage"][stage]["orders"]),
            ));
        }
        expected.push((
            format!("sum(olistlake_delivery_overdue_orders{})", sel("")),
            num(&f["monitor"]["overdue_orders"]),
        ));
        let d = &f["deliveries"];
        expected.push((
            format!("olistlake_delivery_delivered_orders{}", sel("")),
            num(&d["delivered_orders"]),
        ));
        expected.push((
            format!("olistlake_delivery_late_ratio{}", sel("")),
            num(&d["late_share"]),
        ));
        for stage in ["approve", "carrier", "customer", "total"] {
            for (q, key) in [("0.5", "median"), ("0.9", "p90")] {
                let labels = format!(r#",stage="{stage}",quantile="{q}""#);
                expected.push((
                    format!("olistlake_delivery_lead_time_seconds{}", sel(&labels)),
                    num(&f["lead_time_hours"][stage][key]) * 3600.0,
                ));
            }
        }
    }
    assert!(expected.len() > 100, "{} values compared", expected.len());
    for (expr, want) in &expected {
        let got = scalar(&prometheus, expr).await;
        assert!(
            close(got, *want),
            "{expr}: Prometheus has {got}, the summary {want}"
        );
    }

    // The failure is what the alert selects; the last success survived it.
    let failing = query(
        &prometheus,
        "olistlake_job_exit_code != 0 and olistlake_job_exit_code != 99",
    )
    .await;
    assert_eq!(failing.len(), 1, "{failing:?}");
    assert_eq!(failing[0]["metric"]["job"], "gold-bcg");
    let success = r#"olistlake_job_last_success_timestamp_seconds{job="gold-bcg"}"#;
    let last_run = r#"olistlake_job_last_run_timestamp_seconds{job="gold-bcg"}"#;
    assert!(
        scalar(&prometheus, success).await < scalar(&prometheus, last_run).await,
        "the failed run erased or moved the last success time"
    );

    // 3. Every Grafana panel's PromQL runs and returns data.
    let datasource = std::fs::read_to_string(
        root().join("docker/grafana/provisioning/datasources/prometheus.yaml"),
    )
    .unwrap();
    let mut panels = 0;
    for entry in std::fs::read_dir(root().join("docker/grafana/dashboards")).unwrap() {
        let path = entry.unwrap().path();
        let dash: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let vars: BTreeMap<String, String> = dash["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["name"].as_str().unwrap().to_string(),
                    v["current"]["value"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        for panel in dash["panels"].as_array().unwrap() {
            let title = panel["title"].as_str().unwrap();
            let uid = panel["datasource"]["uid"].as_str().unwrap();
            assert!(
                datasource.contains(&format!("uid: {uid}")),
                "{title}: datasource {uid}"
            );
            for target in panel["targets"].as_array().unwrap() {
                let mut expr = target["expr"].as_str().unwrap().to_string();
                for (k, v) in &vars {
                    expr = expr
                        .replace(&format!("${{{k}}}"), v)
                        .replace(&format!("${k}"), v);
                }
                expr = expr
                    .replace("$__rate_interval", "1m")
                    .replace("$__interval", "15s")
                    .replace("$__range", "1h");
                assert!(
                    !expr.contains('$'),
                    "{title}: unresolved variable in {expr}"
                );
                let r = query(&prometheus, &expr).await;
                assert!(
                    !r.is_empty(),
                    "{}: panel {title}: {expr} returned nothing",
                    path.display()
                );
                panels += 1;
            }
        }
    }
    assert!(panels >= 20, "{panels} panel queries");

    // 4. Alert rules: promtool, then the live evaluation of the rules Prometheus loaded.
    for args in [
        vec!["check", "rules", "docker/prometheus/rules.yml"],
        vec!["test", "rules", "docker/prometheus/rules.test.yml"],
        vec!["check", "config", "docker/prometheus/prometheus.yml"],
    ] {
        common::run_ok(Command::new("promtool").args(&args).current_dir(root()));
    }
    let rules: Value = reqwest::get(format!("{prometheus}/api/v1/rules"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut alerts = 0;
    for group in rules["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let name = rule["name"].as_str().unwrap();
            assert_eq!(rule["health"], "ok", "{name}: {rule}");
            let q = rule["query"].as_str().unwrap();
            query(&prometheus, q).await; // evaluates without error
            // each series it reads exists
            for metric in metric_names(q) {
                assert!(
                    !query(&prometheus, &metric).await.is_empty(),
                    "{name} reads {metric}, which has no data"
                );
            }
            alerts += usize::from(rule["type"] == "alerting");
        }
    }
    assert_eq!(alerts, 5, "{rules}");

    // The producer's counters are its summary's figures.
    let events = query(&prometheus, "olistlake_replay_events_total").await;
    let errors = scalar(&prometheus, "olistlake_replay_errors_total").await;
    let report = replay.stop();
    let sent = &report["report"]["sent"];
    assert_eq!(events.len(), sent.as_object().unwrap().len());
    for s in &events {
        let topic = s["metric"]["topic"].as_str().unwrap();
        assert_eq!(value(s), sent[topic].as_f64().unwrap(), "events of {topic}");
    }
    assert_eq!(errors, 0.0);

    // 5. Superset: views over the new gold snapshots, then every dashboard in a browser.
    let out = mon.command(&demo).arg("refresh").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        last_json(&out.stdout)["changed"],
        true,
        "gold changed since `up`"
    );
    let duckdb = mon.dir.path().join("lake.duckdb");
    common::run_ok(Command::new(common::superset_python()).args([
        root().join("docker/superset/bundle.py").to_str().unwrap(),
        "check",
        "--duckdb",
        duckdb.to_str().unwrap(),
    ]));
    let artifacts = root().join("test-artifacts/superset");
    let out = common::run_ok(
        Command::new(common::superset_python())
            .arg(root().join("tests/support/superset_dashboards.py"))
            .args(["--url", mon.url("SUPERSET_URL"), "--user", "admin"])
            .args(["--password", mon.url("SUPERSET_ADMIN_PASSWORD")])
            .args(["--out", artifacts.to_str().unwrap()]),
    );
    let report = last_json(&out.stdout);
    let dashboards = report["dashboards"].as_array().unwrap();
    let titles: BTreeSet<&str> = dashboards
        .iter()
        .map(|d| d["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        BTreeSet::from(["Sales", "Top-10 products", "Delivery monitor"])
    );
    for d in dashboards {
        let title = d["title"].as_str().unwrap();
        let queries = d["queries"].as_array().unwrap();
        let charts: BTreeSet<i64> = queries.iter().filter_map(|q| q["chart"].as_i64()).collect();
        assert_eq!(
            charts.len() as u64,
            d["charts"].as_u64().unwrap(),
            "{title}: not every chart queried: {queries:?}"
        );
        for q in queries {
            assert_eq!(q["status"], 200, "{title}: {q}");
            assert!(q["error"].is_null(), "{title}: {q}");
            assert!(
                q["rows"].as_u64().unwrap() > 0,
                "{title}: a chart query returned no row: {q}"
            );
        }
        assert!(
            d["chart_errors"].as_array().unwrap().is_empty(),
            "{title}: {}",
            d["chart_errors"]
        );
        // not blank: a good share of the page is drawn, in many colours
        assert!(d["ink"].as_f64().unwrap() > 0.03, "{title}: {d}");
        assert!(d["colors"].as_u64().unwrap() > 200, "{title}: {d}");
        assert!(Path::new(d["screenshot"].as_str().unwrap()).exists());
    }
}

/// The metric names (and `up{…}`) an expression reads.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let is_name = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    let mut names: BTreeSet<String> = expr
        .split(|c: char| !is_name(c))
        .filter(|word| word.starts_with("olistlake"))
        .map(String::from)
        .collect();
    // `up{…}`, with its selector: the target's own health series
    for (at, _) in expr.match_indices("up{") {
        if !expr[..at].ends_with(is_name) {
            let end = at + expr[at..].find('}').unwrap();
            names.insert(expr[at..=end].to_string());
        }
    }
    names
}

/// A lake on `backend` with the fixture's first eight months in bronze (small files on S3 are
/// slow to write and read) and every silver and gold table built from them (each job exit 0).
async fn lake_with_gold(backend: common::Backend) -> (common::LakeEnv, olistlake::lake::Lake) {
    let env = common::LakeEnv::new(backend);
    let lake = env.lake().await;
    common::pipeline::land_fixture(&env, &lake, None, "2017-05-01").await;
    for job in common::pipeline::JOBS {
        common::run_ok(env.bin(job).arg("--full-refresh"));
    }
    (env, lake)
}

/// The views over a lake on S3 (s3s-fs): the refresh stores the credentials as a DuckDB secret
/// beside the file, and a reader configured as the bundle's S3 connection (read-only, that
/// secret directory, iceberg + httpfs) reads every gold table with DataFusion's row counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_read_a_lake_on_s3() {
    let (env, lake) = lake_with_gold(common::Backend::S3Sqlite).await;

    let duckdb = env.dir().join("views/lake.duckdb");
    let refresh = || refresh_views(&env, &duckdb);
    let first = refresh();
    assert_eq!(first["views"].as_array().unwrap().len(), 7, "{first}");
    assert_eq!(first["changed"], true);
    // nothing committed since: the file is left as it is
    let modified = std::fs::metadata(&duckdb).unwrap().modified().unwrap();
    assert_eq!(refresh()["changed"], false);
    assert_eq!(
        std::fs::metadata(&duckdb).unwrap().modified().unwrap(),
        modified
    );

    let reader = r#"
import duckdb, json, sys
path, secrets = sys.argv[1], sys.argv[2]
con = duckdb.connect(path, read_only=True, config={"secret_directory": secrets})
con.execute("LOAD iceberg"); con.execute("LOAD httpfs")
names = [r[0] for r in con.execute("SELECT table_name FROM main.olistlake_views").fetchall()]
print(json.dumps({n: con.execute(f"SELECT count(*) FROM {n}").fetchone()[0] for n in names}))
"#;
    let secrets = env.dir().join("views/duckdb-secrets");
    let out = common::run_ok(
        Command::new(common::superset_python())
            .args([
                "-c",
                reader,
                duckdb.to_str().unwrap(),
                secrets.to_str().unwrap(),
            ])
            // the reader has no credentials of its own: only the stored secret
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY"),
    );
    assert_counts_match(&lake, &last_json(&out.stdout)).await;
}

/// Runs the dashboards' views command on this lake (its environment as the jobs'), returning its
/// JSON line.
fn refresh_views(env: &common::LakeEnv, duckdb: &Path) -> Value {
    let out = common::run_ok(
        Command::new(common::superset_python())
            .arg(root().join("docker/superset/olistlake_views.py"))
            .args(["--duckdb", duckdb.to_str().unwrap()])
            .envs(
                env.bin("olistlake")
                    .get_envs()
                    .filter_map(|(k, v)| Some((k, v?))),
            ),
    );
    last_json(&out.stdout)
}

/// Each `{table: count}` of a DuckDB reader equals DataFusion's count, and no table is empty.
async fn assert_counts_match(lake: &olistlake::lake::Lake, counts: &Value) {
    for (table, n) in counts.as_object().unwrap() {
        let batches = lake
            .sql(
                &format!("SELECT count(*) AS n FROM {table}"),
                &olistlake::lake::ReadAt::current(),
            )
            .await
            .unwrap();
        let want = common::text_rows(&batches)[0][0].clone().unwrap();
        assert_eq!(n.to_string(), want, "{table}");
        assert_ne!(want, "0", "{table} is empty");
    }
}

/// The views over a lake behind an Iceberg REST catalog: the refresh finds each gold table's
/// metadata file through the REST API, and DuckDB reads every gold table with DataFusion's row
/// counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_read_a_lake_behind_a_rest_catalog() {
    let (env, lake) = lake_with_gold(common::Backend::LocalRest).await;
    let duckdb = env.dir().join("views/lake.duckdb");
    let first = refresh_views(&env, &duckdb);
    assert_eq!(first["views"].as_array().unwrap().len(), 7, "{first}");

    let reader = r#"
import duckdb, json, sys
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute("LOAD iceberg")
names = [r[0] for r in con.execute("SELECT table_name FROM main.olistlake_views").fetchall()]
print(json.dumps({n: con.execute(f"SELECT count(*) FROM {n}").fetchone()[0] for n in names}))
"#;
    let out = common::run_ok(Command::new(common::superset_python()).args([
        "-c",
        reader,
        duckdb.to_str().unwrap(),
    ]));
    let counts = last_json(&out.stdout);
    assert_eq!(counts.as_object().unwrap().len(), 7, "{counts}");
    assert_counts_match(&lake, &counts).await;
}

#[test]
fn metric_names_are_the_series_an_expression_reads() {
    let expr = r#"(changes(olistlake_replay_clock_seconds[10m]) == 0 and olistlake_replay_done == 0)
        or up{job="olist-replay"} == 0 or olistlake:delivery_late_ratio:latest > 0.15
        or backup{x="1"}"#;
    assert_eq!(
        metric_names(expr),
        BTreeSet::from(
            [
                "olistlake:delivery_late_ratio:latest",
                "olistlake_replay_clock_seconds",
                "olistlake_replay_done",
                r#"up{job="olist-replay"}"#,
            ]
            .map(String::from)
        )
    );
}
