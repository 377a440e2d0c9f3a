//! The README's first command: `./demo.sh` runs the pipeline end to end on the embedded
//! default, and a second run is harmless (nothing new is loaded, the lake is unchanged).

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
}
