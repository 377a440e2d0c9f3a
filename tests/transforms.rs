//! silver-build, gold-bcg and gold-leadtime as processes over a real lake: every model on
//! hand-made bronze rows with known answers, a failing check, and (on the fixture) the four
//! properties of the job contract plus pyiceberg interop.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Stdio;

use chrono::{Duration, NaiveDateTime};
use common::pipeline::{JOBS, land_fixture, run_all};
use common::{Backend, Contents, LakeEnv, summary, text_rows};
use olistlake::lake::{CommitContext, CommitKind, Lake, ReadAt, tables};
use serde_json::{Value, json};

fn ts(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn iso(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
}

/// Hand-made bronze rows, as bronze-load would land them.
#[derive(Default)]
struct Bronze {
    rows: BTreeMap<&'static str, Vec<Value>>,
    offset: i64,
}

/// One order of the scenario; the replay publishes payment, items and estimate with it.
struct Order<'a> {
    id: &'a str,
    customer: &'a str,
    purchase: &'a str,
    approved: Option<&'a str>,
    carrier: Option<&'a str>,
    delivered: Option<&'a str>,
    estimate: Option<&'a str>,
    /// (product, seller, price, freight, shipping limit)
    items: Vec<(&'a str, &'a str, &'a str, &'a str, &'a str)>,
}

impl Bronze {
    /// A batch landed after the scenario's: its offsets follow the scenario's.
    fn later() -> Bronze {
        Bronze {
            offset: 1_000,
            ..Bronze::default()
        }
    }

    fn add(&mut self, topic: &'static str, ingest: NaiveDateTime, key: &str, mut row: Value) {
        self.offset += 1;
        let o = row.as_object_mut().unwrap();
        o.insert("_kafka_key".into(), key.into());
        o.insert("ingest_time".into(), iso(ingest).into());
        o.insert("_kafka_partition".into(), 0.into());
        o.insert("_kafka_offset".into(), self.offset.into());
        o.insert("_kafka_timestamp".into(), iso(ingest).into());
        o.insert("_schema_id".into(), 1.into());
        o.insert("_loaded_at".into(), "2026-01-01T00:00:00Z".into());
        self.rows.entry(topic).or_default().push(row);
    }

    fn status(&mut self, order: &str, status: &str, at: &str) {
        self.status_ingested(order, status, at, ts(at) + Duration::milliseconds(100));
    }

    fn status_ingested(&mut self, order: &str, status: &str, at: &str, ingest: NaiveDateTime) {
        self.add(
            "order_status",
            ingest,
            order,
            json!({"order_id": order, "status": status, "timestamp": iso(ts(at))}),
        );
    }

    fn product(&mut self, id: &str, category: &str, ingest: &str) {
        self.add(
            "product",
            ts(ingest),
            id,
            json!({"product_id": id, "category": category}),
        );
    }

    fn user(&mut self, topic: &'static str, id: &str, zip: &str) {
        let key = if topic == "seller" {
            "seller_id"
        } else {
            "customer_id"
        };
        self.add(
            topic,
            ts("2017-01-01 00:00:00"),
            id,
            json!({key: id, "zip_code": zip}),
        );
    }

    fn geo(&mut self, zip: &str, lat: Option<f64>, lng: f64, city: &str) {
        self.add(
            "geolocation",
            ts("2017-01-01 00:00:00"),
            zip,
            json!({"zip_code": zip, "lat": lat, "lng": lng, "city": city, "state": "SP"}),
        );
    }

    fn estimate(&mut self, order: &str, date: &str, ingest: NaiveDateTime) {
        self.add(
            "estimated_delivery_date",
            ingest,
            order,
            json!({"order_id": order, "estimated_delivery_date": iso(ts(date))}),
        );
    }

    fn order(&mut self, o: &Order) {
        let at = ts(o.purchase);
        self.status(o.id, "purchase", o.purchase);
        self.add(
            "payment",
            at + Duration::milliseconds(150),
            o.id,
            json!({"order_id": o.id, "customer_id": o.customer, "payment_sequential": 1,
                   "payment_type": "credit_card", "payment_installments": 1,
                   "payment_value": "1.00", "timestamp": iso(at)}),
        );
        for (n, (product, seller, price, freight, limit)) in o.items.iter().enumerate() {
            self.add(
                "order_item",
                at + Duration::milliseconds(200 + n as i64),
                o.id,
                json!({"order_id": o.id, "order_item_id": n + 1, "product_id": product,
                       "seller_id": seller, "shipping_limit_date": iso(ts(limit)),
                       "price": price, "freight_value": freight}),
            );
        }
        if let Some(e) = o.estimate {
            self.estimate(o.id, e, at + Duration::milliseconds(300));
        }
        for (status, t) in [
            ("approved", o.approved),
            ("delivered_carrier", o.carrier),
            ("delivered_customer", o.delivered),
        ] {
            if let Some(t) = t {
                self.status(o.id, status, t);
            }
        }
    }

    async fn write(&self, lake: &Lake) {
        self.write_in_commits(lake, 1).await;
    }

    /// Lands the rows in `n` appends per topic (row i in append i mod n), as `n` bronze-load
    /// runs would: up to `n` files per day partition.
    async fn write_in_commits(&self, lake: &Lake, n: usize) {
        self.write_ingested(lake, n, "", "9999").await;
    }

    /// [`Bronze::write_in_commits`] of the rows ingested in [from, until) (ISO text bounds),
    /// as the bronze-load runs of that time would land them.
    async fn write_ingested(&self, lake: &Lake, n: usize, from: &str, until: &str) {
        lake.ensure_tables(tables::ALL).await.unwrap();
        let ctx = CommitContext {
            job: "test".into(),
            run_id: "test".into(),
            interval: "..".into(),
            ..Default::default()
        };
        for (topic, rows) in &self.rows {
            let def = tables::by_name(&format!("bronze.{topic}")).unwrap();
            let table = lake.table(&def.ident()).await.unwrap();
            let schema = olistlake::lake::write::arrow_schema(&table).unwrap();
            let rows: Vec<&Value> = rows
                .iter()
                .filter(|r| {
                    let t = r["ingest_time"].as_str().unwrap();
                    t >= from && t < until
                })
                .collect();
            for part in 0..n {
                let chunk: Vec<&Value> = rows.iter().skip(part).step_by(n).copied().collect();
                if chunk.is_empty() {
                    continue;
                }
                let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
                    .build_decoder()
                    .unwrap();
                decoder.serialize(&chunk).unwrap();
                let batch = decoder.flush().unwrap().unwrap();
                lake.write(&def.ident(), CommitKind::Append, &[batch], &ctx)
                    .await
                    .unwrap();
            }
        }
    }
}

/// Runs a job; returns (exit code, summary).
fn job(env: &LakeEnv, name: &str, args: &[&str]) -> (i32, Value) {
    let out = env.bin(name).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), summary(&out))
}

fn job_ok(env: &LakeEnv, name: &str, args: &[&str]) -> Value {
    let (code, s) = job(env, name, args);
    assert!(
        code == 0 || code == 99,
        "{name} {args:?} exited {code}: {s}"
    );
    s
}

async fn query(lake: &Lake, sql: &str) -> Vec<Vec<Option<String>>> {
    text_rows(&lake.sql(sql, &ReadAt::current()).await.unwrap())
}

/// Asserts two lake states are equal table by table, showing only what differs.
fn assert_same(left: &Contents, right: &Contents, what: &str) {
    for (table, l) in left {
        let r = &right[table];
        if l != r {
            let only_l: Vec<_> = l.iter().filter(|x| !r.contains(x)).take(3).collect();
            let only_r: Vec<_> = r.iter().filter(|x| !l.contains(x)).take(3).collect();
            panic!(
                "{what}: {table} differs ({} vs {} rows)\n left only: {only_l:?}\n right only: {only_r:?}",
                l.len(),
                r.len()
            );
        }
    }
}

fn row(values: &[&str]) -> Vec<Option<String>> {
    values
        .iter()
        .map(|v| (*v != "NULL").then(|| v.to_string()))
        .collect()
}

/// Every silver and gold table, whole, as text.
async fn contents(lake: &Lake) -> Contents {
    common::lake_contents(lake, &["silver", "gold"], &[]).await
}

