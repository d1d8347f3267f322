"""The dashboard's reads against a real published snapshot: figures, injection, results tables, snapshot
switching, and the live clickstream read from the lake through a sandboxed connection."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import polars as pl
import pytest

from pipelines.dashboard import live
from pipelines.dashboard import queries as data
from pipelines.dashboard.backends import SnapshotBackend, open_backend
from pipelines.errors import ShopLakeError
from pipelines.lake import CLICKSTREAM_TABLE, Lake, StreamFileId
from pipelines.settings import Settings
from pipelines.stream.contract import EVENT_TYPES
from pipelines.warehouse.serving import MANIFEST_TABLE, current_snapshot_id, prune_snapshots, publish_snapshot

from ..helpers import commit_stream_files
from .conftest import DASHBOARD_TOPIC, FORECAST_DAYS, add_results_tables, direct_sql

INJECTIONS = [
    "'; drop table fct_orders; --",
    "Books') or 1=1 --",
    '" or ""="',
    "x'; create table pwned as select 1; --",
]


def settings_for(lake_dir) -> Settings:
    return Settings.from_env({"SHOPLAKE_LAKE_DIR": str(lake_dir)})


def backend_for(lake_dir) -> SnapshotBackend:
    return open_backend(settings_for(lake_dir))


def test_overview_revenue_equals_direct_sum(base_lake):
    backend = backend_for(base_lake)
    first, last = data.date_bounds(backend)
    start = last - dt.timedelta(days=29)
    kpis = data.overview_kpis(backend, start, last)
    (revenue, orders, customers) = direct_sql(
        base_lake,
        "select sum(revenue), count(*) filter (where is_revenue), count(distinct customer_id) filter (where is_revenue)"
        " from fct_orders where order_date between ? and ?",
        [start, last],
    )[0]
    assert kpis["current"]["revenue"] == pytest.approx(float(revenue), abs=0.005)
    assert kpis["current"]["orders"] == orders
    assert kpis["current"]["active_customers"] == customers
    assert kpis["current"]["aov"] == pytest.approx(float(revenue) / orders)
    prev_start, prev_end = data.previous_period(start, last)
    assert (prev_end - prev_start).days == 29 and prev_end == start - dt.timedelta(days=1)
    (prev_revenue,) = direct_sql(
        base_lake, "select sum(revenue) from fct_orders where order_date between ? and ?", [prev_start, prev_end]
    )[0]
    assert kpis["previous"]["revenue"] == pytest.approx(float(prev_revenue), abs=0.005)
    assert first < start


def test_sales_queries_agree_with_marts(base_lake):
    backend = backend_for(base_lake)
    first, last = data.date_bounds(backend)
    share = data.category_share(backend, first, last)
    (total,) = direct_sql(base_lake, "select sum(revenue) from fct_orders")[0]
    assert share["revenue"].sum() == pytest.approx(float(total), abs=0.05)
    by_week = data.category_revenue(backend, first, last, ("Books", "Garden"), "week")
    assert set(by_week["category_name"]) == {"Books", "Garden"}
    top = data.top_products(backend, first, last, ("Books",), 5)
    assert len(top) <= 5 and set(top["category_name"]) <= {"Books"}
    assert list(top["revenue"]) == sorted(top["revenue"], reverse=True)


def test_customer_queries(base_lake):
    backend = backend_for(base_lake)
    rfm = data.rfm_segments(backend)
    (buyers,) = direct_sql(base_lake, "select count(*) from dim_customers where lifetime_revenue_orders > 0")[0]
    assert rfm["customers"].sum() == buyers
    cohorts = data.cohort_retention(backend, 6)
    assert cohorts["cohort_month"].nunique() == 6
    first_month = cohorts[cohorts["months_since_first"] == 0]
    assert (first_month["retention"] == 1.0).all()
    assert data.top_customers(backend, 5)["revenue_rank"].tolist() == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_values_are_harmless(base_lake, value):
    backend = backend_for(base_lake)
    first, last = data.date_bounds(backend)
    (before,) = direct_sql(base_lake, "select count(*) from fct_orders")[0]
    assert data.category_revenue(backend, first, last, (value,), "day").empty
    assert data.category_share(backend, first, last, (value, "Books"))["category_name"].tolist() == ["Books"]
    assert data.top_products(backend, first, last, (value,), 5).empty
    assert data.category_history(backend, first, last, value).empty
    with pytest.raises(ShopLakeError):
        data.category_revenue(backend, first, last, (), value)  # grain is an allow-list, never SQL
    with pytest.raises((duckdb.Error, ValueError)):
        data.top_customers(backend, value)  # type: ignore[arg-type]  # limit is bound as an integer
    (after,) = direct_sql(base_lake, "select count(*) from fct_orders")[0]
    assert after == before
    tables = {r[0] for r in direct_sql(base_lake, "select table_name from information_schema.tables")}
    assert "fct_orders" in tables and "pwned" not in tables


def test_results_tables_absent_or_empty_say_which_command_fills_them(base_lake, tmp_path):
    backend = backend_for(base_lake)  # no quality or forecast run: the tables are absent (or, as dbt models, empty)
    assert data.dq_results(backend) is None and data.sales_forecast(backend) is None
    assert data.alert_log(backend) is None
    assert "shoplake quality" in data.NOT_YET["dq_results"] and "shoplake forecast" in data.NOT_YET["sales_forecast"]

    lake_dir = tmp_path / "lake"  # dbt models them: they exist, empty, before the first run
    shutil.copytree(base_lake, lake_dir)
    add_results_tables(lake_dir)
    con = duckdb.connect(str(Lake(lake_dir).warehouse_path))
    for table in ("dq_results", "sales_forecast", "alert_log"):
        con.execute(f"delete from {table}")
    con.close()
    publish_snapshot(Lake(lake_dir))
    empty = backend_for(lake_dir)
    assert empty.has_table("dq_results")
    assert data.dq_results(empty) is None and data.sales_forecast(empty) is None and data.alert_log(empty) is None
    empty.close()


def test_results_tables_read_their_contracted_columns(lit_lake):
    backend = backend_for(lit_lake)
    checks = data.dq_results(backend)
    assert set(checks["run_id"]) == {"run-2"}  # the newest run only
    assert checks["status"].tolist() == ["warn", "pass"]  # problems first
    assert checks.columns.tolist() == data.DQ_COLUMNS.split(", ")
    forecast = data.sales_forecast(backend)
    (categories,) = direct_sql(lit_lake, "select count(distinct category_name) from product_category_sales")[0]
    assert len(forecast) == categories * FORECAST_DAYS
    assert (forecast["revenue_lower"] <= forecast["revenue_forecast"]).all()
    assert (forecast["revenue_forecast"] <= forecast["revenue_upper"]).all()
    alerts = data.alert_log(backend)
    assert alerts["alert_key"].tolist() == ["volume:volume_orders:2026-10-31"]


def test_anomalies_read_the_mart(base_lake):
    backend = backend_for(base_lake)
    first, last = data.date_bounds(backend)
    scored = data.anomalies(backend, first, last)
    (rows, flagged) = direct_sql(base_lake, "select count(*), count(*) filter (where is_anomaly) from anomalies")[0]
    assert len(scored) == rows > 0 and int(scored["is_anomaly"].sum()) == flagged > 0
    category = scored.loc[scored["is_anomaly"].astype(bool), "category_name"].iloc[0]
    mine = scored[scored["category_name"] == category]
    assert set(scored["direction"]) <= {"spike", "drop"}
    history = data.category_history(backend, first, last, category)
    assert set(mine["sales_date"]) <= set(history["sales_date"])


def test_overview_conversion_is_purchasing_sessions_over_sessions(base_lake):
    backend = backend_for(base_lake)
    sessions, purchases, first_day, last_day = direct_sql(
        base_lake, "select sum(session_count), sum(purchases), min(event_date), max(event_date) from funnel_daily"
    )[0]
    assert sessions > 0
    kpis = data.overview_kpis(backend, first_day, last_day)
    assert kpis["current"]["sessions"] == sessions
    assert kpis["current"]["conversion_rate"] == pytest.approx(purchases / sessions)
    assert kpis["previous"]["conversion_rate"] is None  # no clicks before the first click day
    funnel = data.funnel_daily(backend, first_day, last_day)
    assert funnel["sessions"].sum() == sessions and (funnel["views"] >= funnel["carts"]).all()


def test_date_bounds_reach_the_newest_click_day(base_lake, tmp_path):
    """Today's clicks arrive before today's orders: the period must reach them (the demo's story)."""
    lake_dir = tmp_path / "lake"
    shutil.copytree(base_lake, lake_dir)
    backend = backend_for(lake_dir)
    first, last = data.date_bounds(backend)
    assert last == direct_sql(lake_dir, "select max(order_date) from fct_orders")[0][0]  # clicks are older here
    con = duckdb.connect(str(Lake(lake_dir).warehouse_path))
    con.execute(
        "insert into funnel_daily by name select ? as event_date, 'direct' as channel, 10 as session_count, "
        "8 as views, 3 as carts, 2 as checkouts, 1 as purchases",
        [last + dt.timedelta(days=1)],
    )
    con.close()
    publish_snapshot(Lake(lake_dir))
    assert data.date_bounds(backend) == (first, last + dt.timedelta(days=1))
    kpis = data.overview_kpis(backend, last - dt.timedelta(days=28), last + dt.timedelta(days=1))
    assert kpis["current"]["conversion_rate"] == pytest.approx(0.1) and kpis["current"]["orders"] > 0
    backend.close()


def test_snapshot_has_manifest_matching_counts(base_lake):
    rows = direct_sql(base_lake, f"select table_name, row_count from {MANIFEST_TABLE}")
    assert {"fct_orders", "fct_order_items", "dim_customers", "customer_cohort_retention"} <= {t for t, _ in rows}
    for table, count in rows:
        assert direct_sql(base_lake, f'select count(*) from "{table}"')[0][0] == count


def test_backend_follows_new_snapshot_and_prune_spares_open_readers(base_lake, tmp_path):
    lake_dir = tmp_path / "lake"
    shutil.copytree(base_lake, lake_dir)
    lake = Lake(lake_dir)
    backend = backend_for(lake_dir)
    old_id, _ = backend.query_with_snapshot("select 1")
    held = duckdb.connect(str(lake.snapshot_path(old_id)), read_only=True)  # a reader mid-query on the old build
    con = duckdb.connect(str(lake.warehouse_path))
    con.execute("delete from top_customers where revenue_rank > 10")
    con.close()
    publish_snapshot(lake)
    new_id, df = backend.query_with_snapshot("select count(*) as n from top_customers")
    assert new_id != old_id and new_id == current_snapshot_id(lake) and df["n"].iloc[0] == 10
    removed = prune_snapshots(lake, keep=1, grace_s=0)
    assert lake.snapshot_path(old_id) in removed and not lake.snapshot_path(old_id).exists()
    assert held.execute("select count(*) from top_customers").fetchone()[0] > 10  # unlinked, still readable
    held.close()
    assert lake.snapshot_path(new_id).exists()
    backend.close()


def test_no_snapshot_is_a_clear_error(tmp_path):
    with pytest.raises(ShopLakeError, match="shoplake transform"):
        data.date_bounds(backend_for(tmp_path))


def test_threads_share_one_backend_across_publishes(base_lake, tmp_path):
    """Streamlit serves sessions on threads: they share one backend while new builds are published."""
    import threading

    lake_dir = tmp_path / "lake"
    shutil.copytree(base_lake, lake_dir)
    backend = backend_for(lake_dir)
    errors: list[BaseException] = []
    seen: set[str] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                snapshot_id, df = backend.query_with_snapshot(
                    "select (select count(*) from fct_orders) as n, "
                    "(select row_count from _snapshot_manifest where table_name = 'fct_orders') as m"
                )
                assert df["n"].iloc[0] == df["m"].iloc[0]
                seen.add(snapshot_id)
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(3):
        publish_snapshot(Lake(lake_dir))
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors[:3]
    assert len(seen) >= 2
    backend.close()


def test_live_clickstream_reads_only_recent_files_through_a_sandbox(base_lake, tmp_path, monkeypatch):
    import os

    lake_dir = tmp_path / "lake"
    shutil.copytree(base_lake, lake_dir)
    lake = Lake(lake_dir)
    source = next(lake.raw_dir(CLICKSTREAM_TABLE).rglob(f"{DASHBOARD_TOPIC}__p000__*.parquet"))
    old = lake.stream_file(CLICKSTREAM_TABLE, "2026-01-01", StreamFileId(DASHBOARD_TOPIC, 1, 0, 9))
    old.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, old)
    commit_stream_files(lake, CLICKSTREAM_TABLE, DASHBOARD_TOPIC)  # committed, but written two hours ago:
    two_hours_ago = old.stat().st_mtime - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    recent = live.recent_event_files(lake, 30)
    assert recent and old not in recent

    opened = []
    connect_reader = live.connect_reader

    def recording_reader(*args, **kwargs):
        con = connect_reader(*args, **kwargs)
        opened.append((kwargs.get("read_paths"), con))
        return con

    monkeypatch.setattr(live, "connect_reader", recording_reader)
    view = live.clickstream_live(settings_for(lake_dir), 30)
    assert [list(paths) for paths, _ in opened] == [recent]  # one sandboxed connection, on the listed files only
    with pytest.raises(duckdb.Error):  # and it cannot read anything else in the lake
        connect_reader(read_paths=recent).execute("select count(*) from read_parquet(?)", [str(old)])

    # expected figures straight from the listed files with polars (the session lake also holds older clicks
    # seeded at build time: recent mtime, events outside the window)
    events = pl.concat([pl.read_parquet(f, hive_partitioning=False) for f in recent], how="diagonal_relaxed")
    newest = events["event_time"].max()
    in_window = events.filter(pl.col("event_time") >= newest - dt.timedelta(minutes=30))
    assert 0 < in_window.height < events.height
    assert view.files_read == len(recent) and view.window_events == in_window.height
    assert view.newest_event == newest.replace(tzinfo=None)
    assert int(view.per_minute["events"].sum()) == in_window.height
    funnel = dict(zip(view.funnel["step"], view.funnel["sessions"], strict=True))
    want = {
        step: in_window.filter(pl.col("event_type") == event_type)["session_id"].n_unique()
        for step, event_type in live.FUNNEL_STEPS.items()
    }
    assert funnel == want and funnel["purchase"] > 0
    pages = in_window.drop_nulls("page_url").group_by("page_url").len()
    top = pages.sort(["len", "page_url"], descending=[True, False])
    assert view.top_pages["page_url"].tolist() == top["page_url"].to_list()[:10]


