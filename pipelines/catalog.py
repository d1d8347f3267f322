"""What the lake holds: the committed files of each raw table, and each table's schema.

This is the one answer every reader of `raw/` and `quarantine/` uses (reference checks, volume
checks, the simulator, promotion, dbt's `raw.<table>` views), so none of them globs folders that a
crashed or running writer may have left half-filled:

- a batch table's committed files are the outputs its ledger records list (current epoch);
- a stream table's committed files are those its checkpoint commits (the checkpoint is the stream
  writer's commit point: it covers their first offset, counts their compaction generation and does
  not list them as retired; see `pipelines/stream/checkpoint.py`).

The same holds when the data zones are on an object store: the lists here are `LakePath`s
(`storage.ObjectPath`), read through `pipelines/storage.py` and polars; nothing relies on a rename.

A table with no committed file still has a schema (`table_schema`), so readers can represent it as
an empty table with the right columns instead of failing on an empty folder.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import polars as pl

from . import storage
from .batch.contract import CONTRACT_DTYPES, LINEAGE_DTYPES, Contract, load_contracts
from .batch.ledger import Zone, committed_rels
from .lake import CLICKSTREAM_TABLE, Lake
from .storage import LakePath
from .stream.checkpoint import StreamObject, checkpoints, list_stream_files

if TYPE_CHECKING:
    from .stream.simulator import Catalog


@dataclass(frozen=True)
class TableSchema:
    """Columns of a raw table's files, and the hive partition columns its folders add."""

    table: str
    kind: Literal["batch", "stream"]
    columns: dict[str, pl.DataType]
    partitions: dict[str, pl.DataType] = field(default_factory=dict)

    @property
    def all_columns(self) -> dict[str, pl.DataType]:
        return {**self.columns, **self.partitions}

    def empty_frame(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.all_columns)


def _contracts(contracts: dict[str, Contract] | None) -> dict[str, Contract]:
    return load_contracts() if contracts is None else contracts


def stream_tables(lake: Lake) -> list[str]:
    """Tables the stream writer lands (the clickstream always, empty until the first event)."""
    return sorted({CLICKSTREAM_TABLE, *lake.stream_tables()})


def tables(lake: Lake, contracts: dict[str, Contract] | None = None) -> list[str]:
    """Every raw table: one per batch contract, plus the stream tables; sorted by name."""
    return sorted({*_contracts(contracts), *stream_tables(lake)})


def table_schema(table: str, contracts: dict[str, Contract] | None = None) -> TableSchema:
    """The schema of a raw table's files (contract columns + lineage, or the event contract)."""
    contracts = _contracts(contracts)
    contract = contracts.get(table)
    if contract is not None:
        columns = {c.name: CONTRACT_DTYPES[c.type] for c in contract.columns} | LINEAGE_DTYPES
        partitions = {contract.partition_by.name: pl.String()} if contract.partition_by else {}
        return TableSchema(table, "batch", columns, partitions)
    if table == CLICKSTREAM_TABLE:
        from .stream.contract import EventContract

        # customer_id/product_id typed as the customers and products contracts type their keys
        events = EventContract.for_contracts(contracts)
        return TableSchema(table, "stream", dict(events.columns), {"event_date": pl.Date()})
    raise KeyError(f"{table!r} is neither a batch contract nor a stream table")


# -- stream ------------------------------------------------------------------------------------


def stream_checkpoints(lake: Lake, table: str) -> dict[str, dict[int, int]]:
    """Per topic (as the lake records it): the next offset per partition that the lake holds."""
    return {c.topic: c.next_offsets for c in checkpoints(lake, table)}


def committed_stream_objects(
    lake: Lake, table: str, partition_dirs: Iterable[LakePath] | None = None
) -> list[StreamObject]:
    """The stream files the checkpoints commit, with sizes and write times (of some date folders only,
    when given). The checkpoints are read first: files a later checkpoint commits are left out, and
    files it retired stay readable for the grace period."""
    by_topic = {c.topic: (c, c.retired_files) for c in checkpoints(lake, table)}
    if partition_dirs is None:
        listed = list_stream_files(lake, table)
    else:
        listed = [f for d in sorted(partition_dirs, key=str) for f in list_stream_files(lake, table, d)]
    out = []
    for f in listed:
        found = by_topic.get(f.file_id.topic)
        if found is not None and found[0].covers(f.file_id, f.rel, found[1]):
            out.append(f)
    return sorted(out, key=lambda f: str(f.path))


def committed_stream_files(lake: Lake, table: str) -> list[LakePath]:
    return [f.path for f in committed_stream_objects(lake, table)]


# -- either ------------------------------------------------------------------------------------


def committed_files(
    lake: Lake, table: str, zone: Zone = "raw", contracts: dict[str, Contract] | None = None
) -> list[LakePath]:
    """The files of `table` in `zone` that the lake has committed (batch: ledger; stream: checkpoint)."""
    contracts = _contracts(contracts)
    if table in contracts or storage.is_dir(lake.ledger_table_dir(table)):
        return [lake.path(rel) for rel in committed_rels(lake, table, zone)]
    if zone == "raw" and table in stream_tables(lake):
        return committed_stream_files(lake, table)
    return []


def read_committed(
    lake: Lake, table: str, columns: list[str] | None = None, contracts: dict[str, Contract] | None = None
) -> pl.DataFrame:
    """A table's committed rows (hive partition columns included), or an empty frame with its schema."""
    files = committed_files(lake, table, contracts=contracts)
    schema = table_schema(table, contracts)
    if not files:
        empty = schema.empty_frame()
        return empty.select(columns) if columns else empty
    hive = bool(schema.partitions)
    frame = storage.scan_parquet(files, hive_partitioning=hive, hive_schema=schema.partitions if hive else None)
    return (frame.select(columns) if columns else frame).collect()


def load_click_catalog(lake: Lake, customers: int = 10_000, products: int = 1_000) -> Catalog:
    """The clickstream simulator's customers and products: the lake's committed ones, else synthetic counts."""
    from .stream.simulator import catalog_from

    try:
        cust = read_committed(lake, "customers", ["customer_id"])
        prod = read_committed(lake, "products", ["product_id", "category_id"])
    except (KeyError, OSError, pl.exceptions.PolarsError):  # no such contract, or an unreadable file
        cust = prod = pl.DataFrame()
    return catalog_from(cust, prod, customers_n=customers, products_n=products)