/// The scenario: every expected value below is worked out by hand from these rows.
fn scenario() -> Bronze {
    let mut b = Bronze::default();
    // Dimensions. P6's first copy says toys; its later copy (latest wins) says health_beauty.
    for p in ["P1", "P2", "P3", "P4", "P5"] {
        b.product(p, "health_beauty", "2017-01-01 10:00:00");
    }
    b.product("P6", "toys", "2017-01-01 10:00:00");
    b.product("P6", "health_beauty", "2017-01-02 10:00:00");
    b.product("P7", "toys", "2017-01-01 10:00:00");
    b.product("P9", "toys", "2017-01-01 10:00:00");
    b.user("seller", "S1", "01000");
    b.user("seller", "S2", "02000");
    b.geo("01000", Some(-23.5), -46.6, "sao paulo");
    b.geo("02000", Some(-22.9), -43.2, "rio de janeiro");

    // BCG: health_beauty sales delivered in 2017-Q2, one item per order, seller S1.
    // (product, totals): P1 [100], P2 [20], P3 [30, 30], P4 [200, 200], P5 [10, 20], P6 5×[40]
    let sales: [(&str, &[(&str, &str)]); 6] = [
        ("P1", &[("90.00", "10.00")]),
        ("P2", &[("15.00", "5.00")]),
        ("P3", &[("25.00", "5.00"), ("25.00", "5.00")]),
        ("P4", &[("180.00", "20.00"), ("180.00", "20.00")]),
        ("P5", &[("8.00", "2.00"), ("16.00", "4.00")]),
        ("P6", &[("35.00", "5.00"); 5]),
    ];
    let mut n = 0;
    for (product, items) in sales {
        for (price, freight) in items {
            n += 1;
            let id = format!("H{n:02}");
            let customer = format!("C{n:02}");
            b.user("customer", &customer, "01000");
            b.order(&Order {
                id: &id,
                customer: &customer,
                purchase: "2017-05-01 10:00:00",
                approved: Some("2017-05-01 10:30:00"),
                carrier: Some("2017-05-02 10:00:00"),
                delivered: Some("2017-05-05 10:00:00"),
                estimate: Some("2017-05-20 00:00:00"),
                items: vec![(product, "S1", price, freight, "2017-05-03 10:00:00")],
            });
        }
    }
    // A review of H05 (P4): answered 36.5 h after creation.
    b.add(
        "review",
        ts("2017-05-06 00:00:00"),
        "R1",
        json!({"review_id": "R1", "order_id": "H05", "review_score": 5,
               "review_creation_date": "2017-05-06T00:00:00",
               "review_answer_timestamp": "2017-05-07T12:30:00"}),
    );

    let toy = |limit| vec![("P7", "S2", "8.00", "2.00", limit)];
    b.user("customer", "CA", "01000");
    b.user("customer", "CB", "99999"); // no geolocation: left out of user_location
    // Across midnight, delivered on the estimate's day (on time), carrier at the limit.
    b.order(&Order {
        id: "OA",
        customer: "CA",
        purchase: "2017-05-01 23:59:00",
        approved: Some("2017-05-02 00:01:00"),
        carrier: Some("2017-05-03 12:00:00"),
        delivered: Some("2017-05-10 23:59:00"),
        estimate: Some("2017-05-10 00:00:00"),
        items: toy("2017-05-03 12:00:00"),
    });
    // Delivered the day after the estimate (late), carrier one second after the limit.
    b.order(&Order {
        id: "OB",
        customer: "CB",
        purchase: "2017-05-01 10:00:00",
        approved: Some("2017-05-01 10:10:00"),
        carrier: Some("2017-05-03 12:00:01"),
        delivered: Some("2017-05-11 00:01:00"),
        estimate: Some("2017-05-10 00:00:00"),
        items: toy("2017-05-03 12:00:00"),
    });
    // Quarter boundary: the last second of Q1 and the first of Q2.
    for (id, delivered) in [
        ("OQ1", "2017-03-31 23:59:59"),
        ("OQ2", "2017-04-01 00:00:00"),
    ] {
        b.order(&Order {
            id,
            customer: "CA",
            purchase: "2017-03-20 10:00:00",
            approved: Some("2017-03-20 11:00:00"),
            carrier: Some("2017-03-21 10:00:00"),
            delivered: Some(delivered),
            estimate: Some("2017-04-10 00:00:00"),
            items: toy("2017-03-22 10:00:00"),
        });
    }
    // Two items with different shipping limits: two delivered_order_timestamp rows.
    b.order(&Order {
        id: "OS",
        customer: "CA",
        purchase: "2017-05-01 10:00:00",
        approved: Some("2017-05-01 11:00:00"),
        carrier: Some("2017-05-02 10:00:00"),
        delivered: Some("2017-05-04 10:00:00"),
        estimate: Some("2017-05-20 00:00:00"),
        items: vec![
            ("P9", "S2", "10.00", "1.00", "2017-05-02 10:00:00"),
            ("P9", "S2", "10.00", "1.00", "2017-05-03 10:00:00"),
        ],
    });
    // Delivered without an approval time: kept in order_product, left out (counted) of
    // delivered_order_timestamp.
    b.order(&Order {
        id: "ON",
        customer: "CA",
        purchase: "2017-05-01 10:00:00",
        approved: None,
        carrier: Some("2017-05-02 10:00:00"),
        delivered: Some("2017-05-04 10:00:00"),
        estimate: Some("2017-05-20 00:00:00"),
        items: vec![("P9", "S2", "10.00", "1.00", "2017-05-02 10:00:00")],
    });
    // Canceled: never open in the monitor.
    b.order(&Order {
        id: "OC",
        customer: "CA",
        purchase: "2017-05-20 10:00:00",
        approved: Some("2017-05-20 11:00:00"),
        carrier: None,
        delivered: None,
        estimate: Some("2017-06-10 00:00:00"),
        items: toy("2017-05-22 10:00:00"),
    });
    b.status("OC", "canceled", "2017-05-21 10:00:00");
    // First event wins: a replayed purchase event stamped earlier, ingested two days later.
    b.order(&Order {
        id: "OF",
        customer: "CA",
        purchase: "2017-05-01 09:00:00",
        approved: None,
        carrier: None,
        delivered: None,
        estimate: None,
        items: toy("2017-05-03 10:00:00"),
    });
    b.status_ingested(
        "OF",
        "purchase",
        "2017-05-01 08:00:00",
        ts("2017-05-03 00:00:00"),
    );
    // Latest estimate copy by ingest time wins, even though it is the earlier date.
    b.order(&Order {
        id: "OE",
        customer: "CA",
        purchase: "2017-05-01 10:00:00",
        approved: None,
        carrier: None,
        delivered: None,
        estimate: Some("2017-06-10 00:00:00"),
        items: toy("2017-05-03 10:00:00"),
    });
    b.estimate("OE", "2017-06-05 00:00:00", ts("2017-05-02 00:00:00"));
    // The monitor as of 2017-06-01: one order per stage.
    b.order(&Order {
        id: "M1",
        customer: "CA",
        purchase: "2017-05-30 12:00:00",
        approved: None,
        carrier: None,
        delivered: None,
        estimate: Some("2017-06-15 00:00:00"),
        items: toy("2017-06-02 10:00:00"),
    });
    b.order(&Order {
        id: "M2",
        customer: "CA",
        purchase: "2017-05-20 00:00:00",
        approved: Some("2017-05-20 06:00:00"),
        carrier: None,
        delivered: None,
        estimate: Some("2017-05-25 00:00:00"),
        items: vec![("P1", "S1", "90.00", "10.00", "2017-05-22 10:00:00")],
    });
    // In transit at 2017-06-01; its delivery on 2017-06-02 is not yet known then.
    b.order(&Order {
        id: "M3",
        customer: "CA",
        purchase: "2017-05-10 00:00:00",
        approved: Some("2017-05-10 01:00:00"),
        carrier: Some("2017-05-12 08:00:00"),
        delivered: Some("2017-06-02 10:00:00"),
        estimate: Some("2017-05-31 00:00:00"),
        items: toy("2017-05-12 10:00:00"),
    });
    b
}

/// The scenario, then CDC copies on the days from 2017-06-02: every kind of change a copy can
/// make to an output, one per day.
fn scenario_with_changes() -> Bronze {
    let mut b = scenario();
    let item = |b: &mut Bronze, order: &str, product: &str, price: &str, ingest: &str| {
        b.add(
            "order_item",
            ts(ingest),
            order,
            json!({"order_id": order, "order_item_id": 1, "product_id": product,
                   "seller_id": "S1", "shipping_limit_date": "2017-05-03T10:00:00",
                   "price": price, "freight_value": "10.00"}),
        );
    };
    // An item's product changes: P1's only sale becomes P2's (P1 leaves Q2's portfolio).
    item(&mut b, "H01", "P2", "90.00", "2017-06-02 10:00:00");
    // An item's price changes: one of P3's two sales.
    item(&mut b, "H03", "P3", "99.00", "2017-06-03 10:00:00");
    // A product's category changes: P4 leaves health_beauty.
    b.product("P4", "toys", "2017-06-04 10:00:00");
    // A customer moves: CA's zip changes (user_location, order_location).
    b.add(
        "customer",
        ts("2017-06-05 10:00:00"),
        "CA",
        json!({"customer_id": "CA", "zip_code": "02000"}),
    );
    // An open order whose statuses arrive late and out of order: the carrier hand-over is
    // ingested after the delivery, two days after it happened.
    b.order(&Order {
        id: "OL",
        customer: "CA",
        purchase: "2017-06-06 10:00:00",
        approved: Some("2017-06-06 11:00:00"),
        carrier: None,
        delivered: None,
        estimate: Some("2017-06-20 00:00:00"),
        items: vec![("P5", "S1", "30.00", "3.00", "2017-06-08 10:00:00")],
    });
    b.status_ingested(
        "OL",
        "delivered_customer",
        "2017-06-08 15:00:00",
        ts("2017-06-08 15:00:01"),
    );
    b.status_ingested(
        "OL",
        "delivered_carrier",
        "2017-06-07 09:00:00",
        ts("2017-06-09 12:00:00"),
    );
    // A purchase re-stamped into the month before: OP's row of silver.order_timestamp
    // (partitioned by month of purchase) moves from June to May and must leave June.
    b.status_ingested(
        "OP",
        "purchase",
        "2017-06-01 00:30:00",
        ts("2017-06-01 00:30:01"),
    );
    b.status_ingested(
        "OP",
        "purchase",
        "2017-05-31 23:00:00",
        ts("2017-06-10 07:00:00"),
    );
    // OW: an order approved before its purchase event arrives: its row has no purchase (the null
    // partition) until the purchase comes the next day, and must leave that partition then.
    b.status_ingested(
        "OW",
        "approved",
        "2017-06-06 12:00:00",
        ts("2017-06-06 12:00:01"),
    );
    b.status_ingested(
        "OW",
        "purchase",
        "2017-06-06 11:00:00",
        ts("2017-06-07 09:00:00"),
    );
    // A late status of an order delivered long ago: OF's approval, ingested a month late.
    b.status_ingested(
        "OF",
        "approved",
        "2017-05-01 09:30:00",
        ts("2017-06-10 08:00:00"),
    );
    // A delivery re-stamped into the quarter before: OQ2 (delivered 2017-04-01, Q2) gets an
    // earlier delivered_customer event (Q1), the last change of the days, so no later day
    // rewrites Q2 by chance: the sale must leave Q2's rows and count in Q1's, not in both.
    b.status_ingested(
        "OQ2",
        "delivered_customer",
        "2017-03-31 20:00:00",
        ts("2017-06-10 09:00:00"),
    );
    b
}

