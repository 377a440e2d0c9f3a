//! Kafka against a real broker (Apache Kafka, one KRaft node): the replay producer's counts, order and
//! restart; bronze-load's exactly-once behaviour, `--end`, crashes, poison messages, schema
//! evolution and an unreachable broker.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use common::{Backend, Broker, LakeEnv, RegistryDouble, run_ok, summary};
use olistlake::kafka::client::KafkaClient;
use olistlake::kafka::codec::encode;
use olistlake::kafka::registry::{Registry, value_subject};
use olistlake::kafka::topics::{self, TOPICS};
use olistlake::lake::ReadAt;
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tempfile::TempDir;

fn strings(batches: &[RecordBatch], col: &str) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let c = b.column_by_name(col).unwrap().as_string::<i32>();
            (0..b.num_rows())
                .map(|i| c.is_valid(i).then(|| c.value(i).to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Messages per topic as spec section 4 defines them, computed from the prepared tables.
fn expected_counts(dir: &Path) -> BTreeMap<&'static str, i64> {
    let status = common::read_parquet_table(dir, "order_status");
    let st_orders = strings(&status, "order_id");
    let st_kind = strings(&status, "status");
    let purchased: HashSet<String> = st_orders
        .iter()
        .zip(&st_kind)
        .filter(|(_, k)| k.as_deref() == Some("purchase"))
        .map(|(o, _)| o.clone().unwrap())
        .collect();
    let approved: HashSet<String> = st_orders
        .iter()
        .zip(&st_kind)
        .filter(|(_, k)| k.as_deref() == Some("approved"))
        .map(|(o, _)| o.clone().unwrap())
        .collect();
    let items = common::read_parquet_table(dir, "order_item");
    let (io, ip, is) = (
        strings(&items, "order_id"),
        strings(&items, "product_id"),
        strings(&items, "seller_id"),
    );
    let products: HashSet<String> =
        strings(&common::read_parquet_table(dir, "product"), "product_id")
            .into_iter()
            .flatten()
            .collect();
    let sellers_b = common::read_parquet_table(dir, "seller");
    let seller_zip: HashMap<String, String> = strings(&sellers_b, "seller_id")
        .into_iter()
        .flatten()
        .zip(
            strings(&sellers_b, "zip_code")
                .into_iter()
                .map(Option::unwrap_or_default),
        )
        .collect();
    let geo: HashSet<String> = strings(&common::read_parquet_table(dir, "geolocation"), "zip_code")
        .into_iter()
        .flatten()
        .collect();
    let cust_b = common::read_parquet_table(dir, "customer");
    let cust_zip: HashMap<String, String> = strings(&cust_b, "customer_id")
        .into_iter()
        .flatten()
        .zip(
            strings(&cust_b, "zip_code")
                .into_iter()
                .map(Option::unwrap_or_default),
        )
        .collect();
    let pay = common::read_parquet_table(dir, "payment");
    let (po, pc) = (strings(&pay, "order_id"), strings(&pay, "customer_id"));
    let mut first_customer: HashMap<String, String> = HashMap::new();
    for (o, c) in po.iter().zip(&pc) {
        if let (Some(o), Some(c)) = (o, c) {
            first_customer.entry(o.clone()).or_insert(c.clone());
        }
    }
    let mut per_order: HashMap<String, (Vec<String>, Vec<String>)> = HashMap::new();
    for ((o, p), s) in io.iter().zip(&ip).zip(&is) {
        let e = per_order.entry(o.clone().unwrap()).or_default();
        if let Some(p) = p
            && !e.0.contains(p)
        {
            e.0.push(p.clone());
        }
        if let Some(s) = s
            && !e.1.contains(s)
        {
            e.1.push(s.clone());
        }
    }
    let (mut n_prod, mut n_sell, mut n_geo, mut n_cust) = (0, 0, 0, 0);
    for o in &purchased {
        if let Some((ps, ss)) = per_order.get(o) {
            n_prod += ps.iter().filter(|p| products.contains(*p)).count() as i64;
            let zips: Vec<&String> = ss.iter().filter_map(|s| seller_zip.get(s)).collect();
            n_sell += zips.len() as i64;
            n_geo += zips
                .iter()
                .filter(|z| geo.contains(**z))
                .collect::<HashSet<_>>()
                .len() as i64;
        }
        if let Some(c) = first_customer.get(o)
            && let Some(z) = cust_zip.get(c)
        {
            n_cust += 1;
            n_geo += geo.contains(z) as i64;
        }
    }
    let est_orders = strings(
        &common::read_parquet_table(dir, "estimated_delivery_date"),
        "order_id",
    );
    let reviews = common::read_parquet_table(dir, "review");
    let n_rev: usize = reviews
        .iter()
        .map(|b| {
            b.column_by_name("review_creation_date")
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>()
                .iter()
                .flatten()
                .count()
        })
        .sum();
    BTreeMap::from([
        (
            "order_status",
            status.iter().map(|b| b.num_rows() as i64).sum(),
        ),
        (
            "payment",
            po.iter()
                .filter(|o| purchased.contains(o.as_ref().unwrap()))
                .count() as i64,
        ),
        (
            "order_item",
            io.iter()
                .filter(|o| purchased.contains(o.as_ref().unwrap()))
                .count() as i64,
        ),
        ("product", n_prod),
        ("seller", n_sell),
        ("customer", n_cust),
        ("geolocation", n_geo),
        (
            "estimated_delivery_date",
            est_orders
                .iter()
                .filter(|o| approved.contains(o.as_ref().unwrap()))
                .count() as i64,
        ),
        ("review", n_rev as i64),
    ])
}

/// Messages per topic (high minus low watermark), retried for a minute while a cluster that
/// just lost or regained a node elects its leaders.
fn kafka_counts(bootstrap: &str) -> BTreeMap<&'static str, i64> {
    let client = KafkaClient::new(bootstrap);
    let consumer = client.consumer("test").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    TOPICS
        .iter()
        .map(|t| {
            loop {
                match client.watermarks(&consumer, t.name) {
                    Ok(marks) => break (t.name, marks.iter().map(|(_, lo, hi)| hi - lo).sum()),
                    Err(e) if Instant::now() < deadline => {
                        eprintln!("watermarks of {}: {e}; retrying", t.name);
                        std::thread::sleep(Duration::from_millis(500));
                    }
                    Err(e) => panic!("watermarks of {}: {e}", t.name),
                }
            }
        })
        .collect()
}

