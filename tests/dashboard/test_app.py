"""Every page through streamlit.testing's AppTest: no exception, the expected figures, plain 'missing' notes."""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.dashboard.queries import NOT_YET
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
    """`€480.6k` / `€12.35M` / `€950.00` as a number."""
    number = float(re.sub(r"[^0-9.\-]", "", text))
    return number * {"k": 1e3, "M": 1e6, "B": 1e9}.get(text[-1], 1)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def metric_help(at: AppTest, label: str) -> str:
    return next(m.proto.help for m in at.metric if m.label == label)


def notes(at: AppTest) -> str:
    return " ".join(i.value for i in at.info)


def test_overview_figures_match_direct_sql(monkeypatch, base_lake):
    at = run_page(monkeypatch, base_lake, "overview")
    (last,) = direct_sql(base_lake, "select max(order_date) from fct_orders")[0]
    start = last - dt.timedelta(days=29)
    revenue, orders = direct_sql(
        base_lake,
        "select sum(revenue), count(*) filter (where is_revenue) from fct_orders where order_date between ? and ?",
        [start, last],
    )[0]
    shown = metric(at, "Revenue")
    assert len(shown) <= 8, shown  # compact: fits a fifth of the page
    assert money(shown) == pytest.approx(float(revenue), rel=0.001)  # rounded to 4 significant digits at most
    assert f"€{float(revenue):,.2f}" in metric_help(at, "Revenue")  # the exact figure is one hover away
    assert int(metric(at, "Orders").replace(",", "")) == orders
    assert charts(at) >= 1

    # another period, chosen in the sidebar
    start2, end2 = last - dt.timedelta(days=120), last - dt.timedelta(days=60)
    at.date_input(key="period").set_value((start2, end2)).run()
    assert not at.exception
    (revenue2,) = direct_sql(
        base_lake, "select sum(revenue) from fct_orders where order_date between ? and ?", [start2, end2]
    )[0]
    assert money(metric(at, "Revenue")) == pytest.approx(float(revenue2), rel=0.001)
    assert f"€{float(revenue2):,.2f}" in metric_help(at, "Revenue")
    assert metric(at, "Conversion rate") == "—"  # the session lake's clicks are in another period
    assert "No clickstream sessions in this period" in metric_help(at, "Conversion rate")
    assert "branch" not in " ".join(c.value for c in at.caption)


def test_overview_conversion_in_a_period_with_clicks(monkeypatch, base_lake):
    at = run_page(monkeypatch, base_lake, "overview")
    first_day, last_day, sessions, purchases = direct_sql(
        base_lake, "select min(event_date), max(event_date), sum(session_count), sum(purchases) from funnel_daily"
    )[0]
    at.date_input(key="period").set_value((first_day, last_day)).run()
    assert not at.exception
    assert metric(at, "Conversion rate") == f"{purchases / sessions:.2%}"
    assert f"{sessions:,} sessions" in metric_help(at, "Conversion rate")
    assert all(m.value != "—" for m in at.metric), [(m.label, m.value) for m in at.metric]


def test_overview_after_the_demo_has_every_tile(monkeypatch, story_lake):
    """The demo's one story: history up to yesterday, clicks now, so the default period holds both."""
    at = run_page(monkeypatch, story_lake, "overview")
    last_order, last_click = direct_sql(
        story_lake, "select (select max(order_date) from fct_orders), (select max(event_date) from funnel_daily)"
    )[0]
    today = dt.datetime.now(dt.timezone.utc).date()
    assert last_click in (today, today - dt.timedelta(days=1))  # (the demo may have run just before midnight)
    assert last_order == last_click - dt.timedelta(days=1)
    assert at.date_input(key="period").value == (last_click - dt.timedelta(days=29), last_click)
    sessions, purchases = direct_sql(
        story_lake,
        "select sum(session_count), sum(purchases) from funnel_daily where event_date >= ?",
        [last_click - dt.timedelta(days=29)],
    )[0]
    assert sessions > 0 and metric(at, "Conversion rate") == f"{purchases / sessions:.2%}"
    assert all(m.value not in ("", "—") for m in at.metric), [(m.label, m.value) for m in at.metric]


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
    amount, unit = metric(at, "Freshness (age of newest event)").split()
    assert unit in ("s", "min") and float(amount) < 60  # under an hour: the events end when the session wrote them
    # the session lake's clicks are older than the default period
    assert "No clickstream sessions in this period." in notes(at)


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
    assert NOT_YET["dq_results"] in notes(at) and NOT_YET["alert_log"] in notes(at)


def test_anomalies_page_without_forecast(monkeypatch, base_lake):
    at = run_page(monkeypatch, base_lake, "anomalies")
    assert charts(at) == 1  # the sales trend with the anomaly mart's layers; the forecast says it is missing
    assert NOT_YET["sales_forecast"] in notes(at)


@pytest.mark.parametrize("page", list(PAGES))
def test_pages_show_results_tables_when_they_have_rows(monkeypatch, lit_lake, page):
    at = run_page(monkeypatch, lit_lake, page)
    assert not [note for note in NOT_YET.values() if note in notes(at)]
    if page == "anomalies":
        assert charts(at) == 2
    if page == "data_quality":
        assert charts(at) >= 3 and len(at.dataframe) >= 4
        checks = at.dataframe[-2].value
        assert checks["status"].tolist() == ["warn", "pass"]  # the newest run, problems first
        assert at.dataframe[-1].value["title"].tolist() == ["orders below band"]


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


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "—"),
        (38.917, "€38.92"),
        (999.994, "€999.99"),
        (9_876.4, "€9,876"),
        (10_000.0, "€10.0k"),
        (480_567.12, "€480.6k"),
        (12_345_678.9, "€12.35M"),
        (3.2e9, "€3.20B"),
    ],
)
def test_compact_money_is_short(monkeypatch, value, shown):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "app"))
    import shoplake_ui

    assert shoplake_ui.compact_money(value) == shown and len(shown) <= 8
    assert shoplake_ui.compact_count(99_999) == "99,999" and shoplake_ui.compact_count(994_569) == "994.6k"
    assert shoplake_ui.compact_count(1_234_567) == "1.23M"
