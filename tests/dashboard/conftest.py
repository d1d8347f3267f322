"""The dashboard tests' lakes: copies of the session's built lake (real generate -> ingest -> dbt build
-> snapshot), with clickstream events and, for `lit_lake`, the tables later branches add."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import sys
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from pipelines.dashboard.data import CLICK_EVENTS_TABLE
from pipelines.lake import Lake, write_parquet_atomic
from pipelines.warehouse.serving import current_snapshot_id, publish_snapshot

SHOPLAKE = str(Path(sys.executable).with_name("shoplake"))


def lake_env(lake_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "SHOPLAKE_LAKE_DIR": str(lake_dir), "DBT_TARGET": "dev", **extra}
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def write_click_events(lake_dir: Path, n: int = 3000, seed: int = 7) -> pl.DataFrame:
    """Clickstream events in the schema the stream writer lands (branch `stream`), ending now."""
    rng = np.random.default_rng(seed)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
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
    )
    path = Lake(lake_dir).raw_file(CLICK_EVENTS_TABLE, "events-000000", ("event_date", now.strftime("%Y-%m-%d")))
    write_parquet_atomic(events, path)
    return events


@pytest.fixture(scope="session")
def base_lake(built_lake, tmp_path_factory) -> Path:
    """A copy of the session's built lake (tests/conftest.py) plus clickstream events; tests must not write to it."""
    lake_dir = tmp_path_factory.mktemp("dash-lake") / "lake"
    shutil.copytree(built_lake.lake.root, lake_dir)
    write_click_events(lake_dir)
    return lake_dir


def add_later_tables(lake_dir: Path) -> None:
    """Create the tables other branches will build, in their expected shape, and publish a snapshot."""
    con = duckdb.connect(str(Lake(lake_dir).warehouse_path))
    try:
        con.execute("""
            create or replace table anomalies as
            select sales_date, category_id, category_name, 'revenue' as metric, revenue as actual_value,
                   revenue * 0.9 as expected_value,
                   case when row_number() over (partition by category_id order by revenue desc) = 1
                       then 9.5 else 0.3 end as score,
                   row_number() over (partition by category_id order by revenue desc) = 1 as is_anomaly
            from product_category_sales
        """)
        con.execute("""
            create or replace table sales_forecast as
            with last_day as (select max(sales_date) as d from product_category_sales)
            select category_name, cast(last_day.d + cast(h.i as integer) as date) as forecast_date,
                   100.0 + h.i as forecast, 80.0 + h.i as lower, 120.0 + h.i as upper
            from (select distinct category_name from product_category_sales), last_day, range(1, 15) as h(i)
        """)
        con.execute("""
            create or replace table funnel_daily as
            select sales_date as day, 'web' as channel, orders * 40 as views, orders * 6 as carts,
                   orders * 2 as checkouts, orders as purchases
            from product_category_sales
        """)
        con.execute("""
            create or replace table dq_results as
            select now() as run_at, 'not_null_fct_orders_order_id' as test_name, 'pass' as status, 0 as failures
            union all select now(), 'volume_orders_daily', 'warn', 3
        """)
        con.execute("""
            create or replace table alert_log as
            select now() as alerted_at, 'volume' as kind, 'orders below band' as message
        """)
    finally:
        con.close()
    publish_snapshot(Lake(lake_dir))


@pytest.fixture(scope="session")
def lit_lake(base_lake, tmp_path_factory) -> Path:
    """A copy of the base lake where the later branches' tables exist (pages must light up)."""
    lake_dir = tmp_path_factory.mktemp("dash-lit") / "lake"
    shutil.copytree(base_lake, lake_dir)
    add_later_tables(lake_dir)
    return lake_dir