async fn bronze_counts(env: &LakeEnv) -> BTreeMap<&'static str, i64> {
    let lake = env.lake().await;
    let mut out = BTreeMap::new();
    for t in &TOPICS {
        let b = lake
            .sql(
                &format!("SELECT COUNT(*) FROM bronze.{}", t.name),
                &ReadAt::current(),
            )
            .await
            .unwrap();
        out.insert(t.name, b[0].column(0).as_primitive::<Int64Type>().value(0));
    }
    out
}

async fn quarantine_counts(env: &LakeEnv) -> BTreeMap<String, i64> {
    let lake = env.lake().await;
    let b = lake
        .sql(
            "SELECT topic, COUNT(*) FROM bronze._quarantine GROUP BY topic",
            &ReadAt::current(),
        )
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for b in b {
        for i in 0..b.num_rows() {
            out.insert(
                b.column(0).as_string::<i32>().value(i).to_string(),
                b.column(1).as_primitive::<Int64Type>().value(i),
            );
        }
    }
    out
}

struct Setup {
    broker: Broker,
    env: LakeEnv,
    prepared: TempDir,
    registry: String,
}

fn setup() -> Setup {
    setup_on(Broker::start())
}

/// A three-node cluster; the replay creates its topics with replication factor 3
/// (`min.insync.replicas=2`).
fn setup_cluster() -> Setup {
    let mut s = setup_on(Broker::cluster(3));
    s.env
        .env
        .push(("OLISTLAKE_TOPIC_REPLICATION".into(), "3".into()));
    s
}

fn setup_on(broker: Broker) -> Setup {
    let mut env = LakeEnv::new(Backend::LocalSqlite);
    let registry = format!("file:{}", env.dir().join("registry.json").display());
    env.env
        .push(("OLISTLAKE_KAFKA_BOOTSTRAP".into(), broker.bootstrap.clone()));
    env.env
        .push(("OLISTLAKE_SCHEMA_REGISTRY".into(), registry.clone()));
    env.env
        .push(("OLISTLAKE_METRICS_ADDR".into(), "127.0.0.1:0".into()));
    Setup {
        broker,
        env,
        prepared: common::prepared_fixture(),
        registry,
    }
}

fn replay_cmd(s: &Setup) -> Command {
    let mut c = s.env.bin("olist-replay");
    c.arg("--prepared").arg(s.prepared.path());
    c
}

/// Every message's (topic, partition, offset, seq, key, timestamp), by consuming all topics.
/// (topic, partition, offset, seq, key, record timestamp ms)
type Consumed = (String, i32, i64, u64, String, i64);

fn consume_all(bootstrap: &str) -> Vec<Consumed> {
    let client = KafkaClient::new(bootstrap);
    let consumer = client.consumer("test-all").unwrap();
    let mut out = Vec::new();
    for t in &TOPICS {
        for (p, lo, hi) in client.watermarks(&consumer, t.name).unwrap() {
            if hi <= lo {
                continue;
            }
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(t.name, p, Offset::Offset(lo))
                .unwrap();
            consumer.assign(&tpl).unwrap();
            let mut next = lo;
            let deadline = Instant::now() + Duration::from_secs(60);
            while next < hi {
                assert!(
                    Instant::now() < deadline,
                    "timed out consuming {}/{p}",
                    t.name
                );
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                    let seq = olistlake::kafka::replay::seq_of(&m).unwrap();
                    out.push((
                        t.name.to_string(),
                        p,
                        m.offset(),
                        seq,
                        String::from_utf8_lossy(m.key().unwrap()).into_owned(),
                        m.timestamp().to_millis().unwrap(),
                    ));
                    next = m.offset() + 1;
                }
            }
        }
    }
    out
}

