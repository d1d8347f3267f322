"""Every page through streamlit.testing's AppTest: no exception, the expected figures, plain 'missing' notes."""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.settings import REPO_ROOT

from .conftest import direct_sql

APP = str(REPO_ROOT / "app" / "streamlit_app.py")
PAGES = {
    "overview": "Overview",
    "sales": "Sales",
    "customers": "Customers",
    "clickstream": "Clickstream",
    "data_quality": "Data quality",
    "anomalies": "Anomalies & forecast",
}


def run_page(monkeypatch, lake_dir, page: str) -> AppTest:
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(lake_dir))
    monkeypatch.setenv("DBT_TARGET", "dev")
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    if page != "overview":
        at.switch_page(f"app_pages/{page}.py")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert [t.value for t in at.title] == [PAGES[page]]
    return at


def charts(at: AppTest) -> int:
    return len(at.get("vega_lite_chart"))


def money(text: str) -> float:
    return float(re.sub(r"[^0-9.\-]", "", text))


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_overview_figures_match_direct_sql(monkeypatch, base_lake):
    at = run_page(monkeypatch, base_lake, "overview")
    (last,) = direct_sql(base_lake, "select max(order_date) from fct_orders")[0]
    start = last - dt.timedelta(days=29)
    revenue, orders = direct_sql(
        base_lake,
        "select sum(revenue), count(*) filter (where is_revenue) from fct_orders where order_date between ? and ?",
        [start, last],
    )[0]
    assert money(metric(at, "Revenue")) == pytest.approx(float(revenue), abs=0.005)
    assert int(metric(at, "Orders").replace(",", "")) == orders
    assert charts(at) >= 1

    # another period, chosen in the sidebar
    start2, end2 = last - dt.timedelta(days=120), last - dt.timedelta(days=60)
    at.date_input(key="period").set_value((start2, end2)).run()
    assert not at.exception
    (revenue2,) = direct_sql(
        base_lake, "select sum(revenue) from fct_orders where order_date between ? and ?", [start2, end2]
    )[0]
    assert money(metric(at, "Revenue")) == pytest.approx(float(revenue2), abs=0.005)
    assert metric(at, "Conversion rate") == "—"


def test_sales_page_filters(monkeypatch, base_lake):
    at = run_page(monkeypatch, base_lake, "sales")
    assert charts(at) == 3
    at.multiselect(key="sales_categories").set_value(["Books"]).run()
    assert not at.exception
    top = at.dataframe[0].value
    assert len(top) > 0 and set(top["category_name"]) == {"Books"}


def test_customers_page(monkeypatch, base_lake):
    at = run_page(monkeypatch, base_lake, "customers")
    assert charts(at) == 3
    (top_revenue,) = direct_sql(base_lake, "select lifetime_revenue from top_customers where revenue_rank = 1")[0]
    assert float(at.dataframe[0].value["lifetime_revenue"].iloc[0]) == pytest.approx(float(top_revenue))


def test_clickstream_page_live_panel(monkeypatch, base_lake):
    at = run_page(monkeypatch, base_lake, "clickstream")
    assert charts(at) >= 2  # events per minute and the funnel, from the events in the lake
    assert float(metric(at, "Freshness (age of newest event)").split()[0].replace(",", "")) < 3600
    notes = " ".join(i.value for i in at.info)
    # funnel_daily exists since the stream branch landed; the session lake's clicks are older than the period
    assert "`funnel_daily` does not exist yet" not in notes and "No funnel rows in this period." in notes


def test_data_quality_page_counts_match_ledger(monkeypatch, base_lake):
    at = run_page(monkeypatch, base_lake, "data_quality")
    ledger = str(base_lake / "ledger" / "*" / "*.json")
    # the ledger is files, not a snapshot table: an in-memory connection reads it (snapshot connections are sandboxed)
    rows_in, landed, quarantined = (
        duckdb.connect()
        .execute("select sum(rows_in), sum(rows_landed), sum(rows_quarantined) from read_json_auto(?)", [ledger])
        .fetchone()
    )
    assert int(metric(at, "Rows in").replace(",", "")) == rows_in
    assert int(metric(at, "Landed").replace(",", "")) == landed
    assert int(metric(at, "Quarantined").replace(",", "")) == quarantined
    assert charts(at) >= 2
    notes = " ".join(i.value for i in at.info)
    assert "`dq_results` does not exist yet" in notes and "`alert_log` does not exist yet" in notes


def test_anomalies_page_without_forecast(monkeypatch, base_lake):
    at = run_page(monkeypatch, base_lake, "anomalies")
    assert charts(at) == 1  # the sales trend with the anomaly mart's layers; the forecast says it is missing
    notes = " ".join(i.value for i in at.info)
    assert "`anomalies` does not exist yet" not in notes and "`sales_forecast` does not exist yet" in notes


@pytest.mark.parametrize("page", list(PAGES))
def test_pages_light_up_when_later_tables_exist(monkeypatch, lit_lake, page):
    at = run_page(monkeypatch, lit_lake, page)
    assert not [i.value for i in at.info if "does not exist" in i.value or "lacks columns" in i.value]
    if page == "overview":
        assert metric(at, "Conversion rate") == "2.50%"
    if page == "anomalies":
        assert charts(at) == 2
    if page == "data_quality":
        assert len(at.dataframe) >= 4


def test_snowflake_source_without_settings_says_what_to_set(monkeypatch, base_lake):
    for name in ("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", "hunter2")
    at = run_page(monkeypatch, base_lake, "overview")
    at.radio(key="source").set_value("snowflake").run()
    assert not at.exception
    assert len(at.error) == 1 and "SNOWFLAKE_ACCOUNT" in at.error[0].value and "hunter2" not in at.error[0].value
    at.radio(key="source").set_value("dev").run()
    assert not at.error and [t.value for t in at.title] == ["Overview"]
