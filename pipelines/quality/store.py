"""Publication of the results tables to readers on the DuckDB target (a stop-gap until dbt models them).

The lake is the record (`results/<table>/<run_id>.parquet`, written by pipelines/results.py): it
does not care which dbt target ran, survives a rebuilt warehouse, and a run never rewrites earlier
files. `publish_quality_tables` copies them into the live warehouse and publishes a new snapshot,
so the dashboard and reports read them like any mart and never the live file. Writing and
publishing are separate steps: callers write, then publish.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from .. import storage
from ..errors import ShopLakeError
from ..lake import Lake
from ..results import ALERT_LOG, DQ_RESULTS, SALES_FORECAST, result_files
from ..settings import Settings

# table -> the select over its files (`files`) that becomes `main.<table>`
_PUBLISH_SQL = {
    DQ_RESULTS: "select * from read_parquet($files)",
    # one file per forecast run; readers see the newest run only
    SALES_FORECAST: "select * from read_parquet($files) qualify generated_at = max(generated_at) over ()",
    ALERT_LOG: "select * from read_parquet($files)",
}


def publish_quality_tables(settings: Settings, *, target: str | None = None) -> Path | None:
    """Copy the results tables into the DuckDB warehouse and publish a snapshot (dev target only)."""
    if (target or settings.dbt_target) != "dev":
        return None
    from ..warehouse.serving import publish_snapshot, release_dbt_duckdb

    lake = Lake.of(settings)
    if not lake.warehouse_path.exists():
        raise ShopLakeError(f"no warehouse at {lake.warehouse_path}; run `shoplake transform` first")
    release_dbt_duckdb()
    try:
        con = storage.connect_duckdb(lake.uri, str(lake.warehouse_path))
    except duckdb.IOException as exc:
        raise ShopLakeError(f"the warehouse is busy (another writer holds it): {exc}") from exc
    try:
        for table, select in _PUBLISH_SQL.items():
            files = [str(p) for p in result_files(lake, table)]
            if files:  # table names are the constants above
                con.execute(f"create or replace table main.{table} as {select}", {"files": files})
    finally:
        con.close()
    return publish_snapshot(lake)