def test_live_clickstream_lists_again_when_a_listed_file_is_compacted_away(base_lake, monkeypatch):
    """Compaction replaces small files between the listing and the read: the panel lists again."""
    lake = Lake(base_lake)
    real = live.recent_event_files(lake, 30)
    gone = real[0].with_name("compacted-away.parquet")
    listings = iter([[*real, gone], real])
    monkeypatch.setattr(live, "recent_event_files", lambda _lake, _window: next(listings))
    view = live.clickstream_live(settings_for(base_lake), 30)
    assert view is not None and view.files_read == len(real)
    monkeypatch.setattr(live, "recent_event_files", lambda _lake, _window: [*real, gone])
    with pytest.raises(duckdb.Error):  # still gone after every attempt: the error surfaces
        live.clickstream_live(settings_for(base_lake), 30)


def test_live_funnel_steps_are_contract_event_types():
    assert set(live.FUNNEL_STEPS.values()) <= set(EVENT_TYPES)


def test_live_clickstream_without_events_is_none(tmp_path):
    Lake(tmp_path / "lake").ensure()  # only the empty placeholder file
    assert live.clickstream_live(settings_for(tmp_path / "lake"), 30) is None


def test_snapshot_without_manifest_still_described(base_lake, tmp_path):
    """Lakes published before manifests existed keep working in the dashboard."""
    lake_dir = tmp_path / "lake"
    shutil.copytree(base_lake, lake_dir)
    lake = Lake(lake_dir)
    con = duckdb.connect(str(lake.snapshot_path(current_snapshot_id(lake))))
    con.execute(f"drop table {MANIFEST_TABLE}")
    con.close()
    backend = backend_for(lake_dir)
    assert backend.describe().startswith("local DuckDB snapshot snap-")
    assert data.date_bounds(backend)[0] is not None
    backend.close()
