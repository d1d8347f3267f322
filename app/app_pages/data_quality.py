"""Data quality: what ingestion landed, quarantined and imputed; test results, freshness and alerts."""

import altair as alt
import pandas as pd
import shoplake_ui as ui
import streamlit as st

from pipelines.dashboard import data

st.title("Data quality")


@st.cache_data(ttl=10, show_spinner=False)
def _ingestion(lake_root: str) -> dict:
    return data.ingestion_summary(ui.lake())


ingest = _ingestion(str(ui.lake().root))
tables = ingest["tables"]
st.subheader("Ingestion (all batch files so far)")
if tables.empty:
    st.info("Nothing ingested yet: run `shoplake ingest` (or `shoplake demo`).")
else:
    totals = tables[["rows_in", "landed", "quarantined", "imputed"]].sum()
    cols = st.columns(4)
    cols[0].metric("Rows in", f"{int(totals['rows_in']):,}")
    cols[1].metric("Landed", f"{int(totals['landed']):,}")
    cols[2].metric("Quarantined", f"{int(totals['quarantined']):,}")
    cols[3].metric("Imputed", f"{int(totals['imputed']):,}")
    long = tables.melt(id_vars="table", value_vars=["landed", "quarantined"], var_name="outcome", value_name="rows")
    ui.chart(
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("rows:Q", stack="normalize", title="Share of rows", axis=alt.Axis(format="%")),
            y=alt.Y("table:N", title=None),
            color=alt.Color(
                "outcome:N", scale=alt.Scale(domain=["landed", "quarantined"], range=["#4c78a8", "#e45756"])
            ),
            tooltip=["table:N", "outcome:N", "rows:Q"],
        )
        .properties(height=200)
    )
    st.dataframe(tables, hide_index=True, width="stretch")

    col_reasons, col_imputed = st.columns(2)
    with col_reasons:
        st.subheader("Quarantined by reason")
        if ingest["reasons"].empty:
            st.success("No rows quarantined.")
        else:
            ui.chart(
                alt.Chart(ingest["reasons"])
                .mark_bar()
                .encode(
                    x=alt.X("rows:Q", title="Rows"),
                    y=alt.Y("reason:N", sort="-x", title=None),
                    color=alt.Color("table:N", title="Table"),
                    tooltip=["table:N", "reason:N", "rows:Q"],
                )
                .properties(height=300)
            )
    with col_imputed:
        st.subheader("Imputed values")
        if ingest["imputed"].empty:
            st.success("No values imputed.")
        else:
            st.dataframe(ingest["imputed"], hide_index=True, width="stretch")

    st.subheader("Freshness of batch sources")
    fresh = tables[["table", "last_ingested_at"]].copy()
    fresh["age_hours"] = (
        pd.Timestamp.now(tz="UTC") - pd.to_datetime(fresh["last_ingested_at"], utc=True)
    ).dt.total_seconds() / 3600
    st.dataframe(fresh, hide_index=True, width="stretch")

st.subheader("dbt test results")
resolved, results = ui.call("optional_table", "dq_results", 500)
if results is None:
    ui.missing(resolved)
else:
    if "status" in results.columns:
        counts = results["status"].value_counts().rename_axis("status").reset_index(name="tests")
        ui.chart(alt.Chart(counts).mark_bar().encode(x="tests:Q", y=alt.Y("status:N", title=None), color="status:N"))
    st.dataframe(results, hide_index=True, width="stretch")

st.subheader("Alerts")
resolved, alerts = ui.call("optional_table", "alert_log", 200)
if alerts is None:
    ui.missing(resolved)
elif alerts.empty:
    st.success("No alerts logged.")
else:
    st.dataframe(alerts, hide_index=True, width="stretch")
