"""Keys of referenced tables, as the lake holds them once this run's pending writes are done.

A reference check (order_items.order_id -> orders.order_id) must see every key landed so far,
including those of files this run landed moments ago whose Parquet is still being written in the
background. Keys landed in this run are kept in memory (a few MB) and only files written before
this run are read from disk, so the check need not wait for the writes: at scale 1, waiting for
the orders partitions held up order_items' validation by ~0.2 s.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import polars as pl

from ..lake import Lake
from .contract import Contract
from .writer import OrderedWriter


def read_lake_keys(lake: Lake, table: str, key: str) -> pl.Series:
    """Every value of `key` in the table's raw files (an Int64 empty series when it has none)."""
    if not any(lake.raw_dir(table).rglob("*.parquet")):
        return pl.Series(key, [], dtype=pl.Int64)
    return pl.scan_parquet(lake.raw_glob(table), hive_partitioning=True).select(key).collect()[key]


class ReferenceKeys:
    """Referenced keys = keys in raw files from earlier runs + keys of the good rows landed in this run."""

    def __init__(self, lake: Lake, contracts: dict[str, Contract], writer: OrderedWriter) -> None:
        self._lake = lake
        self._writer = writer
        columns = {table: {c.name for c in contract.columns} for table, contract in contracts.items()}
        # Per referenced table, the referenced columns that are contract columns (kept in memory).
        self._kept: dict[str, set[str]] = defaultdict(set)
        for contract in contracts.values():
            for ref in contract.references:
                if ref.key in columns.get(ref.table, ()):
                    self._kept[ref.table].add(ref.key)
        self._landed: dict[str, list[pl.DataFrame]] = defaultdict(list)
        self._written: dict[str, set[Path]] = defaultdict(set)

    def add(self, table: str, good: pl.DataFrame, raw_files: list[Path]) -> None:
        """Record a file's landed rows and the raw files they will be written to."""
        self._written[table].update(raw_files)
        if self._kept.get(table):
            self._landed[table].append(good.select(sorted(self._kept[table])))

    def get(self, table: str, key: str) -> pl.Series:
        if key not in self._kept.get(table, ()):
            # Not a contract column (e.g. a hive partition name): read the lake as written.
            self._writer.wait(table)
            return read_lake_keys(self._lake, table, key)
        earlier = [p for p in self._lake.raw_dir(table).rglob("*.parquet") if p not in self._written[table]]
        parts = [frame[key] for frame in self._landed[table]]
        if earlier:
            parts.insert(0, pl.scan_parquet(earlier, hive_partitioning=True).select(key).collect()[key])
        return pl.concat(parts) if parts else pl.Series(key, [], dtype=pl.Int64)