/// The fixture replayed unpaced: per topic, messages = what the spec says; within each key
/// events are in order; a restart mid-replay neither duplicates nor skips anything.
#[test]
fn replay_counts_order_and_restart() {
    let s = setup();
    let expected = expected_counts(s.prepared.path());

    // First run: paced, killed (SIGKILL, like a crash) part-way through.
    let log = s.env.dir().join("replay-interrupted.log");
    let mut child = replay_cmd(&s)
        .args(["--speed", "400000"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let sent: i64 = kafka_counts(&s.broker.bootstrap).values().sum();
        if sent > 500 {
            break;
        }
        let exited = child.try_wait().unwrap();
        assert!(
            Instant::now() < deadline && exited.is_none(),
            "replay sent nothing (exit: {exited:?}); its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial: i64 = kafka_counts(&s.broker.bootstrap).values().sum();
    let total: i64 = expected.values().sum();
    assert!(
        partial < total,
        "the first run must be interrupted part-way ({partial} of {total})"
    );

    // Second run: resumes after what is in Kafka.
    let out = run_ok(replay_cmd(&s).args(["--speed", "max"]));
    let report = &summary(&out)["report"];
    assert_eq!(
        report["skipped_already_in_kafka"].as_i64().unwrap(),
        partial,
        "skips exactly what was there"
    );
    assert_eq!(kafka_counts(&s.broker.bootstrap), expected);

    let msgs = consume_all(&s.broker.bootstrap);
    let seqs: HashSet<u64> = msgs.iter().map(|m| m.3).collect();
    assert_eq!(seqs.len(), msgs.len(), "no duplicates");
    assert_eq!(
        *seqs.iter().max().unwrap() as usize,
        msgs.len(),
        "no gaps: sequence numbers 1..=N"
    );
    // within a partition: sequence numbers and record timestamps only go up
    let mut by_part: BTreeMap<(String, i32), Vec<&Consumed>> = BTreeMap::new();
    for m in &msgs {
        by_part.entry((m.0.clone(), m.1)).or_default().push(m);
    }
    for (k, v) in &by_part {
        for w in v.windows(2) {
            assert!(
                w[1].3 > w[0].3 && w[1].5 >= w[0].5,
                "{k:?} out of order at offset {}",
                w[1].2
            );
        }
    }
    // within a key: an order's status events follow purchase → … and time
    let mut keys: HashMap<&str, usize> = HashMap::new();
    for m in msgs.iter().filter(|m| m.0 == "order_status") {
        *keys.entry(&m.4).or_default() += 1;
    }
    assert!(
        keys.values().any(|n| *n >= 4),
        "delivered orders have four status events"
    );

    // Same seed → byte-identical values: a replay into a second broker gives the same payloads.
    let mut again = setup();
    again.prepared = s.prepared;
    run_ok(replay_cmd(&again).args(["--speed", "max"]));
    let a = consume_payload_digest(&s.broker.bootstrap);
    let b = consume_payload_digest(&again.broker.bootstrap);
    assert_eq!(a, b);
}

fn consume_payload_digest(bootstrap: &str) -> BTreeMap<u64, (String, Vec<u8>)> {
    let client = KafkaClient::new(bootstrap);
    let consumer = client.consumer("digest").unwrap();
    let mut out = BTreeMap::new();
    for t in TOPICS
        .iter()
        .filter(|t| t.name == "payment" || t.name == "review")
    {
        for (p, lo, hi) in client.watermarks(&consumer, t.name).unwrap() {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(t.name, p, Offset::Offset(lo))
                .unwrap();
            consumer.assign(&tpl).unwrap();
            let mut next = lo;
            while next < hi {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                    // the schema id (bytes 1..5) depends on registry order; compare the Avro body
                    out.insert(
                        olistlake::kafka::replay::seq_of(&m).unwrap(),
                        (t.name.to_string(), m.payload().unwrap()[5..].to_vec()),
                    );
                    next = m.offset() + 1;
                }
            }
        }
    }
    out
}

/// bronze-load lands every message once: a second run loads nothing; --end bounds the load by
/// record timestamp; a kill -9 after files are written and a re-run leave bronze = Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bronze_load_exactly_once() {
    let s = setup();
    run_ok(replay_cmd(&s).args(["--speed", "max"]));
    let kafka = kafka_counts(&s.broker.bootstrap);

    // --end: only messages before 2017-06-01 (checked against record timestamps)
    let out = run_ok(s.env.bin("bronze-load").args(["--end", "2017-06-01"]));
    assert_eq!(summary(&out)["status"], "ok");
    let lake = s.env.lake().await;
    let late = lake
        .sql("SELECT COUNT(*) FROM bronze.order_status WHERE _kafka_timestamp >= TIMESTAMP '2017-06-01 00:00:00'", &ReadAt::current())
        .await
        .unwrap();
    assert_eq!(late[0].column(0).as_primitive::<Int64Type>().value(0), 0);
    let early = bronze_counts(&s.env).await;
    assert!(early["order_status"] > 0 && early["order_status"] < kafka["order_status"]);
    // the stream writer closed each month of ingest_time as the stream left it: one file per
    // month partition, every month of the replay up to the end
    for t in &TOPICS {
        let files = lake.data_files(&t.bronze.ident(), None).await.unwrap();
        let months: HashSet<&str> = files.iter().map(|f| f.partition.as_str()).collect();
        assert_eq!(files.len(), months.len(), "{}: {files:?}", t.name);
        // folders named as Java's writers name them (`ingest_time_month=2017-03`)
        for f in &files {
            let month = f.partition.strip_prefix("ingest_time_month=").unwrap_or("");
            let digits = |s: &str| s.len() >= 2 && s.bytes().all(|b| b.is_ascii_digit());
            assert!(
                month.len() == 7
                    && month
                        .split_once('-')
                        .is_some_and(|(y, m)| digits(y) && digits(m)),
                "{}: {}",
                t.name,
                f.partition
            );
            assert!(
                f.path.contains(&format!("/data/{}/", f.partition)),
                "{}",
                f.path
            );
        }
    }
    // another engine compacts a bronze table (its commits do not carry the offsets): the
    // loads below continue from the offsets of the last load, they do not start over
    s.env.py(&["rewrite", "bronze.order_status"]);
    assert_eq!(
        bronze_counts(&s.env).await,
        early,
        "the rewrite keeps every row"
    );

    // the same end again: nothing to do
    let out = s
        .env
        .bin("bronze-load")
        .args(["--end", "2017-06-01"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(99),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // kill -9 after the data files of the first topic are written, before its commit
    let mut child = bronze_load_paused_before_commit(&s, 60_000, None);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        bronze_counts(&s.env).await,
        early,
        "the killed run committed nothing"
    );

    // kill -9 while it reads from Kafka
    let mut child = s
        .env
        .bin("bronze-load")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    child.wait().unwrap();

    let out = run_ok(&mut s.env.bin("bronze-load"));
    assert_eq!(summary(&out)["status"], "ok");
    assert_eq!(
        bronze_counts(&s.env).await,
        kafka,
        "bronze = Kafka, per topic"
    );

    // offsets in the snapshot summary equal the high-water marks, per partition
    let client = KafkaClient::new(&s.broker.bootstrap);
    let consumer = client.consumer("check").unwrap();
    assert_offsets_at_high_water(&lake, &client, &consumer).await;
    for t in &TOPICS {
        let dup = lake
            .sql(&format!("SELECT COUNT(*) FROM (SELECT _kafka_partition, _kafka_offset FROM bronze.{} GROUP BY 1, 2 HAVING COUNT(*) > 1)", t.name), &ReadAt::current())
            .await
            .unwrap();
        assert_eq!(
            dup[0].column(0).as_primitive::<Int64Type>().value(0),
            0,
            "{}: a message loaded twice",
            t.name
        );
    }

    // compaction keeps every row and the offsets: the next load has nothing to do
    let compacted: u64 = s.env.compact(2).values().sum();
    assert!(
        compacted > 0,
        "the loads above left partitions with 2 files"
    );
    assert_eq!(bronze_counts(&s.env).await, kafka);
    assert_offsets_at_high_water(&lake, &client, &consumer).await;

    // a second full run loads nothing and commits nothing
    let snaps_before = lake
        .snapshots(&topics::by_name("order_status").unwrap().bronze.ident())
        .await
        .unwrap()
        .len();
    let out = s.env.bin("bronze-load").output().unwrap();
    assert_eq!(out.status.code(), Some(99));
    assert_eq!(summary(&out)["status"], "nothing_to_do");
    assert_eq!(
        lake.snapshots(&topics::by_name("order_status").unwrap().bronze.ident())
            .await
            .unwrap()
            .len(),
        snaps_before
    );

    // pyiceberg reads bronze with the same counts
    for t in &TOPICS {
        assert_eq!(
            s.env.py(&["rows", &format!("bronze.{}", t.name)])["count"],
            kafka[t.name],
            "{}",
            t.name
        );
    }
}

fn produce_raw(bootstrap: &str, topic: &str, key: &str, payload: &[u8]) {
    let p: BaseProducer = KafkaClient::new(bootstrap)
        .producer_config()
        .unwrap()
        .create()
        .unwrap();
    // partition 0 always, so a test knows the order of what it sends
    p.send(
        BaseRecord::to(topic)
            .partition(0)
            .key(key)
            .payload(payload)
            .timestamp(1_500_000_000_000),
    )
    .unwrap();
    p.flush(Duration::from_secs(10)).unwrap();
}

/// Starts bronze-load paused `pause_ms` before each commit and returns once its first pause
/// has begun (data files written, nothing committed); its stderr is drained from then on.
fn bronze_load_paused_before_commit(
    s: &Setup,
    pause_ms: u64,
    idle_timeout_s: Option<u64>,
) -> std::process::Child {
    let mut cmd = s.env.bin("bronze-load");
    if let Some(idle) = idle_timeout_s {
        cmd.env("OLISTLAKE_KAFKA_IDLE_TIMEOUT_S", idle.to_string());
    }
    common::paused_before_commit(cmd.stdout(Stdio::piped()), pause_ms, 1)
}

/// Every bronze table's stored offsets equal its topic's high-water marks, per partition.
async fn assert_offsets_at_high_water(
    lake: &olistlake::lake::Lake,
    client: &KafkaClient,
    consumer: &olistlake::kafka::client::BoundedConsumer,
) {
    for t in &TOPICS {
        let stored = olistlake::kafka::bronze::stored_offsets(lake, t)
            .await
            .unwrap();
        for (p, _, hi) in client.watermarks(consumer, t.name).unwrap() {
            assert_eq!(stored.get(&p).copied().unwrap_or(0), hi, "{}/{p}", t.name);
        }
    }
}

/// Undecodable messages go to the quarantine with their reason; for every topic Kafka = bronze
/// + quarantine, and a re-run does not quarantine them twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_are_quarantined() {
    let s = setup();
    run_ok(replay_cmd(&s).args(["--speed", "max", "--until", "2017-03-01"]));
    let registry = Registry::open(&s.registry).unwrap();
    let t = topics::by_name("order_status").unwrap();
    let good_id = registry
        .latest(&value_subject(t.name))
        .await
        .unwrap()
        .unwrap()
        .0;
    let good = encode(
        good_id,
        t.schema(),
        vec![
            ("order_id", apache_avro::types::Value::String("x".into())),
            (
                "status",
                apache_avro::types::Value::String("purchase".into()),
            ),
            ("timestamp", apache_avro::types::Value::Null),
            ("ingest_time", apache_avro::types::Value::Null),
        ],
    )
    .unwrap();
    // a schema whose order_id is an int, registered under another subject: a wrong type
    let wrong_schema = apache_avro::Schema::parse_str(r#"{"type":"record","name":"OrderStatus","namespace":"olist","fields":[{"name":"order_id","type":["null","int"],"default":null}]}"#).unwrap();
    let wrong_id = registry
        .register("poison-value", &wrong_schema)
        .await
        .unwrap();
    let wrong = encode(
        wrong_id,
        &wrong_schema,
        vec![("order_id", apache_avro::types::Value::Int(7))],
    )
    .unwrap();
    let mut bad_magic = good.clone();
    bad_magic[0] = 1;
    let mut unknown_id = good.clone();
    unknown_id[1..5].copy_from_slice(&9999u32.to_be_bytes());
    let truncated = good[..good.len() - 4].to_vec();
    // a valid payment written to order_status: another topic's schema id
    let payment = topics::by_name("payment").unwrap();
    let payment_id = registry
        .latest(&value_subject(payment.name))
        .await
        .unwrap()
        .unwrap()
        .0;
    // every field of a topic's schema: the given values, null elsewhere
    let nulls = |schema: &'static apache_avro::Schema,
                 set: &[(&str, apache_avro::types::Value)]| {
        let apache_avro::Schema::Record(r) = schema else {
            unreachable!("topic schemas are records")
        };
        r.fields
            .iter()
            .map(|f| {
                let v = set
                    .iter()
                    .find(|(n, _)| *n == f.name)
                    .map(|(_, v)| v.clone());
                (
                    f.name.as_str(),
                    v.unwrap_or(apache_avro::types::Value::Null),
                )
            })
            .collect::<Vec<_>>()
    };
    let other_topic = encode(
        payment_id,
        payment.schema(),
        nulls(
            payment.schema(),
            &[("order_id", apache_avro::types::Value::String("x".into()))],
        ),
    )
    .unwrap();
    // beyond what the lake's types hold: a timestamp-millis that overflows microseconds
    let far_future = encode(
        good_id,
        t.schema(),
        nulls(
            t.schema(),
            &[
                ("order_id", apache_avro::types::Value::String("y".into())),
                (
                    "timestamp",
                    apache_avro::types::Value::TimestampMillis(9_300_000_000_000_000),
                ),
            ],
        ),
    )
    .unwrap();
    for (k, p) in [
        ("magic", &bad_magic),
        ("unknown", &unknown_id),
        ("truncated", &truncated),
        ("wrong", &wrong),
        ("other_topic", &other_topic),
        ("far_future", &far_future),
    ] {
        produce_raw(&s.broker.bootstrap, "order_status", k, p);
    }
    produce_raw(&s.broker.bootstrap, "review", "empty", b"");

    // An unknown schema id may be decodable with the right registry: the partition stops
    // before it (offsets not advanced past it) and the run asks for a retry, naming it.
    let out = s.env.bin("bronze-load").output().unwrap();
    let first = summary(&out);
    assert_eq!(out.status.code(), Some(75), "{first}");
    let error = first["error"].as_str().unwrap();
    assert!(
        error.contains("order_status/0 at offset") && error.contains("schema id 9999"),
        "{first}"
    );
    assert!(
        first["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("quarantined")),
        "quarantined messages are reported as warnings: {first}"
    );
    let q = quarantine_counts(&s.env).await;
    assert_eq!(
        q["order_status"], 1,
        "only the message before the unknown id: {q:?}"
    );
    let lake = s.env.lake().await;
    let stored = olistlake::kafka::bronze::stored_offsets(&lake, t)
        .await
        .unwrap();
    let client = KafkaClient::new(&s.broker.bootstrap);
    let consumer = client.consumer("check").unwrap();
    let (_, _, hi) = client.watermarks(&consumer, t.name).unwrap()[0];
    assert_eq!(
        stored[&0],
        hi - 5,
        "stopped at the unknown id, 5 messages before the end"
    );
    // the same again: still stopped there, nothing quarantined twice
    let out = s.env.bin("bronze-load").output().unwrap();
    assert_eq!(out.status.code(), Some(75));
    assert_eq!(quarantine_counts(&s.env).await["order_status"], 1);

    // the operator decides these are foreign data
    run_ok(s.env.bin("bronze-load").arg("--quarantine-unknown-schemas"));
    let kafka = kafka_counts(&s.broker.bootstrap);
    let bronze = bronze_counts(&s.env).await;
    let q = quarantine_counts(&s.env).await;
    for t in &TOPICS {
        assert_eq!(
            kafka[t.name],
            bronze[t.name] + q.get(t.name).copied().unwrap_or(0),
            "{}",
            t.name
        );
    }
    assert_eq!(q["order_status"], 6);
    assert_eq!(q["review"], 1);
    let errors = lake
        .sql(
            "SELECT key, error FROM bronze._quarantine ORDER BY key",
            &ReadAt::current(),
        )
        .await
        .unwrap();
    let errs: Vec<(String, String)> = strings(&errors, "key")
        .into_iter()
        .zip(strings(&errors, "error"))
        .map(|(k, e)| (k.unwrap(), e.unwrap()))
        .collect();
    let find = |k: &str| errs.iter().find(|(key, _)| key == k).unwrap().1.clone();
    assert!(find("magic").contains("bad magic byte"), "{errs:?}");
    assert!(
        find("unknown").contains("unknown schema id 9999"),
        "{errs:?}"
    );
    assert!(find("truncated").contains("truncated"), "{errs:?}");
    assert!(find("wrong").contains("schema id"), "{errs:?}");
    assert!(
        find("other_topic").contains("`olist.Payment` record"),
        "{errs:?}"
    );
    assert!(find("far_future").contains("out of range"), "{errs:?}");
    assert!(
        find("empty").contains("shorter") || find("empty").contains("empty"),
        "{errs:?}"
    );

    // another poison message and a re-run: only the new one is added
    produce_raw(&s.broker.bootstrap, "order_status", "magic2", &bad_magic);
    run_ok(&mut s.env.bin("bronze-load"));
    assert_eq!(quarantine_counts(&s.env).await["order_status"], 7);
}

/// A message written with an older compatible schema version still lands (read into the
/// table's schema); an incompatible registration is refused (HTTP registry, 409).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_evolution_over_http_registry() {
    let double = RegistryDouble::start();
    let mut s = setup();
    s.env.env.retain(|(k, _)| k != "OLISTLAKE_SCHEMA_REGISTRY");
    s.env
        .env
        .push(("OLISTLAKE_SCHEMA_REGISTRY".into(), double.url.clone()));
    let registry = Registry::open(&double.url).unwrap();
    let t = topics::by_name("order_status").unwrap();
    let subject = value_subject(t.name);
    // version 1: no `status` field yet
    let v1 = apache_avro::Schema::parse_str(r#"{"type":"record","name":"OrderStatus","namespace":"olist","fields":[
        {"name":"order_id","type":["null","string"],"default":null},
        {"name":"timestamp","type":["null",{"type":"long","logicalType":"timestamp-millis"}],"default":null},
        {"name":"ingest_time","type":["null",{"type":"long","logicalType":"timestamp-millis"}],"default":null}]}"#).unwrap();
    let id1 = registry.register(&subject, &v1).await.unwrap();
    let id2 = registry.register(&subject, t.schema()).await.unwrap();
    assert_ne!(id1, id2);
    assert_eq!(
        registry.register(&subject, t.schema()).await.unwrap(),
        id2,
        "idempotent"
    );
    assert_eq!(registry.latest(&subject).await.unwrap().unwrap().0, id2);
    let incompatible = apache_avro::Schema::parse_str(r#"{"type":"record","name":"OrderStatus","namespace":"olist","fields":[{"name":"order_id","type":"int"}]}"#).unwrap();
    let e = registry
        .register(&subject, &incompatible)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("incompatible") && e.contains("409"), "{e}");

    KafkaClient::new(&s.broker.bootstrap)
        .ensure_topics(&TOPICS.iter().map(|t| t.name).collect::<Vec<_>>(), 1, 1)
        .unwrap();
    use apache_avro::types::Value;
    let old = encode(
        id1,
        &v1,
        vec![
            ("order_id", Value::String("old".into())),
            ("timestamp", Value::TimestampMillis(1_500_000_000_000)),
            ("ingest_time", Value::TimestampMillis(1_500_000_000_100)),
        ],
    )
    .unwrap();
    let new = encode(
        id2,
        t.schema(),
        vec![
            ("order_id", Value::String("new".into())),
            ("status", Value::String("purchase".into())),
            ("timestamp", Value::TimestampMillis(1_500_000_000_000)),
            ("ingest_time", Value::TimestampMillis(1_500_000_000_200)),
        ],
    )
    .unwrap();
    produce_raw(&s.broker.bootstrap, "order_status", "old", &old);
    produce_raw(&s.broker.bootstrap, "order_status", "new", &new);
    run_ok(s.env.bin("bronze-load").args(["--topics", "order_status"]));
    let lake = s.env.lake().await;
    let b = lake
        .sql(
            "SELECT order_id, status, _schema_id FROM bronze.order_status ORDER BY order_id",
            &ReadAt::current(),
        )
        .await
        .unwrap();
    assert_eq!(
        strings(&b, "order_id"),
        vec![Some("new".to_string()), Some("old".to_string())]
    );
    assert_eq!(
        strings(&b, "status"),
        vec![Some("purchase".to_string()), None]
    );
    assert!(quarantine_counts(&s.env).await.is_empty());
}

/// Broker down at start or in the middle of a run: the retryable exit code, no partial commit,
/// and a re-run with the broker back completes with bronze = Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_is_retryable() {
    let mut s = setup();
    run_ok(replay_cmd(&s).args(["--speed", "max"]));
    let kafka = kafka_counts(&s.broker.bootstrap);

    let out = s
        .env
        .bin("bronze-load")
        .arg("--full-refresh")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "--full-refresh is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("append-only"));

    s.broker.kill();
    let out = s.env.bin("bronze-load").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary(&out)["status"], "retryable_error");
    let out = replay_cmd(&s).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.broker.resume();

    // mid-run: the broker dies while the first topic's files are written
    let child = bronze_load_paused_before_commit(&s, 2000, None);
    s.broker.kill();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let partial = bronze_counts(&s.env).await;
    // each table is either fully loaded (its commit happened) or untouched
    for t in &TOPICS {
        assert!(
            partial[t.name] == 0 || partial[t.name] == kafka[t.name],
            "{}: {} of {}",
            t.name,
            partial[t.name],
            kafka[t.name]
        );
    }
    s.broker.resume();
    run_ok(&mut s.env.bin("bronze-load"));
    assert_eq!(bronze_counts(&s.env).await, kafka);
}

