"""The dashboard pages' warehouse queries: fixed, contracted columns of the marts and results tables.

Every function takes a `Backend` (snapshot or Snowflake) and returns a DataFrame (or a small
dict). User choices are bound as parameters; the only SQL built here is the number of `?` in an
`IN (...)` list and the date grain, picked from a fixed allow-list.

The results tables (`dq_results`, `sales_forecast`, `alert_log`) are empty or, before the first
quality or forecast run on an older lake, absent: their functions return None then, and the
page says which command fills them (`NOT_YET`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..errors import ShopLakeError
from .backends import Backend

GRAINS = {"day": "day", "week": "week", "month": "month"}  # user choice -> SQL date part literal
NOT_YET = {  # results table -> what to say while it is empty
    "dq_results": "No quality run yet: run `shoplake quality` (or `shoplake demo`).",
    "sales_forecast": "No forecast yet: run `shoplake forecast` (or `shoplake demo`).",
    "alert_log": "No alerts logged yet.",
}


def _in_list(values: Sequence[Any]) -> str:
    """`(?, ?, ?)` for a bound IN list; the values themselves travel as parameters."""
    return "(" + ", ".join("?" for _ in values) + ")"


def _results(backend: Backend, table: str, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame | None:
    """A results table's rows, or None when it is empty or not built yet (see `NOT_YET`)."""
    if not backend.has_table(table):
        return None
    df = backend.query(sql, params)
    return df if len(df) else None


def _date(value: Any) -> dt.date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


# -- Sidebar and Overview ----------------------------------------------------------------------


DATE_BOUNDS_SQL = """
select
    (select min(order_date) from fct_orders) as first_day,
    (select max(order_date) from fct_orders) as last_order_day,
    (select max(event_date) from funnel_daily) as last_click_day
"""


def date_bounds(backend: Backend) -> tuple[dt.date, dt.date]:
    """First order day, and the newest day with orders or clicks (today's clicks count before its orders)."""
    row = backend.query(DATE_BOUNDS_SQL).iloc[0]
    first, last_order, last_click = (_date(row[c]) for c in ("first_day", "last_order_day", "last_click_day"))
    if first is None or last_order is None:
        raise ShopLakeError("fct_orders is empty; ingest some exports and run `shoplake transform`")
    return first, max(last_order, last_click or last_order)


