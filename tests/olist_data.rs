//! The Olist data tools through their real binaries: the four real files round-trip, the
//! generator's statistics stay near the dataset's, runs are deterministic, each prepare rule
//! holds on tiny hand-written inputs, and bad input fails clearly without partial output.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow::array::AsArray;
use arrow::datatypes::{Decimal128Type, Float64Type, Int32Type, TimestampMicrosecondType};
use olistlake::olist::raw::{self, RawReader, format_timestamp};
use tempfile::TempDir;

fn real_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/olist")
}

fn synth(out: &Path, scale: &str, seed: &str, real: Option<&Path>) {
    let mut c = Command::new(common::binary("olist-synth"));
    c.args(["--scale", scale, "--seed", seed, "--out"]).arg(out);
    if let Some(r) = real {
        c.arg("--real").arg(r);
    }
    common::run_ok(&mut c);
}

fn prepare(input: &Path, out: &Path) -> std::process::Output {
    Command::new(common::binary("olist-prepare"))
        .arg("--input")
        .arg(input)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// A prepared table as rows of display strings, keyed by the first column(s).
fn rows(dir: &Path, table: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in common::read_parquet_table(dir, table) {
        let fmt: Vec<_> = b
            .columns()
            .iter()
            .map(|c| {
                arrow::util::display::ArrayFormatter::try_new(
                    c.as_ref(),
                    &arrow::util::display::FormatOptions::default().with_null("NULL"),
                )
                .unwrap()
            })
            .collect();
        for r in 0..b.num_rows() {
            out.push(fmt.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    out
}

fn sha(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    // FNV-1a 64 is enough to compare files in a test.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in &bytes {
        h = (h ^ *b as u64).wrapping_mul(0x100_0000_01b3);
    }
    let mut v = h.to_le_bytes().to_vec();
    v.extend((bytes.len() as u64).to_le_bytes());
    v
}

fn gunzip(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The four real files parse and re-write byte-identically through the project's own format
/// code, and their prepared tables have the real row counts and values.
#[test]
fn real_files_round_trip() {
    let tmp = TempDir::new().unwrap();
    let raw_dir = tmp.path().join("raw");
    synth(&raw_dir, "1", "42", Some(&real_dir()));
    for (name, gz) in [
        ("olist_order_payments_dataset.csv", true),
        ("olist_products_dataset.csv", true),
        ("olist_sellers_dataset.csv", false),
        ("product_category_name_translation.csv", false),
    ] {
        let original = if gz {
            gunzip(&real_dir().join(format!("{name}.gz")))
        } else {
            std::fs::read(real_dir().join(name)).unwrap()
        };
        let rewritten = std::fs::read(raw_dir.join(name)).unwrap();
        assert!(
            original == rewritten,
            "{name} is not byte-identical after parse and re-write"
        );
    }

    let prep = tmp.path().join("prepared");
    let out = prepare(&raw_dir, &prep);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = common::summary(&out);
    assert_eq!(s["tables"]["payment"]["rows_written"], 103_886);
    assert_eq!(s["tables"]["product"]["rows_written"], 32_951);
    assert_eq!(s["tables"]["seller"]["rows_written"], 3_095);

    let products: HashMap<String, Vec<String>> = rows(&prep, "product")
        .into_iter()
        .map(|r| (r[0].clone(), r))
        .collect();
    assert_eq!(products.len(), 32_951);
    assert_eq!(
        products["1e9e8ef04dbcff4541ed26657ea517e5"],
        [
            "1e9e8ef04dbcff4541ed26657ea517e5",
            "perfumery",
            "225",
            "16",
            "10",
            "14"
        ]
    );
    assert_eq!(
        products["a41e356c76fab66334f36de622ecbd3a"],
        [
            "a41e356c76fab66334f36de622ecbd3a",
            "NULL",
            "650",
            "17",
            "14",
            "12"
        ]
    );
    let cats: BTreeMap<&str, usize> = products.values().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r[1].as_str()).or_default() += 1;
        m
    });
    assert_eq!(cats["health_beauty"], 2_444);
    assert_eq!(cats["gaming_pc"], 3);
    assert_eq!(cats["portable_kitchen_and_food_preparators"], 10);
    assert_eq!(cats["NULL"], 610);
    assert_eq!(cats.len(), 74, "73 categories (all translated) plus null");

    let sellers: HashMap<String, String> = rows(&prep, "seller")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(sellers["3442f8959a84dea7ee197c632cb2df15"], "13023");
    assert_eq!(sellers["d1b65fc7debc3361ea86b5f14c68d2e2"], "13844");
    assert!(sellers.values().all(|z| z.len() == 5));

    let payments = rows(&prep, "payment");
    let p = payments
        .iter()
        .find(|r| r[0] == "b81ef226f3fe1789b1e8b2acac839d17")
        .unwrap();
    assert_eq!(&p[2..6], ["1", "credit_card", "8", "99.33"]);
    let total: i128 = common::read_parquet_table(&prep, "payment")
        .iter()
        .map(|b| {
            b.column(5)
                .as_primitive::<Decimal128Type>()
                .iter()
                .flatten()
                .sum::<i128>()
        })
        .sum();
    assert_eq!(total, 1_600_887_212, "sum of payment_value in cents, exact");
}

/// Generator statistics at scale 0.1 fall in bands around the dataset's figures.
#[test]
fn generator_statistics_match_the_facts() {
    let tmp = TempDir::new().unwrap();
    synth(tmp.path(), "0.1", "7", None);
    let dir = tmp.path();

    let mut status: BTreeMap<String, f64> = BTreeMap::new();
    let (mut delivered, mut late) = (0.0, 0.0);
    let mut r = RawReader::open(dir, &raw::ORDERS).unwrap();
    let mut orders = 0.0;
    while r.advance().unwrap() {
        orders += 1.0;
        *status.entry(r.str(2).to_string()).or_default() += 1.0;
        if let (Some(d), Some(e)) = (r.opt_ts(6).unwrap(), r.opt_ts(7).unwrap()) {
            delivered += 1.0;
            let day = 86_400_000_000;
            if d.div_euclid(day) > e.div_euclid(day) {
                late += 1.0;
            }
        }
    }
    let pct = |x: f64, n: f64| 100.0 * x / n;
    let within = |what: &str, got: f64, want: f64, tol: f64| {
        assert!(
            (got - want).abs() <= tol,
            "{what}: {got:.2} not within {want}±{tol}"
        )
    };
    within("delivered %", pct(status["delivered"], orders), 97.02, 1.0);
    within("shipped %", pct(status["shipped"], orders), 1.11, 0.5);
    within("canceled %", pct(status["canceled"], orders), 0.63, 0.35);
    within("late %", pct(late, delivered), 8.11, 1.2);

    let mut per_order: HashMap<String, u32> = HashMap::new();
    let mut products: HashMap<String, String> = HashMap::new();
    let mut p = RawReader::open(dir, &raw::PRODUCTS).unwrap();
    while p.advance().unwrap() {
        products.insert(p.str(0).to_string(), p.str(1).to_string());
    }
    let (mut items, mut hb) = (0.0, 0.0);
    let mut r = RawReader::open(dir, &raw::ITEMS).unwrap();
    while r.advance().unwrap() {
        items += 1.0;
        *per_order.entry(r.str(0).to_string()).or_default() += 1;
        if products[r.str(2)] == "beleza_saude" {
            hb += 1.0;
        }
    }
    let single = per_order.values().filter(|n| **n == 1).count() as f64;
    within(
        "orders with one item %",
        pct(single, per_order.len() as f64),
        90.06,
        1.5,
    );
    within(
        "items per order",
        items / per_order.len() as f64,
        1.14,
        0.04,
    );
    within("Health & Beauty % of item rows", pct(hb, items), 8.58, 1.5);

    let mut scores = [0.0; 6];
    let mut r = RawReader::open(dir, &raw::REVIEWS).unwrap();
    let mut reviews = 0.0;
    while r.advance().unwrap() {
        reviews += 1.0;
        scores[r.req_int(2).unwrap() as usize] += 1.0;
    }
    within(
        "reviews per order",
        reviews / orders,
        99_224.0 / 99_441.0,
        0.02,
    );
    within("score 5 %", pct(scores[5], reviews), 57.8, 2.5);
    within("score 4 %", pct(scores[4], reviews), 19.3, 2.0);
    within("score 1 %", pct(scores[1], reviews), 11.5, 2.0);

    let text = std::fs::read_to_string(dir.join(raw::GEOLOCATION.name)).unwrap();
    let lines: Vec<&str> = text.lines().skip(1).collect();
    let distinct: std::collections::HashSet<&str> = lines.iter().copied().collect();
    within(
        "geolocation exact duplicates %",
        pct((lines.len() - distinct.len()) as f64, lines.len() as f64),
        26.2,
        3.0,
    );
    within(
        "geolocation rows per 1k orders",
        lines.len() as f64 / orders * 1000.0,
        1_000_163.0 / 99_441.0 * 1000.0,
        1500.0,
    );
}

/// The committed fixture is exactly what its documented command generates, and a seed fully
/// determines the bytes.
#[test]
fn generator_is_deterministic_and_fixture_is_current() {
    let tmp = TempDir::new().unwrap();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    synth(&a, "0.01", "42", None);
    synth(&b, "0.01", "42", None);
    synth(&c, "0.01", "43", None);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/fixture");
    for f in raw::ALL {
        assert_eq!(
            sha(&a.join(f.name)),
            sha(&b.join(f.name)),
            "{} differs between two runs",
            f.name
        );
        assert_eq!(
            sha(&a.join(f.name)),
            sha(&fixture.join(f.name)),
            "data/fixture/{} is stale: regenerate it (data/README.md)",
            f.name
        );
    }
    assert_ne!(
        sha(&a.join(raw::ORDERS.name)),
        sha(&c.join(raw::ORDERS.name)),
        "another seed must give other data"
    );
}

// ---------------------------------------------------------------------------------------------
// Prepare rules on tiny hand-written inputs

const H: &str = "\"";

/// A minimal valid raw dataset; `overrides` replaces whole files (name → content).
fn tiny(overrides: &[(&raw::RawFile, &str)]) -> TempDir {
    let dir = TempDir::new().unwrap();
    let header = |f: &raw::RawFile| {
        f.columns
            .iter()
            .map(|c| format!("{H}{c}{H}"))
            .collect::<Vec<_>>()
            .join(",")
            + "\n"
    };
    let defaults: Vec<(&raw::RawFile, String)> = vec![
        (&raw::ORDERS, "o1,c1,delivered,2017-11-24 10:00:00,2017-11-24 10:20:00,2017-11-26 09:00:00,2017-12-01 15:00:00,2017-12-12 00:00:00\n".into()),
        (&raw::ITEMS, "o1,1,p1,s1,2017-11-30 10:20:00,59.90,12.30\n".into()),
        (&raw::PAYMENTS, "o1,1,credit_card,2,72.20\n".into()),
        (&raw::REVIEWS, "r1,o1,5,,Muito bom,2017-12-02 00:00:00,2017-12-03 11:00:00\n".into()),
        (&raw::CUSTOMERS, "c1,u1,\"01037\",sao paulo,SP\n".into()),
        (&raw::GEOLOCATION, "\"01037\",-23.5,-46.6,sao paulo,SP\n".into()),
        (&raw::PRODUCTS, "p1,beleza_saude,40,287,1,225,16,10,14\n".into()),
        (&raw::SELLERS, "s1,\"13023\",campinas,SP\n".into()),
    ];
    for (f, body) in defaults {
        let body = overrides
            .iter()
            .find(|(o, _)| o.name == f.name)
            .map(|(_, b)| b.to_string())
            .unwrap_or(body);
        std::fs::write(dir.path().join(f.name), header(f) + &body).unwrap();
    }
    let translation = overrides
        .iter()
        .find(|(o, _)| o.name == raw::TRANSLATION.name)
        .map(|(_, b)| b.to_string())
        .unwrap_or_else(|| "\u{feff}product_category_name,product_category_name_english\r\nbeleza_saude,health_beauty".into());
    std::fs::write(dir.path().join(raw::TRANSLATION.name), translation).unwrap();
    dir
}

fn prepared(input: &TempDir) -> PathBuf {
    let out = input.path().join("out");
    let o = prepare(input.path(), &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn rule_status_melt_and_terminal_status() {
    let input = tiny(&[(
        &raw::ORDERS,
        "o1,c1,delivered,2017-11-24 10:00:00,2017-11-24 10:20:00,2017-11-26 09:00:00,2017-12-01 15:00:00,2017-12-12 00:00:00\n\
         o2,c2,canceled,2017-11-24 11:00:00,2017-11-24 12:00:00,,,2017-12-12 00:00:00\n\
         o3,c3,unavailable,2017-11-24 11:00:00,2017-11-25 08:00:00,,,2017-12-12 00:00:00\n\
         o4,c4,created,2017-11-24 13:00:00,,,,2017-12-12 00:00:00\n",
    )]);
    let out = prepared(&input);
    let got: Vec<Vec<String>> = rows(&out, "order_status");
    let want = [
        ["o1", "purchase", "2017-11-24T10:00:00"],
        ["o1", "approved", "2017-11-24T10:20:00"],
        ["o1", "delivered_carrier", "2017-11-26T09:00:00"],
        ["o1", "delivered_customer", "2017-12-01T15:00:00"],
        ["o2", "purchase", "2017-11-24T11:00:00"],
        ["o2", "approved", "2017-11-24T12:00:00"],
        ["o2", "canceled", "2017-11-24T12:00:00"],
        ["o3", "purchase", "2017-11-24T11:00:00"],
        ["o3", "approved", "2017-11-25T08:00:00"],
        ["o3", "unavailable", "2017-11-25T08:00:00"],
        ["o4", "purchase", "2017-11-24T13:00:00"],
    ];
    assert_eq!(got, want.map(|r| r.map(String::from).to_vec()).to_vec());
    let est = rows(&out, "estimated_delivery_date");
    assert_eq!(est.len(), 4);
    assert_eq!(est[0], ["o1", "2017-12-12T00:00:00"]);
}

#[test]
fn rule_category_translations() {
    let input = tiny(&[(
        &raw::PRODUCTS,
        "p1,beleza_saude,40,287,1,225,16,10,14\n\
         p2,pc_gamer,40,287,1,225,16,10,14\n\
         p3,portateis_cozinha_e_preparadores_de_alimentos,40,287,1,225,16,10,14\n\
         p4,,,,,650,17,14,12\n\
         p5,cama_mesa_banho,40,287,1,,,,\n",
    )]);
    let out = prepared(&input);
    let got: Vec<(String, String, String)> = rows(&out, "product")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("p1".into(), "health_beauty".into(), "225".into()),
            ("p2".into(), "gaming_pc".into(), "225".into()),
            (
                "p3".into(),
                "portable_kitchen_and_food_preparators".into(),
                "225".into()
            ),
            ("p4".into(), "NULL".into(), "650".into()),
            ("p5".into(), "cama_mesa_banho".into(), "NULL".into()),
        ]
    );
}

#[test]
fn rule_geolocation_modal_city_and_mean_coordinates() {
    let input = tiny(&[(
        &raw::GEOLOCATION,
        "\"01037\",-23.0,-46.0,são paulo,SP\n\
         \"01037\",-23.0,-46.0,são paulo,SP\n\
         \"01037\",-24.0,-47.0,sao paulo,SP\n\
         \"01037\",-22.0,-45.0,osasco,SP\n\
         \"01037\",-22.0,-45.0,osasco,SP\n\
         \"09790\",-23.7,-46.5,sao bernardo do campo,SP\n\
         \"09790\",-23.9,-46.7,santo andre,SP\n",
    )]);
    let out = prepared(&input);
    let b = &common::read_parquet_table(&out, "geolocation")[0];
    assert_eq!(b.num_rows(), 2);
    let zip = b.column(0).as_string::<i32>();
    let lat = b.column(1).as_primitive::<Float64Type>();
    let lng = b.column(2).as_primitive::<Float64Type>();
    let city = b.column(3).as_string::<i32>();
    assert_eq!(
        (
            zip.value(0),
            city.value(0),
            b.column(4).as_string::<i32>().value(0)
        ),
        ("01037", "sao paulo", "SP")
    );
    assert!(
        (lat.value(0) - (-70.0 / 3.0)).abs() < 1e-9 && (lng.value(0) - (-139.0 / 3.0)).abs() < 1e-9,
        "mean over the modal city's rows only"
    );
    // a 1–1 tie goes to the first city name
    assert_eq!((zip.value(1), city.value(1)), ("09790", "santo andre"));
    assert!((lat.value(1) - -23.9).abs() < 1e-9);
}

#[test]
fn rule_geolocation_box_filter_first() {
    let input = tiny(&[(
        &raw::GEOLOCATION,
        "\"01037\",-23.0,-46.0,sao paulo,SP\n\
         \"01037\",45.07,121.1,sao paulo,SP\n\
         \"01037\",-23.0,-30.0,sao paulo,SP\n\
         \"02000\",40.0,10.0,nowhere,SP\n",
    )]);
    let out = input.path().join("out");
    let o = prepare(input.path(), &out);
    assert!(o.status.success());
    let s = common::summary(&o);
    assert_eq!(
        s["tables"]["geolocation"]["dropped"]["outside the Brazil box"],
        3
    );
    let g = rows(&out, "geolocation");
    assert_eq!(
        g,
        vec![
            vec!["01037", "-23.0", "-46.0", "sao paulo", "SP"]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>()
        ]
    );
}

#[test]
fn rule_payment_gets_customer_and_purchase_time() {
    let input = tiny(&[(
        &raw::PAYMENTS,
        "o1,1,credit_card,2,60.00\no1,2,voucher,1,12.20\nghost,1,boleto,1,10.00\n",
    )]);
    let out = input.path().join("out");
    let o = prepare(input.path(), &out);
    assert!(o.status.success());
    assert_eq!(
        common::summary(&o)["tables"]["payment"]["dropped"]["order not in orders file"],
        1
    );
    let b = &common::read_parquet_table(&out, "payment")[0];
    assert_eq!(b.num_rows(), 2);
    assert_eq!(b.column(1).as_string::<i32>().value(1), "c1");
    let ts = b.column(6).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(format_timestamp(ts.value(0)), "2017-11-24 10:00:00");
    assert_eq!(
        b.column(5).as_primitive::<Decimal128Type>().value(1),
        1220,
        "exact cents"
    );
    assert_eq!(b.column(4).as_primitive::<Int32Type>().value(0), 2);
}

#[test]
fn rule_duplicates_dropped() {
    let input = tiny(&[
        (
            &raw::ITEMS,
            "o1,1,p1,s1,2017-11-30 10:20:00,59.90,12.30\no1,1,p1,s1,2017-11-30 10:20:00,59.90,12.30\no1,2,p1,s1,2017-11-30 10:20:00,59.90,12.30\n",
        ),
        (
            &raw::REVIEWS,
            "r1,o1,5,,ok,2017-12-02 00:00:00,2017-12-03 11:00:00\nr1,o1,4,,again,2017-12-02 00:00:00,2017-12-03 11:00:00\nr1,o9,5,,\"multi\nline, \"\"quoted\"\"\",2017-12-02 00:00:00,2017-12-03 11:00:00\n",
        ),
    ]);
    let out = input.path().join("out");
    let o = prepare(input.path(), &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = common::summary(&o);
    assert_eq!(s["tables"]["order_item"]["dropped"]["exact duplicate"], 1);
    assert_eq!(s["tables"]["order_item"]["rows_written"], 2);
    assert_eq!(
        s["tables"]["review"]["dropped"]["duplicate (review_id, order_id)"],
        1
    );
    let reviews = rows(&out, "review");
    assert_eq!(reviews.len(), 2);
    assert_eq!(reviews[1][4], "multi\nline, \"quoted\"");
}

#[test]
fn tsv_output_on_request() {
    let input = tiny(&[(
        &raw::REVIEWS,
        "r1,o1,5,,\"tab\there\nand line\",2017-12-02 00:00:00,2017-12-03 11:00:00\n",
    )]);
    let out = input.path().join("out");
    common::run_ok(
        Command::new(common::binary("olist-prepare"))
            .arg("--input")
            .arg(input.path())
            .arg("--out")
            .arg(&out)
            .args(["--format", "tsv"]),
    );
    let text = std::fs::read_to_string(out.join("review.tsv")).unwrap();
    assert_eq!(
        text.lines().count(),
        2,
        "one header, one row: embedded breaks are escaped\n{text}"
    );
    assert!(text.contains("tab\\there\\nand line"), "{text}");
    assert!(text.contains("2017-12-02 00:00:00"));
}

// ---------------------------------------------------------------------------------------------
// Bad input

fn fails(input: &TempDir, expect: &[&str]) {
    let out = input.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "existing").unwrap();
    let o = prepare(input.path(), &out);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    for e in expect {
        assert!(stderr.contains(e), "`{e}` not in: {stderr}");
    }
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, vec!["keep.txt"], "partial output left behind");
    assert_eq!(common::summary(&o)["status"], "failed");
}

