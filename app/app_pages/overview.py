"""Overview: the period's headline figures against the previous period, and the daily revenue trend."""

import altair as alt
import shoplake_ui as ui
import streamlit as st

st.title("Overview")
start, end = ui.period()
kpis = ui.call("overview_kpis", start, end)
cur, prev = kpis["current"], kpis["previous"]
st.caption(f"{start:%d %b %Y} – {end:%d %b %Y}, compared with the {(end - start).days + 1} days before")

cols = st.columns(5)
cols[0].metric("Revenue", ui.money(cur["revenue"]), ui.delta(cur["revenue"], prev["revenue"]))
cols[1].metric("Orders", f"{cur['orders']:,}", ui.delta(cur["orders"], prev["orders"]))
cols[2].metric("Average order value", ui.money(cur["aov"]), ui.delta(cur["aov"], prev["aov"]))
cols[3].metric(
    "Active customers", f"{cur['active_customers']:,}", ui.delta(cur["active_customers"], prev["active_customers"])
)
if cur["conversion_rate"] is None:
    cols[4].metric("Conversion rate", "—", help="Purchases per viewing session; needs the clickstream marts.")
else:
    conv_delta = None if prev["conversion_rate"] is None else f"{cur['conversion_rate'] - prev['conversion_rate']:+.2%}"
    cols[4].metric("Conversion rate", f"{cur['conversion_rate']:.2%}", conv_delta)

daily = ui.call("daily_revenue", start, end)
st.subheader("Daily revenue")
if daily.empty:
    st.info("No sales in this period.")
else:
    base = alt.Chart(daily).encode(x=alt.X("sales_date:T", title=None))
    line = base.mark_area(opacity=0.25, line=True).encode(
        y=alt.Y("revenue:Q", title="Revenue (€)"),
        tooltip=[alt.Tooltip("sales_date:T", title="Day"), alt.Tooltip("revenue:Q", format=",.2f"), "orders:Q"],
    )
    ui.chart(line.properties(height=320))
if cur["conversion_rate"] is None:
    st.caption(
        "Conversion rate appears once the clickstream marts (`funnel_daily`, branch `stream`) are built: "
        "run `shoplake stream`, then `shoplake transform`."
    )