/// The replay's /metrics endpoint serves the Prometheus counters while it runs.
#[test]
fn replay_metrics_endpoint() {
    let s = setup();
    let port = common::free_port();
    let log = s.env.dir().join("replay.log");
    let mut child = replay_cmd(&s)
        .args([
            "--speed",
            "100000",
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            write!(stream, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut s = String::new();
            stream.read_to_string(&mut s).unwrap();
            if s.contains("olistlake_replay_events_total{topic=\"order_status\"}") {
                break s;
            }
        }
        assert!(Instant::now() < deadline, "no metrics");
        std::thread::sleep(Duration::from_millis(100));
    };
    // SIGTERM: flush and exit cleanly
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "SIGTERM must end the producer cleanly, got {status}; its log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    for m in [
        "olistlake_replay_clock_seconds",
        "olistlake_replay_lag_seconds",
        "olistlake_replay_errors_total",
    ] {
        assert!(body.contains(m), "{m} missing:\n{body}");
    }
}

/// (partition, offset) pairs present more than once in a bronze table.
async fn duplicate_offsets(lake: &olistlake::lake::Lake, table: &str) -> i64 {
    let key = if table == "bronze._quarantine" {
        "topic, \"partition\", \"offset\""
    } else {
        "_kafka_partition, _kafka_offset"
    };
    let dup = lake
        .sql(
            &format!(
                "SELECT COUNT(*) FROM (SELECT {key} FROM {table} GROUP BY {key} HAVING COUNT(*) > 1)"
            ),
            &ReadAt::current(),
        )
        .await
        .unwrap();
    dup[0].column(0).as_primitive::<Int64Type>().value(0)
}

