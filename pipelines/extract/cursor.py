"""Incremental reads: the high-water mark of a cursor, kept in the ledger records that commit the rows.

Each chunk of rows an extract lands is committed by one ledger record, and that record also says
which source and cursor column the rows came from and the cursor range they cover (`extract`).
So the high-water mark is the largest `max` over the table's committed records of that source: it
can never run ahead of the rows (a crash before the record leaves both unwritten), and it goes
wherever the ledger goes (a `--reprocess` carries it into the new epoch).

The next read takes rows whose cursor is >= the mark minus the lookback, in cursor order. The rows
re-read inside the lookback that the lake already holds, with the same key and the same cursor
value, are left out (`already_landed`): they are the same versions, landed before. What remains
is exactly what changed since, including rows committed late with a cursor value behind the mark.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from ..batch.ledger import LedgerRecord, read_table_records
from ..errors import ShopLakeError
from ..lake import Lake
from .config import Cursor

KINDS = ("int", "date", "timestamp", "timestamptz")


def cursor_kind(dtype: pl.DataType, column: str) -> str:
    """What kind of cursor a column's type makes; a one-line error for a type that cannot be one."""
    if dtype.is_integer():
        return "int"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "timestamp" if dtype.time_zone is None else "timestamptz"
    raise ShopLakeError(
        f"cursor {column}: the database returns it as {dtype}; a cursor is an integer, a date or a timestamp "
        "(cast it in a `query:`, e.g. CAST(updated_at AS TIMESTAMP))"
    )


def encode(value: Any, kind: str) -> Any:
    """A cursor value as the ledger's JSON keeps it."""
    if value is None:
        return None
    if kind == "int":
        return int(value)
    if kind == "timestamptz":
        return value.astimezone(dt.timezone.utc).isoformat()
    return value.isoformat()


def decode(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "int":
        return int(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    parsed = dt.datetime.fromisoformat(value)
    return parsed.astimezone(dt.timezone.utc) if kind == "timestamptz" else parsed


@dataclass(frozen=True)
class HighWater:
    """The mark of one source's cursor on one table, and the records that carry it."""

    value: Any
    kind: str
    field: str  # the cursor's column name in the landed frames
    records: tuple[LedgerRecord, ...]

    def lower_bound(self, cursor: Cursor) -> Any:
        """Where the next read starts: the mark minus the lookback (inclusive, so ties are re-read)."""
        if self.kind == "int":
            return self.value - cursor.ids()
        lookback = cursor.duration()
        if self.kind == "date":
            return self.value - dt.timedelta(days=-(-lookback.total_seconds() // 86400))
        return self.value - lookback


def source_records(lake: Lake, table: str, source: str) -> list[LedgerRecord]:
    """The table's committed records (current epoch) that rows of this source landed with."""
    return [r for r in read_table_records(lake, table) if r.extract.get("source") == source]


def high_water(lake: Lake, table: str, source: str, column: str) -> HighWater | None:
    """The largest cursor value this source has landed for the table, or None (nothing yet, or a new cursor)."""
    records = [r for r in source_records(lake, table, source) if r.extract.get("cursor") == column]
    marked = [r for r in records if r.extract.get("max") is not None]
    if not marked:
        return None
    kind = marked[-1].extract["type"]
    best = max(marked, key=lambda r: decode(r.extract["max"], kind))
    return HighWater(decode(best.extract["max"], kind), kind, best.extract["field"], tuple(records))


def already_landed(lake: Lake, mark: HighWater, keys: list[str], lower: Any) -> pl.DataFrame:
    """Key and cursor of every row this source landed (or quarantined) with a cursor >= `lower`.

    Read from the landed frames the records name (`landing/<table>/_extracts/`), only those whose
    range reaches `lower`: the size of this set is the activity inside the lookback, not the table.
    """
    columns = [*keys, mark.field]
    frames = []
    for record in mark.records:
        top = decode(record.extract.get("max"), mark.kind)
        if top is None or top < lower or not record.source_path:
            continue
        scan = pl.scan_parquet(lake.path(record.source_path))
        frames.append(scan.select(columns).filter(pl.col(mark.field) >= lower).collect())
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="vertical_relaxed").unique()


def chunk_info(frame: pl.DataFrame, field: str, kind: str, **extra: Any) -> dict[str, Any]:
    """The `extract` entry of a chunk's ledger record: its cursor range (and what else the caller adds)."""
    values = frame[field]
    return {
        **extra,
        "field": field,
        "type": kind,
        "min": encode(values.min(), kind),
        "max": encode(values.max(), kind),
    }