/// Issue 13 (4): each change a CDC copy can make (an item's product, an item's price, a
/// product's category, a customer's zip, statuses arriving late and out of order) lands where
/// it belongs: the history and then one run per day equal one full refresh, table by table,
/// silver and gold; re-running the days in another order changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdc_changes_by_interval_equal_a_full_refresh() {
    let end = "2017-06-11";
    let daily = LakeEnv::new(Backend::LocalSqlite);
    let daily_lake = daily.lake().await;
    let bronze = scenario_with_changes();
    bronze
        .write_ingested(&daily_lake, 3, "", "2017-06-02")
        .await;
    run_all(&daily, &["--end", "2017-06-02"]);
    let before = contents(&daily_lake).await;

    // Compaction between two runs keeps every row (pyiceberg before and after) and the runs
    // after it go on as if it had not happened.
    let tables: Vec<String> = tables::ALL
        .iter()
        .filter(|t| t.namespace != "ops")
        .map(|t| t.qualified())
        .collect();
    let py_before: Vec<Value> = tables.iter().map(|t| daily.py(&["rows", t])).collect();
    let rewritten = daily.compact(2);
    let bronze_compacted: u64 = rewritten
        .iter()
        .filter(|(table, _)| table.starts_with("bronze."))
        .map(|(_, n)| n)
        .sum();
    assert!(bronze_compacted > 10, "{rewritten:?}");
    for (t, was) in tables.iter().zip(&py_before) {
        assert_eq!(&daily.py(&["rows", t]), was, "{t} after compaction");
    }

    // each day's bronze lands, then the day runs
    for (start, next) in days("2017-06-02", 9) {
        bronze.write_ingested(&daily_lake, 1, &start, &next).await;
        run_all(&daily, &["--start", &start, "--end", &next]);
    }
    let by_day = contents(&daily_lake).await;

    let full = LakeEnv::new(Backend::LocalSqlite);
    let full_lake = full.lake().await;
    scenario_with_changes().write(&full_lake).await;
    run_all(&full, &["--full-refresh", "--end", end]);
    let refreshed = contents(&full_lake).await;
    assert_same(
        &by_day,
        &refreshed,
        "daily runs over CDC changes vs a full refresh",
    );

    // the changes did change the outputs (else the comparison proves nothing)
    assert_oq2_counted_in_q1(&daily_lake).await;
    for table in [
        "silver.order_product",
        "silver.user_location",
        "gold.sale_stats",
        "gold.health_beauty_sales_stats_bcg",
        "gold.order_location",
    ] {
        assert_ne!(before[table], by_day[table], "{table} did not change");
    }
    let p1 = query(
        &full_lake,
        "SELECT COUNT(*) FROM gold.health_beauty_sales_stats_bcg WHERE product_id IN ('P1', 'P4')",
    )
    .await;
    assert_eq!(p1, vec![row(&["0"])], "P1 sold nothing, P4 is a toy now");
    let moved = query(
        &daily_lake,
        "SELECT order_id, CAST(purchase AS VARCHAR) FROM silver.order_timestamp \
         WHERE order_id IN ('OP', 'OW') ORDER BY order_id",
    )
    .await;
    assert_eq!(
        moved,
        vec![
            row(&["OP", "2017-05-31T23:00:00"]),
            row(&["OW", "2017-06-06T11:00:00"])
        ],
        "each order once, in the month of its earliest purchase"
    );

    // a day no bronze row was ingested in: silver-build stops before computing any model
    let (code, s) = job(
        &daily,
        "silver-build",
        &["--start", "2017-07-01", "--end", "2017-07-02"],
    );
    assert_eq!(code, 99, "{s}");
    let laps = s["metrics"]["timings_s"].as_object().unwrap();
    assert!(
        !laps.contains_key("silver.order_timestamp"),
        "no model computed: {laps:?}"
    );
    // ... and as soon as the touched keys are known: nothing read the orders' history (the
    // interval's scan prunes every file of the order statuses by its ingest times; the
    // affected orders' statuses, read otherwise, are never looked up)
    for table in ["state.order_status", "bronze.order_status"] {
        assert_eq!(
            s["metrics"]["inputs"][table]["file_opens"],
            json!(0),
            "{table}: {}",
            s["metrics"]["inputs"]
        );
    }

    // the same days again, shuffled (the last one last: the monitor is as of its end)
    for i in [4, 1, 7, 0, 3, 6, 2, 5, 8] {
        let (start, next) = &days("2017-06-02", 9)[i];
        run_all(&daily, &["--start", start, "--end", next]);
    }
    assert_same(
        &contents(&daily_lake).await,
        &refreshed,
        "days re-run in another order",
    );
}

/// OQ2's toy sale (P7), re-stamped from 2017-04-01 to 2017-03-31, counts in Q1 and no longer
/// in Q2 (the scenario: one P7 sale in Q1 and four in Q2 before).
async fn assert_oq2_counted_in_q1(lake: &Lake) {
    let p7 = "SELECT period, order_count FROM gold.sale_stats WHERE product_id = 'P7' \
              AND period IN ('2017-Q1', '2017-Q2') ORDER BY period";
    assert_eq!(
        query(lake, p7).await,
        vec![row(&["2017-Q1", "2"]), row(&["2017-Q2", "3"])],
        "OQ2's sale moved from Q2 to Q1"
    );
}

/// A delivery re-stamped into the quarter before, with the state rebuilt in between: the state
/// keeps every time a delivery was stamped with, so gold-bcg's run for the day still rewrites
/// the quarter the sale was counted in (a state keeping the first time alone would leave the
/// sale counted in both quarters).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_moved_to_another_quarter_leaves_the_old_one() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    let mut bronze = scenario();
    bronze.write(&lake).await;
    run_all(&env, &["--full-refresh", "--end", "2017-06-10"]);

    let mut late = Bronze::later();
    late.status_ingested(
        "OQ2",
        "delivered_customer",
        "2017-03-31 20:00:00",
        ts("2017-06-10 09:00:00"),
    );
    late.write(&lake).await;
    // silver as of the new event, its state rebuilt from all of bronze
    job_ok(&env, "silver-build", &["--full-refresh"]);
    let day = ["--start", "2017-06-10", "--end", "2017-06-11"];
    job_ok(&env, "gold-bcg", &day);
    let by_interval = contents(&lake).await;

    let full = LakeEnv::new(Backend::LocalSqlite);
    let full_lake = full.lake().await;
    bronze
        .rows
        .entry("order_status")
        .or_default()
        .extend(late.rows["order_status"].clone());
    bronze.write(&full_lake).await;
    run_all(&full, &["--full-refresh", "--end", "2017-06-11"]);
    let refreshed = contents(&full_lake).await;
    // the BCG tables of the quarters (the locations and reviews did not change)
    let bcg: Contents = by_interval
        .into_iter()
        .filter(|(t, _)| t.ends_with("_bcg") || t == "gold.sale_stats")
        .collect();
    assert_eq!(bcg.len(), 3);
    assert_same(
        &bcg,
        &refreshed,
        "gold-bcg's day after a re-stamped delivery vs a full refresh",
    );
    assert_oq2_counted_in_q1(&lake).await;

    // A state kept by other rules (written here as an older release would: no fingerprint in
    // its summary) serves no run: gold reads bronze, silver-build rebuilds it.
    let kept = lake
        .sql("SELECT * FROM state.order_status", &ReadAt::default())
        .await
        .unwrap();
    let ident = tables::STATE_ORDER_STATUS.ident();
    let ctx = CommitContext {
        job: "older-release".into(),
        run_id: "older-release".into(),
        interval: "..".into(),
        ..Default::default()
    };
    lake.write(&ident, CommitKind::Replace, &kept, &ctx)
        .await
        .unwrap();
    let gold = job_ok(&env, "gold-bcg", &day);
    assert_eq!(gold["metrics"]["state"]["order_status"]["read"], "bronze");
    assert_eq!(gold["metrics"]["state"]["payment"]["read"], "state");
    let silver = job_ok(&env, "silver-build", &day);
    assert_eq!(
        silver["metrics"]["state"]["order_status"]["read"],
        "refreshed"
    );
}

/// `state.order_status` as a release before the state left bronze's lineage columns out kept
/// it: the table has them (added here as optional columns, the only way to add a column to a
/// table), and its rows carry them. Recorded as computed by the current rules from bronze's
/// snapshot, it still serves the runs: the first job to load it drops the columns from its
/// schema (the files keep their values, which no reader projects), and the interval runs end
/// where a full refresh of the same bronze ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_kept_with_the_lineage_columns_serves_runs_and_loses_them() {
    use olistlake::lake::tables::{Col, TableDef};
    use olistlake::transform::state;
    static OLDER_STATE: TableDef = TableDef {
        namespace: "state",
        name: "order_status",
        columns: &[
            ("_kafka_key", Col::Str, false),
            ("order_id", Col::Str, false),
            ("status", Col::Str, false),
            ("timestamp", Col::Ts, false),
            ("ingest_time", Col::Ts, false),
            ("_kafka_partition", Col::Int, true),
            ("_kafka_offset", Col::Long, true),
            ("_kafka_timestamp", Col::Ts, false),
            ("_schema_id", Col::Int, false),
            ("_loaded_at", Col::TsTz, false),
        ],
        partition: &[],
        doc: "",
    };
    let end = "2017-06-11";
    let full = LakeEnv::new(Backend::LocalSqlite);
    let full_lake = full.lake().await;
    scenario_with_changes().write(&full_lake).await;
    run_all(&full, &["--full-refresh", "--end", end]);
    let refreshed = contents(&full_lake).await;
    let ident = tables::STATE_ORDER_STATUS.ident();
    let recorded = full_lake.current_summary(&ident).await.unwrap().unwrap();

    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    let bronze = scenario_with_changes();
    bronze.write_ingested(&lake, 2, "", "2017-06-02").await;
    lake.ensure_tables(&[&OLDER_STATE]).await.unwrap();
    let copies = lake
        .sql("SELECT * FROM bronze.order_status", &ReadAt::default())
        .await
        .unwrap();
    let newest = query(
        &lake,
        "SELECT CAST(CAST(max(ingest_time) AS BIGINT) AS VARCHAR) FROM bronze.order_status",
    )
    .await;
    let bronze_snapshot = lake
        .current_snapshot_id(&tables::BRONZE_ORDER_STATUS.ident())
        .await
        .unwrap()
        .unwrap();
    let ctx = CommitContext {
        job: "older-release".into(),
        run_id: "older-release".into(),
        interval: "..".into(),
        extra: BTreeMap::from([
            (state::BRONZE_SNAPSHOT.into(), bronze_snapshot.to_string()),
            (state::MAX_INGEST.into(), newest[0][0].clone().unwrap()),
            (state::NULL_INGEST.into(), "false".into()),
            (state::RULES.into(), recorded[state::RULES].clone()),
        ]),
        ..Default::default()
    };
    lake.write(&ident, CommitKind::Replace, &copies, &ctx)
        .await
        .unwrap();
    assert!(state_has_key_column(&lake).await);

    // The first job to load the state drops the columns (gold-bcg here, which computes from
    // an empty silver: rewritten below), then reads the state's files under the new schema.
    let first = ["--end", "2017-06-02"];
    let gold = job_ok(&env, "gold-bcg", &first);
    assert_eq!(
        gold["metrics"]["state"]["order_status"]["read"], "state",
        "{gold}"
    );
    assert!(
        !state_has_key_column(&lake).await,
        "the lineage columns are dropped"
    );
    let silver = job_ok(&env, "silver-build", &first);
    assert_eq!(
        silver["metrics"]["state"]["order_status"]["read"], "state",
        "{silver}"
    );
    let read = env.py(&["rows", "state.order_status"]);
    assert_eq!(
        read["count"],
        copies.iter().map(|b| b.num_rows()).sum::<usize>()
    );
    assert!(
        !read["columns"]
            .as_array()
            .unwrap()
            .contains(&json!("_kafka_key")),
        "{read}"
    );
    run_all(&env, &first);
    for (start, next) in days("2017-06-02", 9) {
        bronze.write_ingested(&lake, 1, &start, &next).await;
        run_all(&env, &["--start", &start, "--end", &next]);
    }
    assert_same(
        &contents(&lake).await,
        &refreshed,
        "interval runs over an older state vs a full refresh",
    );
    // and a rebuild writes the state in the table's new schema
    let rebuilt = job_ok(&env, "silver-build", &["--full-refresh", "--end", end]);
    assert_eq!(
        rebuilt["metrics"]["state"]["order_status"]["read"],
        "refreshed"
    );
    run_all(&env, &["--start", "2017-06-10", "--end", end]);
    assert_same(
        &contents(&lake).await,
        &refreshed,
        "a full refresh after an older state vs a full refresh",
    );
}

