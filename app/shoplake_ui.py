"""Shared Streamlit plumbing: one cached backend, cached queries, the sidebar and small helpers.

Pages import this module; all SQL lives in `pipelines.dashboard` (queries, live, ingestion).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import altair as alt
import streamlit as st

from pipelines.dashboard import queries
from pipelines.dashboard.backends import SNOWFLAKE_TARGETS, Backend, open_backend
from pipelines.errors import ShopLakeError
from pipelines.settings import get_settings

CACHE_TTL_S = 60  # marts change only when a build is published; the cache key also names the snapshot
LIVE_REFRESH_S = 5
SOURCES = {"dev": "Local snapshot (DuckDB)", "snowflake": "Snowflake"}


@st.cache_resource(show_spinner=False)
def _backend(target: str, lake_dir: str) -> Backend:
    """One connection per target for the whole server (all sessions share it)."""
    return open_backend(get_settings(), target)


def _default_source() -> str:
    return "snowflake" if get_settings().dbt_target in SNOWFLAKE_TARGETS else "dev"


def target() -> str:
    """dbt target behind the sidebar's choice: Snowflake means DBT_TARGET when it is prod/snowsim, else prod."""
    if st.session_state.get("source", _default_source()) == "dev":
        return "dev"
    configured = get_settings().dbt_target
    return configured if configured in SNOWFLAKE_TARGETS else "prod"


def backend() -> Backend:
    return _backend(target(), str(get_settings().lake_dir))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _cached(fn_name: str, backend_key: str, args: tuple, _backend: Backend) -> Any:
    return getattr(queries, fn_name)(_backend, *args)


def call(fn_name: str, *args: Any) -> Any:
    """Run `queries.<fn_name>(backend, *args)`, cached per snapshot (or Snowflake schema) and arguments."""
    b = backend()
    return _cached(fn_name, b.cache_key(), args, b)


def sidebar() -> None:
    """Target switch, period picker and what the numbers come from; stops the page with a clear message."""
    st.sidebar.radio(
        "Data source",
        list(SOURCES),
        index=list(SOURCES).index(_default_source()),
        format_func=SOURCES.get,
        key="source",
    )
    try:
        b = backend()
        first, last = call("date_bounds")
    except ShopLakeError as exc:
        st.error(str(exc))
        st.stop()
    default_start = max(first, last - dt.timedelta(days=29))
    picked = st.sidebar.date_input(
        "Period", value=(default_start, last), min_value=first, max_value=last, key="period", format="YYYY-MM-DD"
    )
    st.sidebar.caption(f"Data: {b.describe()}")
    st.session_state["_bounds"] = (first, last)
    st.session_state["_period"] = picked


def period() -> tuple[dt.date, dt.date]:
    """The chosen period; a half-picked range (one date) counts as that single day."""
    picked = st.session_state.get("_period") or st.session_state["_bounds"]
    if isinstance(picked, (list, tuple)):
        if len(picked) == 2:
            return picked[0], picked[1]
        if len(picked) == 1:
            return picked[0], picked[0]
    return picked, picked


def not_yet(table: str) -> None:
    """Say plainly that a results table has no rows yet and which command fills it."""
    st.info(queries.NOT_YET[table], icon=":material/hourglass_empty:")


def category_colors(categories: list[str]) -> alt.Scale:
    """The same colour for a category on every chart (fixed domain); tableau20 keeps up to 20 apart."""
    return alt.Scale(domain=list(categories), scheme="tableau20")


def chart(spec: alt.Chart | alt.LayerChart) -> None:
    st.altair_chart(spec, width="stretch")


def delta(current: float | None, previous: float | None) -> str | None:
    """Relative change against the previous period, or None when there is nothing to compare with."""
    if current is None or not previous:
        return None
    return f"{(current - previous) / previous:+.1%}"


def money(value: float | None) -> str:
    """Exact amount, for tooltips and tables."""
    return "—" if value is None else f"€{value:,.2f}"


def compact_money(value: float | None) -> str:
    """Short enough for a metric tile at any column width (€480.6k, €12.35M); exact value in `money`."""
    if value is None:
        return "—"
    size = abs(value)
    if size < 10_000:
        return f"€{value:,.2f}" if size < 1_000 else f"€{value:,.0f}"
    if size < 1_000_000:
        return f"€{value / 1e3:.1f}k"
    if size < 1_000_000_000:
        return f"€{value / 1e6:.2f}M"
    return f"€{value / 1e9:.2f}B"


def compact_count(value: int) -> str:
    """Counts up to 99,999 in full; larger ones as 123.4k or 1.23M."""
    if abs(value) < 100_000:
        return f"{value:,}"
    if abs(value) < 1_000_000:
        return f"{value / 1e3:.1f}k"
    return f"{value / 1e6:.2f}M"
