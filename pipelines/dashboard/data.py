"""Dashboard data access: the one place that knows where the dashboard's numbers come from.

Two backends answer the same portable SQL with `?` placeholders: the published DuckDB snapshot
(default; see `warehouse/serving.py`) and Snowflake (`DBT_TARGET=prod`) through the Snowflake
connector with server-side binding. No value a user picks is ever formatted into SQL: values are
bound parameters; the only generated SQL pieces are placeholder lists and identifiers chosen
from fixed allow-lists below (matched against the warehouse catalog).

Live clickstream panels and ingestion counts read the local lake itself (whole Parquet files and
ledger records appear atomically), because they must be fresher than the last dbt build.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import duckdb
import pandas as pd

from ..batch.ledger import read_ledger
from ..errors import ShopLakeError
from ..lake import CLICKSTREAM_TABLE, Lake
from ..settings import Settings
from ..warehouse.serving import MANIFEST_TABLE, connect_snapshot, current_snapshot_id
from ..warehouse.snowflake import TARGETS, Target, connect, resolve_target

CLICK_EVENTS_TABLE = CLICKSTREAM_TABLE  # raw table the stream writer lands under lake/raw/
GRAINS = {"day": "day", "week": "week", "month": "month"}  # user choice -> SQL date part literal

# Tables that arrive with later work: logical column -> accepted names (first match wins).
OPTIONAL_TABLES: dict[str, dict[str, list[str]]] = {
    "funnel_daily": {
        "day": ["day", "event_date", "funnel_date", "session_date", "date"],
        "channel": ["channel"],
        "views": ["views", "view", "viewed", "view_sessions", "sessions_viewed"],
        "carts": ["carts", "cart", "add_to_cart", "carted", "cart_sessions", "sessions_carted"],
        "checkouts": ["checkouts", "checkout", "checkout_sessions", "sessions_checked_out"],
        "purchases": ["purchases", "purchase", "purchased", "purchase_sessions", "sessions_purchased"],
    },
    "fct_sessions": {"session_id": ["session_id"]},
    "anomalies": {
        "day": ["sales_date", "anomaly_date", "day", "date"],
        "category": ["category_name", "category_id"],
        "expected": ["expected_value", "expected", "baseline", "expected_revenue"],
        "score": ["score", "anomaly_score", "orders_score"],
        "is_anomaly": ["is_anomaly"],
    },
    "sales_forecast": {
        "day": ["forecast_date", "sales_date", "date", "ds", "day"],
        "category": ["category_name", "category_id", "unique_id"],
        "forecast": ["forecast", "revenue_forecast", "forecast_revenue", "yhat"],
        "lower": ["lower", "forecast_lower", "lower_bound", "revenue_lower", "yhat_lower"],
        "upper": ["upper", "forecast_upper", "upper_bound", "revenue_upper", "yhat_upper"],
    },
    "dq_results": {},
    "alert_log": {},
}
OPTIONAL_EXTRA = {  # optional columns of optional tables
    "anomalies": {
        "actual": ["actual_value", "actual", "observed", "revenue", "value"],
        "metric": ["metric", "metric_name"],
    },
}
WHERE_FROM = {
    "funnel_daily": "the clickstream marts: run `shoplake stream` and then `shoplake transform`",
    "fct_sessions": "the clickstream marts: run `shoplake stream` and then `shoplake transform`",
    CLICK_EVENTS_TABLE: "the stream writer: run `shoplake stream` to land clickstream events",
    "anomalies": "the anomaly mart: run `shoplake transform`",
    "sales_forecast": "the forecast: run `shoplake forecast` (or `shoplake demo`)",
    "dq_results": "the quality checks: run `shoplake quality`",
    "alert_log": "the alert log: run `shoplake quality` (alerts are logged as checks run)",
}


class Backend(Protocol):
    kind: str

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame: ...

    def columns(self, table: str) -> set[str]: ...

    def cache_key(self) -> str: ...

    def describe(self) -> str: ...


@dataclass
class _Handle:
    snapshot_id: str
    con: duckdb.DuckDBPyConnection
    users: int = 0
    retired: bool = False


class SnapshotBackend:
    """Reads the published snapshot; follows `serving/CURRENT` to each new build between queries.

    One read-only connection per snapshot is shared by all threads (each query gets its own
    cursor); a superseded snapshot's connection is closed once its last in-flight query ends.
    """

    kind = "duckdb"

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._lock = threading.Lock()
        self._handle: _Handle | None = None
        self._columns: dict[tuple[str, str], set[str]] = {}

    def _acquire(self) -> _Handle:
        wanted = current_snapshot_id(self.lake)
        with self._lock:
            handle = self._handle
            if handle is None or (wanted is not None and wanted != handle.snapshot_id):
                snapshot_id, con = connect_snapshot(self.lake)
                if handle is not None:
                    handle.retired = True
                    if handle.users == 0:
                        handle.con.close()
                handle = self._handle = _Handle(snapshot_id, con)
            handle.users += 1
            return handle

    def _release(self, handle: _Handle) -> None:
        with self._lock:
            handle.users -= 1
            if handle.retired and handle.users == 0:
                handle.con.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        handle = self._acquire()
        try:
            cursor = handle.con.cursor()
            try:
                return cursor.execute(sql, list(params)).df()
            finally:
                cursor.close()
        finally:
            self._release(handle)

    def query_with_snapshot(self, sql: str, params: Sequence[Any] = ()) -> tuple[str, pd.DataFrame]:
        """Like `query`, and says which snapshot answered (tests prove reads never mix builds)."""
        handle = self._acquire()
        try:
            cursor = handle.con.cursor()
            try:
                return handle.snapshot_id, cursor.execute(sql, list(params)).df()
            finally:
                cursor.close()
        finally:
            self._release(handle)

    def columns(self, table: str) -> set[str]:
        key = (self.cache_key(), table)
        if key not in self._columns:
            df = self.query(
                "select lower(column_name) as column_name from information_schema.columns "
                "where table_schema = 'main' and lower(table_name) = ?",
                [table.lower()],
            )
            self._columns[key] = set(df["column_name"])
        return self._columns[key]

    def cache_key(self) -> str:
        return f"duckdb:{self.lake.root}:{current_snapshot_id(self.lake)}"

    def describe(self) -> str:
        published = None
        if self.columns(MANIFEST_TABLE):  # snapshots published before manifests existed have none
            df = self.query(f"select min(published_at) as published_at from {MANIFEST_TABLE}")
            published = df["published_at"].iloc[0] if len(df) else None
        return f"local DuckDB snapshot {current_snapshot_id(self.lake)}" + (
            f", published {pd.Timestamp(published):%Y-%m-%d %H:%M:%S} UTC" if published is not None else ""
        )

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.con.close()
                self._handle = None


class SnowflakeBackend:
    """Reads the marts from the Snowflake target schema; `qmark` binding is done by the server.

    The connection comes from `warehouse.snowflake` like promotion's and the reports': the same settings
    checks, key-pair or password auth, snowsim discovery and one-line errors that never echo a secret.
    """

    kind = "snowflake"

    def __init__(self, target: Target) -> None:
        self.target = target
        self._con = connect(target, paramstyle="qmark")
        self._lock = threading.Lock()
        self._columns: dict[str, set[str]] = {}

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        with self._lock:  # one connection; the connector's cursors are not meant for parallel use
            cursor = self._con.cursor()
            try:
                cursor.execute(sql, list(params))
                names = [d[0].lower() for d in cursor.description or []]
                rows = cursor.fetchall() if names else []
            finally:
                cursor.close()
        return pd.DataFrame.from_records(rows, columns=names)

    def columns(self, table: str) -> set[str]:
        if table not in self._columns:
            df = self.query(
                "select lower(column_name) as column_name from information_schema.columns "
                "where upper(table_schema) = upper(?) and upper(table_name) = upper(?)",
                [self.target.schema, table],
            )
            self._columns[table] = set(df["column_name"])
        return self._columns[table]

    def cache_key(self) -> str:
        t = self.target
        return f"snowflake:{t.name}:{t.endpoint}:{t.account}:{t.database}.{t.schema}"

    def describe(self) -> str:
        t = self.target
        where = f"snowsim at {t.endpoint}" if t.is_emulator else f"Snowflake {t.account}"
        return f"{where} {t.database}.{t.schema}"

    def close(self) -> None:
        self._con.close()


SNOWFLAKE_TARGETS = TARGETS  # prod (SNOWFLAKE_* settings) and snowsim (the lake's running `shoplake snowsim`)


def open_backend(settings: Settings, target: str | None = None) -> Backend:
    """The published snapshot for `dev`; Snowflake (or its local emulator) for `prod` and `snowsim`."""
    target = target or settings.dbt_target
    if target in SNOWFLAKE_TARGETS:
        return SnowflakeBackend(resolve_target(settings, target))
    return SnapshotBackend(Lake(settings.lake_dir))


# -- availability of tables that land with later work ----------------------------------------


@dataclass(frozen=True)
class Resolved:
    """Column names of an optional table, or why it cannot be used yet."""

    table: str
    columns: dict[str, str]
    missing: str | None = None

    def __getitem__(self, logical: str) -> str:
        return self.columns[logical]


def resolve(backend: Backend, table: str) -> Resolved:
    """Match an optional table's columns against the allow-list; `missing` says what to do if absent."""
    present = backend.columns(table)
    if not present:
        return Resolved(table, {}, f"`{table}` does not exist yet; it comes from {WHERE_FROM[table]}.")
    chosen: dict[str, str] = {}
    lacking = []
    for logical, names in OPTIONAL_TABLES[table].items():
        match = next((n for n in names if n in present), None)
        if match is None:
            lacking.append(f"{logical} (one of {', '.join(names)})")
        else:
            chosen[logical] = match
    for logical, names in OPTIONAL_EXTRA.get(table, {}).items():
        match = next((n for n in names if n in present), None)
        if match is not None:
            chosen[logical] = match
    if lacking:
        return Resolved(table, chosen, f"`{table}` exists but lacks columns: {'; '.join(lacking)}.")
    return Resolved(table, chosen)