/// Issue 12 (1): two bronze-loads at once (both paused before each commit, so they overlap
/// for certain) never load a message twice: the commit is conditional on the offsets a run
/// started from, a topic's loser commits nothing of it and the run exits 75, a re-run
/// completes. The quarantine
/// gets each poison message once too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_bronze_loads_load_each_message_once() {
    let s = setup();
    run_ok(replay_cmd(&s).args(["--speed", "max", "--until", "2017-06-01"]));
    produce_raw(
        &s.broker.bootstrap,
        "order_status",
        "poison",
        b"\x01not avro",
    );
    let kafka = kafka_counts(&s.broker.bootstrap);

    let spawn = || {
        s.env
            .bin("bronze-load")
            .env("OLISTLAKE_FAILPOINT_PAUSE_BEFORE_COMMIT_MS", "1500")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let codes = [a.status.code(), b.status.code()];
    // topics load side by side, so each run may win some topics and lose others
    assert!(codes.iter().all(|c| matches!(c, Some(0 | 75))), "{codes:?}");
    assert!(
        codes.contains(&Some(75)),
        "a run that loses a race says so: {codes:?}"
    );
    let loser = if a.status.code() == Some(75) { &a } else { &b };
    let error = summary(loser)["error"].as_str().unwrap().to_string();
    assert!(error.contains("another writer committed first"), "{error}");

    // the retry finishes what the loser left
    let out = s.env.bin("bronze-load").output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 99)),
        "{}",
        summary(&out)
    );
    assert_exactly_once(&s).await;
    assert_eq!(
        kafka_counts(&s.broker.bootstrap),
        kafka,
        "nothing was added meanwhile"
    );
    let lake = s.env.lake().await;
    let q = quarantine_counts(&s.env).await;
    assert_eq!(q["order_status"], 1, "the poison message quarantined once");
    assert_eq!(duplicate_offsets(&lake, "bronze._quarantine").await, 0);
    // no data file of the losing attempts is left behind in the tables' data folders
    for table in ["bronze.order_status", "bronze._quarantine"] {
        let ident = olistlake::lake::ident(table).unwrap();
        let orphans = lake
            .remove_orphan_files(&ident, Duration::ZERO, true)
            .await
            .unwrap();
        assert!(orphans.orphans.is_empty(), "{table}: {:?}", orphans.orphans);
    }
}

