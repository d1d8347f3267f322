"""Data quality: what ingestion landed, quarantined and imputed; test results, freshness and alerts."""

import altair as alt
import pandas as pd
import shoplake_ui as ui
import streamlit as st

from pipelines.dashboard.ingestion import IngestionSummary, ingestion_summary
from pipelines.settings import get_settings

st.title("Data quality")
STATUS_COLORS = alt.Scale(
    domain=["pass", "skip", "warn", "fail", "error", "runtime error"],
    range=["#54a24b", "#bab0ac", "#f58518", "#e45756", "#b22222", "#7f0000"],
)


@st.cache_data(ttl=10, show_spinner=False)
def _ingestion(lake_dir: str) -> IngestionSummary:
    return ingestion_summary(get_settings())


ingest = _ingestion(str(get_settings().lake_dir))
tables = ingest.tables
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

    st.subheader("Quarantined by reason")
    if ingest.reasons.empty:
        st.success("No rows quarantined.")
    else:
        reasons = ingest.reasons["reason"].nunique()
        ui.chart(
            alt.Chart(ingest.reasons)
            .mark_bar()
            .encode(
                x=alt.X("rows:Q", title="Rows"),
                y=alt.Y("reason:N", sort="-x", title=None, axis=alt.Axis(labelLimit=360)),
                color=alt.Color("table:N", title="Table", scale=alt.Scale(scheme="tableau10")),
                tooltip=["table:N", "reason:N", "rows:Q"],
            )
            .properties(height=max(120, 26 * reasons))  # one readable row per reason
        )
    st.subheader("Imputed values")
    if ingest.imputed.empty:
        st.success("No values imputed.")
    else:
        st.dataframe(ingest.imputed, hide_index=True, width="stretch")

    st.subheader("Freshness of batch sources")
    fresh = tables[["table", "last_ingested_at"]].copy()
    fresh["age_hours"] = (
        pd.Timestamp.now(tz="UTC") - pd.to_datetime(fresh["last_ingested_at"], utc=True)
    ).dt.total_seconds() / 3600
    st.dataframe(
        fresh,
        hide_index=True,
        width="stretch",
        column_config={"age_hours": st.column_config.NumberColumn("age", format="%.1f h")},
    )

st.subheader("Checks of the latest quality run")
results = ui.call("dq_results")
if results is None:
    ui.not_yet("dq_results")
else:
    run = results.iloc[0]
    checked_at = pd.Timestamp(run["checked_at"])
    st.caption(f"Run {run['run_id']} at {checked_at:%Y-%m-%d %H:%M:%S} UTC: {len(results)} checks.")
    counts = results.groupby(["check_type", "status"], as_index=False).size().rename(columns={"size": "checks"})
    ui.chart(
        alt.Chart(counts)
        .mark_bar()
        .encode(
            x=alt.X("checks:Q", title="Checks"),
            y=alt.Y("check_type:N", title=None),
            color=alt.Color("status:N", title="Status", scale=STATUS_COLORS),
            tooltip=["check_type:N", "status:N", "checks:Q"],
        )
        .properties(height=220)
    )
    st.dataframe(
        results[["status", "severity", "check_type", "check_name", "failing_rows", "detail", "target", "check_date"]],
        hide_index=True,
        width="stretch",
        column_config={
            "check_name": st.column_config.TextColumn("check", width="medium"),
            "detail": st.column_config.TextColumn("detail", width="large"),
        },
    )

st.subheader("Alerts")
alerts = ui.call("alert_log", 200)
if alerts is None:
    ui.not_yet("alert_log")
else:
    st.dataframe(alerts, hide_index=True, width="stretch")
