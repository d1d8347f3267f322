"""Anomalies & forecast: flagged category-days on the sales trend, and the forecast with its interval."""

import datetime as dt

import altair as alt
import pandas as pd
import shoplake_ui as ui
import streamlit as st

st.title("Anomalies & forecast")
start, end = ui.period()
first, last = st.session_state["_bounds"]
# anomalies need context: show at least 90 days of trend
trend_start = max(first, min(start, end - dt.timedelta(days=89)))
history = ui.call("category_history", trend_start, end)
categories = sorted(history["category_name"].unique())
category = st.selectbox("Category", categories, key="anomaly_category")
one = history[history["category_name"] == category]

st.subheader(f"Daily revenue: {category}")
resolved, flagged = ui.call("anomalies", trend_start, end)
layers = [
    alt.Chart(one)
    .mark_line()
    .encode(
        x=alt.X("day:T", title=None),
        y=alt.Y("revenue:Q", title="Revenue (€)"),
        tooltip=["day:T", alt.Tooltip("revenue:Q", format=",.2f")],
    )
]
if flagged is None:
    ui.chart(layers[0].properties(height=320))
    ui.missing(resolved)
else:
    key = "category_name" if resolved["category"] == "category_name" else "category_id"
    value = one[key].iloc[0] if len(one) else None
    mine = flagged[flagged["category"].astype(str) == str(value)].copy()
    mine["day"] = pd.to_datetime(mine["day"])
    layers.append(alt.Chart(mine).mark_line(strokeDash=[4, 3], color="gray").encode(x="day:T", y="expected_value:Q"))
    hits = mine[mine["is_anomaly"].astype(bool)].merge(
        one.assign(day=pd.to_datetime(one["day"]))[["day", "revenue"]], on="day", how="left"
    )
    layers.append(
        alt.Chart(hits)
        .mark_point(color="red", size=90, filled=True)
        .encode(x="day:T", y="revenue:Q", tooltip=["day:T", "revenue:Q", "expected_value:Q", "score:Q"])
    )
    ui.chart(alt.layer(*layers).properties(height=320))
    st.caption("Grey dashes: expected value; red points: flagged anomalies.")
    st.dataframe(
        flagged[flagged["is_anomaly"].astype(bool)].sort_values("score", ascending=False),
        hide_index=True,
        width="stretch",
    )

st.subheader("Sales forecast")
resolved, forecast = ui.call("sales_forecast")
if forecast is None:
    ui.missing(resolved)
else:
    key = "category_name" if resolved["category"] == "category_name" else "category_id"
    value = one[key].iloc[0] if len(one) else None
    fc = forecast[forecast["category"].astype(str) == str(value)].copy()
    fc["day"] = pd.to_datetime(fc["day"])
    recent = one.assign(day=pd.to_datetime(one["day"])).tail(60)
    ui.chart(
        alt.layer(
            alt.Chart(recent)
            .mark_line()
            .encode(x=alt.X("day:T", title=None), y=alt.Y("revenue:Q", title="Revenue (€)")),
            alt.Chart(fc).mark_area(opacity=0.25, color="orange").encode(x="day:T", y="lower:Q", y2="upper:Q"),
            alt.Chart(fc)
            .mark_line(color="orange")
            .encode(x="day:T", y="forecast:Q", tooltip=["day:T", "forecast:Q", "lower:Q", "upper:Q"]),
        ).properties(height=320)
    )
    st.caption(f"Forecast for {category} with its prediction interval (orange band), after the last 60 days.")