/// Whether `state.order_status`'s current schema has bronze's `_kafka_key`.
async fn state_has_key_column(lake: &Lake) -> bool {
    let table = lake
        .table(&tables::STATE_ORDER_STATUS.ident())
        .await
        .unwrap();
    table
        .metadata()
        .current_schema()
        .field_by_name("_kafka_key")
        .is_some()
}

/// An order's purchase re-stamped into the month before moves its row of
/// silver.order_timestamp (partitioned by month of purchase) to that month. The state is
/// folded between the row's write and the run that moves it (a run of another interval
/// whose tail is large): the state must still name the month the row is in, or that month
/// is not read and the order is left in both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_moved_to_another_month_leaves_the_old_one() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    let mut bronze = scenario();
    bronze.status_ingested(
        "OP",
        "purchase",
        "2017-06-01 00:30:00",
        ts("2017-06-01 00:30:01"),
    );
    bronze.write(&lake).await;
    run_all(&env, &["--full-refresh", "--end", "2017-06-09"]);

    // the re-stamped purchase, ingested with enough other orders' events (bought in April:
    // their month is read, not June's) that the next silver-build folds the tail into the
    // state
    let mut late = Bronze::later();
    late.status_ingested(
        "OP",
        "purchase",
        "2017-05-31 23:00:00",
        ts("2017-06-10 09:00:00"),
    );
    for i in 0..60 {
        late.status_ingested(
            &format!("OX{i:02}"),
            "purchase",
            "2017-04-10 08:00:00",
            ts("2017-06-10 09:00:00"),
        );
    }
    late.write(&lake).await;
    let (code, before) = job(
        &env,
        "silver-build",
        &["--start", "2017-06-08", "--end", "2017-06-09"],
    );
    assert!(code == 0 || code == 99, "{before}");
    assert_eq!(
        before["metrics"]["state"]["order_status"]["read"], "refreshed",
        "the tail is folded before the day it belongs to runs"
    );
    job_ok(
        &env,
        "silver-build",
        &["--start", "2017-06-10", "--end", "2017-06-11"],
    );
    let op = query(
        &lake,
        "SELECT CAST(purchase AS VARCHAR) FROM silver.order_timestamp WHERE order_id = 'OP'",
    )
    .await;
    assert_eq!(op, vec![row(&["2017-05-31T23:00:00"])], "OP once, in May");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_on_hand_made_inputs() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    scenario().write(&lake).await;

    let silver = job_ok(&env, "silver-build", &["--full-refresh"]);
    let bcg = job_ok(&env, "gold-bcg", &["--full-refresh"]);
    let lt = job_ok(
        &env,
        "gold-leadtime",
        &["--full-refresh", "--end", "2017-06-01"],
    );

    // silver.order_timestamp: pivots, first event, customer from payment, latest estimate.
    assert_eq!(
        query(
            &lake,
            "SELECT order_id, customer_id, purchase, approved, delivered_carrier, \
             delivered_customer, canceled_at, estimated_delivery_date FROM silver.order_timestamp \
             WHERE order_id IN ('OA', 'OC', 'OE', 'OF')"
        )
        .await,
        vec![
            row(&[
                "OA",
                "CA",
                "2017-05-01T23:59:00",
                "2017-05-02T00:01:00",
                "2017-05-03T12:00:00",
                "2017-05-10T23:59:00",
                "NULL",
                "2017-05-10T00:00:00"
            ]),
            row(&[
                "OC",
                "CA",
                "2017-05-20T10:00:00",
                "2017-05-20T11:00:00",
                "NULL",
                "NULL",
                "2017-05-21T10:00:00",
                "2017-06-10T00:00:00"
            ]),
            row(&[
                "OE",
                "CA",
                "2017-05-01T10:00:00",
                "NULL",
                "NULL",
                "NULL",
                "NULL",
                "2017-06-05T00:00:00"
            ]),
            row(&[
                "OF",
                "CA",
                "2017-05-01T08:00:00",
                "NULL",
                "NULL",
                "NULL",
                "NULL",
                "NULL"
            ]),
        ]
    );
    assert_eq!(
        query(&lake, "SELECT count(*) FROM silver.order_timestamp").await,
        vec![row(&["25"])]
    );

    // silver.order_product: delivered orders only (13 BCG + OA, OB, OQ1, OQ2, M3 + OS×2 + ON),
    // category from P6's latest copy, total_price = price + freight.
    assert_eq!(
        query(&lake, "SELECT count(*) FROM silver.order_product").await,
        vec![row(&["21"])]
    );
    assert_eq!(
        query(
            &lake,
            "SELECT order_id, category, price, freight_value, total_price FROM \
             silver.order_product WHERE order_id IN ('H01', 'H10')"
        )
        .await,
        vec![
            row(&["H01", "health_beauty", "90.00", "10.00", "100.00"]),
            row(&["H10", "health_beauty", "35.00", "5.00", "40.00"]),
        ]
    );
    assert_eq!(
        query(&lake, "SELECT count(*) FROM silver.order_product WHERE order_id IN ('OC', 'OE', 'OF', 'M1', 'M2')").await,
        vec![row(&["0"])]
    );
    assert_eq!(
        query(&lake, "SELECT count(*) FROM silver.delivered_order_product").await,
        vec![row(&["21"])]
    );

    // silver.delivered_order_timestamp: one row per shipping limit; ON left out and counted.
    assert_eq!(
        query(
            &lake,
            "SELECT order_id, shipping_limit_date FROM silver.delivered_order_timestamp \
             WHERE order_id IN ('OS', 'ON')"
        )
        .await,
        vec![
            row(&["OS", "2017-05-02T10:00:00"]),
            row(&["OS", "2017-05-03T10:00:00"])
        ]
    );
    assert_eq!(
        query(
            &lake,
            "SELECT count(*) FROM silver.delivered_order_timestamp"
        )
        .await,
        vec![row(&["20"])]
    );
    let tables = &silver["metrics"]["tables"];
    assert_eq!(
        tables["silver.delivered_order_timestamp"]["rows_left_out"],
        json!({"no approved time": 1})
    );
    // silver.user_location: CB's zip has no geolocation.
    assert_eq!(
        tables["silver.user_location"]["rows_left_out"],
        json!({"zip without geolocation": 1})
    );
    assert_eq!(
        query(
            &lake,
            "SELECT user_type, count(*) FROM silver.user_location GROUP BY user_type"
        )
        .await,
        vec![row(&["customer", "14"]), row(&["seller", "2"])]
    );

    // gold.timestamp_stats_wide: calendar days across midnight, the late flags' boundaries.
    assert_eq!(
        query(
            &lake,
            "SELECT order_id, lead_time_approve_days, lead_time_approve_hours, \
             lead_time_carrier_days, lead_time_customer_days, total_delivery_days, \
             delivery_delay_days, is_late_delivery, is_late_shipping \
             FROM gold.timestamp_stats_wide WHERE order_id IN ('OA', 'OB')"
        )
        .await,
        vec![
            row(&["OA", "1", "0.0333", "1", "7", "9", "0", "false", "false"]),
            row(&["OB", "0", "0.1667", "2", "8", "10", "1", "true", "true"]),
        ]
    );
    assert_eq!(
        lt["metrics"]["figures"]["deliveries"],
        json!({"delivered_orders": 19, "late_orders": 2, "late_share": 2.0 / 19.0})
    );

    // gold.sale_stats: quarters by delivery time, ALL, mean to four places.
    assert_eq!(
        query(
            &lake,
            "SELECT period, order_count, total_sales, mean_sale FROM gold.sale_stats \
             WHERE product_id = 'P7'"
        )
        .await,
        vec![
            row(&["2017-Q1", "1", "10.00", "10.0000"]),
            row(&["2017-Q2", "4", "40.00", "10.0000"]),
            row(&["ALL", "5", "50.00", "10.0000"]),
        ]
    );

    // The BCG portfolio. counts [1,1,2,2,2,5]: P75 = 2 (ties at 2 are high);
    // means [15,20,30,40,100,200]: median = 35 by linear interpolation (nearest rank would
    // give 30 and make P3 a star).
    let expected_bcg = |period: &str| {
        vec![
            row(&[period, "P1", "1", "100.0000", "Niche Gems", "2.0", "35.0"]),
            row(&[
                period,
                "P2",
                "1",
                "20.0000",
                "Question Marks",
                "2.0",
                "35.0",
            ]),
            row(&[
                period,
                "P3",
                "2",
                "30.0000",
                "Volume Drivers",
                "2.0",
                "35.0",
            ]),
            row(&[
                period,
                "P4",
                "2",
                "200.0000",
                "Star Products",
                "2.0",
                "35.0",
            ]),
            row(&[
                period,
                "P5",
                "2",
                "15.0000",
                "Volume Drivers",
                "2.0",
                "35.0",
            ]),
            row(&[period, "P6", "5", "40.0000", "Star Products", "2.0", "35.0"]),
        ]
    };
    let bcg_rows = query(
        &lake,
        "SELECT period, product_id, order_count, mean_sale, segment, order_count_p75, \
         mean_sale_median FROM gold.health_beauty_sales_stats_bcg",
    )
    .await;
    let mut expected = expected_bcg("2017-Q2");
    expected.extend(expected_bcg("ALL"));
    assert_eq!(bcg_rows, expected);
    assert_eq!(
        bcg["metrics"]["figures"]["segments"]["Star Products"]["products"],
        json!(2)
    );

    // gold.delivered_order_product_bcg: the 13 items, once each, in their quarter, with the
    // quarter's segment and the overall one (equal here: every sale is in 2017-Q2).
    assert_eq!(
        query(
            &lake,
            "SELECT period, segment, segment_all, count(*), sum(total_price) \
             FROM gold.delivered_order_product_bcg GROUP BY period, segment, segment_all"
        )
        .await,
        vec![
            row(&["2017-Q2", "Niche Gems", "Niche Gems", "1", "100.00"]),
            row(&["2017-Q2", "Question Marks", "Question Marks", "1", "20.00"]),
            row(&["2017-Q2", "Star Products", "Star Products", "7", "600.00"]),
            row(&["2017-Q2", "Volume Drivers", "Volume Drivers", "4", "90.00"]),
        ]
    );
    // gold.order_location: each product's customers plus its seller.
    assert_eq!(
        query(
            &lake,
            "SELECT product_id, user_type, count(*) FROM gold.order_location \
             WHERE product_id IN ('P1', 'P6') GROUP BY product_id, user_type"
        )
        .await,
        vec![
            row(&["P1", "customer", "1"]),
            row(&["P1", "seller", "1"]),
            row(&["P6", "customer", "5"]),
            row(&["P6", "seller", "1"]),
        ]
    );
    // gold.review_metadata_product: only the category's orders; answer lead in hours.
    assert_eq!(
        query(
            &lake,
            "SELECT order_id, product_id, review_id, review_score, answer_lead_hours \
             FROM gold.review_metadata_product"
        )
        .await,
        vec![row(&["H05", "P4", "R1", "5", "36.5000"])]
    );

    // gold.delivery_monitor as of 2017-06-01: stages, hours in stage, overdue days; the
    // canceled order and the deliveries known by then are absent, M3's later delivery too.
    assert_eq!(
        query(
            &lake,
            "SELECT order_id, stage, stage_entered_at, hours_in_stage, days_overdue, category, \
             segment FROM gold.delivery_monitor"
        )
        .await,
        vec![
            row(&[
                "M1",
                "awaiting_approval",
                "2017-05-30T12:00:00",
                "36.0000",
                "-14",
                "toys",
                "NULL"
            ]),
            row(&[
                "M2",
                "awaiting_carrier",
                "2017-05-20T06:00:00",
                "282.0000",
                "7",
                "health_beauty",
                "Niche Gems"
            ]),
            row(&[
                "M3",
                "in_transit",
                "2017-05-12T08:00:00",
                "472.0000",
                "1",
                "toys",
                "NULL"
            ]),
            row(&[
                "OE",
                "awaiting_approval",
                "2017-05-01T10:00:00",
                "734.0000",
                "-4",
                "toys",
                "NULL"
            ]),
            row(&[
                "OF",
                "awaiting_approval",
                "2017-05-01T08:00:00",
                "736.0000",
                "NULL",
                "toys",
                "NULL"
            ]),
        ]
    );
    let monitor = &lt["metrics"]["figures"]["monitor"];
    assert_eq!(monitor["open_orders"], json!(5));
    assert_eq!(monitor["overdue_orders"], json!(2));
    assert_eq!(
        lt["metrics"]["figures"]["open_by_stage"]["awaiting_approval"]["orders"],
        json!(3)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_check_aborts_every_commit() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    let mut b = scenario();
    job_ok(&env, "silver-build", &["--full-refresh"]); // empty lake: nothing to do
    b.write(&lake).await;
    job_ok(&env, "silver-build", &["--full-refresh"]);
    let before = contents(&lake).await;
    let snapshots_before: Vec<_> = silver_snapshots(&lake).await;

    // A geolocation copy without latitude: user_location's not_null(lat) is an error check.
    b.rows.clear();
    b.geo("01000", None, -46.6, "sao paulo");
    // ...ingested after the first copy, so it is the latest.
    b.rows.get_mut("geolocation").unwrap()[0]["ingest_time"] = json!("2017-02-01T00:00:00");
    b.write(&lake).await;

    let (code, s) = job(
        &env,
        "silver-build",
        &["--start", "2017-02-01", "--end", "2017-02-02"],
    );
    assert_eq!(code, 1, "{s}");
    assert_eq!(s["status"], "failed");
    assert!(
        s["error"]
            .as_str()
            .unwrap()
            .contains("silver.user_location: not_null(user_id, user_type, lat, lng)"),
        "{s}"
    );
    assert!(s["commits"].as_array().unwrap().is_empty());
    assert!(s["metrics"]["checks_failed"]["error"].as_u64().unwrap() >= 1);
    // Nothing committed to any table, and the run is on record.
    assert_eq!(silver_snapshots(&lake).await, snapshots_before);
    assert_eq!(contents(&lake).await, before);
    let runs = query(
        &lake,
        "SELECT status, CAST(exit_code AS VARCHAR) FROM ops.job_runs WHERE job = 'silver-build' \
         AND status = 'failed'",
    )
    .await;
    assert_eq!(runs, vec![row(&["failed", "1"])]);
}

