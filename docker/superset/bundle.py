#!/usr/bin/env python3
"""The Superset dashboards of olistlake, as code.

The dashboards, charts and datasets are described below; `build` writes them as a Superset
export (YAML, the format `superset import-dashboards` reads) under `bundle/`, which is
committed and reviewed like any other file. `zip` packs that tree into an importable zip for
one deployment, with the DuckDB file's path (and, for an S3 lake, the DuckDB secret
directory) filled in.

    bundle.py build --duckdb lake.duckdb     # regenerate bundle/ (columns read from the views)
    bundle.py check --duckdb lake.duckdb     # exit 1 when bundle/ is not what build writes
    bundle.py zip --duckdb /app/lake/lake.duckdb --out dashboards.zip

Run it with the Superset venv's Python (PyYAML, duckdb). The views come from
olistlake_views.py; virtual datasets are DuckDB SQL over them.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import uuid
import zipfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
BUNDLE = HERE / "bundle"
NS = uuid.UUID("6f1c2a52-3f0e-4c55-9a53-1a0d5e0b7c11")  # uuid5 namespace: stable ids
VERSION = "1.0.0"
DB_NAME = "olistlake"
DB_PLACEHOLDER = "duckdb:///__DUCKDB_PATH__"


def uid(kind: str, name: str) -> str:
    return str(uuid.uuid5(NS, f"{kind}:{name}"))


# --- datasets --------------------------------------------------------------------------------

# The top-10 products of the whole history (period ALL) by sales, shared by the Top-10 page.
TOP10 = """top10 AS (
    SELECT product_id, seller_id
    FROM gold.health_beauty_sales_stats_bcg
    WHERE period = 'ALL'
    ORDER BY total_sales DESC, product_id, seller_id
    LIMIT 10
)"""

DATASETS = {
    # physical: the gold tables (views of the DuckDB file)
    "health_beauty_sales_stats_bcg": {
        "schema": "gold",
        "description": "BCG portfolio per quarter of delivery (and ALL): one row per product and seller.",
        "metrics": {
            "sales": "SUM(total_sales)",
            "items": "SUM(order_count)",
            "mean_sale": "SUM(total_sales) / SUM(order_count)",
        },
    },
    "delivered_order_product_bcg": {
        "schema": "gold",
        "description": "Delivered items of the category, one row each: the quarter of delivery "
                       "(period), the product's segment in it (segment) and overall (segment_all).",
        "dttm": "delivered_customer",
        "metrics": {"sales": "SUM(total_price)", "items": "COUNT(*)"},
    },
    "delivery_monitor": {
        "schema": "gold",
        "description": "Open orders as of the last gold-leadtime run, with stage and days overdue.",
        "metrics": {"orders": "COUNT(*)"},
    },
    # virtual
    "sales_rank": {
        "sql": """SELECT period,
       rank() OVER (PARTITION BY period ORDER BY total_sales DESC) AS sales_rank,
       product_id, seller_id, segment, total_sales, order_count, mean_sale
FROM gold.health_beauty_sales_stats_bcg""",
        "description": "Products ranked by sales within each period.",
        "metrics": {"sales": "SUM(total_sales)"},
    },
    "top10_products": {
        "sql": f"""WITH {TOP10}
SELECT s.product_id, s.seller_id, s.segment, s.total_sales, s.order_count, s.mean_sale
FROM gold.health_beauty_sales_stats_bcg s JOIN top10 USING (product_id, seller_id)
WHERE s.period = 'ALL'""",
        "description": "The ten best-selling (product, seller) pairs of the whole history.",
        "metrics": {"sales": "SUM(total_sales)"},
    },
    "top10_user_states": {
        "sql": f"""WITH {TOP10}
