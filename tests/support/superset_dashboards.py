#!/usr/bin/env python3
"""Opens every dashboard of a Superset instance in headless Chromium, as a user would.

For each dashboard: logs in, loads it, records every chart-data request the page makes (the
charts' own queries) and its answer, waits until every chart has rendered, then saves a
full-page screenshot and measures how much of it is not background. Prints one JSON object:
{"dashboards": [{"title", "slug", "charts", "queries": [{"chart", "status", "rows", "error"}],
"screenshot", "ink", "colors", "chart_errors"}]}. The test asserts on it.

    superset_dashboards.py --url http://127.0.0.1:8088 --user admin --password admin --out DIR
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from PIL import Image, ImageStat
from playwright.sync_api import sync_playwright


def api_dashboards(page, url: str) -> list[dict]:
    resp = page.request.get(f"{url}/api/v1/dashboard/?q=(page_size:100)")
    resp_json = resp.json()
    return [{"id": d["id"], "title": d["dashboard_title"], "slug": d["slug"]}
            for d in resp_json["result"]]


def chart_count(page, url: str, dashboard_id: int) -> int:
    return len(page.request.get(f"{url}/api/v1/dashboard/{dashboard_id}/charts").json()["result"])


def ink(path: Path) -> tuple[float, int]:
    """Share of pixels that differ from the page background, and distinct colours."""
    img = Image.open(path).convert("RGB")
    small = img.resize((img.width // 4, img.height // 4))
    background = max(small.getcolors(1 << 20), key=lambda c: c[0])[1]
    pixels = list(small.getdata())
    differing = sum(1 for p in pixels if sum(abs(a - b) for a, b in zip(p, background)) > 30)
    return differing / len(pixels), len(small.getcolors(1 << 20))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--user", default="admin")
    p.add_argument("--password", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--timeout", type=float, default=90)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"dashboards": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=args.chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{args.url}/login/")
        page.fill("#username", args.user)
        page.fill("#password", args.password)
        page.click("button[type=submit]")
        # logged in once the browser is sent away from /login; the welcome page it is sent to
        # need not finish loading (under load its bundles took over 30 s), each dashboard
        # below is waited for on its own
        page.wait_for_url(lambda u: "/login" not in u, timeout=30_000, wait_until="commit")
        for d in api_dashboards(page, args.url):
            expected = chart_count(page, args.url, d["id"])
            queries: list[dict] = []

            def on_response(resp, queries=queries):
                # echarts and tables ask /api/v1/chart/data; legacy plugins (country map)
                # ask /superset/explore_json/
                legacy = "/superset/explore_json/" in resp.url
                if not (legacy or "/api/v1/chart/data" in resp.url) or resp.request.method != "POST":
                    return
                entry = {"status": resp.status, "rows": None, "error": None, "chart": None}
                try:
                    body = resp.json()
                    if legacy:  # multipart form with a form_data field
                        raw = resp.request.post_data or ""
                        m = re.search(r'name="form_data"\r\n\r\n(.*?)\r\n--', raw, re.S)
                        form = json.loads(m.group(1)) if m else {}
                        results = [body]
                    else:
                        form = json.loads(resp.request.post_data or "{}").get("form_data", {})
                        results = body.get("result", [])
                    entry["chart"] = form.get("slice_id")
                    entry["rows"] = sum(r.get("rowcount") or 0 for r in results)
                    errors = [r.get("error") for r in results if r.get("error")]
                    entry["error"] = "; ".join(errors) or body.get("message")
                except Exception as e:  # an HTML error page
                    entry["error"] = f"unreadable answer: {e}"
                queries.append(entry)

            page.on("response", on_response)
            page.goto(f"{args.url}/superset/dashboard/{d['slug'] or d['id']}/?standalone=1")
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline:
                done = len({q["chart"] for q in queries})
                loading = page.locator(".loading, .ant-skeleton").count()
                if done >= expected and loading == 0:
                    break
                page.wait_for_timeout(500)
            page.wait_for_timeout(2500)  # animations (echarts) settle
            chart_errors = [t.strip() for t in page.locator(".chart-container .alert, [role=alert]").all_inner_texts() if t.strip()]
            page.remove_listener("response", on_response)
            shot = args.out / f"{d['slug'] or d['id']}.png"
            page.screenshot(path=str(shot), full_page=True)
            share, colors = ink(shot)
            # on a loaded machine the grid can draw its charts seconds after their data came:
            # look again for a while before reporting a blank page
            settle = time.monotonic() + 30
            while share <= 0.03 and time.monotonic() < settle:
                page.wait_for_timeout(2000)
                page.screenshot(path=str(shot), full_page=True)
                share, colors = ink(shot)
            report["dashboards"].append({
                **d, "charts": expected, "queries": queries, "screenshot": str(shot),
                "ink": round(share, 4), "colors": colors, "chart_errors": chart_errors,
            })
        browser.close()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