/// Issue 12 (2): a `file:` registry that does not exist is a configuration error (exit 1)
/// and nothing is committed; with the right registry every message loads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_registry_file_is_a_configuration_error() {
    let s = setup();
    run_ok(replay_cmd(&s).args(["--speed", "max", "--until", "2017-03-01"]));
    let missing = format!("file:{}", s.env.dir().join("no/such.json").display());
    let out = s
        .env
        .bin("bronze-load")
        .args(["--schema-registry", &missing])
        .output()
        .unwrap();
    let sum = summary(&out);
    assert_eq!(out.status.code(), Some(1), "{sum}");
    assert!(
        sum["error"].as_str().unwrap().contains("does not exist"),
        "{sum}"
    );
    let lake = s.env.lake().await;
    for t in &TOPICS {
        // not even created
        assert!(
            lake.current_snapshot_id(&t.bronze.ident())
                .await
                .is_err_and(|e| matches!(e, olistlake::Error::NoSuchTable(_))),
            "{}",
            t.name
        );
    }
    run_ok(&mut s.env.bin("bronze-load"));
    assert_eq!(
        bronze_counts(&s.env).await,
        kafka_counts(&s.broker.bootstrap)
    );
    assert!(quarantine_counts(&s.env).await.is_empty());

    // a bootstrap list that is not host:port is a configuration error too, not a retry
    let out = s
        .env
        .bin("bronze-load")
        .args(["--kafka-bootstrap", "not a host"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", summary(&out));
}

/// Issue 12 (3): the replay resumes after its own last event even when the last message of a
/// partition is someone else's (no `olistlake.seq` header): nothing is sent twice.
#[test]
fn replay_resumes_past_a_foreign_last_message() {
    let s = setup();
    let expected = expected_counts(s.prepared.path());
    run_ok(replay_cmd(&s).args(["--speed", "max", "--until", "2017-09-01"]));
    let before = kafka_counts(&s.broker.bootstrap);
    produce_raw(&s.broker.bootstrap, "order_status", "foreign", b"not ours");
    produce_raw(
        &s.broker.bootstrap,
        "payment",
        "foreign",
        b"not ours either",
    );
    let out = run_ok(replay_cmd(&s).args(["--speed", "max"]));
    let report = &summary(&out)["report"];
    assert_eq!(
        report["skipped_already_in_kafka"].as_i64().unwrap(),
        before.values().sum::<i64>()
    );
    let mut with_foreign = expected.clone();
    *with_foreign.get_mut("order_status").unwrap() += 1;
    *with_foreign.get_mut("payment").unwrap() += 1;
    assert_eq!(kafka_counts(&s.broker.bootstrap), with_foreign);
}

/// Kafka = bronze + quarantine for every topic, and no (partition, offset) loaded twice.
async fn assert_exactly_once(s: &Setup) {
    let kafka = kafka_counts(&s.broker.bootstrap);
    let (bronze, q) = (bronze_counts(&s.env).await, quarantine_counts(&s.env).await);
    let lake = s.env.lake().await;
    for t in &TOPICS {
        let quarantined = q.get(t.name).copied().unwrap_or(0);
        assert_eq!(kafka[t.name], bronze[t.name] + quarantined, "{}", t.name);
        assert_eq!(
            duplicate_offsets(&lake, &format!("bronze.{}", t.name)).await,
            0,
            "{}",
            t.name
        );
    }
}

/// Runs bronze-load until it succeeds; a broker fault may cost one retryable failure (75),
/// never another exit code. Returns the exit codes seen.
fn bronze_load_until_done(s: &Setup) -> Vec<i32> {
    let mut codes = Vec::new();
    for _ in 0..3 {
        let out = s.env.bin("bronze-load").output().unwrap();
        let code = out.status.code().unwrap_or(-1);
        codes.push(code);
        match code {
            0 | 99 => return codes,
            75 => continue,
            _ => panic!("bronze-load exited {code}: {}", summary(&out)),
        }
    }
    panic!("bronze-load did not complete: {codes:?}");
}

/// Issue 14 (2): on a three-node cluster, kill -9 one broker during the replay and another
/// during a bronze-load: the replay completes with nothing lost or doubled, the load completes
/// (on a retry at most), and for every topic Kafka = bronze.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_survives_a_broker_killed_during_replay_and_load() {
    let mut s = setup_cluster();
    let expected = expected_counts(s.prepared.path());

    let replay = replay_cmd(&s)
        .args(["--speed", "200000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while kafka_counts(&s.broker.bootstrap).values().sum::<i64>() < 2_000 {
        assert!(Instant::now() < deadline, "the replay sent nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
    s.broker.kill_node(2);
    let out = replay.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "replay with a broker down: {}",
        summary(&out)
    );
    assert_eq!(
        kafka_counts(&s.broker.bootstrap),
        expected,
        "nothing lost or doubled"
    );
    let msgs = consume_all(&s.broker.bootstrap);
    let seqs: HashSet<u64> = msgs.iter().map(|m| m.3).collect();
    assert_eq!(seqs.len(), msgs.len(), "no duplicates");

    s.broker.resume();
    let load = bronze_load_paused_before_commit(&s, 300, None);
    s.broker.kill_node(1);
    let out = load.wait_with_output().unwrap();
    let code = out.status.code().unwrap();
    assert!(
        matches!(code, 0 | 75),
        "bronze-load with a broker killed: {}",
        summary(&out)
    );
    if code != 0 {
        bronze_load_until_done(&s);
    }
    assert_exactly_once(&s).await;
}

/// Issue 14 (2): the whole cluster stopped during a bronze-load: exit 75 and nothing
/// committed by the interrupted topic; after a restart, the re-run completes exactly once. A
/// leader change between two runs: the second starts exactly at the stored offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_down_then_leader_change_between_loads() {
    let mut s = setup_cluster();
    run_ok(replay_cmd(&s).args(["--speed", "max", "--until", "2017-09-01"]));
    let lake = s.env.lake().await;

    let load = bronze_load_paused_before_commit(&s, 2000, Some(10));
    s.broker.kill();
    let out = load.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(75), "{}", summary(&out));
    // every table is either loaded whole (its commit happened before the stop) or untouched
    let partial = bronze_counts(&s.env).await;
    let before_stop = {
        s.broker.resume();
        kafka_counts(&s.broker.bootstrap)
    };
    for t in &TOPICS {
        assert!(
            partial[t.name] == 0 || partial[t.name] == before_stop[t.name],
            "{}: {} of {}",
            t.name,
            partial[t.name],
            before_stop[t.name]
        );
    }
    bronze_load_until_done(&s);
    assert_exactly_once(&s).await;
    let stored: BTreeMap<&str, BTreeMap<i32, i64>> = {
        let mut m = BTreeMap::new();
        for t in &TOPICS {
            m.insert(
                t.name,
                olistlake::kafka::bronze::stored_offsets(&lake, t)
                    .await
                    .unwrap(),
            );
        }
        m
    };

    // leader change: the node leading most partitions goes away; more data arrives
    let leaders = partition_leaders(&s.broker.bootstrap);
    let busiest = *leaders
        .values()
        .max_by_key(|n| leaders.values().filter(|m| m == n).count())
        .unwrap();
    s.broker.kill_node(busiest as usize);
    let deadline = Instant::now() + Duration::from_secs(60);
    while partition_leaders(&s.broker.bootstrap)
        .values()
        .any(|l| *l == busiest)
    {
        assert!(Instant::now() < deadline, "no new leaders elected");
        std::thread::sleep(Duration::from_millis(500));
    }
    run_ok(replay_cmd(&s).args(["--speed", "max"]));
    let out = run_ok(&mut s.env.bin("bronze-load"));
    let sum = summary(&out);
    // each topic's load began exactly where the previous run stopped: the rows it added are
    // the messages from the stored offsets to the new end, no more, no fewer
    let kafka = kafka_counts(&s.broker.bootstrap);
    for t in &TOPICS {
        let before: i64 = stored[t.name].values().sum::<i64>();
        let after: i64 = olistlake::kafka::bronze::stored_offsets(&lake, t)
            .await
            .unwrap()
            .values()
            .sum();
        let loaded = sum["metrics"]["topics"][t.name]["messages"]
            .as_i64()
            .unwrap_or(0);
        assert_eq!(
            after - before,
            loaded,
            "{}: loaded what lies between the offsets",
            t.name
        );
        assert_eq!(after, kafka[t.name], "{}", t.name);
    }
    assert_exactly_once(&s).await;
}