SELECT 'BR-' || l.state AS state_iso, l.state, l.user_type, count(DISTINCT l.user_id) AS users
FROM gold.order_location l
WHERE l.product_id IN (SELECT product_id FROM top10) AND l.state IS NOT NULL
GROUP BY ALL""",
        "description": "Customers and sellers of the top-10 products per Brazilian state (ISO 3166-2).",
        "metrics": {"users": "SUM(users)"},
    },
    "top10_lead_times": {
        "sql": f"""WITH {TOP10},
orders AS (
    SELECT DISTINCT d.order_id
    FROM gold.delivered_order_product_bcg d JOIN top10 USING (product_id, seller_id)
),
w AS (SELECT t.* FROM gold.timestamp_stats_wide t JOIN orders USING (order_id))
SELECT '1 approve' AS stage, CAST(lead_time_approve_hours AS DOUBLE) / 24 AS days FROM w
UNION ALL SELECT '2 carrier', CAST(lead_time_carrier_hours AS DOUBLE) / 24 FROM w
UNION ALL SELECT '3 customer', CAST(lead_time_customer_hours AS DOUBLE) / 24 FROM w
UNION ALL SELECT '4 total', CAST(total_delivery_hours AS DOUBLE) / 24 FROM w""",
        "description": "Lead time (days) per stage of the top-10 products' delivered orders.",
        "metrics": {"median_days": "MEDIAN(days)", "p90_days": "QUANTILE_CONT(days, 0.9)"},
    },
    "top10_reviews": {
        "sql": f"""WITH {TOP10}
SELECT r.order_id, r.product_id, r.review_id, r.review_score,
       CAST(r.answer_lead_hours AS DOUBLE) AS answer_lead_hours,
       CASE
           WHEN r.answer_lead_hours IS NULL THEN NULL
           WHEN r.answer_lead_hours < 24 THEN '1 under 1 day'
           WHEN r.answer_lead_hours < 48 THEN '2 1-2 days'
           WHEN r.answer_lead_hours < 72 THEN '3 2-3 days'
           WHEN r.answer_lead_hours < 168 THEN '4 3-7 days'
           ELSE '5 over 7 days'
       END AS answer_time
