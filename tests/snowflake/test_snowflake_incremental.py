"""Incremental models on the Snowflake target: a second build after new clicks and orders, and parity.

Issue 14 item 6: the second `shoplake promote --target snowsim` failed in the incremental `fct_sessions`
(`TEMPORARY table names can *only* use the "temp" catalog`), and parity was only ever checked after a
first build. dbt-snowflake stages delete+insert rows in `create or replace temporary table
<db>.<schema>.<model>__dbt_tmp`, which fakesnow rejects; `tmp_relation_type: transient`
(transforms/dbt_project.yml) stages them in a transient table instead (docs/snowflake.md, "fakesnow gaps").

Issue 16: the shop staging tables, facts and daily marts are incremental too (docs/incremental.md); the
second build follows new orders and late corrections (`write_changes`) landed on both targets.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from pipelines.batch.ingest import ingest_all
from pipelines.catalog import load_click_catalog
from pipelines.generate.changes import write_changes
from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.stream.segment import land_messages
from pipelines.stream.simulator import SessionGenerator, encode
from pipelines.warehouse import snowsim
from pipelines.warehouse.dbt import run_dbt_build
from pipelines.warehouse.parity import compare_marts, mart_models
from pipelines.warehouse.promote import promote
from pipelines.warehouse.snowflake import connect, resolve_target

from ..helpers import settings_for

pytestmark = pytest.mark.slow

INCREMENTAL = ("fct_sessions", "funnel_daily")
SHOP_INCREMENTAL = ("fct_orders", "fct_order_items", "product_daily_sales", "product_category_sales")
TOPIC = "clickstream.events"


@pytest.fixture
def own_lake(built_lake, tmp_path: Path) -> Iterator[tuple[Lake, Settings]]:
    """The session lake with its DuckDB warehouse and stream checkpoint, and an empty snowsim of its own."""
    root = tmp_path / "lake"
    shutil.copytree(built_lake.lake.root, root)
    lake, settings = Lake(root), settings_for(root)
    snowsim.start(settings)
    try:
        yield lake, settings
    finally:
        snowsim.stop(settings)


def _run_sql(lake: Lake, target: str, model: str) -> str:
    """What dbt ran for the model in the last build on `target` (its run artifact)."""
    run_dir = lake.dbt_artifacts_dir(target) / "target" / "run" / "shoplake" / "models" / "marts"
    (path,) = run_dir.glob(f"*/{model}.sql")
    return path.read_text(encoding="utf-8").lower()


def _snowflake_scalar(settings: Settings, sql: str):
    target = resolve_target(settings, "snowsim")
    con = connect(target)
    try:
        cur = con.cursor()
        cur.execute(sql.format(schema=f"{target.database}.{target.schema}"))
        return cur.fetchone()[0]
    finally:
        con.close()


def _duckdb_scalar(lake: Lake, sql: str):
    with duckdb.connect(str(lake.warehouse_path), read_only=True) as con:
        return con.execute(sql.format(schema="main")).fetchone()[0]


def _promote(settings: Settings) -> None:
    report = promote(settings, "snowsim", progress=False)
    assert report.ok and report.dbt_success, report.render()


def test_incremental_models_rebuild_on_snowsim_and_match_duckdb_after_new_clicks_and_orders(own_lake) -> None:
    lake, settings = own_lake
    _promote(settings)  # first build: the incremental models are created as tables
    for model in INCREMENTAL:
        assert "delete from" not in _run_sql(lake, "snowsim", model)

    sessions = "select count(*) from {schema}.fct_sessions"
    before = _snowflake_scalar(settings, sessions)
    assert before == _duckdb_scalar(lake, sessions) > 0

    # New clicks: a next day of sessions, and a late purchase for an anonymous session of the day
    # before (inside the `clickstream_lookback_days` window), landed as the stream writer lands them.
    newer = SessionGenerator(load_click_catalog(lake), seed=23).chunk(
        1_500, datetime(2025, 6, 3, 20, tzinfo=timezone.utc)
    )
    land_messages(lake, encode(newer)[0], TOPIC)
    late_session, started_at = _late_purchase_target(lake)
    land_messages(lake, [_purchase("late-1", late_session, started_at)], TOPIC)
    # New orders of a next day and corrections of old ones (status, date, a changed and a moved line).
    changes = write_changes(settings, share=0.02, corrections=24, seed=3)
    assert not ingest_all(settings, progress=False).failed_files

    duck = run_dbt_build(settings, progress=False)  # incremental on DuckDB, publishes a snapshot
    assert duck.success, duck.summary()
    for model in INCREMENTAL + SHOP_INCREMENTAL:
        assert "delete from" in _run_sql(lake, "dev", model)
    # Loads the new click and order files; the second build on snowsim, which failed before issue 14, runs
    # every incremental model's incremental path.
    _promote(settings)
    for model in INCREMENTAL:
        run_sql = _run_sql(lake, "snowsim", model)
        assert "delete from" in run_sql and f"{model}__dbt_tmp" in run_sql, run_sql[:400]
    for model in SHOP_INCREMENTAL:
        assert "delete from" in _run_sql(lake, "snowsim", model)
    orders = "select count(*) from {schema}.fct_orders"
    assert _snowflake_scalar(settings, orders) == _duckdb_scalar(lake, orders)
    corrected = changes.corrected_orders[1]
    status = f"select order_status from {{schema}}.fct_orders where order_id = {corrected}"
    assert _snowflake_scalar(settings, status) == _duckdb_scalar(lake, status) == _status_in(lake, corrected)

    expected = before + newer.get_column("session_id").n_unique()
    assert _duckdb_scalar(lake, sessions) == expected
    assert _snowflake_scalar(settings, sessions) == expected
    converted = f"select is_converted from {{schema}}.fct_sessions where session_id = '{late_session}'"
    assert _duckdb_scalar(lake, converted) is True and _snowflake_scalar(settings, converted) is True
    report = compare_marts(settings, "snowsim")
    assert [m.model for m in report.marts] == mart_models()
    assert report.ok and all(m.status == "equal" for m in report.marts), report.render()


def _status_in(lake: Lake, order_id: int) -> str:
    """The order's status in its newest landed export (the corrections file)."""
    (path,) = lake.landing_dir("orders").glob("orders-changes-*.csv")
    with duckdb.connect() as con:
        return con.execute(f"select STATUS from read_csv('{path}') where ORDER_ID = {order_id}").fetchone()[0]


def _late_purchase_target(lake: Lake) -> tuple[str, str]:
    """An anonymous, unconverted session of 2025-06-02 and its start time."""
    with duckdb.connect(str(lake.warehouse_path), read_only=True) as con:
        ((session_id, started_at),) = con.execute(
            "select session_id, started_at from fct_sessions where not is_converted and customer_id is null "
            "and session_date = '2025-06-02' order by session_id limit 1"
        ).fetchall()
    return session_id, started_at.strftime("%Y-%m-%dT%H:%M:%S")


def _purchase(event_id: str, session_id: str, when: str) -> bytes:
    return (
        f'{{"event_id":"{event_id}","event_type":"purchase","event_time":"{when}.5+00:00",'
        f'"session_id":"{session_id}","anonymous_id":"late","customer_id":7,"order_id":"o-{event_id}"}}'
    ).encode()
