"""The tables ShopLake computes in Python and dbt then models: their schemas, written once, and their files.

Each run that produces rows adds one file, `results/<table>/<run_id>.parquet` (nothing is rewritten),
so the lake is the record whatever target dbt builds and a rebuilt warehouse loses nothing:

- `dq_results`: one file per quality run (pipelines/quality/checks.py)
- `sales_forecast`: one file per forecast run; readers keep the newest `generated_at`
  (pipelines/analytics/forecast.py)
- `alert_log`: one file per emit of at least one alert (pipelines/alerts/)

Run ids start with the UTC time, so file names sort by time and a reader that only wants recent
runs (alert dedup) can skip older files without opening them. Each file is written whole (atomic
rename), so every file named by a run id is committed: dbt reads them all (on DuckDB through the
`raw.<table>` views of pipelines/warehouse/lake_sources.py, on Snowflake from the RAW tables that
promotion loads from the same files), and a table without files is an empty, typed view there.
"""

from __future__ import annotations

import datetime as dt
import uuid

import polars as pl

from . import storage
from .lake import Lake
from .storage import LakePath, write_parquet_atomic

DQ_RESULTS = "dq_results"
SALES_FORECAST = "sales_forecast"
ALERT_LOG = "alert_log"

# Timestamps: naive = UTC (`timestamp`); `raised_at` carries its zone (`timestamptz`).
SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    DQ_RESULTS: {
        "run_id": pl.String(), "checked_at": pl.Datetime("us"), "check_type": pl.String(),
        "check_name": pl.String(), "target": pl.String(), "severity": pl.String(), "status": pl.String(),
        "failing_rows": pl.Int64(), "detail": pl.String(), "check_date": pl.Date(),
    },
    SALES_FORECAST: {
        "forecast_date": pl.Date(), "category_id": pl.Int64(), "category_name": pl.String(),
        "revenue_forecast": pl.Float64(), "revenue_lower": pl.Float64(), "revenue_upper": pl.Float64(),
        "revenue_lower_95": pl.Float64(), "revenue_upper_95": pl.Float64(), "origin_date": pl.Date(),
        "model": pl.String(), "generated_at": pl.Datetime("us"),
    },
    ALERT_LOG: {
        "raised_at": pl.Datetime("us", "UTC"), "alert_key": pl.String(), "source": pl.String(),
        "severity": pl.String(), "title": pl.String(), "detail": pl.String(), "context": pl.String(),
        "delivery": pl.String(), "delivery_attempts": pl.Int64(), "delivery_error": pl.String(),
    },
}  # fmt: skip
TABLES = tuple(SCHEMAS)

_RUN_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"


def new_run_id(at: dt.datetime | None = None) -> str:
    """Sortable and unique: the UTC time first (`at`, default now), then a random suffix."""
    at = at or dt.datetime.now(dt.timezone.utc)
    if at.tzinfo is not None:
        at = at.astimezone(dt.timezone.utc)
    return at.strftime(_RUN_TIME_FORMAT) + "-" + uuid.uuid4().hex[:6]


def run_time(run_id: str) -> dt.datetime | None:
    """The UTC time a run id starts with (None for a name that is not a run id)."""
    try:
        return dt.datetime.strptime(run_id.split("-", 1)[0], _RUN_TIME_FORMAT).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def empty_frame(table: str) -> pl.DataFrame:
    return pl.DataFrame(schema=SCHEMAS[table])


def conform(table: str, df: pl.DataFrame) -> pl.DataFrame:
    """`df` with exactly the table's columns, in order and cast to its types; a missing column is an error."""
    schema = SCHEMAS[table]
    missing = [c for c in schema if c not in df.columns]
    extra = [c for c in df.columns if c not in schema]
    if missing or extra:
        raise ValueError(f"{table}: missing columns {missing}, unexpected columns {extra}")
    return df.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])


def write_results(lake: Lake, table: str, df: pl.DataFrame, run_id: str) -> LakePath | None:
    """Add one run's rows as `results/<table>/<run_id>.parquet` (atomic); an empty frame writes nothing."""
    if df.is_empty():
        return None
    return write_parquet_atomic(conform(table, df), lake.results_file(table, run_id))


def result_files(lake: Lake, table: str, *, since: dt.datetime | None = None) -> list[LakePath]:
    """The table's files, oldest first; with `since`, only runs that started at or after it (by name).

    Only files named by a run id: not an atomic write's temporary file, nor the zero-row `_empty.parquet`
    that lakes made before dbt modelled these tables.
    """
    files = sorted(
        (f.path for f in storage.list_files(lake.results_dir(table))
         if f.path.name.endswith(".parquet") and run_time(f.path.stem) is not None),
        key=lambda p: p.name,
    )  # fmt: skip
    if since is None:
        return files
    return [p for p in files if (at := run_time(p.stem)) is not None and at >= since]


def read_results(lake: Lake, table: str, *, since: dt.datetime | None = None) -> pl.DataFrame:
    """All rows of a results table (the empty, typed frame before the first run)."""
    files = result_files(lake, table, since=since)
    if not files:
        return empty_frame(table)
    return pl.concat([conform(table, storage.read_parquet(f)) for f in files], how="vertical")
