//! The fixture's replay landed in bronze without a broker, and the transform jobs run on it:
//! shared by the tests that compare whole lakes (transforms, REST catalog, Spark).

use chrono::NaiveDateTime;
use olistlake::kafka::direct;
use olistlake::kafka::registry::Registry;
use olistlake::kafka::replay::{Prepared, timeline};
use olistlake::lake::Lake;

use super::{LakeEnv, summary};

/// The silver and gold jobs, in dependency order.
pub const JOBS: [&str; 3] = ["silver-build", "gold-bcg", "gold-leadtime"];

fn millis(day: &str) -> i64 {
    NaiveDateTime::parse_from_str(&format!("{day} 00:00:00"), "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

/// The fixture's replay landed in bronze (the same rows bronze-load lands), events ingested in
/// [from, until). Returns the rows landed.
pub async fn land_fixture(env: &LakeEnv, lake: &Lake, from: Option<&str>, until: &str) -> u64 {
    let dir = super::prepared_fixture();
    let prepared = Prepared::load(dir.path()).unwrap();
    let (lo, hi) = (from.map(millis).unwrap_or(i64::MIN), millis(until));
    let events: Vec<_> = timeline(&prepared, 42)
        .into_iter()
        .filter(|e| e.ingest_ms >= lo && e.ingest_ms < hi)
        .collect();
    let registry = Registry::open(&format!(
        "file:{}",
        env.dir().join("registry.json").display()
    ))
    .unwrap();
    direct::land(lake, &registry, &prepared, &events, 3)
        .await
        .unwrap()
}

/// Runs every transform job with `args`; each must succeed or have nothing to do (99).
pub fn run_all(env: &LakeEnv, args: &[&str]) {
    for j in JOBS {
        let out = env.bin(j).args(args).output().unwrap();
        let code = out.status.code().unwrap_or(-1);
        assert!(
            code == 0 || code == 99,
            "{j} {args:?} exited {code}: {}",
            summary(&out)
        );
    }
}
