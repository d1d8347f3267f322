"""What the lake holds: the committed files of each raw table, and each table's schema.

This is the one answer every reader of `raw/` and `quarantine/` uses (reference checks, volume
checks, the simulator, promotion, dbt's `raw.<table>` views), so none of them globs folders that a
crashed or running writer may have left half-filled:

- a batch table's committed files are the outputs its ledger records list (current epoch);
- a stream table's committed files are those whose first offset its checkpoint covers (the
  checkpoint is the stream writer's commit point; files a crash left behind start at or after it).

A table with no committed file still has a schema (`table_schema`), so readers can represent it as
an empty table with the right columns instead of failing on an empty folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import polars as pl

from .batch.contract import CONTRACT_DTYPES, LINEAGE_DTYPES, Contract, load_contracts
from .batch.ledger import Zone, committed_rels
from .lake import CLICKSTREAM_TABLE, Lake, StreamFileId

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


# -- batch -------------------------------------------------------------------------------------


# -- stream ------------------------------------------------------------------------------------


def stream_checkpoints(lake: Lake, table: str) -> dict[str, dict[int, int]]:
    """Per topic (as the lake records it): the next offset per partition that the lake holds."""
    base = lake.stream_checkpoint_dir(table)
    out: dict[str, dict[int, int]] = {}
    if not base.is_dir():
        return out
    for path in sorted(base.glob("*.json")):
        payload = json.loads(path.read_text(encoding="utf-8"))
        out[payload.get("topic", path.stem)] = {int(p): int(o) for p, o in payload["next_offsets"].items()}
    return out


def stream_file_committed(file_id: StreamFileId, checkpoints: dict[str, dict[int, int]]) -> bool:
    """A stream file is committed iff its topic's checkpoint covers its first offset."""
    return file_id.first_offset < checkpoints.get(file_id.topic, {}).get(file_id.partition, 0)


def committed_stream_files(lake: Lake, table: str) -> list[Path]:
    checkpoints = stream_checkpoints(lake, table)
    out: list[Path] = []
    for part_dir in lake.stream_partition_dirs(table):
        try:
            entries = list(os.scandir(part_dir))
        except FileNotFoundError:  # swapped away by compaction this instant; its files moved on
            continue
        for entry in entries:
            if entry.name.startswith(".") or not entry.name.endswith(".parquet"):
                continue
            file_id = StreamFileId.parse(entry.name.removesuffix(".parquet"))
            if file_id is not None and stream_file_committed(file_id, checkpoints):
                out.append(Path(entry.path))
    return sorted(out)


# -- either ------------------------------------------------------------------------------------


def committed_files(
    lake: Lake, table: str, zone: Zone = "raw", contracts: dict[str, Contract] | None = None
) -> list[Path]:
    """The files of `table` in `zone` that the lake has committed (batch: ledger; stream: checkpoint)."""
    contracts = _contracts(contracts)
    if table in contracts or lake.ledger_table_dir(table).is_dir():
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
    frame = pl.scan_parquet(files, hive_partitioning=hive, hive_schema=schema.partitions if hive else None)
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
