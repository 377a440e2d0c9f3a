"""Independent reader for the integration tests: opens the project's catalog (SQL, or REST for
an http(s) URI) with pyiceberg and prints what it sees as JSON (one object on stdout).

Rows are canonicalised so they compare equal with DataFusion's `CAST(col AS VARCHAR)`:
decimals as plain strings, dates as YYYY-MM-DD, timestamps as YYYY-MM-DDTHH:MM:SS[.ffffff].
"""
import argparse
import datetime as dt
import decimal
import json
import os
import sys


def catalog(args):
    # imported here: spark_lake.py borrows canon() from this file without pyiceberg installed
    from pyiceberg.catalog.sql import SqlCatalog

    props = {"uri": args.uri, "warehouse": args.warehouse}
    endpoint = os.environ.get("OLISTLAKE_S3_ENDPOINT")
    if endpoint:
        props.update({
            "s3.endpoint": endpoint,
            "s3.access-key-id": os.environ["AWS_ACCESS_KEY_ID"],
            "s3.secret-access-key": os.environ["AWS_SECRET_ACCESS_KEY"],
            "s3.region": os.environ.get("OLISTLAKE_S3_REGION", "us-east-1"),
            "s3.force-virtual-addressing": "false",
        })
    if args.uri.startswith(("http://", "https://")):
        from pyiceberg.catalog.rest import RestCatalog

        del props["warehouse"]  # the server places tables; `warehouse` names a REST catalog
        return RestCatalog(args.name, **props)
    return SqlCatalog(args.name, **props)


def canon(v):
    if v is None:
        return None
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
        s = v.strftime("%Y-%m-%dT%H:%M:%S")
        return s + (".%06d" % v.microsecond).rstrip("0") if v.microsecond else s
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, bytes):
        return v.hex()
    return str(v)


def rows_of(table, snapshot_id=None):
    scan = table.scan(snapshot_id=snapshot_id) if snapshot_id else table.scan()
    arrow = scan.to_arrow()
    cols = arrow.column_names
    rows = [[canon(r[c]) for c in cols] for r in arrow.to_pylist()]
    rows.sort(key=lambda r: json.dumps(r))
    return cols, rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--uri", required=True)
    p.add_argument("--name", default="olistlake")
    p.add_argument("--warehouse", required=True)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("rows")
    r.add_argument("table")
    r.add_argument("--snapshot", type=int)
    s = sub.add_parser("snapshots")
    s.add_argument("table")
    a = sub.add_parser("all-snapshots")
    a.add_argument("table")
    f = sub.add_parser("files")
    f.add_argument("table")
    sc = sub.add_parser("schemas")
    sc.add_argument("table")
    m = sub.add_parser("manifests")
    m.add_argument("table")
    sub.add_parser("tables")
    rw = sub.add_parser("rewrite")
    rw.add_argument("table")
    o = sub.add_parser("overwrite-day")
    o.add_argument("table")
    o.add_argument("day")
    o.add_argument("count", type=int)
    pr = sub.add_parser("properties")
    pr.add_argument("table")
    pr.add_argument("set", nargs="*", help="KEY=VALUE to set")
    pr.add_argument("--remove", action="append", default=[])
    args = p.parse_args()

    cat = catalog(args)
    out = None
    if args.cmd == "tables":
        out = sorted(".".join(t) for ns in cat.list_namespaces() for t in cat.list_tables(ns))
    elif args.cmd == "rows":
        cols, rows = rows_of(cat.load_table(args.table), args.snapshot)
        out = {"columns": cols, "count": len(rows), "rows": rows}
    elif args.cmd == "snapshots":
        t = cat.load_table(args.table)
        cur = t.current_snapshot()
        out = {
            "current": cur.snapshot_id if cur else None,
            "snapshots": [
                {"snapshot_id": s.snapshot_id, "parent_id": s.parent_snapshot_id,
                 "sequence_number": s.sequence_number,
                 "operation": s.summary.operation.value if s.summary else None,
                 "summary": dict(s.summary.additional_properties) if s.summary else {}}
                for s in sorted(t.snapshots(), key=lambda s: s.sequence_number)
            ],
        }
    elif args.cmd == "all-snapshots":
        t = cat.load_table(args.table)
        out = {}
        for s in t.snapshots():
            _, rows = rows_of(t, s.snapshot_id)
            out[str(s.snapshot_id)] = rows
    elif args.cmd == "manifests":
        t = cat.load_table(args.table)
        cur = t.current_snapshot()
        out = len(cur.manifests(t.io)) if cur else 0
    elif args.cmd == "schemas":
        # the field ids of every schema, in schema-id order
        t = cat.load_table(args.table)
        out = [[f.field_id for f in s.fields] for s in sorted(t.schemas().values(), key=lambda s: s.schema_id)]
    elif args.cmd == "files":
        t = cat.load_table(args.table)
        files = t.inspect.files()
        out = sorted(files.column("file_path").to_pylist())
    elif args.cmd == "rewrite":
        # Another engine's compaction: the same rows in new files, committed by pyiceberg with
        # a summary that carries none of the project's keys.
        t = cat.load_table(args.table)
        t.overwrite(t.scan().to_arrow())
        t = cat.load_table(args.table)
        out = {"snapshot_id": t.current_snapshot().snapshot_id, "files": len(t.inspect.files())}
    elif args.cmd == "properties":
        # The table's properties, after setting and removing the given ones (as another
        # engine or an operator would).
        t = cat.load_table(args.table)
        if args.set or args.remove:
            with t.transaction() as tx:
                if args.set:
                    tx.set_properties(**dict(kv.split("=", 1) for kv in args.set))
                if args.remove:
                    tx.remove_properties(*args.remove)
            t = cat.load_table(args.table)
        out = dict(t.properties)
    elif args.cmd == "overwrite-day":
        # A pyiceberg copy-on-write overwrite of one day of an ops.self_check-shaped table.
        import pyarrow as pa
        from pyiceberg.expressions import EqualTo
        t = cat.load_table(args.table)
        day = dt.date.fromisoformat(args.day)
        schema = t.schema().as_arrow()
        data = pa.Table.from_pylist([
            {"day": day, "id": i, "value": f"py-{args.day}#{i}",
             "amount": decimal.Decimal(i * 101 + 99) / 100, "run_id": "pyiceberg"}
            for i in range(args.count)
        ], schema=schema)
        t.overwrite(data, overwrite_filter=EqualTo("day", args.day))
        out = {"snapshot_id": t.current_snapshot().snapshot_id}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