/// Runs silver-build paused before each commit and kills it (SIGKILL) in its `n`th pause
/// before a silver commit (the state tables it may refresh commit before those). It commits
/// two silver tables at a time, each after its pause: the first two pause together, and the
/// `n`th pause begins once `n - 2` silver tables are committed (n ≥ 2; the others still pause).
fn silver_build_killed_in_pause(env: &LakeEnv, args: &[&str], n: usize) {
    let mut child = common::paused_before_commit_to(
        env.bin("silver-build").args(args).stdout(Stdio::null()),
        1500,
        n,
        "silver.",
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

async fn silver_snapshots(lake: &Lake) -> Vec<Option<i64>> {
    let mut out = Vec::new();
    for def in tables::ALL.iter().filter(|d| d.namespace == "silver") {
        out.push(lake.current_snapshot_id(&def.ident()).await.unwrap());
    }
    out
}

fn days(from: &str, n: i64) -> Vec<(String, String)> {
    let until = ts(&format!("{from} 00:00:00")) + Duration::days(n);
    spans(from, &until.format("%Y-%m-%d").to_string(), 1)
}

/// Two silver-builds of different intervals at once (run by hand: the DAGs run one at a
/// time). Each keeps the rows it did not recompute as it read them, so the one that read a
/// table before the other committed to it must not overwrite the other's rows with that stale
/// copy: it exits 75 with nothing of the table committed, and its re-run completes; the lake
/// then equals a full refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silver_build_does_not_overwrite_a_concurrent_one() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    land_fixture(&env, &lake, None, "2017-11-01").await;
    job_ok(&env, "silver-build", &["--full-refresh"]);
    land_fixture(&env, &lake, Some("2017-11-01"), "2017-11-08").await;
    let before = silver_snapshots(&lake).await;

    let first = ["--start", "2017-11-01", "--end", "2017-11-04"];
    let mut cmd = env.bin("silver-build");
    cmd.args(first).stdout(Stdio::piped());
    let paused = common::paused_before_commit(&mut cmd, 10_000, 1);
    job_ok(
        &env,
        "silver-build",
        &["--start", "2017-11-04", "--end", "2017-11-08"],
    );
    let second = silver_snapshots(&lake).await;
    let out = paused.wait_with_output().unwrap();
    let s = summary(&out);
    assert_eq!(out.status.code(), Some(75), "{s}");
    assert!(
        s["error"].as_str().unwrap().contains("re-run the interval"),
        "{s}"
    );
    // nothing of the first run landed: every table is as the second run left it
    assert_eq!(silver_snapshots(&lake).await, second);
    assert_ne!(second, before);

    job_ok(&env, "silver-build", &first);
    let rerun = contents(&lake).await;
    job_ok(&env, "silver-build", &["--full-refresh"]);
    assert_same(&contents(&lake).await, &rerun, "full refresh vs the runs");
}

/// Properties (1) and (2) of the job contract on the fixture: the history before a range as
/// one interval plus every day of the range, in shuffled order, equal one full refresh, table
/// by table; re-running an interval changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intervals_in_any_order_equal_a_full_refresh() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    let end = "2017-12-01";
    assert!(land_fixture(&env, &lake, None, end).await > 5_000);

    let mut intervals: Vec<(Option<String>, String)> = days("2017-11-21", 10)
        .into_iter()
        .map(|(s, e)| (Some(s), e))
        .collect();
    intervals.push((None, "2017-11-21".into()));
    // A fixed shuffle (the last day is not last).
    let order = [3, 10, 0, 7, 9, 1, 5, 2, 8, 4, 6];
    for i in order {
        let (start, end) = &intervals[i];
        let mut args = vec!["--end", end.as_str()];
        if let Some(s) = start {
            args.extend(["--start", s.as_str()]);
        }
        run_all(&env, &args);
    }
    // (1) The last day again, twice: the second run changes nothing (the monitor included:
    // same as-of time).
    let last = ["--start", "2017-11-30", "--end", end];
    run_all(&env, &last);
    let once = contents(&lake).await;
    run_all(&env, &last);
    let twice = contents(&lake).await;
    assert_same(&once, &twice, "re-running an interval");

    // (2) One full refresh (the monitor as of the same end) gives the same tables.
    run_all(&env, &["--full-refresh", "--end", end]);
    let full = contents(&lake).await;
    for (table, rows) in &full {
        assert!(!rows.is_empty(), "{table} is empty");
    }
    assert_same(
        &twice,
        &full,
        "intervals in shuffled order vs one full refresh",
    );
}

/// `n`-day intervals covering [from, until), the last one cut at `until`.
fn spans(from: &str, until: &str, n: i64) -> Vec<(String, String)> {
    let (mut at, end) = (
        ts(&format!("{from} 00:00:00")),
        ts(&format!("{until} 00:00:00")),
    );
    let mut out = Vec::new();
    while at < end {
        let next = (at + Duration::days(n)).min(end);
        let d = |t: NaiveDateTime| t.format("%Y-%m-%d").to_string();
        out.push((d(at), d(next)));
        at = next;
    }
    out
}

/// A fixed pseudo-random permutation (the same every run).
fn shuffled<T>(mut items: Vec<T>, seed: u64) -> Vec<T> {
    let mut x = seed;
    for i in (1..items.len()).rev() {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        items.swap(i, (x >> 33) as usize % (i + 1));
    }
    items
}

/// The whole fixture timeline as a scheduler would meet it: bronze landed by three catch-up
/// loads, and after each the intervals it covers (weekly, one month daily) in shuffled order.
/// The first silver-build builds the state from bronze, the second load is folded into it
/// (more than the tail allows), the third is read beside it; gold-leadtime's early intervals
/// see bronze as of their end, which the state cannot give (they read bronze). The result
/// equals one full refresh table by table, and the last interval run again changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeline_by_day_and_week_in_shuffled_order_equals_a_full_refresh() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    let run = |intervals: Vec<(String, String)>, seed| {
        for (start, end) in shuffled(intervals, seed) {
            run_all(&env, &["--start", &start, "--end", &end]);
        }
    };
    let state_of = |s: &Value, topic: &str| s["metrics"]["state"][topic]["read"].clone();

    assert!(land_fixture(&env, &lake, None, "2017-06-01").await > 1_000);
    let first = job_ok(
        &env,
        "silver-build",
        &["--start", "2016-01-01", "--end", "2016-10-03"],
    );
    assert_eq!(state_of(&first, "order_status"), "refreshed", "{first}");
    let mut part = spans("2016-10-03", "2017-06-01", 7);
    part.push(("2016-01-01".into(), "2016-10-03".into()));
    run(part, 1);

    assert!(land_fixture(&env, &lake, Some("2017-06-01"), "2018-10-01").await > 1_000);
    let mut part = spans("2017-06-01", "2017-07-01", 1);
    part.extend(spans("2017-07-01", "2018-10-01", 7));
    let folded = job_ok(
        &env,
        "silver-build",
        &["--start", "2017-06-01", "--end", "2017-06-02"],
    );
    assert_eq!(state_of(&folded, "order_status"), "refreshed", "{folded}");
    run(part, 2);

    assert!(land_fixture(&env, &lake, Some("2018-10-01"), "2019-01-01").await > 0);
    let last = ["--start", "2018-10-01", "--end", "2019-01-01"];
    let beside = job_ok(&env, "silver-build", &last);
    assert_eq!(state_of(&beside, "order_status"), "state", "{beside}");
    let tail = beside["metrics"]["state"]["order_status"]["tail_files"]
        .as_u64()
        .unwrap();
    assert!(tail > 0, "{beside}");
    run_all(&env, &last);
    let once = contents(&lake).await;
    run_all(&env, &last);
    assert_same(
        &once,
        &contents(&lake).await,
        "re-running the last interval",
    );

    run_all(&env, &["--full-refresh", "--end", "2019-01-01"]);
    let full = contents(&lake).await;
    for (table, rows) in &full {
        assert!(!rows.is_empty(), "{table} is empty");
    }
    assert_same(
        &once,
        &full,
        "the timeline by intervals vs one full refresh",
    );
}

