"""The silver and gold transforms on Apache Spark (PySpark, local[2]), for benches/spark.sh:
the seed system's engine on the same bronze Iceberg tables the project's jobs read.

The transforms are the project's own models (jobs/*.sql), run by Spark SQL as a full refresh,
after a translation of what differs between the dialects: DataFusion's integer division
becomes `div`, double-quoted identifiers become back-quoted, and the four functions the
project registers in DataFusion (src/transform/functions.rs) are spelled with Spark's
built-ins. Each model's result is written as an Iceberg table in the `spark_silver` /
`spark_gold` namespaces and read back from there by the models after it, as a Spark
pipeline would. Prints {"table": rows} as JSON.

    spark_transforms.py --uri sqlite:PATH --warehouse file://DIR --end YYYY-MM-DD
"""
import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
import spark_lake  # noqa: E402

SILVER = ["order_timestamp", "order_product", "delivered_order_timestamp",
          "delivered_order_product", "user_location"]
GOLD_BCG = ["sale_stats", "health_beauty_sales_stats_bcg", "delivered_order_product_bcg",
            "order_location", "review_metadata_product"]
GOLD_LEADTIME = ["timestamp_stats_wide", "delivery_monitor"]

# Spark spellings of the project's SQL functions (same semantics: calendar days as Spark's
# datediff; hours and means as decimal(18,4), half away from zero).
FUNCTIONS = {
    "quarter_of": lambda a: f"concat(CAST(year({a[0]}) AS STRING), '-Q', CAST(quarter({a[0]}) AS STRING))",
    "days_between": lambda a: f"datediff({a[0]}, {a[1]})",
    "hours_between": lambda a: (
        f"CAST(round(CAST(unix_micros(CAST({a[0]} AS TIMESTAMP)) - "
        f"unix_micros(CAST({a[1]} AS TIMESTAMP)) AS DECIMAL(38, 0)) / 3600000000, 4) "
        "AS DECIMAL(18, 4))"),
    "mean_of": lambda a: f"CAST(round({a[0]} / {a[1]}, 4) AS DECIMAL(18, 4))",
}


def split_args(s):
    """The top-level comma-separated arguments of a call's inside."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def rewrite_functions(sql):
    pattern = re.compile(r"\b(" + "|".join(FUNCTIONS) + r")\(")
    while True:
        m = pattern.search(sql)
        if not m:
            return sql
        depth, i = 1, m.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(sql[i], 0)
            i += 1
        args = [rewrite_functions(a) for a in split_args(sql[m.end():i - 1])]
        sql = sql[:m.start()] + FUNCTIONS[m.group(1)](args) + sql[i:]


def translate(sql, params):
    sql = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    for k, v in params.items():
        sql = sql.replace("{" + k + "}", v)
    sql = re.sub(r'"([A-Za-z_][A-Za-z0-9_]*)"', r"`\1`", sql)
    # DataFusion divides integers as integers; Spark's `/` is always fractional
    sql = sql.replace("((n - 1) * 3) / 4", "((n - 1) * 3) div 4").replace("(n - 1) / 2", "(n - 1) div 2")
    sql = re.sub(r"\bbronze\.", "olistlake.bronze.", sql)
    sql = re.sub(r"\bsilver\.", "olistlake.spark_silver.", sql)
    sql = rewrite_functions(sql)
    return sql


def statements(path, params):
    text = translate(open(path).read(), params)
    for stmt in text.split(";"):
        stmt = stmt.strip()
        if stmt:
            stmt = re.sub(r"^CREATE (VIEW|TABLE) (\w+) AS", r"CREATE OR REPLACE TEMP VIEW \2 AS", stmt)
            yield stmt


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--uri", required=True)
    p.add_argument("--warehouse", required=True)
    p.add_argument("--end", required=True)
    p.add_argument("--jars", default=os.environ.get("OLISTLAKE_SPARK_JARS", ""))
    p.add_argument("--category", default="health_beauty")
    args = p.parse_args()
    args.catalog_type = "jdbc"
    spark = spark_lake.session(args)
    jobs = os.path.join(ROOT, "jobs")
    as_of = f"CAST('{args.end} 00:00:00' AS TIMESTAMP)"
    counts = {}

    def prelude(known):
        # a full refresh touches nothing in particular: the scope views are empty
        for name, col in [("touched_orders", "order_id"), ("touched_products", "product_id"),
                          ("touched_sellers", "seller_id"), ("touched_customers", "customer_id"),
                          ("touched_zips", "zip_code")]:
            spark.sql(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT CAST(NULL AS STRING) AS {col} WHERE FALSE")
        params = {"known": known, "in_interval": "FALSE", "as_of": as_of,
                  "category": f"'{args.category}'", "delivered_in_interval": "TRUE"}
        # a full refresh computes every key: the staging views' key filters are TRUE
        params.update({f"for_{k}": "TRUE" for k in ("orders", "products", "sellers", "customers", "zips")})
        for stmt in statements(os.path.join(jobs, "staging.sql"), params):
            spark.sql(stmt)
        return params

    def model(namespace, name, params, write=True):
        df = spark.sql(next(statements(os.path.join(jobs, namespace, name + ".sql"), params)))
        if "_drop_reason" in df.columns:
            df = df.where("_drop_reason IS NULL").drop("_drop_reason")
        if not write:
            df.createOrReplaceTempView(name)
            return
        target = f"olistlake.spark_{namespace}.{name}"
        df.writeTo(target).using("iceberg").createOrReplace()
        spark.table(target).createOrReplaceTempView(name)
        counts[f"{namespace}.{name}"] = spark.table(target).count()

    for ns in ["spark_silver", "spark_gold"]:
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS olistlake.{ns}")
    params = prelude("TRUE")
    for name in SILVER:
        model("silver", name, params)
    for stmt in statements(os.path.join(jobs, "gold", "bcg_inputs.sql"), params):
        spark.sql(stmt)
    for name in GOLD_BCG:
        model("gold", name, params)
    # gold-leadtime: the monitor sees what was ingested before its as-of time
    params = prelude(f"ingest_time < {as_of}")
    for stmt in statements(os.path.join(jobs, "gold", "bcg_inputs.sql"), params):
        spark.sql(stmt)
    for name in ["sale_stats", "health_beauty_sales_stats_bcg"]:
        model("gold", name, params, write=False)
    for name in GOLD_LEADTIME:
        model("gold", name, params)
    spark.stop()
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
