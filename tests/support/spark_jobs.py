"""The silver and gold transforms as PySpark jobs, written from the pipeline's specification
(the table docs and the rules below), not from the project's SQL: a second implementation
that tests/spark.rs compares with the project's tables row for row, and the seed system's
engine in benches/spark.sh, written as a Spark team would write it (DataFrame API, windows
partitioned by key, exact percentiles), on the same bronze Iceberg tables the project's jobs
read. A full refresh: each
table is computed from all of bronze and written to the `spark_silver` / `spark_gold`
namespaces, which the project never reads; the gold jobs read Spark's own silver.

    spark_jobs.py --uri sqlite:PATH --warehouse file://DIR --end YYYY-MM-DD [--compare]

Prints one JSON object: {"rows": {table: rows}, "compare": {table: {...}}}. With --compare,
each table is also compared, row for row, with the project's table of the same name
(`silver.*`, `gold.*`, read through the same catalog): `only_spark` and `only_olistlake`
count the rows one side has and the other lacks (as multisets), after casting Spark's
columns to the project's types.

The rules:
- the latest CDC copy of a key wins: greatest (ingest_time, Kafka partition, offset); a copy
  without ingest_time sorts first in that descending order, as the project's jobs order it;
- an order's status times are the first event of each status; `canceled` and `unavailable`
  both close an order (canceled_at);
- "delivered" = the order has a delivered_customer time;
- money is decimal(12, 2); means and hours are decimal(18, 4) rounded half away from zero;
  days are calendar-day differences (datediff);
- the BCG thresholds are exact percentiles with linear interpolation (type 7), compared
  without rounding.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spark_lake  # noqa: E402

from pyspark.sql import DataFrame, Window  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql.types import DecimalType  # noqa: E402

CATALOG = "olistlake"
STAMPS = ["purchase", "approved", "delivered_carrier", "delivered_customer", "canceled_at"]
SEGMENTS = ("Star Products", "Volume Drivers", "Niche Gems", "Question Marks")


def latest(df: DataFrame, *keys: str) -> DataFrame:
    """The latest copy of each key: greatest (ingest_time, partition, offset)."""
    w = Window.partitionBy(*keys).orderBy(
        F.col("ingest_time").desc_nulls_first(),
        F.col("_kafka_partition").desc(),
        F.col("_kafka_offset").desc())
    keyed = F.lit(True)
    for k in keys:
        keyed = keyed & F.col(k).isNotNull()
    return (df.where(keyed)
            .withColumn("_n", F.row_number().over(w)).where("_n = 1").drop("_n"))


def hours_between(a, b):
    """Exact hours between two timestamps, as decimal(18, 4) rounded half away from zero."""
    micros = (F.unix_micros(F.col(a).cast("timestamp")) - F.unix_micros(F.col(b).cast("timestamp")))
    return F.round(micros.cast(DecimalType(38, 0)) / F.lit(3_600_000_000), 4).cast(DecimalType(18, 4))


def days_between(a, b):
    return F.datediff(F.col(a).cast("date"), F.col(b).cast("date"))


class Bronze:
    """The staging of each entity from bronze's CDC copies, seen up to `known` (a predicate
    on ingest_time, or None for everything)."""

    def __init__(self, spark, known=None):
        self.spark, self.known = spark, known

    def topic(self, name):
        df = self.spark.table(f"{CATALOG}.bronze.{name}")
        return df if self.known is None else df.where(self.known)

    def status_first(self):
        s = self.topic("order_status").where("order_id IS NOT NULL AND timestamp IS NOT NULL")
        first = lambda *st: F.min(F.when(F.col("status").isin(*st), F.col("timestamp")))  # noqa: E731
        return s.groupBy("order_id").agg(
            first("purchase").alias("purchase"), first("approved").alias("approved"),
            first("delivered_carrier").alias("delivered_carrier"),
            first("delivered_customer").alias("delivered_customer"),
            first("canceled", "unavailable").alias("canceled_at"))

    def payments(self):
        return latest(self.topic("payment"), "order_id", "payment_sequential")

    def order_customer(self):
        # the order's customer, from its latest payment copy that names one
        return latest(self.payments().where("customer_id IS NOT NULL"), "order_id") \
            .select("order_id", "customer_id")

    def items(self):
        return latest(self.topic("order_item"), "order_id", "order_item_id")

    def products(self):
        return latest(self.topic("product"), "product_id")

    def sellers(self):
        return latest(self.topic("seller"), "seller_id")

    def customers(self):
        return latest(self.topic("customer"), "customer_id")

    def places(self):
        return latest(self.topic("geolocation"), "zip_code")

    def estimates(self):
        return latest(self.topic("estimated_delivery_date"), "order_id") \
            .select("order_id", "estimated_delivery_date")

    def reviews(self):
        return latest(self.topic("review"), "review_id", "order_id")


def silver(b: Bronze):
    """silver.*: {name: DataFrame}, each read by the ones after it."""
    out = {}
    in_range = lambda c: F.col(c).isNull() | F.col(c).between(  # noqa: E731
        F.lit("1990-01-01 00:00:00").cast("timestamp_ntz"),
        F.lit("2099-12-31 23:59:59").cast("timestamp_ntz"))
    ot = (b.status_first()
          .join(b.order_customer(), "order_id", "left")
          .join(b.estimates(), "order_id", "left"))
    # an order with a time outside 1990..2099 is corrupt input: left out
    valid = None
    for c in STAMPS + ["estimated_delivery_date"]:
        valid = in_range(c) if valid is None else valid & in_range(c)
    out["order_timestamp"] = ot.where(valid).select(
        "order_id", "customer_id", *STAMPS, "estimated_delivery_date").cache()
    delivered = out["order_timestamp"].where("delivered_customer IS NOT NULL")

    items = b.items().cache()
    category = b.products().select("product_id", F.col("category"))
    out["order_product"] = (
        items.join(delivered.select("order_id", "delivered_customer"), "order_id")
        .join(category, "product_id", "left")
        .select("order_id", "order_item_id", "product_id", "category", "seller_id",
                "shipping_limit_date", "price", "freight_value",
                (F.col("price") + F.col("freight_value")).alias("total_price"),
                "delivered_customer")).cache()

    limits = items.select("order_id", "shipping_limit_date").distinct()
    needed = ["shipping_limit_date", "customer_id", "purchase", "approved", "delivered_carrier",
              "estimated_delivery_date"]
    complete = F.lit(True)
    for c in needed:
        complete = complete & F.col(c).isNotNull()
    out["delivered_order_timestamp"] = (
        delivered.join(limits, "order_id", "left").where(complete)
        .select("order_id", "shipping_limit_date", "customer_id", "purchase", "approved",
                "delivered_carrier", "delivered_customer", "estimated_delivery_date"))

    out["delivered_order_product"] = out["order_product"].drop("shipping_limit_date")

    users = (b.customers().select(F.col("customer_id").alias("user_id"),
                                  F.lit("customer").alias("user_type"), "zip_code")
             .unionByName(b.sellers().select(F.col("seller_id").alias("user_id"),
                                             F.lit("seller").alias("user_type"), "zip_code")))
    out["user_location"] = users.join(
        b.places().select("zip_code", "lat", "lng", "city", "state"), "zip_code") \
        .select("user_id", "user_type", "zip_code", "lat", "lng", "city", "state")
    return out


def quarter(c):
    return F.concat(F.year(c).cast("string"), F.lit("-Q"), F.quarter(c).cast("string"))


def sale_stats(dop: DataFrame) -> DataFrame:
    items = dop.select(quarter("delivered_customer").alias("period"), "product_id", "category",
                       "seller_id", "total_price")
    items = items.unionByName(items.withColumn("period", F.lit("ALL")))
    return (items.where("period IS NOT NULL AND product_id IS NOT NULL AND seller_id IS NOT NULL "
                        "AND total_price IS NOT NULL")
            .groupBy("period", "product_id", "category", "seller_id")
            .agg(F.count(F.lit(1)).alias("order_count"), F.sum("total_price").alias("total_sales"))
            .withColumn("mean_sale", F.round(F.col("total_sales") / F.col("order_count"), 4)
                        .cast(DecimalType(18, 4))))


def bcg(stats: DataFrame, category: str) -> DataFrame:
    """The BCG portfolio per period. T = p75 of order_count, M = median of mean_sale, linear
    interpolation between closest ranks (h = (n - 1) p): with x sorted (1-based),
    value = x[lo] + frac * (x[lo + 1] - x[lo]), lo = floor(h) + 1. Kept scaled (4 T, 2 M) so
    the comparisons are exact."""
    p = stats.where(F.col("category") == category)

    def scaled(col, num, den):
        xs = F.sort_array(F.collect_list(col))
        n = F.size(xs)
        lo = F.floor((n - 1) * num / den).cast("int") + 1
        rem = ((n - 1) * num) % den
        x_lo = F.element_at(xs, lo)
        x_hi = F.when(lo + 1 <= n, F.element_at(xs, lo + 1)).otherwise(x_lo)
        return F.lit(den) * x_lo + rem * (x_hi - x_lo)

    t = p.groupBy("period").agg(scaled("order_count", 3, 4).alias("count_t4"),
                                scaled("mean_sale", 1, 2).alias("mean_m2"))
    high_count = F.col("order_count") * 4 >= F.col("count_t4")
    high_mean = F.col("mean_sale") * 2 >= F.col("mean_m2")
    return (p.join(t, "period")
            .withColumn("segment", F.when(high_count & high_mean, SEGMENTS[0])
                        .when(high_count, SEGMENTS[1]).when(high_mean, SEGMENTS[2])
                        .otherwise(SEGMENTS[3]))
            .withColumn("order_count_p75", F.col("count_t4").cast("double") / 4)
            .withColumn("mean_sale_median", F.col("mean_m2").cast("double") / 2)
            .drop("count_t4", "mean_m2"))


def gold_bcg(b: Bronze, s, category):
    out = {"sale_stats": sale_stats(s["delivered_order_product"]).cache()}
    out["health_beauty_sales_stats_bcg"] = bcg(out["sale_stats"], category).cache()
    seg = out["health_beauty_sales_stats_bcg"].select("period", "product_id", "seller_id", "segment")
    items = s["delivered_order_product"].withColumn("period", quarter("delivered_customer"))
    out["delivered_order_product_bcg"] = (
        items.join(seg, ["period", "product_id", "seller_id"])
        .join(seg.where("period = 'ALL'").drop("period")
              .withColumnRenamed("segment", "segment_all"), ["product_id", "seller_id"])
        .select("period", "order_id", "order_item_id", "product_id", "category", "seller_id",
                "price", "freight_value", "total_price", "delivered_customer", "segment",
                "segment_all")).cache()
    bcg_items = out["delivered_order_product_bcg"]
    sold = (bcg_items.join(s["order_timestamp"].select("order_id", "customer_id"), "order_id")
            .select("product_id", "category", F.col("segment_all").alias("segment"), "seller_id",
                    "customer_id").distinct())
    loc = s["user_location"]
    cols = ["product_id", "category", "segment", "user_id", "user_type", "zip_code", "lat", "lng",
            "city", "state"]
    out["order_location"] = (
        sold.join(loc.where("user_type = 'customer'"), sold.customer_id == loc.user_id)
        .select(*cols)
        .unionByName(sold.join(loc.where("user_type = 'seller'"), sold.seller_id == loc.user_id)
                     .select(*cols))
        .distinct())
    out["review_metadata_product"] = (
        bcg_items.select("order_id", "product_id").distinct()
        .join(b.reviews(), "order_id")
        .select("order_id", "product_id", "review_id", "review_score", "review_creation_date",
                "review_answer_timestamp",
                hours_between("review_answer_timestamp", "review_creation_date")
                .alias("answer_lead_hours")))
    return out


def gold_leadtime(spark, s, as_of, category):
    out = {}
    d = s["delivered_order_timestamp"]
    out["timestamp_stats_wide"] = d.select(
        "order_id", "shipping_limit_date", "purchase", "approved", "delivered_carrier",
        "delivered_customer", "estimated_delivery_date",
        days_between("approved", "purchase").alias("lead_time_approve_days"),
        days_between("delivered_carrier", "approved").alias("lead_time_carrier_days"),
        days_between("delivered_customer", "delivered_carrier").alias("lead_time_customer_days"),
        days_between("delivered_customer", "purchase").alias("total_delivery_days"),
        days_between("delivered_customer", "estimated_delivery_date").alias("delivery_delay_days"),
        hours_between("approved", "purchase").alias("lead_time_approve_hours"),
        hours_between("delivered_carrier", "approved").alias("lead_time_carrier_hours"),
        hours_between("delivered_customer", "delivered_carrier").alias("lead_time_customer_hours"),
        hours_between("delivered_customer", "purchase").alias("total_delivery_hours"),
        (days_between("delivered_customer", "estimated_delivery_date") > 0).alias("is_late_delivery"),
        (F.col("delivered_carrier") > F.col("shipping_limit_date")).alias("is_late_shipping"))

    # The monitor: what was ingested before its as-of time.
    t = F.lit(f"{as_of} 00:00:00").cast("timestamp_ntz")
    known = Bronze(spark, F.col("ingest_time") < t)
    open_orders = (known.status_first()
                   .where("purchase IS NOT NULL AND delivered_customer IS NULL AND canceled_at IS NULL")
                   # the furthest stage reached
                   .withColumn("stage", F.when(F.col("delivered_carrier").isNotNull(), "in_transit")
                               .when(F.col("approved").isNotNull(), "awaiting_carrier")
                               .otherwise("awaiting_approval"))
                   .withColumn("stage_entered_at", F.coalesce("delivered_carrier", "approved", "purchase")))
    first_item = (known.items()
                  .withColumn("_n", F.row_number().over(Window.partitionBy("order_id").orderBy("order_item_id")))
                  .where("_n = 1").select("order_id", "product_id", "seller_id"))
    # the segment of the (product, seller) over the whole history, from silver as it is
    overall = bcg(sale_stats(s["delivered_order_product"]), category) \
        .where("period = 'ALL'").select("product_id", "seller_id", "segment")
    out["delivery_monitor"] = (
        open_orders.join(known.estimates(), "order_id", "left")
        .join(first_item, "order_id", "left")
        .join(known.products().select("product_id", "category"), "product_id", "left")
        .join(overall, ["product_id", "seller_id"], "left")
        .withColumn("as_of", t)
        .select("as_of", "order_id", "stage", "stage_entered_at",
                hours_between("as_of", "stage_entered_at").alias("hours_in_stage"),
                "estimated_delivery_date",
                F.datediff(t.cast("date"), F.col("estimated_delivery_date").cast("date")).alias("days_overdue"),
                "category", "segment"))
    return out


def compare(spark, namespace, name, df):
    """Rows of Spark's table missing from the project's, and the reverse (multisets)."""
    theirs = spark.table(f"{CATALOG}.{namespace}.{name}")
    ours = df.select(*[F.col(f.name).cast(f.dataType) for f in theirs.schema.fields])
    return {"only_spark": ours.exceptAll(theirs).count(),
            "only_olistlake": theirs.exceptAll(ours).count()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--uri", required=True)
    p.add_argument("--warehouse", required=True)
    p.add_argument("--end", required=True, help="the monitor's as-of date")
    p.add_argument("--jars", default=os.environ.get("OLISTLAKE_SPARK_JARS", ""))
    p.add_argument("--category", default="health_beauty")
    p.add_argument("--compare", action="store_true")
    args = p.parse_args()
    args.catalog_type = "jdbc"
    spark = spark_lake.session(args)
    for ns in ("spark_silver", "spark_gold"):
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {CATALOG}.{ns}")
    rows, written = {}, []

    def write(namespace, tables):
        for name, df in tables.items():
            target = f"{CATALOG}.spark_{namespace}.{name}"
            df.writeTo(target).using("iceberg").createOrReplace()
            rows[f"{namespace}.{name}"] = spark.table(target).count()
            written.append((namespace, name))

    b = Bronze(spark)
    s = silver(b)
    write("silver", s)
    # the gold jobs read silver as written (Spark's own tables)
    s = {name: spark.table(f"{CATALOG}.spark_silver.{name}") for name in s}
    write("gold", gold_bcg(b, s, args.category))
    write("gold", gold_leadtime(spark, s, args.end, args.category))
    result = {"rows": rows}
    if args.compare:
        result["compare"] = {
            f"{ns}.{name}": compare(spark, ns, name, spark.table(f"{CATALOG}.spark_{ns}.{name}"))
            for ns, name in written}
    spark.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