FROM gold.review_metadata_product r
WHERE r.product_id IN (SELECT product_id FROM top10)""",
        "description": "Reviews of the top-10 products' orders, with the time to answer them.",
        "metrics": {"reviews": "COUNT(DISTINCT review_id)"},
    },
}


# --- charts ----------------------------------------------------------------------------------
# Metrics given by name are the dataset's saved metrics (DATASETS above).

def simple_filter(col: str, op: str, value) -> dict:
    return {
        "expressionType": "SIMPLE", "clause": "WHERE", "subject": col, "operator": op,
        "comparator": value, "isExtra": False, "isNew": False,
        "filterOptionName": f"filter_{col}_{op}".lower().replace(" ", "_"),
    }


CHARTS = {
    # Sales
    "Monthly sales by segment": ("delivered_order_product_bcg", "echarts_timeseries_line", {
        "x_axis": "delivered_customer", "time_grain_sqla": "P1M",
        "metrics": ["sales"], "groupby": ["segment_all"],
        "adhoc_filters": [], "row_limit": 10000, "order_desc": True,
        "truncate_metric": True, "show_legend": True, "legendType": "scroll",
        "legendOrientation": "top", "rich_tooltip": True, "markerEnabled": True,
        "y_axis_format": "SMART_NUMBER", "x_axis_time_format": "%Y-%m",
        "x_axis_title": "month of delivery", "y_axis_title": "sales (BRL)",
        "y_axis_title_margin": 40, "x_axis_title_margin": 30,
        "sort_series_type": "sum", "comparison_type": "values", "color_scheme": "supersetColors",
    }),
    "BCG portfolio": ("health_beauty_sales_stats_bcg", "bubble_v2", {
        "entity": "product_id", "series": "segment",
        "x": {"expressionType": "SQL", "sqlExpression": "SUM(order_count)", "label": "items sold",
              "hasCustomLabel": True, "optionName": "metric_items"},
        "y": {"expressionType": "SQL", "sqlExpression": "SUM(total_sales) / SUM(order_count)",
              "label": "mean sale (BRL)", "hasCustomLabel": True, "optionName": "metric_mean"},
        "size": {"expressionType": "SQL", "sqlExpression": "SUM(total_sales)",
                 "label": "sales (BRL)", "hasCustomLabel": True, "optionName": "metric_sales"},
        "adhoc_filters": [], "row_limit": 10000, "max_bubble_size": "25",
        "x_axis_label": "items sold (order_count)", "y_axis_label": "mean sale (BRL)",
        "xAxisFormat": "SMART_NUMBER", "yAxisFormat": "SMART_NUMBER", "logXAxis": True,
        "logYAxis": False, "truncateXAxis": True, "truncateYAxis": True, "opacity": 0.7,
        "show_legend": True, "legendType": "scroll", "legendOrientation": "top",
        "color_scheme": "supersetColors", "tooltipSizeFormat": "SMART_NUMBER",
        "x_axis_title_margin": 30, "y_axis_title_margin": 50,
    }),
    "Rank by product": ("sales_rank", "table", {
        "query_mode": "raw",
        "all_columns": ["period", "sales_rank", "product_id", "seller_id", "segment",
                        "total_sales", "order_count", "mean_sale"],
        "order_by_cols": [json.dumps(["period", False]), json.dumps(["sales_rank", True])],
        "adhoc_filters": [], "row_limit": 1000, "server_page_length": 10,
        "include_search": True, "show_cell_bars": True, "table_timestamp_format": "smart_date",
        "allow_rearrange_columns": False, "color_pn": True,
    }),
    # Top-10 products
    "Top-10 products": ("top10_products", "table", {
        "query_mode": "raw",
        "all_columns": ["product_id", "seller_id", "segment", "total_sales", "order_count",
                        "mean_sale"],
        "order_by_cols": [json.dumps(["total_sales", False])],
        "adhoc_filters": [], "row_limit": 100, "server_page_length": 10,
        "include_search": False, "show_cell_bars": True, "table_timestamp_format": "smart_date",
        "color_pn": True,
    }),
    "Customers by state": ("top10_user_states", "country_map", {
        "select_country": "brazil", "entity": "state_iso", "metric": "users",
        "adhoc_filters": [simple_filter("user_type", "==", "customer")],
        "row_limit": 100, "number_format": "SMART_NUMBER",
        "linear_color_scheme": "schemeBlues",
    }),
    "Sellers by state": ("top10_user_states", "country_map", {
        "select_country": "brazil", "entity": "state_iso", "metric": "users",
        "adhoc_filters": [simple_filter("user_type", "==", "seller")],
        "row_limit": 100, "number_format": "SMART_NUMBER",
        "linear_color_scheme": "schemeOranges",
    }),
    "Lead time per stage (days)": ("top10_lead_times", "echarts_timeseries_bar", {
        "x_axis": "stage", "metrics": ["median_days", "p90_days"],
        "groupby": [], "adhoc_filters": [], "row_limit": 100, "orientation": "vertical",
        "x_axis_sort": "stage", "x_axis_sort_asc": True, "show_legend": True,
        "legendOrientation": "top", "y_axis_format": ".1f", "show_value": True,
        "y_axis_title": "days", "y_axis_title_margin": 30, "color_scheme": "supersetColors",
        "rich_tooltip": True,
    }),
    "Review score distribution": ("top10_reviews", "echarts_timeseries_bar", {
        "x_axis": "review_score", "metrics": ["reviews"], "groupby": [],
        "adhoc_filters": [], "row_limit": 100, "orientation": "vertical",
        "x_axis_sort": "review_score", "x_axis_sort_asc": True, "show_legend": False,
        "show_value": True, "y_axis_format": "SMART_NUMBER", "x_axis_title": "review score",
        "x_axis_title_margin": 30, "color_scheme": "supersetColors",
    }),
    "Review answer time": ("top10_reviews", "echarts_timeseries_bar", {
        "x_axis": "answer_time", "metrics": ["reviews"], "groupby": [],
        "adhoc_filters": [simple_filter("answer_time", "IS NOT NULL", None)],
        "row_limit": 100, "orientation": "vertical", "x_axis_sort": "answer_time",
        "x_axis_sort_asc": True, "show_legend": False, "show_value": True,
        "y_axis_format": "SMART_NUMBER", "x_axis_title": "time to answer a review",
        "x_axis_title_margin": 30, "color_scheme": "supersetColors",
    }),
    # Delivery monitor
    "Overdue open orders": ("delivery_monitor", "table", {
        "query_mode": "raw",
        "all_columns": ["order_id", "stage", "stage_entered_at", "hours_in_stage",
                        "estimated_delivery_date", "days_overdue", "category", "segment", "as_of"],
        "order_by_cols": [json.dumps(["days_overdue", False])],
        "adhoc_filters": [simple_filter("days_overdue", ">", 0)],
        "row_limit": 1000, "server_page_length": 20, "include_search": True,
        "show_cell_bars": True, "table_timestamp_format": "%Y-%m-%d %H:%M",
    }),
    "Overdue orders by stage": ("delivery_monitor", "pie", {
        "groupby": ["stage"], "metric": "orders",
        "adhoc_filters": [simple_filter("days_overdue", ">", 0)], "row_limit": 100,
        "show_labels": True, "label_type": "key_value", "show_legend": True,
        "legendOrientation": "top", "donut": True, "color_scheme": "supersetColors",
        "number_format": "SMART_NUMBER",
    }),
}


# --- dashboards ------------------------------------------------------------------------------

# Rows of (chart, width of 12) per dashboard.
DASHBOARDS = {
    "Sales": {
        "slug": "olistlake-sales",
        "rows": [
            [("Monthly sales by segment", 12)],
            [("BCG portfolio", 7), ("Rank by product", 5)],
        ],
        "period_filter": True,
        "period_filter_excludes": ["Monthly sales by segment"],
    },
    "Top-10 products": {
        "slug": "olistlake-top10",
        "rows": [
            [("Top-10 products", 12)],
            [("Customers by state", 6), ("Sellers by state", 6)],
            [("Lead time per stage (days)", 4), ("Review score distribution", 4),
             ("Review answer time", 4)],
        ],
    },
    "Delivery monitor": {
        "slug": "olistlake-delivery-monitor",
        "rows": [
            [("Overdue open orders", 8), ("Overdue orders by stage", 4)],
        ],
    },
}
CHART_HEIGHT = 60


# --- writing ---------------------------------------------------------------------------------

def column_types(duckdb_path: Path) -> dict[str, list[tuple[str, str]]]:
    """Columns of every dataset, read from the DuckDB views (physical) or their SQL (virtual)."""
    import duckdb

    con = duckdb.connect(str(duckdb_path), read_only=True)
    con.execute("LOAD iceberg")
    out = {}
    for name, d in DATASETS.items():
        source = d.get("sql") or f'SELECT * FROM "{d["schema"]}"."{name}"'
        out[name] = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {source}").fetchall()]
    con.close()
    return out


def database_yaml() -> dict:
    return {
        "database_name": DB_NAME,
        "sqlalchemy_uri": DB_PLACEHOLDER,
        "cache_timeout": None,
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_ctas": False,
        "allow_cvas": False,
        "allow_dml": False,
        "allow_file_upload": False,
        "extra": {
            "allows_virtual_table_explore": True,
            "metadata_params": {},
            # read-only, with the iceberg extension the views call loaded on connect
            "engine_params": {"connect_args": {"read_only": True, "preload_extensions": ["iceberg"]}},
        },
        "uuid": uid("database", DB_NAME),
        "version": VERSION,
    }


def dataset_yaml(name: str, columns: list[tuple[str, str]]) -> dict:
    d = DATASETS[name]
    dttm = d.get("dttm")
    numeric = ("INT", "DECIMAL", "DOUBLE", "FLOAT", "BIGINT", "HUGEINT")
    return {
        "table_name": name,
        "main_dttm_col": dttm,
        "description": d["description"],
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        "catalog": None,
        "schema": d.get("schema", "gold"),
        "sql": d.get("sql"),
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "normalize_columns": False,
        "always_filter_main_dttm": False,
        "uuid": uid("dataset", name),
        "metrics": [
            {
                "metric_name": m, "verbose_name": None, "metric_type": None, "expression": expr,
                "description": None, "d3format": None, "extra": {}, "warning_text": None,
            }
            for m, expr in d["metrics"].items()
        ],
        "columns": [
            {
                "column_name": col, "verbose_name": None,
                "is_dttm": typ.startswith("TIMESTAMP") or typ == "DATE",
                "is_active": True, "type": typ, "advanced_data_type": None,
                "groupby": not typ.startswith(numeric), "filterable": True,
                "expression": None, "description": None, "python_date_format": None,
                "extra": {},
            }
            for col, typ in columns
        ],
        "version": VERSION,
        "database_uuid": uid("database", DB_NAME),
    }


def chart_yaml(title: str) -> dict:
    dataset, viz, params = CHARTS[title]
    return {
        "slice_name": title,
        "description": None,
        "certified_by": None,
        "certification_details": None,
        "viz_type": viz,
        "params": {"viz_type": viz, "datasource": f"{uid('dataset', dataset)}__table", **params},
        "query_context": None,
        "cache_timeout": None,
        "uuid": uid("chart", title),
        "version": VERSION,
        "dataset_uuid": uid("dataset", dataset),
    }


def dashboard_yaml(title: str) -> dict:
    d = DASHBOARDS[title]
    position = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER", "meta": {"text": title}},
    }
    # chart ids in the export are placeholders the import maps to the new ones
    chart_ids = {c: i + 1 for i, c in enumerate(CHARTS)}
    for r, row in enumerate(d["rows"]):
        row_id = f"ROW-{r + 1}"
        position["GRID_ID"]["children"].append(row_id)
        position[row_id] = {
            "type": "ROW", "id": row_id, "children": [], "parents": ["ROOT_ID", "GRID_ID"],
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
        }
        for chart, width in row:
            chart_id = f"CHART-{uid('chart', chart)[:8]}"
            position[row_id]["children"].append(chart_id)
            position[chart_id] = {
                "type": "CHART", "id": chart_id, "children": [],
                "parents": ["ROOT_ID", "GRID_ID", row_id],
                "meta": {"width": width, "height": CHART_HEIGHT, "chartId": chart_ids[chart],
                         "uuid": uid("chart", chart), "sliceName": chart},
            }
    filters = []
    if d.get("period_filter"):
        filters.append({
            "id": "NATIVE_FILTER-period",
            "name": "Period (quarter of delivery, or ALL)",
            "filterType": "filter_select",
            "type": "NATIVE_FILTER",
            "description": "The BCG portfolio and the ranking of one quarter; ALL is the whole history.",
            # the monthly sales are every item's once, by its overall segment: not filtered
            "targets": [{"datasetUuid": uid("dataset", "health_beauty_sales_stats_bcg"),
                         "column": {"name": "period"}}],
            "controlValues": {"enableEmptyFilter": True, "defaultToFirstItem": False,
                              "multiSelect": False, "searchAllOptions": False,
                              "inverseSelection": False, "sortAscending": False},
            "defaultDataMask": {
                "extraFormData": {"filters": [{"col": "period", "op": "IN", "val": ["ALL"]}]},
                "filterState": {"value": ["ALL"], "label": "ALL"},
                "ownState": {},
            },
            "cascadeParentIds": [],
            "scope": {"rootPath": ["ROOT_ID"],
                      "excluded": [chart_ids[c] for c in d.get("period_filter_excludes", [])]},
            "chartsInScope": [chart_ids[c] for row in d["rows"] for c, _ in row
                              if c not in d.get("period_filter_excludes", [])],
            "tabsInScope": [],
        })
    return {
        "dashboard_title": title,
        "description": None,
        "css": "",
        "slug": d["slug"],
        "certified_by": None,
        "certification_details": None,
        "published": True,
        "uuid": uid("dashboard", title),
        "position": position,
        "metadata": {
            "color_scheme": "supersetColors",
            "refresh_frequency": 0,
            "expanded_slices": {},
            "label_colors": {},
            "timed_refresh_immune_slices": [],
            "cross_filters_enabled": False,
            "native_filter_configuration": filters,
            "shared_label_colors": [],
            "color_scheme_domain": [],
        },
        "version": VERSION,
    }


def slug(s: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in s.lower()).strip("_")


def files(duckdb_path: Path) -> dict[str, str]:
    """Relative path → YAML text of the whole bundle."""
    dump = lambda d: yaml.safe_dump(d, sort_keys=False, allow_unicode=True, width=100)
    cols = column_types(duckdb_path)
    out = {
        "metadata.yaml": dump({"version": VERSION, "type": "Dashboard",
                               "timestamp": "2026-01-01T00:00:00+00:00"}),
        f"databases/{DB_NAME}.yaml": dump(database_yaml()),
    }
    for name in DATASETS:
        out[f"datasets/{DB_NAME}/{name}.yaml"] = dump(dataset_yaml(name, cols[name]))
    for title in CHARTS:
        out[f"charts/{slug(title)}.yaml"] = dump(chart_yaml(title))
    for title in DASHBOARDS:
        out[f"dashboards/{slug(title)}.yaml"] = dump(dashboard_yaml(title))
    return out


def current() -> dict[str, str]:
    return {str(p.relative_to(BUNDLE)): p.read_text() for p in BUNDLE.rglob("*.yaml")}


def make_zip(duckdb_path: str, out: Path, secret_directory: str | None) -> None:
    """The committed bundle as an importable zip for one DuckDB file."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for rel, text in sorted(current().items()):
            if rel.startswith("databases/"):
                db = yaml.safe_load(text)
                db["sqlalchemy_uri"] = f"duckdb:///{duckdb_path}"
                if secret_directory:
                    args = db["extra"]["engine_params"]["connect_args"]
                    args["preload_extensions"] = ["iceberg", "httpfs"]
                    args["config"] = {"secret_directory": secret_directory}
                text = yaml.safe_dump(db, sort_keys=False)
            z.writestr(f"olistlake_dashboards/{rel}", text)
    out.write_bytes(buf.getvalue())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for cmd in ("build", "check"):
        s = sub.add_parser(cmd)
        s.add_argument("--duckdb", required=True, type=Path, help="DuckDB file of the views")
    z = sub.add_parser("zip")
    z.add_argument("--duckdb", required=True, help="path of the DuckDB file where Superset runs")
    z.add_argument("--out", required=True, type=Path)
    z.add_argument("--secret-directory", help="DuckDB secret directory (S3 lakes)")
    args = p.parse_args()
    if args.cmd == "zip":
        make_zip(args.duckdb, args.out, args.secret_directory)
        print(json.dumps({"bundle": str(args.out), "dashboards": list(DASHBOARDS),
                          "charts": len(CHARTS), "datasets": len(DATASETS)}))
        return 0
    want = files(args.duckdb)
    if args.cmd == "check":
        have = current()
        stale = sorted(k for k in want.keys() | have.keys() if want.get(k) != have.get(k))
        if stale:
            print("bundle/ is out of date (run bundle.py build): " + ", ".join(stale), file=sys.stderr)
            return 1
        print(json.dumps({"bundle": "up to date", "files": len(want)}))
        return 0
    for old in BUNDLE.rglob("*.yaml"):
        old.unlink()
    for rel, text in want.items():
        path = BUNDLE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(json.dumps({"written": len(want), "to": str(BUNDLE)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
