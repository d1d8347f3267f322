"""Quality tables in the lake, copied into the warehouse so readers see them in the snapshot.

The lake is the record (`quality/<table>/*.parquet`, one atomic file per run; alerts in
`alerts/alerts.jsonl`): it does not care
which dbt target ran, survives a rebuilt warehouse, and a run never rewrites earlier files. On the
DuckDB target, `publish_quality_tables` copies every quality table into the live warehouse and
publishes a new snapshot, so the dashboard and reports read them like any mart and never the
live file.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import duckdb
import polars as pl

from ..errors import ShopLakeError
from ..lake import Lake, write_parquet_atomic
from ..settings import Settings

# Tables this package owns; each is `quality/<name>/*.parquet` in the lake and `main.<name>` in the warehouse.
QUALITY_TABLES = ("dq_results", "sales_forecast")
ALERT_LOG_TABLE = "alert_log"  # from the lake's alerts/alerts.jsonl
LATEST = "latest"  # file name for tables that hold only the newest version (sales_forecast)


def new_run_id() -> str:
    """Sortable and unique: UTC time first, then a random suffix."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ-") + uuid.uuid4().hex[:6]


def append_rows(lake: Lake, table: str, df: pl.DataFrame, run_id: str | None = None) -> Path | None:
    """Add one run's rows as a new file (nothing is rewritten); empty frames write nothing."""
    if df.is_empty():
        return None
    return write_parquet_atomic(df, lake.quality_file(table, run_id or new_run_id()))


def replace_rows(lake: Lake, table: str, df: pl.DataFrame) -> Path:
    """Replace a table that keeps only its newest version, atomically."""
    return write_parquet_atomic(df, lake.quality_file(table, LATEST))


def read_rows(lake: Lake, table: str) -> pl.DataFrame:
    """All rows of a quality table (empty frame when nothing was written yet)."""
    files = sorted(lake.quality_dir(table).glob("*.parquet"))
    if not files:
        return pl.DataFrame()
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")


def publish_quality_tables(settings: Settings, *, target: str | None = None) -> Path | None:
    """Copy the quality tables into the DuckDB warehouse and publish a snapshot (dev target only)."""
    if (target or settings.dbt_target) != "dev":
        return None
    from ..warehouse.serving import publish_snapshot, release_dbt_duckdb

    lake = Lake(settings.lake_dir)
    if not lake.warehouse_path.exists():
        raise ShopLakeError(f"no warehouse at {lake.warehouse_path}; run `shoplake transform` first")
    release_dbt_duckdb()
    try:
        con = duckdb.connect(str(lake.warehouse_path))
    except duckdb.IOException as exc:
        raise ShopLakeError(f"the warehouse is busy (another writer holds it): {exc}") from exc
    try:
        for table in QUALITY_TABLES:
            if any(lake.quality_dir(table).glob("*.parquet")):
                con.execute(
                    f"create or replace table main.{table} as "  # table names are constants above
                    "select * from read_parquet(?, union_by_name = true)",
                    [lake.quality_glob(table)],
                )
        if lake.alert_log.exists():
            con.execute(
                f"create or replace table main.{ALERT_LOG_TABLE} as select "
                "cast(raised_at as timestamptz) as raised_at, alert_key, source, severity, title, detail, "
                "cast(context as varchar) as context, delivery, delivery_attempts, delivery_error "
                "from read_json(?, format = 'newline_delimited', columns = {raised_at: 'varchar', "
                "alert_key: 'varchar', source: 'varchar', severity: 'varchar', title: 'varchar', detail: 'varchar', "
                "context: 'json', delivery: 'varchar', delivery_attempts: 'bigint', delivery_error: 'varchar'})",
                [str(lake.alert_log)],
            )
    finally:
        con.close()
    return publish_snapshot(lake)