def previous_period(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The period of the same length that ends the day before `start`."""
    days = (end - start).days + 1
    return start - dt.timedelta(days=days), start - dt.timedelta(days=1)


# Orders that earn no revenue have revenue 0, so filtering on is_revenue keeps the revenue sum exact.
OVERVIEW_KPIS_SQL = """
select
    case when order_date >= ? then 'current' else 'previous' end as period,
    sum(revenue) as revenue,
    count(*) as orders,
    count(distinct customer_id) as active_customers
from fct_orders
where is_revenue and order_date >= ? and order_date <= ?
group by 1
"""
CONVERSION_SQL = """
select
    case when event_date >= ? then 'current' else 'previous' end as period,
    sum(purchases) as purchases,
    sum(session_count) as sessions
from funnel_daily
where event_date >= ? and event_date <= ?
group by 1
"""


def overview_kpis(backend: Backend, start: dt.date, end: dt.date) -> dict[str, dict[str, float | None]]:
    """Revenue, orders, AOV, active customers and session conversion for the period and the one before it.

    Conversion is purchasing sessions over all sessions (`funnel_daily`); None without sessions.
    """
    prev_start, _ = previous_period(start, end)
    df = backend.query(OVERVIEW_KPIS_SQL, [start, prev_start, end])
    conv = backend.query(CONVERSION_SQL, [start, prev_start, end])
    out: dict[str, dict[str, float | None]] = {}
    for period in ("current", "previous"):
        row = df[df["period"] == period]
        revenue = float(row["revenue"].iloc[0]) if len(row) else 0.0
        orders = int(row["orders"].iloc[0]) if len(row) else 0
        clicks = conv[conv["period"] == period]
        sessions = int(clicks["sessions"].iloc[0] or 0) if len(clicks) else 0
        out[period] = {
            "revenue": revenue,
            "orders": orders,
            "aov": revenue / orders if orders else None,
            "active_customers": int(row["active_customers"].iloc[0]) if len(row) else 0,
            "sessions": sessions,
            "conversion_rate": float(clicks["purchases"].iloc[0] or 0) / sessions if sessions else None,
        }
    return out


def daily_revenue(backend: Backend, start: dt.date, end: dt.date) -> pd.DataFrame:
    return backend.query(
        "select sales_date, sum(revenue) as revenue, sum(orders) as orders "
        "from product_category_sales where sales_date >= ? and sales_date <= ? group by 1 order by 1",
        [start, end],
    )


# -- Sales -------------------------------------------------------------------------------------


def categories(backend: Backend) -> list[str]:
    df = backend.query("select distinct category_name from product_category_sales order by 1")
    return [str(v) for v in df["category_name"]]


def category_revenue(
    backend: Backend, start: dt.date, end: dt.date, chosen: Sequence[str] = (), grain: str = "week"
) -> pd.DataFrame:
    part = GRAINS.get(grain)
    if part is None:
        raise ShopLakeError(f"unknown grain {grain!r}; choose one of {', '.join(GRAINS)}")
    where = f" and category_name in {_in_list(chosen)}" if chosen else ""
    return backend.query(
        f"select date_trunc('{part}', sales_date) as period, category_name, sum(revenue) as revenue, "
        f"sum(orders) as orders, sum(units) as units from product_category_sales "
        f"where sales_date >= ? and sales_date <= ?{where} group by 1, 2 order by 1, 2",
        [start, end, *chosen],
    )


def category_share(backend: Backend, start: dt.date, end: dt.date, chosen: Sequence[str] = ()) -> pd.DataFrame:
    where = f" and category_name in {_in_list(chosen)}" if chosen else ""
    return backend.query(
        "select category_name, sum(revenue) as revenue from product_category_sales "
        f"where sales_date >= ? and sales_date <= ?{where} group by 1 order by 2 desc",
        [start, end, *chosen],
    )


def top_products(
    backend: Backend, start: dt.date, end: dt.date, chosen: Sequence[str] = (), limit: int = 10
) -> pd.DataFrame:
    where = f"where products.category_name in {_in_list(chosen)}" if chosen else ""
    return backend.query(
        f"""
        with sales as (
            select product_id, sum(revenue) as revenue, sum(units) as units, sum(order_lines) as order_lines
            from product_daily_sales
            where sales_date >= ? and sales_date <= ?
            group by 1
        )
        select products.product_name, products.category_name, sales.revenue, sales.units, sales.order_lines
        from sales
        inner join dim_products as products on sales.product_id = products.product_id
        {where}
        order by sales.revenue desc, products.product_name
        limit ?
        """,
        [start, end, *chosen, int(limit)],
    )


# -- Customers ---------------------------------------------------------------------------------


def top_customers(backend: Backend, limit: int = 20) -> pd.DataFrame:
    return backend.query(
        "select revenue_rank, customer_name, country, acquisition_channel, lifetime_revenue_orders as orders, "
        "lifetime_revenue, average_order_value, last_order_date from top_customers "
        "where revenue_rank <= ? order by revenue_rank",
        [int(limit)],
    )


def rfm_segments(backend: Backend) -> pd.DataFrame:
    """Customers, recency, frequency and revenue per RFM segment (scores come from the `customer_rfm` mart)."""
    return backend.query(
        "select segment, count(*) as customers, avg(recency_days) as avg_recency_days, "
        "avg(frequency) as avg_orders, sum(monetary) as revenue "
        "from customer_rfm group by 1 order by revenue desc"
    )


def cohort_retention(backend: Backend, cohorts: int = 12) -> pd.DataFrame:
    """Share of each monthly cohort (first revenue order) active N months later, newest `cohorts` cohorts."""
    df = backend.query(
        "select cohort_month, months_since_first, customers, cohort_size, retention "
        "from customer_cohort_retention where months_since_first < ? order by 1, 2",
        [int(cohorts)],
    )
    newest = sorted(df["cohort_month"].unique())[-int(cohorts) :]
    return df[df["cohort_month"].isin(newest)].reset_index(drop=True)


# -- Clickstream (warehouse side; the live panel reads the lake, see live.py) -------------------


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds; keys stay of the type the contracts give them."""
    return value.item() if hasattr(value, "item") else value


def product_names(backend: Backend, product_ids: Sequence[Any]) -> pd.DataFrame:
    """Names of the given products; ids are integers or strings, as the products contract declares them."""
    ids = [_plain(p) for p in product_ids]
    if not ids:
        return pd.DataFrame({"product_id": [], "product_name": []})
    return backend.query(
        f"select product_id, product_name from dim_products where product_id in {_in_list(ids)}",
        ids,
    )


def funnel_daily(backend: Backend, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Sessions reaching each funnel step per day, all channels together."""
    return backend.query(
        "select event_date, sum(session_count) as sessions, sum(views) as views, sum(carts) as carts, "
        "sum(checkouts) as checkouts, sum(purchases) as purchases "
        "from funnel_daily where event_date >= ? and event_date <= ? group by 1 order by 1",
        [start, end],
    )


# -- Data quality (results tables) -------------------------------------------------------------

DQ_COLUMNS = "run_id, checked_at, check_type, check_name, target, severity, status, failing_rows, detail, check_date"


def dq_results(backend: Backend) -> pd.DataFrame | None:
    """Every check of the newest quality run, problems first; None before the first run."""
    return _results(
        backend,
        "dq_results",
        f"select {DQ_COLUMNS} from dq_results "
        "where run_id = (select run_id from dq_results order by checked_at desc, run_id desc limit 1) "
        "order by case status when 'pass' then 1 when 'skip' then 2 else 0 end, check_type, check_name",
    )


def alert_log(backend: Backend, limit: int = 200) -> pd.DataFrame | None:
    """The newest alerts first; None while none was raised."""
    return _results(
        backend,
        "alert_log",
        "select raised_at, severity, source, title, detail, delivery, delivery_attempts, delivery_error, alert_key "
        "from alert_log order by raised_at desc, alert_key limit ?",
        [int(limit)],
    )


# -- Anomalies and forecast --------------------------------------------------------------------


def category_history(backend: Backend, start: dt.date, end: dt.date, category: str) -> pd.DataFrame:
    """One category's daily revenue."""
    return backend.query(
        "select sales_date, revenue from product_category_sales "
        "where sales_date >= ? and sales_date <= ? and category_name = ? order by 1",
        [start, end, category],
    )


def anomalies(backend: Backend, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Scored category-days of the `anomalies` mart, flagged or not."""
    return backend.query(
        "select sales_date, category_name, revenue, expected_revenue, orders, expected_orders, orders_score, "
        "direction, is_anomaly from anomalies where sales_date >= ? and sales_date <= ? "
        "order by sales_date, category_name",
        [start, end],
    )


def sales_forecast(backend: Backend) -> pd.DataFrame | None:
    """The newest forecast per category with its 80% interval; None before the first forecast run."""
    return _results(
        backend,
        "sales_forecast",
        "select forecast_date, category_name, revenue_forecast, revenue_lower, revenue_upper from sales_forecast "
        "order by category_name, forecast_date",
    )
