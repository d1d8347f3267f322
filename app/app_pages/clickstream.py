"""Clickstream (live): events per minute, session funnel, top pages and products, refreshed in place."""

import datetime as dt

import altair as alt
import pandas as pd
import shoplake_ui as ui
import streamlit as st

from pipelines.dashboard.live import FUNNEL_STEPS, clickstream_live, clickstream_live_snowflake
from pipelines.settings import get_settings

st.title("Clickstream")
window = st.select_slider("Window (minutes, ending at the newest event)", [5, 15, 30, 60, 120], value=30)


def _age(newest) -> dt.timedelta:
    ts = pd.Timestamp(newest)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return pd.Timestamp.now(tz="UTC") - ts


def _duration(age: dt.timedelta) -> str:
    """Seconds while live; minutes, hours or days once the stream has stopped."""
    seconds = max(age.total_seconds(), 0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


@st.fragment(run_every=ui.LIVE_REFRESH_S)
def live_panel(window_minutes: int) -> None:
    """Re-runs alone every few seconds, uncached on purpose (it is live): the lake on the local snapshot,
    Snowflake's RAW events (kept a minute behind by `shoplake promote --follow`) on the Snowflake source."""
    on_snowflake = ui.target() != "dev"
    if on_snowflake:
        live = clickstream_live_snowflake(ui.backend(), window_minutes)
    else:
        live = clickstream_live(get_settings(), window_minutes)
    if live is None:
        where = (
            "Snowflake yet: run `shoplake promote --follow`" if on_snowflake else "the lake yet: run `shoplake stream`"
        )
        st.info(f"No clickstream events in {where} (or `shoplake demo`).")
        return
    age = _age(live.newest_event)
    cols = st.columns(3)
    cols[0].metric("Newest event (UTC)", f"{pd.Timestamp(live.newest_event):%H:%M:%S}", help=f"{live.newest_event}")
    cols[1].metric("Freshness (age of newest event)", _duration(age))
    cols[2].metric(f"Events in the last {window_minutes} min", f"{live.window_events:,}")
    source = "Snowflake RAW.CLICKSTREAM_EVENTS" if on_snowflake else "the lake"
    st.caption(f"Refreshed {pd.Timestamp.now(tz='UTC'):%H:%M:%S} UTC from {source}, every {ui.LIVE_REFRESH_S} s.")

    st.subheader("Events per minute")
    per_minute = live.per_minute.assign(time=live.per_minute["minute"].dt.strftime("%H:%M"))
    ui.chart(
        alt.Chart(per_minute)
        .mark_bar()
        .encode(
            x=alt.X("time:O", title="Minute (UTC)", axis=alt.Axis(labelAngle=0, labelOverlap=True)),
            y=alt.Y("events:Q", stack=True, title="Events"),
            color=alt.Color("event_type:N", title="Event type"),
            tooltip=["time:O", "event_type:N", "events:Q"],
        )
        .properties(height=260)
    )
    col_funnel, col_pages, col_products = st.columns(3)
    with col_funnel:
        st.subheader("Funnel (sessions)")
        ui.chart(
            alt.Chart(live.funnel)
            .mark_bar()
            .encode(
                x=alt.X("sessions:Q", title="Sessions"),
                y=alt.Y("step:N", sort=list(FUNNEL_STEPS), title=None),
                tooltip=["step:N", "sessions:Q"],
            )
            .properties(height=220)
        )
    with col_pages:
        st.subheader("Top pages")
        st.dataframe(live.top_pages, hide_index=True, width="stretch")
    with col_products:
        st.subheader("Top products")
        products = live.top_products
        names = ui.call("product_names", tuple(products["product_id"].tolist()))
        # ids the warehouse does not know yet keep an empty name
        products = products.merge(names, on="product_id", how="left")[["product_id", "product_name", "events"]]
        st.dataframe(products, hide_index=True, width="stretch")


live_panel(window)

st.subheader("Daily funnel")
start, end = ui.period()
funnel = ui.call("funnel_daily", start, end)
if funnel.empty:
    st.info("No clickstream sessions in this period.")
else:
    steps = ["sessions", "views", "carts", "checkouts", "purchases"]
    long = funnel.melt(id_vars="event_date", value_vars=steps, var_name="step", value_name="count")
    if len(funnel) == 1:  # a single day (e.g. right after the demo): one bar per step, not lone points
        spec = (
            alt.Chart(long)
            .mark_bar()
            .encode(
                x=alt.X("count:Q", title=f"Sessions on {funnel['event_date'].iloc[0]:%d %b %Y}"),
                y=alt.Y("step:N", sort=steps, title=None),
                tooltip=["step:N", "count:Q"],
            )
        )
    else:
        spec = (
            alt.Chart(long)
            .mark_line(point=True)
            .encode(
                x=alt.X("event_date:T", title=None),
                y=alt.Y("count:Q", title="Sessions"),
                color=alt.Color("step:N", sort=steps, title="Sessions that reached"),
                tooltip=["event_date:T", "step:N", "count:Q"],
            )
        )
    ui.chart(spec.properties(height=260))
