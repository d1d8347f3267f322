"""Overview: the period's headline figures against the previous period, and the daily revenue trend."""

import altair as alt
import shoplake_ui as ui
import streamlit as st

st.title("Overview")
start, end = ui.period()
kpis = ui.call("overview_kpis", start, end)
cur, prev = kpis["current"], kpis["previous"]
st.caption(f"{start:%d %b %Y} – {end:%d %b %Y}, compared with the {(end - start).days + 1} days before")

# Tiles as wide as their compact values, spread over one row and wrapping on narrow screens instead of
# cutting values off (fixed columns ellipsise them); the exact figure is in each tile's help.
tiles = st.container(horizontal=True, horizontal_alignment="distribute", gap="medium")
tiles.metric(
    "Revenue",
    ui.compact_money(cur["revenue"]),
    ui.delta(cur["revenue"], prev["revenue"]),
    help=f"{ui.money(cur['revenue'])} from revenue orders (previous period {ui.money(prev['revenue'])}).",
    width="content",
)
tiles.metric(
    "Orders",
    ui.compact_count(cur["orders"]),
    ui.delta(cur["orders"], prev["orders"]),
    help=f"{cur['orders']:,} revenue orders (previous period {prev['orders']:,}).",
    width="content",
)
tiles.metric(
    "Average order value",
    ui.compact_money(cur["aov"]),
    ui.delta(cur["aov"], prev["aov"]),
    help=f"{ui.money(cur['aov'])}: revenue per revenue order.",
    width="content",
)
tiles.metric(
    "Active customers",
    ui.compact_count(cur["active_customers"]),
    ui.delta(cur["active_customers"], prev["active_customers"]),
    help=f"{cur['active_customers']:,} customers with at least one revenue order in the period.",
    width="content",
)
conversion, prev_conversion = cur["conversion_rate"], prev["conversion_rate"]
tiles.metric(
    "Conversion rate",
    "—" if conversion is None else f"{conversion:.2%}",
    None if conversion is None or prev_conversion is None else f"{(conversion - prev_conversion) * 100:+.2f} pp",
    help=(
        "Sessions with a purchase over all sessions (funnel_daily). "
        + (
            "No clickstream sessions in this period."
            if conversion is None
            else f"{cur['sessions']:,} sessions in the period."
        )
    ),
    width="content",
)

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