/// Property (4): an interval run rewrites only the partitions its rows touch; the others keep
/// their data files, and content stays as the full refresh made it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untouched_partitions_keep_their_files() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    land_fixture(&env, &lake, None, "2018-01-01").await;
    run_all(&env, &["--full-refresh", "--end", "2018-01-01"]);
    let mut before = contents(&lake).await;
    // The monitor is a state as of each run's end: it changes with the end by design.
    before.remove("gold.delivery_monitor");
    let partitioned: Vec<_> = tables::ALL
        .iter()
        .filter(|d| (d.namespace == "silver" || d.namespace == "gold") && !d.partition.is_empty())
        .collect();
    let mut files_before = BTreeMap::new();
    for d in &partitioned {
        files_before.insert(
            d.qualified(),
            lake.data_files(&d.ident(), None).await.unwrap(),
        );
    }

    let mut rewritten = BTreeMap::new();
    for j in JOBS {
        let s = job_ok(&env, j, &["--start", "2017-11-24", "--end", "2017-11-25"]);
        for (t, v) in s["metrics"]["tables"].as_object().unwrap() {
            rewritten.insert(t.clone(), v["partitions"].clone());
        }
    }
    let mut after = contents(&lake).await;
    after.remove("gold.delivery_monitor");
    assert_same(&after, &before, "an interval run after a full refresh");

    let mut kept_somewhere = 0;
    for d in &partitioned {
        let q = d.qualified();
        let after = lake.data_files(&d.ident(), None).await.unwrap();
        let by_part = |files: &[olistlake::lake::DataFileInfo]| {
            let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for f in files {
                m.entry(f.partition.clone())
                    .or_default()
                    .push(f.path.clone());
            }
            m
        };
        let (old, new) = (by_part(&files_before[&q]), by_part(&after));
        let changed = old
            .iter()
            .filter(|(p, paths)| new.get(*p) != Some(paths))
            .count();
        let kept = old.len() - changed;
        // `all`: a model whose every run rewrites its table (a `scope: all` header)
        let reported = match rewritten[&q].as_str() {
            Some("all") => old.len().max(new.len()),
            _ => rewritten[&q].as_u64().unwrap_or(0) as usize,
        };
        assert!(
            changed <= reported,
            "{q}: {changed} partitions changed, {reported} reported"
        );
        if old.len() > reported {
            assert!(kept > 0, "{q}: every partition was rewritten");
            kept_somewhere += 1;
        }
    }
    // Month-partitioned silver tables span 2016-09..2017-12: one day cannot touch them all.
    assert!(
        kept_somewhere >= 4,
        "too few tables kept partitions: {rewritten:?}"
    );
}

/// `metrics.inputs`: each run reports, per table, the data files and bytes its scans opened,
/// as the lake lists them. A full refresh opens every bronze file (and builds the state from
/// them); after it, the runs of an interval read the state and, of bronze, only the files
/// landed since: a one-day silver-build after a one-day load opens that day's files alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_report_the_files_their_scans_open() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    land_fixture(&env, &lake, None, "2018-01-01").await;
    let files_of = |q: &str| {
        let def = tables::ALL.iter().find(|d| d.qualified() == q).unwrap();
        let lake = &lake;
        async move { lake.data_files(&def.ident(), None).await.unwrap() }
    };
    let full = job_ok(
        &env,
        "silver-build",
        &["--full-refresh", "--end", "2018-01-01"],
    );
    for t in ["bronze.order_status", "bronze.order_item", "bronze.product"] {
        let files = files_of(t).await;
        let m = &full["metrics"]["inputs"][t];
        // one file per month of the history (the fixture's history spans over a year)
        assert!(files.len() > 12, "{t}: {} files", files.len());
        assert_eq!(m["files_scanned"], files.len() as u64, "{t}: {m}");
        let bytes: u64 = files.iter().map(|f| f.size_bytes).sum();
        assert_eq!(m["bytes_scanned"], bytes, "{t}: {m}");
        assert!(
            m["file_opens"].as_u64().unwrap() >= files.len() as u64,
            "{t}: {m}"
        );
    }
    for (topic, s) in full["metrics"]["state"].as_object().unwrap() {
        assert_eq!(s["read"], "refreshed", "{topic}: {s}");
    }

    // One day of gold over the state: no bronze file, and the state's few files.
    let day = job_ok(
        &env,
        "gold-bcg",
        &["--start", "2017-11-24", "--end", "2017-11-25"],
    );
    // gold's first run computes every period (the later ones sum ALL from them)
    assert_eq!(day["metrics"]["sums_quarters"], false, "{day}");
    let inputs = day["metrics"]["inputs"].as_object().unwrap();
    for (t, m) in inputs {
        if t.starts_with("bronze.") {
            assert_eq!(m["files_scanned"], 0, "{t}: {m}");
        }
    }
    for t in ["state.order_status", "state.payment", "state.order_item"] {
        let files = files_of(t).await;
        assert!(
            !files.is_empty() && files.len() <= 2,
            "{t}: {} files",
            files.len()
        );
        assert_eq!(inputs[t]["files_scanned"], files.len() as u64, "{t}");
    }

    // A day landed, then its silver-build: of bronze, the files that land added (one per
    // topic, in January 2018's partition) and nothing else.
    let mut before = HashMap::new();
    for (bronze, _) in tables::TOPICS {
        let t = bronze.qualified();
        let paths: HashSet<String> = files_of(&t).await.into_iter().map(|f| f.path).collect();
        before.insert(t, paths);
    }
    land_fixture(&env, &lake, Some("2018-01-01"), "2018-01-02").await;
    let next = job_ok(
        &env,
        "silver-build",
        &["--start", "2018-01-01", "--end", "2018-01-02"],
    );
    let mut opened_somewhere = 0;
    for (bronze, _) in tables::TOPICS {
        let t = bronze.qualified();
        let of_day: Vec<_> = files_of(&t)
            .await
            .into_iter()
            .filter(|f| !before[&t].contains(&f.path))
            .collect();
        assert!(
            of_day.iter().all(|f| f.partition.ends_with("=2018-01")),
            "{t}"
        );
        let m = &next["metrics"]["inputs"][&t];
        let scanned = m["files_scanned"].as_u64().unwrap_or(0);
        assert_eq!(scanned, of_day.len() as u64, "{t}: {m}");
        let bytes: u64 = of_day.iter().map(|f| f.size_bytes).sum();
        assert_eq!(m["bytes_scanned"].as_u64().unwrap_or(0), bytes, "{t}: {m}");
        opened_somewhere += scanned;
        assert_eq!(
            next["metrics"]["state"][bronze.name]["read"], "state",
            "{t}"
        );
    }
    assert!(opened_somewhere > 0, "{next}");
    // Of silver's lead-time table (partitioned by month of delivery), the months its affected
    // orders' deliveries were ever stamped in (`scope within:`), not the whole table. (The
    // item tables are also read whole, for the orders whose rows name a touched product.)
    let t = "silver.delivered_order_timestamp";
    let files = files_of(t).await;
    let m = &next["metrics"]["inputs"][t];
    let scanned = m["files_scanned"].as_u64().unwrap();
    assert!(
        scanned > 0 && scanned < files.len() as u64 / 2,
        "{t}: {scanned} of {} files: {m}",
        files.len()
    );

    // The day's gold runs: of silver's period tables, the month partitions of the quarters
    // gold-bcg rewrites, and nothing else.
    let periods_before: HashSet<String> = files_of("gold.sale_stats")
        .await
        .into_iter()
        .map(|f| f.path)
        .collect();
    let bcg = job_ok(
        &env,
        "gold-bcg",
        &["--start", "2018-01-01", "--end", "2018-01-02"],
    );
    assert_eq!(bcg["metrics"]["sums_quarters"], true, "{bcg}");
    let rewritten: HashSet<String> = files_of("gold.sale_stats")
        .await
        .into_iter()
        .filter(|f| !periods_before.contains(&f.path))
        .map(|f| f.partition.trim_start_matches("period=").to_string())
        .filter(|p| p != "ALL")
        .collect();
    assert!(!rewritten.is_empty());
    // a month partition is named `…_month=2018-01`
    let months_of = |quarters: &HashSet<String>| -> HashSet<String> {
        quarters
            .iter()
            .flat_map(|q| {
                let (y, n) = q.split_once("-Q").unwrap();
                let first = 3 * (n.parse::<u32>().unwrap() - 1) + 1;
                (first..first + 3).map(move |m| format!("={y}-{m:02}"))
            })
            .collect()
    };
    let in_periods = |files: &[olistlake::lake::DataFileInfo], quarters: &HashSet<String>| {
        let months = months_of(quarters);
        let (inside, outside): (Vec<_>, Vec<_>) = files
            .iter()
            .partition(|f| months.iter().any(|m| f.partition.ends_with(m.as_str())));
        assert!(
            !outside.is_empty(),
            "every partition is in a touched quarter"
        );
        (
            inside.len() as u64,
            inside.iter().map(|f| f.size_bytes).sum::<u64>(),
        )
    };
    let items = files_of("silver.delivered_order_product").await;
    let m = &bcg["metrics"]["inputs"]["silver.delivered_order_product"];
    let (files, bytes) = in_periods(&items, &rewritten);
    assert_eq!(m["files_scanned"], files, "{m}");
    assert_eq!(m["bytes_scanned"], bytes, "{m}");
    // (its own table holding every month of the history first)
    job_ok(
        &env,
        "gold-leadtime",
        &["--full-refresh", "--end", "2018-01-01"],
    );
    let own = files_of("gold.timestamp_stats_wide").await;
    let leadtime = job_ok(
        &env,
        "gold-leadtime",
        &["--start", "2018-01-01", "--end", "2018-01-02"],
    );
    let times = files_of("silver.delivered_order_timestamp").await;
    let m = &leadtime["metrics"]["inputs"]["silver.delivered_order_timestamp"];
    // the lead times read the touched orders' delivery quarters (here the same: the day
    // changed no product's category), and the interval's own (its deliveries' figures)
    let mut quarters = rewritten.clone();
    quarters.insert("2018-Q1".into());
    let (files, bytes) = in_periods(&times, &quarters);
    assert_eq!(m["files_scanned"], files, "{m}");
    assert_eq!(m["bytes_scanned"], bytes, "{m}");
    // and its own table (also by month of delivery) for the touched orders' rows in the same
    // months only (`scope within:`), where they can be
    let m = &leadtime["metrics"]["inputs"]["gold.timestamp_stats_wide"];
    let (files, bytes) = in_periods(&own, &quarters);
    assert_eq!(m["files_scanned"], files, "{m}");
    assert_eq!(m["bytes_scanned"], bytes, "{m}");
}

