"""The project's silver and gold models (jobs/*.sql) as a full refresh on DuckDB, over the
bronze Parquet files of a freshly landed lake, for benches/transforms.sh: a general-purpose
engine on the same input and the same SQL, beside the project's jobs.

DuckDB reads `<lake>/bronze/<topic>/data/**/*.parquet` directly (no Iceberg planning: on a
lake just landed every file there is live). The models run in order as in the project's
jobs: staging views, then each model stored as a table (its `_drop_reason` rows left out)
and written to `<out>/<namespace>.<table>.parquet` (zstd), read by the models after it. The
four functions the project registers in DataFusion (src/transform/functions.rs) are DuckDB
macros with the same meaning, and integer division is spelled `//`. Prints
{"table": rows} as JSON.

    duckdb_transforms.py --lake DIR --out DIR --end YYYY-MM-DD [--threads 2]
"""
import argparse
import json
import os
import re

import duckdb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOBS = os.path.join(ROOT, "jobs")
TOPICS = ["order_status", "payment", "order_item", "product", "seller", "customer",
          "geolocation", "estimated_delivery_date", "review"]
SILVER = ["order_timestamp", "order_product", "delivered_order_timestamp",
          "delivered_order_product", "user_location"]
GOLD_BCG = ["sale_stats", "health_beauty_sales_stats_bcg", "delivered_order_product_bcg",
            "order_location", "review_metadata_product"]
GOLD_LEADTIME = ["timestamp_stats_wide", "delivery_monitor"]

MACROS = [
    "CREATE MACRO quarter_of(t) AS CAST(year(t) AS VARCHAR) || '-Q' || CAST(quarter(t) AS VARCHAR)",
    # calendar days between the dates of two instants (as Spark's datediff)
    "CREATE MACRO days_between(a, b) AS CAST(CAST(a AS DATE) - CAST(b AS DATE) AS INTEGER)",
    "CREATE MACRO hours_between(a, b) AS CAST(round(CAST(epoch_us(a) - epoch_us(b) AS DECIMAL(38, 0))"
    " / 3600000000, 4) AS DECIMAL(18, 4))",
    "CREATE MACRO mean_of(s, n) AS CAST(round(s / n, 4) AS DECIMAL(18, 4))",
]


def statements(path, params):
    sql = "\n".join(l for l in open(path).read().splitlines() if not l.lstrip().startswith("--"))
    for k, v in params.items():
        sql = sql.replace("{" + k + "}", v)
    left = sorted(set(re.findall(r"\{(\w+)\}", sql)))
    if left:
        raise SystemExit(f"{path}: no value for the placeholders {left} (the project's runner "
                         "has parameters this script does not set)")
    # DataFusion divides integers as integers; DuckDB's `/` is fractional
    sql = sql.replace("((n - 1) * 3) / 4", "((n - 1) * 3) // 4").replace("(n - 1) / 2", "(n - 1) // 2")
    for stmt in sql.split(";"):
        stmt = stmt.strip()
        if stmt:
            yield re.sub(r"^CREATE (VIEW|TABLE) (\w+) AS", r"CREATE OR REPLACE \1 \2 AS", stmt)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--lake", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--end", required=True)
    p.add_argument("--category", default="health_beauty")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    db = duckdb.connect(config={"threads": args.threads})
    for m in MACROS:
        db.execute(m)
    for ns in ("bronze", "silver", "gold"):
        db.execute(f"CREATE SCHEMA {ns}")
    for t in TOPICS:
        files = os.path.join(args.lake, "bronze", t, "data", "**", "*.parquet")
        db.execute(f"CREATE VIEW bronze.{t} AS SELECT * FROM read_parquet('{files}')")
    as_of = f"CAST('{args.end} 00:00:00' AS TIMESTAMP)"
    counts = {}

    def prelude(known):
        # a full refresh touches nothing in particular (empty scopes) and computes every key
        for name, col in [("touched_orders", "order_id"), ("touched_products", "product_id"),
                          ("touched_sellers", "seller_id"), ("touched_customers", "customer_id"),
                          ("touched_zips", "zip_code")]:
            db.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT CAST(NULL AS VARCHAR) AS {col} WHERE FALSE")
        params = {"known": known, "in_interval": "FALSE", "as_of": as_of,
                  "category": f"'{args.category}'", "delivered_in_interval": "TRUE",
                  # every period is read and none is kept from an earlier run
                  "sales_read": "TRUE", "delivered_in_touched_periods": "TRUE",
                  "affected_delivery_months": "TRUE", "affected_purchase_months": "TRUE",
                  "sales_kept": "FALSE", "sales_replaced": "FALSE", "interval_run": "FALSE"}
        # the staging views read every copy of each topic (as a full refresh does)
        params.update({f"{t}_copies": f"bronze.{t}" for t in TOPICS})
        for stmt in statements(os.path.join(JOBS, "staging.sql"), params):
            db.execute(stmt)
        return params

    def model(namespace, name, params, write=True):
        sql = next(statements(os.path.join(JOBS, namespace, name + ".sql"), params))
        cols = [d[0] for d in db.execute(f"DESCRIBE {sql}").fetchall()]
        body = f"SELECT * EXCLUDE (_drop_reason) FROM ({sql}) WHERE _drop_reason IS NULL" \
            if "_drop_reason" in cols else sql
        target = f"{namespace}.{name}" if write else f"borrowed_{name}"
        db.execute(f"CREATE OR REPLACE TABLE {target} AS {body}")
        db.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {target}")
        if write:
            out = os.path.join(args.out, f"{namespace}.{name}.parquet")
            db.execute(f"COPY {target} TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
            counts[target] = db.execute(f"SELECT count(*) FROM {target}").fetchone()[0]

    params = prelude("TRUE")
    for name in SILVER:
        model("silver", name, params)
    for stmt in statements(os.path.join(JOBS, "gold", "bcg_inputs.sql"), params):
        db.execute(stmt)
    # a full refresh keeps and replaces no period of an earlier run (gold/bcg_kept.sql reads
    # none)
    db.execute("CREATE OR REPLACE TABLE sale_stats_replaced AS SELECT period, product_id, category, "
               "seller_id, CAST(0 AS BIGINT) AS order_count, total_price AS total_sales "
               "FROM delivered_items WHERE FALSE")
    db.execute("CREATE OR REPLACE TABLE bcg_items_kept AS SELECT period, order_id, order_item_id, "
               "product_id, category, seller_id, price, freight_value, total_price, "
               "delivered_customer, CAST(NULL AS VARCHAR) AS segment FROM delivered_items WHERE FALSE")
    for stmt in statements(os.path.join(JOBS, "gold", "bcg_reviews.sql"), params):
        db.execute(stmt)
    for name in GOLD_BCG:
        model("gold", name, params)
    db.execute("DROP TABLE sale_stats_replaced")
    # gold-leadtime: the monitor sees what was ingested before its as-of time
    params = prelude(f"ingest_time < {as_of}")
    for prelude_file in ("bcg_inputs.sql", "monitor_inputs.sql"):
        for stmt in statements(os.path.join(JOBS, "gold", prelude_file), params):
            db.execute(stmt)
    for name in ["sale_stats", "health_beauty_sales_stats_bcg"]:
        model("gold", name, params, write=False)
    for name in GOLD_LEADTIME:
        model("gold", name, params)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
