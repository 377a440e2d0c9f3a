//! The README's first command: `./demo.sh` runs the pipeline end to end on the embedded
//! default (synth → prepare → broker → replay → bronze-load → silver → gold), prints the gold
//! headline figures, and a second run is harmless (nothing new is loaded, the same content).

mod common;

use std::path::Path;
use std::process::Command;

fn demo(dir: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin_dir = common::binary("olistlake").parent().unwrap().to_path_buf();
    let out = Command::new(root.join("demo.sh"))
        .env("OLISTLAKE_DEMO_DIR", dir)
        .env("OLISTLAKE_BIN_DIR", bin_dir)
        .env_remove("OLISTLAKE_WAREHOUSE")
        .env_remove("OLISTLAKE_CATALOG_URI")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo.sh failed:\n{text}");
    text
}

fn row<'a>(text: &'a str, table: &str) -> Vec<&'a str> {
    text.lines()
        .find(|l| l.starts_with(&format!("{table} ")))
        .unwrap_or_else(|| panic!("{table} not listed:\n{text}"))
        .split_whitespace()
        .collect()
}

#[test]
fn demo_runs_end_to_end_and_reruns_harmlessly() {
    let dir = tempfile::TempDir::new().unwrap();
    let first = demo(dir.path());
    assert!(first.contains("rows loaded, 0 quarantined"), "{first}");
    // every bronze table got the fixture's messages (order_status: 3,941 status events)
    assert_eq!(row(&first, "bronze.order_status")[1], "3941");
    for t in [
        "bronze.payment",
        "bronze.order_item",
        "bronze.review",
        "bronze.geolocation",
    ] {
        assert_ne!(row(&first, t)[1], "0", "{t}");
    }
    for t in [
        "silver.order_timestamp",
        "silver.user_location",
        "gold.sale_stats",
        "gold.health_beauty_sales_stats_bcg",
        "gold.timestamp_stats_wide",
        "gold.delivery_monitor",
    ] {
        assert_ne!(row(&first, t)[1], "0", "{t}");
    }
    // The fixture's figures: ~8% late, purchase to delivery ~10 days, four segments.
    let late: f64 = first
        .split("late: ")
        .nth(1)
        .and_then(|r| r.split('(').nth(1))
        .and_then(|r| r.split('%').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!((5.0..12.0).contains(&late), "{first}");
    assert!(first.contains("purchase to delivery: median 1"), "{first}");
    for seg in [
        "Star Products",
        "Volume Drivers",
        "Niche Gems",
        "Question Marks",
    ] {
        assert!(first.contains(seg), "{seg} missing:\n{first}");
    }
    let second = demo(dir.path());
    assert!(
        second.contains("skipped 13145 already in Kafka") || second.contains("sent 0 events"),
        "{second}"
    );
    assert!(second.contains("nothing_to_do"), "{second}");
    assert_eq!(row(&second, "bronze.order_status")[1], "3941");
    assert_eq!(
        row(&second, "bronze.order_status").last(),
        row(&first, "bronze.order_status").last(),
        "no new bronze snapshot"
    );
    for t in [
        "silver.order_product",
        "gold.sale_stats",
        "gold.delivery_monitor",
    ] {
        assert_eq!(row(&second, t)[1], row(&first, t)[1], "{t}: same rows");
    }
}