/// Property (3): silver-build killed between its commits leaves every table readable, each at
/// its previous or its new state; a re-run completes and equals a full refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_run_then_rerun_completes() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    land_fixture(&env, &lake, None, "2017-11-01").await;
    job_ok(&env, "silver-build", &["--full-refresh"]);
    let old = contents(&lake).await;
    land_fixture(&env, &lake, Some("2017-11-01"), "2017-11-08").await;

    // Pause before each commit; kill -9 when two tables are committed.
    silver_build_killed_in_pause(&env, &["--start", "2017-11-01", "--end", "2017-11-08"], 4);
    let killed = contents(&lake).await;
    // Readable by the independent reader too, with the same rows.
    for def in tables::ALL.iter().filter(|d| d.namespace == "silver") {
        let py = env.py(&["rows", &def.qualified()]);
        assert_eq!(
            py["count"].as_u64().unwrap() as usize,
            killed[&def.qualified()].len()
        );
    }

    job_ok(
        &env,
        "silver-build",
        &["--start", "2017-11-01", "--end", "2017-11-08"],
    );
    let rerun = contents(&lake).await;
    job_ok(&env, "silver-build", &["--full-refresh"]);
    assert_same(&contents(&lake).await, &rerun, "full refresh vs the re-run");

    let order = [
        "silver.order_timestamp",
        "silver.order_product",
        "silver.delivered_order_timestamp",
        "silver.delivered_order_product",
        "silver.user_location",
    ];
    for (i, t) in order.iter().enumerate() {
        let t = t.to_string();
        assert_ne!(old[&t], rerun[&t], "{t}: the week must change it");
        let expected = if i < 2 { &rerun[&t] } else { &old[&t] };
        assert!(
            &killed[&t] == expected,
            "{t} after the kill is not at its expected state"
        );
    }
}

/// Interop: pyiceberg reads every silver and gold table with the rows DataFusion reads; every
/// table's files carry the codec its definition names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyiceberg_reads_every_silver_and_gold_table() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    land_fixture(&env, &lake, None, "2018-02-01").await;
    run_all(&env, &["--full-refresh", "--end", "2018-02-01"]);
    for def in tables::ALL
        .iter()
        .filter(|d| d.namespace == "silver" || d.namespace == "gold")
    {
        let q = def.qualified();
        let cols: Vec<String> = def
            .columns
            .iter()
            .map(|(c, _, _)| format!("CAST({c} AS VARCHAR)"))
            .collect();
        let ours = query(&lake, &format!("SELECT {} FROM {q}", cols.join(", "))).await;
        let py = env.py(&["rows", &q]);
        let mut theirs = common::py_rows(&py["rows"]);
        theirs.sort();
        assert!(!ours.is_empty(), "{q} is empty");
        assert_eq!(ours, theirs, "{q}: pyiceberg and DataFusion differ");
    }
    // every data file is compressed as its table's `write.parquet.compression-codec` says
    // (snappy for bronze and state, zstd for silver and gold)
    let (mut checked, mut dictionaries) = (0, 0);
    for def in tables::ALL.iter().filter(|d| d.namespace != "ops") {
        let files = lake.data_files(&def.ident(), None).await.unwrap();
        checked += usize::from(!files.is_empty());
        let want = match def.codec() {
            "snappy" => "SNAPPY",
            _ => "ZSTD",
        };
        for f in files.iter().take(3) {
            for rg in common::parquet_metadata(&f.path).row_groups() {
                for col in rg.columns() {
                    let got = format!("{:?}", col.compression());
                    assert!(
                        got.starts_with(want),
                        "{def} {}: {got}, want {want}",
                        f.path
                    );
                    // a dictionary only for text that repeats: no key, number or time has one
                    let name = col.column_path().string();
                    let text = col.column_type() == parquet::basic::Type::BYTE_ARRAY;
                    if col.dictionary_page_offset().is_some() {
                        assert!(
                            text && !name.ends_with("_id"),
                            "{def}.{name} has a dictionary"
                        );
                        dictionaries += 1;
                    }
                }
            }
        }
    }
    assert!(checked >= 25, "only {checked} tables have data files");
    assert!(dictionaries > 0, "no text column has a dictionary");
}

/// The benchmark's DuckDB side (`benches/duckdb_transforms.py`: the jobs' SQL files run by
/// DuckDB over bronze's Parquet files, as `benches/transforms.sh` sets it beside a full refresh)
/// writes as many rows to every silver and gold table as the jobs: the placeholders and
/// preludes the script mirrors from the runner have not drifted from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_runs_the_jobs_sql_to_the_same_rows() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    land_fixture(&env, &lake, None, "2018-02-01").await;
    let mut ours = BTreeMap::new();
    for j in JOBS {
        let s = job_ok(&env, j, &["--full-refresh", "--end", "2018-02-01"]);
        for (table, m) in s["metrics"]["tables"].as_object().unwrap() {
            ours.insert(table.clone(), m["rows_written"].as_u64().unwrap());
        }
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/duckdb_transforms.py");
    let out = std::process::Command::new(common::duckdb_python())
        .arg(script)
        .args(["--lake", &env.warehouse, "--end", "2018-02-01", "--out"])
        .arg(env.dir().join("duckdb"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "duckdb_transforms.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: BTreeMap<String, u64> =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(theirs.len(), 12, "{theirs:?}");
    assert!(theirs.values().all(|n| *n > 0), "{theirs:?}");
    assert_eq!(
        theirs, ours,
        "DuckDB and the jobs wrote different row counts"
    );
}

/// The pipeline on an Iceberg REST catalog server: the history, then two days, give the same
/// tables as the same runs on the SQL catalog, table by table; pyiceberg reads them through the
/// REST server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_catalog_lake_equals_the_sql_catalog_lake() {
    let end = "2017-12-01";
    let mut lakes = Vec::new();
    for backend in [Backend::LocalSqlite, Backend::LocalRest] {
        let env = LakeEnv::new(backend);
        let lake = env.lake().await;
        assert!(land_fixture(&env, &lake, None, end).await > 5_000);
        run_all(&env, &["--end", "2017-11-29"]);
        run_all(&env, &["--start", "2017-11-29", "--end", "2017-11-30"]);
        run_all(&env, &["--start", "2017-11-30", "--end", end]);
        let tables = contents(&lake).await;
        lakes.push((env, tables));
    }
    let (rest_env, rest) = lakes.pop().unwrap();
    let (_, sql) = lakes.pop().unwrap();
    for (table, rows) in &sql {
        assert!(!rows.is_empty(), "{table} is empty");
    }
    assert_same(&sql, &rest, "SQL catalog vs REST catalog");
    let py = rest_env.py(&["rows", "gold.sale_stats"]);
    assert_eq!(
        py["count"].as_u64().unwrap() as usize,
        sql["gold.sale_stats"].len(),
        "pyiceberg through the REST catalog"
    );
}

/// The silver snapshot ids a gold table's current commit read (`olistlake.input-snapshots`).
async fn silver_inputs(lake: &Lake, gold: &olistlake::lake::TableDef) -> Vec<Option<i64>> {
    let summary = lake.current_summary(&gold.ident()).await.unwrap().unwrap();
    let inputs: BTreeMap<&str, i64> = summary["olistlake.input-snapshots"]
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(t, id)| (t, id.parse().unwrap()))
        .collect();
    tables::ALL
        .iter()
        .filter(|d| d.namespace == "silver")
        .map(|d| inputs.get(d.qualified().as_str()).copied())
        .collect()
}

/// Issue 12 (4): a gold run while silver-build is half-way through its five commits reads the
/// silver tables as the last complete silver run left them, never two runs mixed; once silver
/// has completed, gold reads the new snapshots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gold_reads_silver_of_one_complete_run() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    land_fixture(&env, &lake, None, "2017-11-01").await;
    job_ok(&env, "silver-build", &["--full-refresh"]);
    let complete = silver_snapshots(&lake).await;
    land_fixture(&env, &lake, Some("2017-11-01"), "2017-11-08").await;

    // silver-build paused before each commit; stopped for good in the fourth pause, when two
    // of its tables have new snapshots and three do not
    let week = ["--start", "2017-11-01", "--end", "2017-11-08"];
    silver_build_killed_in_pause(&env, &week, 4);
    let half = silver_snapshots(&lake).await;
    let moved = half.iter().zip(&complete).filter(|(a, b)| a != b).count();
    assert_eq!(moved, 2, "two silver tables committed before the kill");

    job_ok(&env, "gold-bcg", &week);
    assert_eq!(
        silver_inputs(&lake, &tables::GOLD_SALE_STATS).await,
        complete,
        "gold-bcg must read the silver snapshots of the last complete run"
    );

    // the interval run again completes silver; gold then reads what it committed
    job_ok(&env, "silver-build", &week);
    job_ok(&env, "gold-leadtime", &week);
    assert_eq!(
        silver_inputs(&lake, &tables::GOLD_TIMESTAMP_STATS_WIDE).await,
        silver_snapshots(&lake).await
    );
}

