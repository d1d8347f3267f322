"""Sales: revenue by category over time, category share and top products, filtered by period and category."""

import altair as alt
import shoplake_ui as ui
import streamlit as st

st.title("Sales")
start, end = ui.period()
all_categories = ui.call("categories")
left, right = st.columns([3, 1])
chosen = left.multiselect("Categories", all_categories, placeholder="All categories", key="sales_categories")
grain = right.selectbox("Grain", ["day", "week", "month"], index=1, key="sales_grain")
chosen_t = tuple(chosen)
colors = ui.category_colors(all_categories)

by_category = ui.call("category_revenue", start, end, chosen_t, grain)
st.subheader("Revenue by category")
if by_category.empty:
    st.info("No sales for this selection.")
else:
    ui.chart(
        alt.Chart(by_category)
        .mark_area()
        .encode(
            x=alt.X("period:T", title=None),
            y=alt.Y("revenue:Q", stack=True, title="Revenue (€)"),
            color=alt.Color("category_name:N", title="Category", scale=colors),
            tooltip=["period:T", "category_name:N", alt.Tooltip("revenue:Q", format=",.2f"), "orders:Q", "units:Q"],
        )
        .properties(height=320)
    )
    st.caption(f"Revenue per {grain}; the first and last {grain} may be partial when the period cuts through them.")

col_share, col_top = st.columns(2)
share = ui.call("category_share", start, end, chosen_t)
with col_share:
    st.subheader("Category share")
    if share.empty or share["revenue"].sum() == 0:
        st.info("No revenue in this selection.")
    else:
        ui.chart(
            alt.Chart(share)
            .mark_arc(innerRadius=60)
            .encode(
                theta=alt.Theta("revenue:Q"),
                color=alt.Color("category_name:N", title="Category", scale=colors),
                tooltip=["category_name:N", alt.Tooltip("revenue:Q", format=",.2f")],
            )
            .properties(height=320)
        )
top = ui.call("top_products", start, end, chosen_t, 10)
with col_top:
    st.subheader("Top products")
    if top.empty:
        st.info("No product sales in this selection.")
    else:
        ui.chart(
            alt.Chart(top)
            .mark_bar()
            .encode(
                x=alt.X("revenue:Q", title="Revenue (€)"),
                y=alt.Y("product_name:N", sort="-x", title=None),
                color=alt.Color("category_name:N", scale=colors, legend=None),  # the share chart's legend
                tooltip=["product_name:N", "category_name:N", alt.Tooltip("revenue:Q", format=",.2f"), "units:Q"],
            )
            .properties(height=320)
        )
st.dataframe(
    top,
    hide_index=True,
    width="stretch",
    column_config={
        "product_name": "Product",
        "category_name": "Category",
        "revenue": st.column_config.NumberColumn("Revenue", format="euro"),
        "units": st.column_config.NumberColumn("Units"),
        "order_lines": st.column_config.NumberColumn("Order lines"),
    },
)
