"""The dashboard data layer against a real published snapshot: figures, injection, snapshot switching."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pytest

from pipelines.dashboard import data
from pipelines.errors import ShopLakeError
from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.warehouse.serving import MANIFEST_TABLE, current_snapshot_id, prune_snapshots, publish_snapshot

from .conftest import direct_sql

INJECTIONS = [
    "'; drop table fct_orders; --",
    "Books') or 1=1 --",
    '" or ""="',
    "x'; create table pwned as select 1; --",
]


def backend_for(lake_dir) -> data.SnapshotBackend:
    return data.open_backend(Settings.from_env({"SHOPLAKE_LAKE_DIR": str(lake_dir)}))


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
    with pytest.raises(ShopLakeError):
        data.category_revenue(backend, first, last, (), value)  # grain is an allow-list, never SQL
    with pytest.raises((duckdb.Error, ValueError)):
        data.top_customers(backend, value)  # type: ignore[arg-type]  # limit is bound as an integer
    (after,) = direct_sql(base_lake, "select count(*) from fct_orders")[0]
    assert after == before
    tables = {r[0] for r in direct_sql(base_lake, "select table_name from information_schema.tables")}
    assert "fct_orders" in tables and "pwned" not in tables


def test_missing_tables_say_where_they_come_from(base_lake):
    backend = backend_for(base_lake)
    for table in ("anomalies", "funnel_daily"):  # dbt marts: every build has them
        assert data.resolve(backend, table).missing is None
    for table in ("sales_forecast", "dq_results", "alert_log"):  # written by `shoplake quality` / `forecast`
        resolved = data.resolve(backend, table)
        assert resolved.missing and "does not exist yet" in resolved.missing and "run `shoplake" in resolved.missing


def test_later_tables_light_up(lit_lake):
    backend = backend_for(lit_lake)
    first, last = data.date_bounds(backend)
    for table in ("anomalies", "sales_forecast", "dq_results", "alert_log"):  # funnel_daily: branch `stream` landed
        assert data.resolve(backend, table).missing is None, table
    res, flagged = data.anomalies(backend, first, last)
    assert res.columns["actual"] == "actual_value" and flagged["is_anomaly"].sum() == 12  # one per category
    _, forecast = data.sales_forecast(backend)
    assert len(forecast) == 12 * 14 and (forecast["lower"] <= forecast["upper"]).all()
    kpis = data.overview_kpis(backend, last - dt.timedelta(days=6), last)
    assert kpis["current"]["conversion_rate"] == pytest.approx(1 / 40)


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


def test_live_clickstream_reads_only_recent_files(base_lake, tmp_path):
    import os

    from .conftest import write_click_events

    lake_dir = tmp_path / "lake"
    shutil.copytree(base_lake, lake_dir)
    lake = Lake(lake_dir)
    old = lake.raw_file(data.CLICK_EVENTS_TABLE, "events-old", ("event_date", "2026-01-01"))
    old.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(next(lake.raw_dir(data.CLICK_EVENTS_TABLE).rglob("*.parquet")), old)
    two_hours_ago = old.stat().st_mtime - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    assert [str(old)] != data.recent_event_files(lake, 30) and str(old) not in data.recent_event_files(lake, 30)
    live = data.clickstream_live(lake, 30)
    events = write_click_events(tmp_path / "other")  # same seed: the events of the recent file
    newest = events["event_time"].max()
    in_window = events.filter(events["event_time"] >= newest - dt.timedelta(minutes=30))
    # the session lake also holds older clicks seeded at build time (recent mtime, events outside the window)
    assert live["files_read"] == len(data.recent_event_files(lake, 30)) and live["window_events"] == in_window.height
    funnel = dict(zip(live["funnel"]["step"], live["funnel"]["sessions"], strict=True))
    assert funnel["view"] >= funnel["cart"] > 0 and funnel["purchase"] > 0


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
