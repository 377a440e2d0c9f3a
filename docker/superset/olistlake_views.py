#!/usr/bin/env python3
"""Refresh the DuckDB file Superset reads: one view per Iceberg table of the lake.

DuckDB's iceberg extension reads a table from one metadata.json (there is no version hint in a
SQL catalog), so each view pins the table's current metadata file and must be rebuilt after
every commit. This reads the current locations from the Iceberg catalog (a SQL catalog's
`iceberg_tables` table every SQL/JDBC catalog shares, or a REST catalog's loadTable answers,
with OLISTLAKE_CATALOG_TOKEN as bearer token when set), writes a new DuckDB file beside the old
one and renames it over it: readers see the old views or the new ones, never a half-built file.
Nothing is rewritten when no location changed.

    olistlake_views.py --duckdb lake.duckdb            # catalog from OLISTLAKE_* as the jobs
    olistlake_views.py --duckdb lake.duckdb --catalog-uri sqlite:demo/lakehouse/catalog.db

Prints one JSON line: the views and whether the file changed. Exit 0 on success, 1 on a bad
configuration or an unreadable table (the old file is kept), 75 when the catalog is unreachable,
99 when no DuckDB file is configured (the jobs' exit codes).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

EXIT_FATAL, EXIT_RETRYABLE, EXIT_NOTHING_TO_DO = 1, 75, 99
EXTENSIONS = ("avro", "iceberg", "httpfs")


def catalog_uri(args: argparse.Namespace) -> str:
    """The catalog the jobs use: --catalog-uri, OLISTLAKE_CATALOG_URI, or the SQLite file of a
    local warehouse (as the jobs' configuration does)."""
    uri = args.catalog_uri or os.environ.get("OLISTLAKE_CATALOG_URI")
    if uri:
        return uri
    warehouse = os.environ.get("OLISTLAKE_WAREHOUSE", "lakehouse")
    if "://" in warehouse and not warehouse.startswith("file://"):
        raise SystemExit(f"error: warehouse {warehouse} is remote: set OLISTLAKE_CATALOG_URI")
    return "sqlite:" + str(Path(warehouse.removeprefix("file://")) / "catalog.db")


def rest_locations(uri: str, namespaces: list[str]) -> dict[str, str]:
    """`namespace.table` → current metadata location, from an Iceberg REST catalog."""
    import urllib.error
    import urllib.parse
    import urllib.request

    base = uri.rstrip("/").removesuffix("/v1")
    headers = {}
    if os.environ.get("OLISTLAKE_CATALOG_TOKEN"):
        headers["Authorization"] = "Bearer " + os.environ["OLISTLAKE_CATALOG_TOKEN"]

    def get(path: str) -> dict:
        req = urllib.request.Request(base + path, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    warehouse = os.environ.get("OLISTLAKE_CATALOG_WAREHOUSE")
    config = get("/v1/config" + (f"?warehouse={urllib.parse.quote(warehouse)}" if warehouse else ""))
    prefix = config.get("overrides", {}).get("prefix") or config.get("defaults", {}).get("prefix")
    root = "/v1/" + (prefix + "/" if prefix else "")
    out = {}
    for ns in namespaces:
        try:
            idents = get(f"{root}namespaces/{urllib.parse.quote(ns)}/tables")["identifiers"]
        except urllib.error.HTTPError as e:
            if e.code == 404:
                continue
            raise
        for ident in idents:
            name = ident["name"]
            table = get(f"{root}namespaces/{urllib.parse.quote(ns)}/tables/{urllib.parse.quote(name)}")
            if table.get("metadata-location"):
                out[f"{ns}.{name}"] = table["metadata-location"]
    return out


def current_locations(uri: str, catalog: str, namespaces: list[str]) -> dict[str, str]:
    """`namespace.table` → current metadata location, from the catalog."""
    if uri.startswith(("http://", "https://")):
        return rest_locations(uri, namespaces)
    query = (
        "SELECT table_namespace, table_name, metadata_location FROM iceberg_tables "
        "WHERE catalog_name = ? ORDER BY 1, 2"
    )
    if uri.startswith("sqlite:"):
        import sqlite3

        path = uri.removeprefix("sqlite:").split("?")[0]
        path = "/" + path.lstrip("/") if path.startswith("//") else path
        if not Path(path).exists():
            raise FileNotFoundError(f"catalog {path} does not exist (run a job first)")
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        rows = con.execute(query, (catalog,)).fetchall()
        con.close()
    else:
        import sqlalchemy

        engine = sqlalchemy.create_engine(uri.replace("postgres://", "postgresql://", 1))
        with engine.connect() as con:
            rows = con.execute(sqlalchemy.text(query.replace("?", ":c")), {"c": catalog}).fetchall()
    return {
        f"{ns}.{name}": loc
        for ns, name, loc in rows
        if ns in namespaces and loc
    }


def install_extensions(con) -> None:
    """Install the extensions from their PyPI packages (no download), then load them."""
    from duckdb_extensions import import_extension

    for name in EXTENSIONS:
        import_extension(name, con=con)
    con.execute("LOAD iceberg")


def configure_s3(con, secret_directory: str) -> None:
    """With an S3 warehouse, store the credentials as a persistent DuckDB secret in
    `secret_directory` (`duckdb-secrets` beside the DuckDB file), which the Superset
    connection points at too (bundle.py zip --secret-directory)."""
    endpoint = os.environ.get("OLISTLAKE_S3_ENDPOINT")
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not (endpoint and key and secret):
        raise SystemExit("error: an s3:// warehouse needs OLISTLAKE_S3_ENDPOINT, "
                         "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    Path(secret_directory).mkdir(parents=True, exist_ok=True, mode=0o700)
    con.execute(f"SET secret_directory = {sql_string(secret_directory)}")
    scheme, _, host = endpoint.partition("://")
    options = {
        "TYPE": "s3", "KEY_ID": key, "SECRET": secret, "ENDPOINT": host or scheme,
        "REGION": os.environ.get("OLISTLAKE_S3_REGION", "us-east-1"), "URL_STYLE": "path",
        "USE_SSL": "true" if scheme == "https" else "false",
    }
    body = ", ".join(f"{k} {sql_string(v)}" for k, v in options.items())
    con.execute(f"CREATE OR REPLACE PERSISTENT SECRET olistlake_s3 ({body})")


def sql_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def existing_locations(path: Path) -> dict[str, str] | None:
    import duckdb

    if not path.exists():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True)
        rows = con.execute("SELECT table_name, metadata_location FROM main.olistlake_views").fetchall()
        con.close()
        return dict(rows)
    except duckdb.Error:
        return None


def build(path: Path, locations: dict[str, str]) -> None:
    import duckdb

    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # DuckDB creates the file itself
    try:
        con = duckdb.connect(tmp)
        install_extensions(con)
        if any(loc.startswith("s3://") for loc in locations.values()):
            configure_s3(con, str(path.parent / "duckdb-secrets"))
        con.execute("CREATE TABLE main.olistlake_views (table_name VARCHAR PRIMARY KEY, "
                    "metadata_location VARCHAR, rows BIGINT, refreshed_at TIMESTAMPTZ)")
        for qualified, location in locations.items():
            ns, table = qualified.split(".", 1)
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{ns}"')
            metadata = location.removeprefix("file://")
            scan = f"iceberg_scan({sql_string(metadata)})"
            try:
                con.execute(f'CREATE VIEW "{ns}"."{table}" AS SELECT * FROM {scan}')
                rows = con.execute(f'SELECT count(*) FROM "{ns}"."{table}"').fetchone()[0]
            except duckdb.Error as e:
                raise RuntimeError(f"table {qualified} ({location}): {e}") from e
            con.execute("INSERT INTO main.olistlake_views VALUES (?, ?, ?, now())",
                        [qualified, location, rows])
        con.close()
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp + ".wal"):
            if os.path.exists(leftover):
                os.unlink(leftover)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duckdb", type=Path, default=os.environ.get("OLISTLAKE_DUCKDB"),
                   help="DuckDB file Superset reads (default: OLISTLAKE_DUCKDB)")
    p.add_argument("--catalog-uri",
                   help="sqlite:PATH, postgres://… or http(s)://… (REST) (default: as the jobs)")
    p.add_argument("--catalog-name", default=os.environ.get("OLISTLAKE_CATALOG_NAME", "olistlake"))
    p.add_argument("--namespaces", default="gold",
                   help="comma-separated namespaces to expose (default gold)")
    p.add_argument("--force", action="store_true", help="rebuild even when nothing changed")
    args = p.parse_args()
    started = time.monotonic()
    if not args.duckdb:
        print("nothing to do: no --duckdb and no OLISTLAKE_DUCKDB (dashboards not configured)",
              file=sys.stderr)
        return EXIT_NOTHING_TO_DO
    namespaces = [n.strip() for n in args.namespaces.split(",") if n.strip()]
    try:
        locations = current_locations(catalog_uri(args), args.catalog_name, namespaces)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FATAL
    except Exception as e:  # the catalog database: down or refusing
        print(f"error: catalog unreachable: {e}", file=sys.stderr)
        return EXIT_RETRYABLE
    if not locations:
        print(f"error: the catalog has no table in {', '.join(namespaces)}", file=sys.stderr)
        return EXIT_FATAL
    args.duckdb.parent.mkdir(parents=True, exist_ok=True)
    changed = args.force or existing_locations(args.duckdb) != locations
    if changed:
        try:
            build(args.duckdb, locations)
        except RuntimeError as e:
            print(f"error: {e}; {args.duckdb} left as it was", file=sys.stderr)
            return EXIT_FATAL
    print(json.dumps({
        "job": "refresh-views", "status": "ok", "exit_code": 0, "duckdb": str(args.duckdb),
        "changed": changed, "views": sorted(locations),
        "duration_s": round(time.monotonic() - started, 3),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