def _in_list(values: Sequence[Any]) -> str:
    """`(?, ?, ?)` for a bound IN list; the values themselves travel as parameters."""
    return "(" + ", ".join("?" for _ in values) + ")"


# -- Overview ----------------------------------------------------------------------------------


def date_bounds(backend: Backend) -> tuple[dt.date, dt.date]:
    df = backend.query("select min(order_date) as first_day, max(order_date) as last_day from fct_orders")
    if not len(df) or pd.isna(df["first_day"].iloc[0]):
        raise ShopLakeError("fct_orders is empty; ingest some exports and run `shoplake transform`")
    return pd.Timestamp(df["first_day"].iloc[0]).date(), pd.Timestamp(df["last_day"].iloc[0]).date()


def previous_period(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The period of the same length that ends the day before `start`."""
    days = (end - start).days + 1
    return start - dt.timedelta(days=days), start - dt.timedelta(days=1)


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
# Orders that earn no revenue have revenue 0, so filtering on is_revenue keeps the revenue sum exact.


def overview_kpis(backend: Backend, start: dt.date, end: dt.date) -> dict[str, dict[str, float | None]]:
    """Revenue, orders, AOV, active customers, conversion for the period and the one before it."""
    prev_start, _ = previous_period(start, end)
    df = backend.query(OVERVIEW_KPIS_SQL, [start, prev_start, end])
    out: dict[str, dict[str, float | None]] = {}
    for period in ("current", "previous"):
        row = df[df["period"] == period]
        revenue = float(row["revenue"].iloc[0]) if len(row) else 0.0
        orders = int(row["orders"].iloc[0]) if len(row) else 0
        out[period] = {
            "revenue": revenue,
            "orders": orders,
            "aov": revenue / orders if orders else None,
            "active_customers": int(row["active_customers"].iloc[0]) if len(row) else 0,
            "conversion_rate": None,
        }
    funnel = resolve(backend, "funnel_daily")
    if funnel.missing is None:
        conv = backend.query(
            f"select case when {funnel['day']} >= ? then 'current' else 'previous' end as period, "
            f"sum({funnel['purchases']}) as purchases, sum({funnel['views']}) as views "
            f"from funnel_daily where {funnel['day']} >= ? and {funnel['day']} <= ? group by 1",
            [start, prev_start, end],
        )
        for _, row in conv.iterrows():
            views = float(row["views"] or 0)
            out[row["period"]]["conversion_rate"] = float(row["purchases"] or 0) / views if views else None
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


# -- Clickstream (live, from the lake) ----------------------------------------------------------


RECENT_FILES_MARGIN = dt.timedelta(minutes=10)  # late files: stream writers flush micro-batches late


def recent_event_files(lake: Lake, window_minutes: int) -> list[str]:
    """Event files written within the window (plus a margin) before the newest one.

    Live panels refresh every few seconds; listing files and filtering on their modification time
    keeps each refresh proportional to the window, not to the whole clickstream history.
    """
    files = []
    for path in glob.glob(lake.raw_glob(CLICK_EVENTS_TABLE), recursive=True):
        try:
            files.append((os.stat(path).st_mtime, path))
        except FileNotFoundError:  # compacted away between listing and stat
            continue
    if not files:
        return []
    newest = max(mtime for mtime, _ in files)
    cutoff = newest - (dt.timedelta(minutes=window_minutes) + RECENT_FILES_MARGIN).total_seconds()
    return sorted(path for mtime, path in files if mtime >= cutoff)


EVENTS_FROM = "read_parquet(?, hive_partitioning = true, union_by_name = true)"
FUNNEL_STEPS = {  # step -> event_type pattern; views include page and product views
    "view": "%view%",
    "cart": "%add%cart%",
    "checkout": "%checkout%",
    "purchase": "%purchase%",
}


def clickstream_live(lake: Lake, window_minutes: int = 30) -> dict[str, Any] | None:
    """Events per minute, session funnel, top pages and products over the newest `window_minutes`.

    None when no clickstream events have landed yet. The window ends at the newest event, and
    `newest_event` lets the page show how fresh the lake is.
    """
    files = recent_event_files(lake, window_minutes)
    if not files:
        return None
    con = duckdb.connect()  # in-memory; reads whole Parquet files only (they appear by rename)
    try:
        con.execute("set TimeZone = 'UTC'")
        newest = con.execute(f"select max(event_time) from {EVENTS_FROM}", [files]).fetchone()[0]
        if newest is None:
            return None
        since = newest - dt.timedelta(minutes=int(window_minutes))
        per_minute = con.execute(
            f"select date_trunc('minute', event_time) as minute, event_type, count(*) as events "
            f"from {EVENTS_FROM} where event_time >= ? group by 1, 2 order by 1, 2",
            [files, since],
        ).df()
        steps = ", ".join(
            f"count(distinct case when event_type like ? then session_id end) as {step}" for step in FUNNEL_STEPS
        )
        funnel = con.execute(
            f"select {steps} from {EVENTS_FROM} where event_time >= ?",
            [*FUNNEL_STEPS.values(), files, since],
        ).df()
        pages = con.execute(
            f"select page_url, count(*) as events from {EVENTS_FROM} "
            "where event_time >= ? and page_url is not null group by 1 order by 2 desc, 1 limit 10",
            [files, since],
        ).df()
        products = con.execute(
            f"select product_id, count(*) as events from {EVENTS_FROM} "
            "where event_time >= ? and product_id is not null group by 1 order by 2 desc, 1 limit 10",
            [files, since],
        ).df()
    finally:
        con.close()
    funnel_long = pd.DataFrame({"step": list(FUNNEL_STEPS), "sessions": [int(funnel[s].iloc[0]) for s in FUNNEL_STEPS]})
    return {
        "newest_event": newest,
        "window_events": int(per_minute["events"].sum()) if len(per_minute) else 0,
        "files_read": len(files),
        "per_minute": per_minute,
        "funnel": funnel_long,
        "top_pages": pages,
        "top_products": products,
    }


def product_names(backend: Backend, product_ids: Sequence[int]) -> pd.DataFrame:
    ids = [int(p) for p in product_ids]
    if not ids:
        return pd.DataFrame({"product_id": [], "product_name": []})
    return backend.query(
        f"select product_id, product_name from dim_products where product_id in {_in_list(ids)}",
        ids,
    )


def funnel_daily(backend: Backend, start: dt.date, end: dt.date) -> tuple[Resolved, pd.DataFrame | None]:
    funnel = resolve(backend, "funnel_daily")
    if funnel.missing:
        return funnel, None
    return funnel, backend.query(
        f"select {funnel['day']} as day, sum({funnel['views']}) as views, sum({funnel['carts']}) as carts, "
        f"sum({funnel['checkouts']}) as checkouts, sum({funnel['purchases']}) as purchases "
        f"from funnel_daily where {funnel['day']} >= ? and {funnel['day']} <= ? group by 1 order by 1",
        [start, end],
    )


# -- Data quality ------------------------------------------------------------------------------


def ingestion_summary(lake: Lake) -> dict[str, pd.DataFrame]:
    """Per table: files, rows in/landed/quarantined/imputed and last ingest; reasons; imputations."""
    records = read_ledger(lake)
    tables = pd.DataFrame(
        [
            {
                "table": r.table,
                "files": 1,
                "rows_in": r.rows_in,
                "landed": r.rows_landed,
                "quarantined": r.rows_quarantined,
                "imputed": sum(r.imputed.values()),
                "last_ingested_at": pd.Timestamp(r.ingested_at),
            }
            for r in records
        ],
        columns=["table", "files", "rows_in", "landed", "quarantined", "imputed", "last_ingested_at"],
    )
    if len(tables):
        tables = tables.groupby("table", as_index=False).agg(
            files=("files", "sum"),
            rows_in=("rows_in", "sum"),
            landed=("landed", "sum"),
            quarantined=("quarantined", "sum"),
            imputed=("imputed", "sum"),
            last_ingested_at=("last_ingested_at", "max"),
        )
    reasons = pd.DataFrame(
        [{"table": r.table, "reason": k, "rows": v} for r in records for k, v in r.quarantine_reasons.items()],
        columns=["table", "reason", "rows"],
    )
    if len(reasons):
        reasons = reasons.groupby(["table", "reason"], as_index=False)["rows"].sum()
    imputed = pd.DataFrame(
        [{"table": r.table, "column": k, "rows": v} for r in records for k, v in r.imputed.items()],
        columns=["table", "column", "rows"],
    )
    if len(imputed):
        imputed = imputed.groupby(["table", "column"], as_index=False)["rows"].sum()
    return {"tables": tables, "reasons": reasons, "imputed": imputed}


def optional_table(backend: Backend, table: str, limit: int = 500) -> tuple[Resolved, pd.DataFrame | None]:
    """All columns of an optional table (dq_results, alert_log), newest rows first when dated."""
    resolved = resolve(backend, table)
    if resolved.missing:
        return resolved, None
    df = backend.query(f"select * from {table} limit ?", [int(limit)])  # table from OPTIONAL_TABLES only
    dated = [c for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])]
    if dated:
        df = df.sort_values(dated[0], ascending=False)
    return resolved, df


# -- Anomalies and forecast --------------------------------------------------------------------


def anomalies(backend: Backend, start: dt.date, end: dt.date) -> tuple[Resolved, pd.DataFrame | None]:
    res = resolve(backend, "anomalies")
    if res.missing:
        return res, None
    actual = res.columns.get("actual")
    metric = res.columns.get("metric")
    where = f" and {metric} = ?" if metric else ""
    df = backend.query(
        f"select {res['day']} as day, {res['category']} as category, "
        f"{actual if actual else 'cast(null as double)'} as actual, {res['expected']} as expected_value, "
        f"{res['score']} as score, {res['is_anomaly']} as is_anomaly from anomalies "
        f"where {res['day']} >= ? and {res['day']} <= ?{where} order by 1, 2",
        [start, end, *(["revenue"] if metric else [])],
    )
    return res, df


def sales_forecast(backend: Backend) -> tuple[Resolved, pd.DataFrame | None]:
    res = resolve(backend, "sales_forecast")
    if res.missing:
        return res, None
    df = backend.query(
        f"select {res['day']} as day, {res['category']} as category, {res['forecast']} as forecast, "
        f"{res['lower']} as lower, {res['upper']} as upper from sales_forecast order by 2, 1"
    )
    return res, df


def category_history(backend: Backend, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Daily revenue per category (name and id, so anomaly/forecast tables keyed either way can join)."""
    return backend.query(
        "select sales_date as day, category_id, category_name, revenue from product_category_sales "
        "where sales_date >= ? and sales_date <= ? order by 1",
        [start, end],
    )