/// partition → leader node id, for every replay topic.
fn partition_leaders(bootstrap: &str) -> BTreeMap<(String, i32), i32> {
    let c: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let md = c.fetch_metadata(None, Duration::from_secs(10)).unwrap();
    let mut out = BTreeMap::new();
    for t in md
        .topics()
        .iter()
        .filter(|t| topics::by_name(t.name()).is_some())
    {
        for p in t.partitions() {
            out.insert((t.name().to_string(), p.id()), p.leader());
        }
    }
    out
}

/// Issue 12 (6): a broker frozen (SIGSTOP) while bronze-load runs: every broker call is
/// bounded, so the run ends with 75 instead of hanging; after SIGCONT a re-run completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_broker_is_a_retryable_failure_not_a_hang() {
    let s = setup();
    run_ok(replay_cmd(&s).args(["--speed", "max", "--until", "2017-06-01"]));
    let mut load = bronze_load_paused_before_commit(&s, 1000, Some(10));
    let pids = s.broker.pids();
    let signal = |sig: &str| {
        for (_, pid) in &pids {
            Command::new("kill")
                .args([sig, &pid.to_string()])
                .status()
                .unwrap();
        }
    };
    signal("-STOP");
    let started = Instant::now();
    let code = loop {
        if let Some(status) = load.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > Duration::from_secs(150) {
            let _ = load.kill();
            signal("-CONT");
            panic!("bronze-load hung on a frozen broker");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    signal("-CONT");
    assert_eq!(code, Some(75), "a frozen broker is retryable");
    bronze_load_until_done(&s);
    assert_exactly_once(&s).await;
}

/// Issue 12 (10): a message of 5 MB (the topic allows it) does not stop the load: it is read,
/// quarantined with its reason (it is not Avro), and every other message lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_megabyte_message_is_read_past() {
    use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
    let s = setup();
    run_ok(replay_cmd(&s).args(["--speed", "max", "--until", "2017-03-01"]));
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &s.broker.bootstrap)
        .create()
        .unwrap();
    let topic_limit =
        AlterConfig::new(ResourceSpecifier::Topic("review")).set("max.message.bytes", "8388608");
    admin
        .alter_configs([&topic_limit], &AdminOptions::new())
        .await
        .unwrap()
        .into_iter()
        .for_each(|r| {
            r.unwrap();
        });
    let big = vec![b'x'; 5 * 1024 * 1024];
    let p: BaseProducer = KafkaClient::new(&s.broker.bootstrap)
        .producer_config()
        .unwrap()
        .set("message.max.bytes", "10000000")
        .create()
        .unwrap();
    p.send(
        BaseRecord::to("review")
            .partition(0)
            .key("big")
            .payload(&big[..]),
    )
    .unwrap();
    p.flush(Duration::from_secs(30)).unwrap();
    // more ordinary messages behind it in the same partition
    run_ok(replay_cmd(&s).args(["--speed", "max", "--until", "2017-06-01"]));

    let out = run_ok(&mut s.env.bin("bronze-load"));
    assert_eq!(summary(&out)["status"], "ok");
    assert_eq!(quarantine_counts(&s.env).await["review"], 1);
    assert_exactly_once(&s).await;
}
