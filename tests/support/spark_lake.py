"""Apache Spark (PySpark, local[2]) on the project's lake, through the Iceberg Spark runtime:
the tests' second independent reader and the engine of Iceberg's maintenance procedures.

    spark_lake.py --catalog-type jdbc|rest --uri URI --warehouse WAREHOUSE CMD ...

    rows TABLE...            every row of each table (canonicalised like iceberg_reader.py)
    call PROCEDURE TABLE     CALL olistlake.system.PROCEDURE(table => TABLE) (rewrite_data_files
                             with rewrite-all, or rewrite_manifests); prints its result
    snapshots TABLE          the table's snapshots (id, parent, operation), oldest first
    sql STATEMENT...         runs each statement (tables named olistlake.NS.TABLE); prints
                             the row count of each result

The catalog is named `olistlake`, as the project's SQL catalog rows are. A JDBC `uri` is given
as the project spells it (sqlite:PATH, postgres://user:pass@host:port/db) and converted.
Prints one JSON object on stdout.
"""
import argparse
import glob
import json
import os
import sys
import time

os.environ["TZ"] = "UTC"
time.tzset()

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from iceberg_reader import canon  # noqa: E402


def jdbc_props(uri):
    if uri.startswith("sqlite:"):
        path = uri[len("sqlite:"):]
        while path.startswith("//"):
            path = path[1:]
        return {"uri": "jdbc:sqlite:" + path}
    if uri.startswith(("postgres://", "postgresql://")):
        rest = uri.split("://", 1)[1]
        creds, hostdb = rest.rsplit("@", 1) if "@" in rest else ("", rest)
        user, _, password = creds.partition(":")
        props = {"uri": "jdbc:postgresql://" + hostdb}
        if user:
            props["jdbc.user"] = user
        if password:
            props["jdbc.password"] = password
        return props
    raise SystemExit(f"not a JDBC catalog URI: {uri}")


def session(args):
    from pyspark.sql import SparkSession

    jars = sorted(glob.glob(os.path.join(args.jars, "*.jar")))
    if not jars:
        raise SystemExit(f"no jars in {args.jars}: run tests/support/spark.sh install")
    cat = "spark.sql.catalog.olistlake"
    b = (
        SparkSession.builder.master("local[2]")
        .appName("olistlake-spark")
        .config("spark.jars", ",".join(jars))
        .config("spark.sql.extensions",
                "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", os.environ.get("OLISTLAKE_SPARK_MEMORY", "1g"))
        .config(cat, "org.apache.iceberg.spark.SparkCatalog")
        .config(f"{cat}.type", args.catalog_type)
        .config(f"{cat}.warehouse", args.warehouse)
        # never cache table metadata: the project commits between Spark's reads
        .config(f"{cat}.cache-enabled", "false")
    )
    if args.catalog_type == "jdbc":
        for k, v in jdbc_props(args.uri).items():
            b = b.config(f"{cat}.{k}", v)
    else:
        b = b.config(f"{cat}.uri", args.uri)
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--catalog-type", choices=["jdbc", "rest"], required=True)
    p.add_argument("--uri", required=True)
    p.add_argument("--warehouse", required=True)
    p.add_argument("--jars", default=os.environ.get("OLISTLAKE_SPARK_JARS", ""))
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("rows")
    r.add_argument("tables", nargs="+")
    c = sub.add_parser("call")
    c.add_argument("procedure", choices=["rewrite_data_files", "rewrite_manifests"])
    c.add_argument("table")
    s = sub.add_parser("snapshots")
    s.add_argument("table")
    q = sub.add_parser("sql")
    q.add_argument("statements", nargs="+")
    args = p.parse_args()

    spark = session(args)
    out = {}
    if args.cmd == "rows":
        for t in args.tables:
            df = spark.table(f"olistlake.{t}")
            cols = df.columns
            rows = [[canon(r[c]) for c in cols] for r in df.collect()]
            rows.sort(key=lambda r: json.dumps(r))
            out[t] = {"columns": cols, "count": len(rows), "rows": rows}
    elif args.cmd == "call":
        if args.procedure == "rewrite_data_files":
            # every file, even one alone in its partition: the test needs a rewrite to happen
            sql = (f"CALL olistlake.system.rewrite_data_files(table => '{args.table}', "
                   "options => map('rewrite-all', 'true'))")
        else:
            sql = f"CALL olistlake.system.rewrite_manifests(table => '{args.table}')"
        res = spark.sql(sql)
        row = res.collect()[0].asDict()
        out = {k: (v if isinstance(v, (int, float, str)) or v is None else str(v))
               for k, v in row.items()}
    elif args.cmd == "sql":
        out = {"rows": [len(spark.sql(stmt).collect()) for stmt in args.statements]}
    elif args.cmd == "snapshots":
        df = spark.sql(
            f"SELECT snapshot_id, parent_id, operation FROM olistlake.{args.table}.snapshots "
            "ORDER BY committed_at")
        out = [r.asDict() for r in df.collect()]
    spark.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
