"""Test lakes for the flow tests: fresh generated exports, and a lake whose data breaks a dbt test."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from pipelines.generate.batch import REFERENCE_END_DATE, generate_exports
from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.storage import write_parquet_atomic

from ..helpers import commit_raw_file

SCALE = 0.01  # ~10k orders: a dbt build takes a few seconds
BROKEN_TEST = "accepted_values_stg_shop__orders_order_status"


def make_lake(root: Path) -> Lake:
    """A lake with generated exports in its landing area (nothing ingested yet)."""
    generate_exports(Settings(lake_dir=root), scale=SCALE, seed=7, end_date=REFERENCE_END_DATE)
    return Lake(root).ensure()


def add_order_with_unknown_status(lake: Lake) -> Path:
    """Land one order whose status the contract would reject, as a buggy writer might.

    The accepted_values test on stg_shop__orders.order_status (error severity) then fails the build.
    Nothing in the repo's dbt project changes: the broken fixture is the data.
    """
    files = sorted(lake.raw_dir("orders").rglob("*.parquet"))
    assert files, "ingest the lake before breaking it"
    all_ids = pl.read_parquet(lake.raw_glob("orders"), hive_partitioning=False)["order_id"]
    template = pl.read_parquet(files[0], hive_partitioning=False).head(1)
    bad = template.with_columns(
        pl.lit(int(all_ids.max()) + 1, dtype=template.schema["order_id"]).alias("order_id"),
        pl.lit("lost_in_transit").alias("order_status"),
        pl.lit("orders-buggy-writer.csv").alias("_source_file"),
        # Stamped when it lands, as every writer of the lake stamps its rows: incremental builds pick
        # up rows ingested after their last build (docs/incremental.md).
        pl.lit(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), dtype=template.schema["_ingested_at"]).alias(
            "_ingested_at"
        ),
    )
    return commit_raw_file(lake, "orders", write_parquet_atomic(bad, files[0].with_name("orders-buggy-writer.parquet")))