#[test]
fn bad_input_truncated_file() {
    fails(
        &tiny(&[(
            &raw::ITEMS,
            "o1,1,p1,s1,2017-11-30 10:20:00,59.90,12.30\no1,2,p1,s1,2017-11-3",
        )]),
        &[
            "olist_order_items_dataset.csv line 3",
            "fields where 7 are expected",
        ],
    );
}

#[test]
fn bad_input_wrong_header() {
    let dir = tiny(&[]);
    let path = dir.path().join(raw::SELLERS.name);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("seller_zip_code_prefix", "seller_zip");
    std::fs::write(&path, text).unwrap();
    fails(
        &dir,
        &[
            "olist_sellers_dataset.csv line 1",
            "missing [\"seller_zip_code_prefix\"]",
            "unexpected [\"seller_zip\"]",
        ],
    );
}

#[test]
fn bad_input_non_numeric_price() {
    fails(
        &tiny(&[(
            &raw::ITEMS,
            "o1,1,p1,s1,2017-11-30 10:20:00,59.90,12.30\no1,2,p1,s1,2017-11-30 10:20:00,abc,12.30\n",
        )]),
        &[
            "olist_order_items_dataset.csv line 3, column price",
            "`abc`",
        ],
    );
}

#[test]
fn bad_input_bad_timestamp() {
    fails(
        &tiny(&[(
            &raw::ORDERS,
            "o1,c1,delivered,2017-11-24 10:00:00,2017-11-31 10:20:00,,,2017-12-12 00:00:00\n",
        )]),
        &[
            "olist_orders_dataset.csv line 2, column order_approved_at",
            "`2017-11-31 10:20:00` is not a timestamp",
        ],
    );
}