/// Issue 12 (5): a full refresh for a category no item carries is refused (exit 1) and leaves
/// the BCG tables as they were; an interval that cannot be parsed still prints the summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_category_and_bad_intervals_are_configuration_errors() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    land_fixture(&env, &lake, None, "2017-06-01").await;
    job_ok(&env, "silver-build", &["--full-refresh"]);
    job_ok(&env, "gold-bcg", &["--full-refresh"]);
    let before = contents(&lake).await;
    assert!(!before["gold.health_beauty_sales_stats_bcg"].is_empty());

    let (code, s) = job(
        &env,
        "gold-bcg",
        &["--category", "no_such_category", "--full-refresh"],
    );
    assert_eq!(code, 1, "{s}");
    let error = s["error"].as_str().unwrap();
    assert!(
        error.contains("no_such_category") && error.contains("health_beauty"),
        "{s}"
    );
    assert!(s["commits"].as_array().unwrap().is_empty());
    assert_eq!(contents(&lake).await, before, "nothing committed");

    for args in [
        ["--start", "2017-02-01", "--end", "2017-01-01"],
        ["--start", "yesterday", "--end", "2017-01-01"],
    ] {
        for name in JOBS.iter().chain(&["bronze-load"]) {
            let (code, s) = job(&env, name, &args);
            assert_eq!(code, 1, "{name} {args:?}: {s}");
            assert_eq!(s["status"], "failed", "{name}");
            assert!(
                s["error"].as_str().unwrap().contains("configuration"),
                "{s}"
            );
        }
    }
}

/// Issue 12 (14): an order with a time outside 1990..2099 (a corrupt event) is left out of
/// silver, counted and reported as a warning, so gold's lead-time checks keep passing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_timestamp_is_left_out_of_silver_with_a_warning() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    let mut b = scenario();
    b.user("customer", "CX", "01000");
    b.order(&Order {
        id: "CORRUPT",
        customer: "CX",
        purchase: "2999-05-01 10:00:00",
        approved: Some("2017-05-01 10:30:00"),
        carrier: Some("2017-05-02 10:00:00"),
        delivered: Some("2017-05-05 10:00:00"),
        estimate: Some("2017-05-20 00:00:00"),
        items: vec![("P1", "S1", "90.00", "10.00", "2017-05-03 00:00:00")],
    });
    // the corrupt value is the event's data time; its ingest time is an ordinary one
    for rows in b.rows.values_mut() {
        for r in rows.iter_mut().filter(|r| r["order_id"] == "CORRUPT") {
            if r["ingest_time"].as_str().unwrap().starts_with("2999") {
                r["ingest_time"] = json!("2017-05-01T10:00:00.500");
                r["_kafka_timestamp"] = json!("2017-05-01T10:00:00.500");
            }
        }
    }
    b.write(&lake).await;
    let s = job_ok(&env, "silver-build", &["--full-refresh"]);
    let warnings = s["warnings"].to_string();
    assert!(
        warnings.contains("silver.order_timestamp: 1 row(s) left out, invalid: timestamp outside"),
        "{s}"
    );
    assert_eq!(
        s["metrics"]["tables"]["silver.order_timestamp"]["rows_left_out"]["invalid: timestamp outside 1990..2099"],
        json!(1),
        "{s}"
    );
    let corrupt = query(
        &lake,
        "SELECT order_id FROM silver.order_timestamp WHERE order_id = 'CORRUPT' \
         UNION ALL SELECT order_id FROM silver.order_product WHERE order_id = 'CORRUPT'",
    )
    .await;
    assert!(corrupt.is_empty(), "{corrupt:?}");
    let (code, g) = job(&env, "gold-leadtime", &["--full-refresh"]);
    assert_eq!(code, 0, "{g}");
}

/// The monitor reports the furthest stage an open order reached: a carrier time without an
/// approval time (the data has such orders) is in transit since the hand-over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_stage_is_the_furthest_reached() {
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    let mut b = Bronze::default();
    b.product("P7", "toys", "2017-01-01 10:00:00");
    b.user("seller", "S1", "01000");
    b.user("customer", "CA", "01000");
    b.geo("01000", Some(-23.5), -46.6, "sao paulo");
    b.order(&Order {
        id: "NOAPPROVAL",
        customer: "CA",
        purchase: "2017-05-10 00:00:00",
        approved: None,
        carrier: Some("2017-05-12 08:00:00"),
        delivered: None,
        estimate: Some("2017-05-31 00:00:00"),
        items: vec![("P7", "S1", "10.00", "1.00", "2017-05-12 10:00:00")],
    });
    b.write(&lake).await;
    job_ok(&env, "silver-build", &["--full-refresh"]);
    job_ok(
        &env,
        "gold-leadtime",
        &["--full-refresh", "--end", "2017-06-01"],
    );
    assert_eq!(
        query(
            &lake,
            "SELECT order_id, stage, stage_entered_at FROM gold.delivery_monitor"
        )
        .await,
        vec![row(&["NOAPPROVAL", "in_transit", "2017-05-12T08:00:00"])]
    );
}

/// gold-leadtime without `--end` takes its clock from bronze's files (the upper bounds of
/// `ingest_time`), so it can read the state; its monitor equals one computed over all of
/// bronze (a lake without a state), and its clock is just after bronze's newest copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_without_an_end_reads_the_state_at_bronzes_newest_copy() {
    let monitor = "SELECT as_of, order_id, stage, stage_entered_at, hours_in_stage, \
                   estimated_delivery_date, days_overdue, category FROM gold.delivery_monitor \
                   ORDER BY order_id";
    let mut monitors = Vec::new();
    for with_state in [true, false] {
        let env = LakeEnv::new(Backend::LocalSqlite);
        let lake = env.lake().await;
        land_fixture(&env, &lake, None, "2017-12-01").await;
        if with_state {
            job_ok(&env, "silver-build", &["--full-refresh"]);
        }
        let s = job_ok(&env, "gold-leadtime", &["--full-refresh"]);
        let read = if with_state { "state" } else { "bronze" };
        assert_eq!(s["metrics"]["state"]["order_status"]["read"], read, "{s}");
        let newest = query(
            &lake,
            "SELECT CAST(max(ingest_time) + INTERVAL '1 millisecond' AS VARCHAR) \
             FROM bronze.order_status",
        )
        .await;
        let as_of = s["metrics"]["figures"]["monitor"]["as_of"]
            .as_str()
            .unwrap();
        let instant = |s: &str| {
            NaiveDateTime::parse_from_str(&s.replace(' ', "T"), "%Y-%m-%dT%H:%M:%S%.f").unwrap()
        };
        assert_eq!(
            instant(as_of),
            instant(newest[0][0].as_deref().unwrap()),
            "the clock is just after the newest copy"
        );
        let rows = query(&lake, monitor).await;
        assert!(rows.len() > 10, "{} open orders", rows.len());
        monitors.push(rows);
    }
    assert_eq!(monitors[0], monitors[1]);
}

/// A silver-build of an interval rewrites only the data files that hold rows of the keys it
/// recomputes (copy-on-write by file): a day's new customers go into a new file beside the
/// partition's other files, which stay as they are. Each run adds at most one file to a
/// partition it touches and a partition holding four is rewritten whole, so the file count
/// stays bounded however many days run; and the tables stay equal to a full refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_runs_rewrite_only_the_files_holding_their_keys() {
    const FOLD_AT: usize = 4;
    let env = LakeEnv::new(Backend::LocalSqlite);
    let lake = env.lake().await;
    assert!(land_fixture(&env, &lake, None, "2018-02-01").await > 5_000);
    job_ok(
        &env,
        "silver-build",
        &["--full-refresh", "--end", "2018-02-01"],
    );
    let silver: Vec<_> = tables::ALL
        .iter()
        .filter(|d| d.namespace == "silver")
        .collect();
    let users = tables::ALL
        .iter()
        .find(|d| d.qualified() == "silver.user_location")
        .unwrap();
    let (mut kept_days, mut most_files) = (0, 0);
    for (start, end) in days("2018-02-01", 20) {
        land_fixture(&env, &lake, Some(&start), &end).await;
        let before = lake.data_files(&users.ident(), None).await.unwrap();
        let s = job_ok(&env, "silver-build", &["--start", &start, "--end", &end]);
        let after = lake.data_files(&users.ident(), None).await.unwrap();
        let table = &s["metrics"]["tables"]["silver.user_location"];
        let total: u64 = after.iter().map(|f| f.records).sum();
        let kept = before.iter().filter(|f| after.contains(f)).count();
        if kept > 0 && table["rows_written"].as_u64().unwrap() < total {
            kept_days += 1;
        }
        for d in &silver {
            let mut per_partition: BTreeMap<String, usize> = BTreeMap::new();
            for f in lake.data_files(&d.ident(), None).await.unwrap() {
                *per_partition.entry(f.partition).or_default() += 1;
            }
            for (p, n) in per_partition {
                assert!(
                    n <= FOLD_AT,
                    "{} {p}: {n} files after {start}",
                    d.qualified()
                );
                most_files = most_files.max(n);
            }
        }
    }
    assert!(kept_days >= 10, "only {kept_days} of 20 days kept files");
    // files accumulated (a new one per run) and were folded back at four
    assert_eq!(most_files, FOLD_AT);
    let by_day = contents(&lake).await;
    job_ok(
        &env,
        "silver-build",
        &["--full-refresh", "--end", "2018-02-21"],
    );
    assert_same(
        &by_day,
        &contents(&lake).await,
        "20 days by file vs one full refresh",
    );
}

/// A catch-up with a bounded history (`--max-snapshots 4` for the bronze loads and every
/// job): bronze landed day by day and the three jobs run for each day. After every day each
/// table holds at most 4 + 1 snapshots: older ones expire while the runs go on, the state's
/// bronze snapshot among them (silver-build then rebuilds the state from bronze, and the gold
/// jobs read bronze until it has). The tables end equal to a full refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_history_changes_no_result() {
    let mut env = LakeEnv::new(Backend::LocalSqlite);
    env.env
        .push(("OLISTLAKE_MAX_SNAPSHOTS".to_string(), "4".to_string()));
    let lake = env.lake().await.with_max_snapshots(4);
    assert!(land_fixture(&env, &lake, None, "2018-02-01").await > 5_000);
    run_all(&env, &["--start", "2016-01-01", "--end", "2018-02-01"]);
    let mut rebuilt = 0;
    for (start, end) in days("2018-02-01", 14) {
        land_fixture(&env, &lake, Some(&start), &end).await;
        let s = job_ok(&env, "silver-build", &["--start", &start, "--end", &end]);
        if s["metrics"]["state"]["order_status"]["read"] == "refreshed" {
            rebuilt += 1;
        }
        for gold in ["gold-bcg", "gold-leadtime"] {
            job_ok(&env, gold, &["--start", &start, "--end", &end]);
        }
        for t in lake.list_tables().await.unwrap() {
            let n = lake.snapshots(&t).await.unwrap().len();
            assert!(n <= 5, "{t}: {n} snapshots after {start}");
        }
    }
    assert!(rebuilt > 0, "the state's bronze snapshot never expired");
    let by_day = contents(&lake).await;
    run_all(&env, &["--full-refresh", "--end", "2018-02-15"]);
    assert_same(
        &by_day,
        &contents(&lake).await,
        "14 days with a bounded history vs one full refresh",
    );
}
