"""Customers: top customers, RFM segments and monthly cohort retention."""

import altair as alt
import shoplake_ui as ui
import streamlit as st

st.title("Customers")

st.subheader("Top customers by lifetime revenue")
top = ui.call("top_customers", 20)
ui.chart(
    alt.Chart(top.head(10))
    .mark_bar()
    .encode(
        x=alt.X("lifetime_revenue:Q", title="Lifetime revenue (€)"),
        y=alt.Y("customer_name:N", sort="-x", title=None),
        tooltip=[
            "revenue_rank:Q",
            "customer_name:N",
            "country:N",
            "orders:Q",
            alt.Tooltip("lifetime_revenue:Q", format=",.2f"),
        ],
    )
    .properties(height=280)
)
st.dataframe(
    top,
    hide_index=True,
    width="stretch",
    column_config={
        "revenue_rank": st.column_config.NumberColumn("Rank", width="small"),
        "customer_name": "Customer",
        "country": "Country",
        "acquisition_channel": "Acquired via",
        "orders": st.column_config.NumberColumn("Orders"),
        "lifetime_revenue": st.column_config.NumberColumn("Lifetime revenue", format="euro"),
        "average_order_value": st.column_config.NumberColumn("Average order", format="euro"),
        "last_order_date": st.column_config.DateColumn("Last order"),
    },
)

st.subheader("RFM segments")
st.caption("Recency, frequency and monetary quintiles over customers with at least one revenue order.")
rfm = ui.call("rfm_segments")
col_chart, col_table = st.columns([2, 3])
with col_chart:
    ui.chart(
        alt.Chart(rfm)
        .mark_bar()
        .encode(
            x=alt.X("customers:Q", title="Customers"),
            y=alt.Y("segment:N", sort="-x", title=None),
            color=alt.Color("segment:N", legend=None),
            tooltip=[
                "segment:N",
                "customers:Q",
                alt.Tooltip("revenue:Q", format=",.0f"),
                alt.Tooltip("avg_recency_days:Q", format=".0f"),
                alt.Tooltip("avg_orders:Q", format=".1f"),
            ],
        )
        .properties(height=260)
    )
col_table.dataframe(
    rfm,
    hide_index=True,
    width="stretch",
    column_config={
        "segment": "Segment",
        "customers": st.column_config.NumberColumn("Customers"),
        "avg_recency_days": st.column_config.NumberColumn("Days since last order", format="%.0f"),
        "avg_orders": st.column_config.NumberColumn("Orders each", format="%.1f"),
        "revenue": st.column_config.NumberColumn("Revenue", format="euro"),
    },
)

st.subheader("Monthly cohort retention")
st.caption("Share of each cohort (month of first revenue order) that bought again N months later.")
cohorts = ui.call("cohort_retention", 12)
if cohorts.empty:
    st.info("No cohorts yet.")
else:
    ui.chart(
        alt.Chart(cohorts)
        .mark_rect()
        .encode(
            x=alt.X("months_since_first:O", title="Months since first order"),
            y=alt.Y("yearmonth(cohort_month):O", title="Cohort"),
            color=alt.Color("retention:Q", scale=alt.Scale(scheme="blues"), title="Retention"),
            tooltip=[
                alt.Tooltip("yearmonth(cohort_month):O", title="Cohort"),
                "months_since_first:O",
                "customers:Q",
                "cohort_size:Q",
                alt.Tooltip("retention:Q", format=".1%"),
            ],
        )
        .properties(height=360)
    )