#[test]
fn bad_input_missing_file() {
    let dir = tiny(&[]);
    std::fs::remove_file(dir.path().join(raw::CUSTOMERS.name)).unwrap();
    fails(&dir, &["olist_customers_dataset.csv: missing"]);
}

#[test]
fn bad_input_reordered_header_truncated_gzip_and_invalid_utf8() {
    // the right columns in another order say so
    let dir = tiny(&[]);
    let path = dir.path().join(raw::SELLERS.name);
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "\"seller_id\",\"seller_zip_code_prefix\"",
        "\"seller_zip_code_prefix\",\"seller_id\"",
        1,
    );
    std::fs::write(&path, text).unwrap();
    fails(
        &dir,
        &[
            "olist_sellers_dataset.csv line 1",
            "columns are in another order",
        ],
    );

    // a truncated .gz names the compressed file and the line reached
    let dir = tiny(&[]);
    let items = dir.path().join(raw::ITEMS.name);
    let mut body = std::fs::read_to_string(&items).unwrap();
    for n in 2..2000 {
        body.push_str(&format!("o1,{n},p1,s1,2017-11-30 10:20:00,59.90,12.30\n"));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, body.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    std::fs::remove_file(&items).unwrap();
    std::fs::write(
        dir.path().join(format!("{}.gz", raw::ITEMS.name)),
        &gz[..gz.len() / 2],
    )
    .unwrap();
    fails(
        &dir,
        &["olist_order_items_dataset.csv.gz line ", "read error"],
    );

    // invalid UTF-8 names its column
    let dir = tiny(&[]);
    let path = dir.path().join(raw::SELLERS.name);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(8).position(|w| w == b"campinas").unwrap();
    bytes[at] = 0xff;
    std::fs::write(&path, bytes).unwrap();
    fails(
        &dir,
        &[
            "olist_sellers_dataset.csv line 2",
            "invalid UTF-8 in column seller_city",
        ],
    );
}
