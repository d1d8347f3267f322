"""Clickstream (live): events per minute, session funnel, top pages and products, refreshed in place."""

import datetime as dt

import altair as alt
import pandas as pd
import shoplake_ui as ui
import streamlit as st

from pipelines.dashboard import data

st.title("Clickstream")
window = st.select_slider("Window (minutes, ending at the newest event)", [5, 15, 30, 60, 120], value=30)


def _age(newest) -> dt.timedelta:
    ts = pd.Timestamp(newest)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return pd.Timestamp.now(tz="UTC") - ts


@st.fragment(run_every=ui.LIVE_REFRESH_S)
def live_panel(window_minutes: int) -> None:
    """Re-runs alone every few seconds; the lake read is cheap and uncached on purpose (it is live)."""
    live = data.clickstream_live(ui.lake(), window_minutes)
    if live is None:
        st.info(f"No clickstream events in the lake yet; they come from {data.WHERE_FROM[data.CLICK_EVENTS_TABLE]}.")
        return
    age = _age(live["newest_event"])
    cols = st.columns(3)
    cols[0].metric("Newest event", f"{pd.Timestamp(live['newest_event']):%H:%M:%S}")
    cols[1].metric("Freshness (age of newest event)", f"{age.total_seconds():,.0f} s")
    cols[2].metric(f"Events in the last {window_minutes} min", f"{live['window_events']:,}")
    st.caption(f"Refreshed {pd.Timestamp.now(tz='UTC'):%H:%M:%S} UTC, every {ui.LIVE_REFRESH_S} s.")

    st.subheader("Events per minute")
    ui.chart(
        alt.Chart(live["per_minute"])
        .mark_bar()
        .encode(
            x=alt.X("minute:T", title=None),
            y=alt.Y("events:Q", stack=True, title="Events"),
            color=alt.Color("event_type:N", title="Event type"),
            tooltip=["minute:T", "event_type:N", "events:Q"],
        )
        .properties(height=260)
    )
    col_funnel, col_pages, col_products = st.columns(3)
    with col_funnel:
        st.subheader("Funnel (sessions)")
        ui.chart(
            alt.Chart(live["funnel"])
            .mark_bar()
            .encode(
                x=alt.X("sessions:Q", title="Sessions"),
                y=alt.Y("step:N", sort=list(data.FUNNEL_STEPS), title=None),
                tooltip=["step:N", "sessions:Q"],
            )
            .properties(height=220)
        )
    with col_pages:
        st.subheader("Top pages")
        st.dataframe(live["top_pages"], hide_index=True, width="stretch")
    with col_products:
        st.subheader("Top products")
        products = live["top_products"]
        names = ui.call("product_names", tuple(int(p) for p in products["product_id"]))
        # ids the warehouse does not know yet keep an empty name
        products = products.merge(names, on="product_id", how="left")[["product_id", "product_name", "events"]]
        st.dataframe(products, hide_index=True, width="stretch")


live_panel(window)

st.subheader("Daily funnel")
start, end = ui.period()
resolved, funnel = ui.call("funnel_daily", start, end)
if funnel is None:
    ui.missing(resolved)
elif funnel.empty:
    st.info("No funnel rows in this period.")
else:
    long = funnel.melt(id_vars="day", var_name="step", value_name="sessions")
    ui.chart(
        alt.Chart(long)
        .mark_line(point=True)
        .encode(x=alt.X("day:T", title=None), y="sessions:Q", color=alt.Color("step:N", sort=list(funnel.columns[1:])))
        .properties(height=260)
    )
