"""Latency of every dashboard page's queries on the DuckDB snapshot, and Overview's first render in Chromium.

    python bench/dashboard_queries.py [--scale 1] [--repeats 30] [--no-browser]

Uses SHOPLAKE_LAKE_DIR when it already holds a published snapshot, otherwise builds a temporary
lake (generate -> ingest -> dbt build -> publish) at --scale. Queries are timed through the data
layer without Streamlit's cache (what a cache miss costs), with each page's default parameters
(the newest 30 days) and, for the heavier ones, the whole history. Prints ONE JSON line last:
per query {p50_ms, p95_ms}, `max_p95_ms` over all, and `overview_first_render_ms` (cold server,
new browser page, until the Overview's chart is drawn; `..._title_ms` until its title shows).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelines.dashboard import queries as data  # noqa: E402
from pipelines.dashboard.backends import Backend, open_backend  # noqa: E402
from pipelines.dashboard.ingestion import ingestion_summary  # noqa: E402
from pipelines.dashboard.live import clickstream_live  # noqa: E402
from pipelines.dashboard.server import streamlit_command  # noqa: E402
from pipelines.lake import Lake  # noqa: E402
from pipelines.settings import Settings  # noqa: E402
from pipelines.warehouse.serving import current_snapshot_id  # noqa: E402

TARGET_P95_MS = 150
TARGET_FIRST_RENDER_MS = 3000
CHART_DRAWN = '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg.marks'


def ensure_lake(scale: float) -> tuple[Path, float | None]:
    env_dir = os.environ.get("SHOPLAKE_LAKE_DIR")
    if env_dir and current_snapshot_id(Lake(Path(env_dir))):
        return Path(env_dir).resolve(), None
    lake_dir = Path(env_dir).resolve() if env_dir else Path(tempfile.mkdtemp(prefix="shoplake-bench-dash-"))
    started = time.monotonic()
    shoplake = str(Path(sys.executable).with_name("shoplake"))
    env = {**os.environ, "SHOPLAKE_LAKE_DIR": str(lake_dir), "DBT_TARGET": "dev"}
    subprocess.run([shoplake, "demo", "--scale", str(scale)], env=env, check=True, stdout=subprocess.DEVNULL)
    return lake_dir, time.monotonic() - started


def page_queries(backend: Backend, settings: Settings) -> dict:
    first, last = data.date_bounds(backend)
    start = last - dt.timedelta(days=29)
    some = tuple(data.categories(backend)[:3])
    trend_start = last - dt.timedelta(days=89)
    return {
        "overview.kpis": lambda: data.overview_kpis(backend, start, last),
        "overview.daily_revenue": lambda: data.daily_revenue(backend, start, last),
        "overview.kpis_full_history": lambda: data.overview_kpis(backend, first, last),
        "sidebar.date_bounds": lambda: data.date_bounds(backend),
        "sales.categories": lambda: data.categories(backend),
        "sales.category_revenue": lambda: data.category_revenue(backend, start, last, (), "week"),
        "sales.category_share": lambda: data.category_share(backend, start, last),
        "sales.top_products": lambda: data.top_products(backend, start, last, (), 10),
        "sales.category_revenue_full_history": lambda: data.category_revenue(backend, first, last, some, "week"),
        "sales.top_products_full_history": lambda: data.top_products(backend, first, last, some, 10),
        "customers.top_customers": lambda: data.top_customers(backend, 20),
        "customers.rfm_segments": lambda: data.rfm_segments(backend),
        "customers.cohort_retention": lambda: data.cohort_retention(backend, 12),
        "clickstream.funnel_daily": lambda: data.funnel_daily(backend, start, last),
        "clickstream.live": lambda: clickstream_live(settings, 30),
        "quality.ingestion_summary": lambda: ingestion_summary(settings),
        "quality.dq_results": lambda: data.dq_results(backend),
        "quality.alert_log": lambda: data.alert_log(backend, 200),
        "anomalies.category_history": lambda: data.category_history(backend, trend_start, last, some[0]),
        "anomalies.anomalies": lambda: data.anomalies(backend, trend_start, last),
        "anomalies.sales_forecast": lambda: data.sales_forecast(backend),
    }


def absent(backend: Backend, settings: Settings) -> set[str]:
    """Reads with nothing to read (a results table without rows, no clicks) return at once: not timed."""
    out = {name for name, read in RESULTS_READS.items() if read(backend) is None}
    if clickstream_live(settings, 30) is None:
        out.add("clickstream.live")
    return out


RESULTS_READS = {
    "quality.dq_results": data.dq_results,
    "quality.alert_log": data.alert_log,
    "anomalies.sales_forecast": data.sales_forecast,
}


def time_queries(queries: dict, repeats: int, skip: set[str]) -> dict[str, dict[str, float]]:
    out = {}
    for name, fn in queries.items():
        if name in skip:
            continue
        fn()  # warm-up: first use opens the snapshot and reads the catalog
        samples = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t0) * 1000)
        out[name] = {
            "p50_ms": round(float(np.percentile(samples, 50)), 1),
            "p95_ms": round(float(np.percentile(samples, 95)), 1),
        }
    return out


def first_render_ms(lake_dir: Path) -> dict[str, float]:
    """Cold server, fresh browser: goto Overview until its chart is drawn; then once more warm."""
    import socket

    from playwright.sync_api import sync_playwright

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "SHOPLAKE_LAKE_DIR": str(lake_dir), "DBT_TARGET": "dev"}
    proc = subprocess.Popen(streamlit_command(port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "_stcore/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium",
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            results = {}
            for visit in ("first", "warm"):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                t0 = time.perf_counter()
                page.goto(url, wait_until="commit")
                page.get_by_role("heading", name="Overview", exact=True).first.wait_for(timeout=60_000)
                results[f"overview_{visit}_title_ms"] = round((time.perf_counter() - t0) * 1000, 1)
                page.wait_for_selector(CHART_DRAWN, state="visible", timeout=60_000)
                # "render" = the revenue chart is drawn, the last thing on the page to appear
                results[f"overview_{visit}_render_ms"] = round((time.perf_counter() - t0) * 1000, 1)
                page.close()
            browser.close()
        return results
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium first-render measurement")
    args = parser.parse_args()

    lake_dir, build_s = ensure_lake(args.scale)
    settings = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(lake_dir)})
    backend = open_backend(settings)
    (orders,) = backend.query("select count(*) as n from fct_orders")["n"]
    skip = absent(backend, settings)
    timings = time_queries(page_queries(backend, settings), args.repeats, skip)
    backend.close()
    result: dict = {"bench": "dashboard_queries", "scale": args.scale, "fct_orders_rows": int(orders)}
    result["repeats"] = args.repeats
    result["not_timed_tables_absent"] = sorted(skip)
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    if build_s is not None:
        result["lake_build_s"] = round(build_s, 1)
    result.update(timings)
    result["max_p95_ms"] = max(t["p95_ms"] for t in timings.values())
    result["target_p95_ms"] = TARGET_P95_MS
    result["slowest_query"] = max(timings, key=lambda k: timings[k]["p95_ms"])
    if not args.no_browser:
        result.update(first_render_ms(lake_dir))
        result["target_first_render_ms"] = TARGET_FIRST_RENDER_MS
    print(json.dumps(result))


if __name__ == "__main__":
    main()
