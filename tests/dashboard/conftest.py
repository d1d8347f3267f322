"""The dashboard tests' lakes: copies of the session's built lake (real generate -> ingest -> dbt build
-> snapshot), with recent clickstream events and, for `lit_lake`, rows in the results tables; and
`story_lake`, what `shoplake demo` leaves (history up to yesterday, clicks now) for the browser."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import shutil
import sys
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from pipelines.lake import CLICKSTREAM_TABLE, Lake, StreamFileId
from pipelines.storage import write_parquet_atomic
from pipelines.stream.contract import EVENT_COLUMNS
from pipelines.warehouse.serving import current_snapshot_id, publish_snapshot

from ..helpers import commit_stream_files

SHOPLAKE = str(Path(sys.executable).with_name("shoplake"))


def lake_env(lake_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "SHOPLAKE_LAKE_DIR": str(lake_dir), "DBT_TARGET": "dev", **extra}
    return env


def snapshot_path(lake_dir: Path) -> Path:
    lake = Lake(lake_dir)
    return lake.snapshot_path(current_snapshot_id(lake))


def direct_sql(lake_dir: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Independent of the data layer: open the current snapshot file directly."""
    con = duckdb.connect(str(snapshot_path(lake_dir)), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


DASHBOARD_TOPIC = "dashboard.test"


def write_click_events(lake_dir: Path, n: int = 3000, seed: int = 7) -> pl.DataFrame:
    """Clickstream events in the schema the stream writer lands (the event contract), ending now."""
    rng = np.random.default_rng(seed)
    now = dt.datetime.now(dt.timezone.utc)
    seconds = np.sort(rng.integers(0, 45 * 60, n))[::-1]
    sessions = rng.integers(1, n // 6, n)
    types = rng.choice(
        ["page_view", "product_view", "search", "add_to_cart", "remove_from_cart", "checkout_start", "purchase"],
        n,
        p=[0.35, 0.3, 0.1, 0.12, 0.03, 0.06, 0.04],
    )
    events = pl.DataFrame(
        {
            "event_id": [f"evt-{i:06d}" for i in range(n)],
            "event_type": types,
            "event_time": [now - dt.timedelta(seconds=int(s)) for s in seconds],
            "session_id": [f"s-{s}" for s in sessions],
            "anonymous_id": [f"anon-{s}" for s in sessions],
            "customer_id": rng.integers(1, 500, n),
            "product_id": rng.integers(1, 60, n),
            "channel": rng.choice(["direct", "organic_search"], n),
            "device": rng.choice(["desktop", "mobile_web", "ios_app"], n),
            "page_url": rng.choice(["/", "/search", "/cart", "/checkout", "/p/1", "/p/2", "/c/books"], n),
        }
    ).cast({name: EVENT_COLUMNS[name] for name in ("event_time", "customer_id", "product_id")})
    lake = Lake(lake_dir)
    file_id = StreamFileId(DASHBOARD_TOPIC, 0, 0, n - 1)  # named and committed as the stream writer does
    write_parquet_atomic(events, lake.stream_file(CLICKSTREAM_TABLE, now.strftime("%Y-%m-%d"), file_id))
    commit_stream_files(lake, CLICKSTREAM_TABLE, DASHBOARD_TOPIC)
    return events


@pytest.fixture(scope="session")
def story_lake(request, tmp_path_factory) -> Path:
    """A lake made by the demo itself: the order history ends yesterday (UTC) and the simulated clicks
    go through the local broker now, then dbt, quality checks and the forecast. At a tiny scale for
    tests; with `--update-screenshots` at the demo's own defaults, so the docs show what `make demo` shows."""
    from pipelines.demo import run_demo
    from pipelines.settings import Settings

    lake_dir = tmp_path_factory.mktemp("dash-story") / "lake"
    settings = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(lake_dir)})
    sizes = {} if request.config.getoption("--update-screenshots") else {"scale": 0.01, "click_events": 3000}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run_demo(settings, seed=7, **sizes)
    clicks = sizes.get("click_events", 60_000)
    assert code == 0 and f"wrote {clicks:,} events" in out.getvalue(), out.getvalue()[-3000:]
    return lake_dir


@pytest.fixture(scope="session")
def base_lake(built_lake, tmp_path_factory) -> Path:
    """A copy of the session's built lake (tests/conftest.py) plus clickstream events; tests must not write to it."""
    lake_dir = tmp_path_factory.mktemp("dash-lake") / "lake"
    shutil.copytree(built_lake.lake.root, lake_dir)
    write_click_events(lake_dir)
    return lake_dir


FORECAST_DAYS = 14


def add_results_tables(lake_dir: Path) -> None:
    """Rows in the results tables (`dq_results`, `sales_forecast`, `alert_log`), in their contracted
    columns (PLAN "Shared decisions"), and publish a snapshot: two quality runs, one forecast, one alert."""
    con = duckdb.connect(str(Lake(lake_dir).warehouse_path))
    try:
        con.execute("""
            create or replace table dq_results as
            select * from (values
                ('run-1', timestamp '2026-10-30 06:00:00', 'volume', 'volume_orders', 'orders', 'warn', 'pass',
                 0::bigint, '', date '2026-10-29'),
                ('run-2', timestamp '2026-10-31 06:00:00', 'dbt_test', 'not_null_fct_orders_order_id', 'fct_orders',
                 'error', 'pass', 0::bigint, '', date '2026-10-31'),
                ('run-2', timestamp '2026-10-31 06:00:00', 'volume', 'volume_orders', 'orders', 'warn', 'warn',
                 3::bigint, '12 rows on 2026-10-31, expected 94 (band 55-132)', date '2026-10-31')
            ) as t(run_id, checked_at, check_type, check_name, target, severity, status, failing_rows, detail,
                   check_date)
        """)
        con.execute(f"""
            create or replace table sales_forecast as
            with last_day as (select max(sales_date) as origin_date from product_category_sales)
            select
                cast(last_day.origin_date + cast(h.i as integer) as date) as forecast_date,
                categories.category_id,
                categories.category_name,
                100.0 + h.i as revenue_forecast,
                80.0 + h.i as revenue_lower,
                120.0 + h.i as revenue_upper,
                60.0 + h.i as revenue_lower_95,
                140.0 + h.i as revenue_upper_95,
                last_day.origin_date,
                'AutoETS' as model,
                timestamp '2026-10-31 07:00:00' as generated_at
            from (select distinct category_id, category_name from product_category_sales) as categories,
                last_day, range(1, {FORECAST_DAYS + 1}) as h(i)
        """)
        con.execute("""
            create or replace table alert_log as
            select timestamptz '2026-10-31 06:00:01+00' as raised_at, 'volume:volume_orders:2026-10-31' as alert_key,
                'quality' as source, 'warn' as severity, 'orders below band' as title,
                '12 rows on 2026-10-31, expected 94' as detail, '{}' as context, 'log_only' as delivery,
                0::bigint as delivery_attempts, cast(null as varchar) as delivery_error
        """)
    finally:
        con.close()
    publish_snapshot(Lake(lake_dir))


@pytest.fixture(scope="session")
def lit_lake(base_lake, tmp_path_factory) -> Path:
    """A copy of the base lake whose results tables hold rows (pages must show them)."""
    lake_dir = tmp_path_factory.mktemp("dash-lit") / "lake"
    shutil.copytree(base_lake, lake_dir)
    add_results_tables(lake_dir)
    return lake_dir
