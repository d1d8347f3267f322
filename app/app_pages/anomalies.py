"""Anomalies & forecast: flagged category-days on the sales trend, and the forecast with its interval."""

import datetime as dt

import altair as alt
import pandas as pd
import shoplake_ui as ui
import streamlit as st

st.title("Anomalies & forecast")
start, end = ui.period()
first, _ = st.session_state["_bounds"]
# anomalies need context: show at least 90 days of trend
trend_start = max(first, min(start, end - dt.timedelta(days=89)))
categories = ui.call("categories")
# Open on the category with the newest flagged day in view, so the page shows an anomaly if there is one.
in_view = ui.call("anomalies", trend_start, end)
newest = in_view[in_view["is_anomaly"].astype(bool)].sort_values("sales_date").tail(1)["category_name"].tolist()
default = categories.index(newest[0]) if newest and newest[0] in categories else 0
category = st.selectbox("Category", categories, index=default, key="anomaly_category")
history = ui.call("category_history", trend_start, end, category)
history["sales_date"] = pd.to_datetime(history["sales_date"])
scored = in_view[in_view["category_name"] == category].assign(sales_date=lambda df: pd.to_datetime(df["sales_date"]))
flagged = scored[scored["is_anomaly"].astype(bool)]

st.subheader(f"Daily revenue: {category}")
revenue = alt.Y("revenue:Q", title="Revenue (€)")
ui.chart(
    alt.layer(
        alt.Chart(history)
        .mark_line()
        .encode(
            x=alt.X("sales_date:T", title=None),
            y=revenue,
            tooltip=[alt.Tooltip("sales_date:T", title="Day"), alt.Tooltip("revenue:Q", format=",.2f")],
        ),
        alt.Chart(scored)
        .mark_line(strokeDash=[4, 3], color="gray")
        .encode(x="sales_date:T", y=alt.Y("expected_revenue:Q", title="Revenue (€)")),
        alt.Chart(flagged)
        .mark_point(color="red", size=90, filled=True)
        .encode(
            x="sales_date:T",
            y=revenue,
            tooltip=[
                alt.Tooltip("sales_date:T", title="Day"),
                "direction:N",
                alt.Tooltip("revenue:Q", format=",.2f"),
                alt.Tooltip("expected_revenue:Q", format=",.2f"),
                "orders:Q",
                alt.Tooltip("expected_orders:Q", format=",.1f"),
                alt.Tooltip("orders_score:Q", format=".1f"),
            ],
        ),
    ).properties(height=320)
)
st.caption("Grey dashes: expected revenue (same-weekday baseline); red points: flagged anomalies.")
if flagged.empty:
    st.info(f"No anomalies flagged for {category} in this period.")
else:
    st.dataframe(
        flagged.sort_values("orders_score", key=abs, ascending=False).drop(columns=["is_anomaly", "category_name"]),
        hide_index=True,
        width="stretch",
        column_config={
            "sales_date": st.column_config.DateColumn("day"),
            "revenue": st.column_config.NumberColumn("revenue", format="euro"),
            "expected_revenue": st.column_config.NumberColumn("expected revenue", format="euro"),
            "expected_orders": st.column_config.NumberColumn("expected orders", format="%.1f"),
            "orders_score": st.column_config.NumberColumn("score (orders)", format="%+.1f"),
        },
    )

st.subheader("Sales forecast")
forecast = ui.call("sales_forecast")
mine = None if forecast is None else forecast[forecast["category_name"] == category].copy()
if mine is None:
    ui.not_yet("sales_forecast")
elif mine.empty:
    st.info(f"The latest forecast has no rows for {category}.")
else:
    mine["forecast_date"] = pd.to_datetime(mine["forecast_date"])
    recent = history.tail(60)
    ui.chart(
        alt.layer(
            alt.Chart(recent)
            .mark_line()
            .encode(x=alt.X("sales_date:T", title=None), y=revenue, tooltip=["sales_date:T", "revenue:Q"]),
            alt.Chart(mine)
            .mark_area(opacity=0.25, color="orange")
            .encode(x="forecast_date:T", y="revenue_lower:Q", y2="revenue_upper:Q"),
            alt.Chart(mine)
            .mark_line(color="orange")
            .encode(
                x="forecast_date:T",
                y="revenue_forecast:Q",
                tooltip=[
                    alt.Tooltip("forecast_date:T", title="Day"),
                    alt.Tooltip("revenue_forecast:Q", format=",.2f"),
                    alt.Tooltip("revenue_lower:Q", format=",.2f"),
                    alt.Tooltip("revenue_upper:Q", format=",.2f"),
                ],
            ),
        ).properties(height=320)
    )
    st.caption(f"Forecast for {category} with its 80% prediction interval (orange band), after the last 60 days.")
