"""Ingestion roll-ups for the Data quality page, from the lake's ledger (one record per ingested file).

The ledger is the record of what each batch ingest landed, quarantined and imputed, so the page
reads it directly: it is fresher than any dbt build and exists before the first one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..batch.ledger import read_ledger
from ..lake import Lake
from ..settings import Settings


@dataclass(frozen=True)
class IngestionSummary:
    tables: pd.DataFrame  # table, files, rows_in, landed, quarantined, imputed, last_ingested_at
    reasons: pd.DataFrame  # table, reason, rows
    imputed: pd.DataFrame  # table, column, rows


def ingestion_summary(settings: Settings) -> IngestionSummary:
    """Per table: files, rows in/landed/quarantined/imputed and last ingest; quarantine reasons; imputations."""
    records = read_ledger(Lake.of(settings))
    tables = pd.DataFrame(
        [
            {
                "table": r.table,
                "files": 1,
                "rows_in": r.rows_in,
                "landed": r.rows_landed,
                "quarantined": r.rows_quarantined,
                "imputed": sum(r.imputed.values()),
                "last_ingested_at": pd.Timestamp(r.ingested_at),
            }
            for r in records
        ],
        columns=["table", "files", "rows_in", "landed", "quarantined", "imputed", "last_ingested_at"],
    )
    if len(tables):
        tables = tables.groupby("table", as_index=False).agg(
            files=("files", "sum"),
            rows_in=("rows_in", "sum"),
            landed=("landed", "sum"),
            quarantined=("quarantined", "sum"),
            imputed=("imputed", "sum"),
            last_ingested_at=("last_ingested_at", "max"),
        )
    reasons = pd.DataFrame(
        [{"table": r.table, "reason": k, "rows": v} for r in records for k, v in r.quarantine_reasons.items()],
        columns=["table", "reason", "rows"],
    )
    if len(reasons):
        reasons = reasons.groupby(["table", "reason"], as_index=False)["rows"].sum()
    imputed = pd.DataFrame(
        [{"table": r.table, "column": k, "rows": v} for r in records for k, v in r.imputed.items()],
        columns=["table", "column", "rows"],
    )
    if len(imputed):
        imputed = imputed.groupby(["table", "column"], as_index=False)["rows"].sum()
    return IngestionSummary(tables=tables, reasons=reasons, imputed=imputed)
