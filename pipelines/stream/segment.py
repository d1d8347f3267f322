"""Stream files being written and published: a `Segment` per commit, and landing without a broker.

Files are built on local disk (locally a hidden temporary file beside the final name; for an object
store under `state/spool/`) until `publish` puts each in place whole (a rename, or one PUT), named
after the offsets it covers; the caller then commits them by writing the checkpoint (checkpoint.py).
Published files are write-once: nothing ever changes them, and they are named by offsets, so a
rewrite after a crash lands under the same name.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from .. import storage
from ..lake import CLICKSTREAM_TABLE, Lake, StreamFileId
from ..storage import LakePath
from .checkpoint import read_checkpoint, write_checkpoint
from .contract import DEADLETTER_COLUMNS, SHIPPED, EventContract, parse_messages


@dataclass
class WrittenBatch:
    events: int
    dead_letters: int
    files: int
    next_offsets: dict[int, int]  # per partition, one past the last offset written
    dirs: set[LakePath]  # date folders that received a file


class Segment:
    """Stream files being written: one per (partition, event date), plus dead letters per partition.

    Each micro-batch is appended to the open files as a row group, so memory is bounded by the
    micro-batch while a file can span many of them. `publish` renames them all into place, named
    after the offsets they cover; the caller then commits by writing the checkpoint. Until then
    they are hidden temporary files, which a restarted writer deletes.
    """

    def __init__(self, lake: Lake, table: str, topic: str, events: EventContract = SHIPPED) -> None:
        self.lake, self.table, self.topic, self.contract = lake, table, topic, events
        self.opened_at = time.monotonic()
        self.events = 0
        self.dead_letters = 0
        self.largest_file_bytes = 0
        self._files: dict[tuple[int, str], tuple[Path, pq.ParquetWriter]] = {}
        self._first: dict[int, int] = {}
        self._last: dict[int, int] = {}
        self._dead: dict[int, dict[str, list[Any]]] = {}

    def __bool__(self) -> bool:
        return bool(self._first)

    def append(
        self,
        values: list[bytes | None],
        partitions: list[int],
        offsets: list[int],
        keys: Callable[[int], bytes | None] = lambda _row: None,
    ) -> None:
        """Parse, validate and write one micro-batch (messages of any partitions, in offset order)."""
        if not offsets:
            return
        now = datetime.now(timezone.utc)
        parsed = parse_messages(values, self.contract)
        rows = parsed.events.get_column("row")
        events = parsed.events.with_columns(
            pl.lit(self.topic).alias("source_log"),
            pl.Series(partitions, dtype=pl.Int32).gather(rows).alias("source_partition"),
            pl.Series(offsets, dtype=pl.Int64).gather(rows).alias("source_offset"),
            pl.lit(now).dt.cast_time_unit("us").alias("ingested_at"),
        ).select([pl.col(c).cast(t) for c, t in self.contract.columns.items()])
        span = (
            pl.DataFrame({"p": partitions, "o": offsets}, schema={"p": pl.Int32, "o": pl.Int64})
            .group_by("p")
            .agg(pl.col("o").min().alias("first"), pl.col("o").max().alias("last"))
        )
        for p, first, last in span.iter_rows():
            self._first.setdefault(p, first)
            self._last[p] = last
        dates = events.get_column("event_time").dt.date().cast(pl.String).alias("event_date")
        for (p, day), part in (
            events.with_columns(dates).partition_by(["source_partition", "event_date"], as_dict=True).items()
        ):
            self._write(int(p), str(day), part.drop("event_date").to_arrow())
        self.events += events.height
        for row, reason in parsed.rejected:
            cols = self._dead.setdefault(partitions[row], {c: [] for c in DEADLETTER_COLUMNS})
            for name, value in (
                ("topic", self.topic),
                ("source_partition", partitions[row]),
                ("source_offset", offsets[row]),
                ("message_key", keys(row)),
                ("payload", values[row]),
                ("reason", reason),
                ("dead_lettered_at", now),
            ):
                cols[name].append(value)
        self.dead_letters += len(parsed.rejected)

    def _write(self, partition: int, day: str, table: pa.Table) -> None:
        key = (partition, day)
        if key not in self._files:
            first = self._first[partition]
            path = self.lake.stream_file(self.table, day, StreamFileId(self.topic, partition, first, first))
            tmp = storage.spool_path(path, self.lake.spool_dir(self.table))
            self._files[key] = (tmp, pq.ParquetWriter(tmp, table.schema, compression="snappy"))
        tmp, writer = self._files[key]
        writer.write_table(table)
        self.largest_file_bytes = max(self.largest_file_bytes, tmp.stat().st_size)

    def publish(self) -> WrittenBatch:
        """Close and put every file in place (the caller then writes the checkpoint)."""
        ranges = {p: StreamFileId(self.topic, p, first, self._last[p]) for p, first in self._first.items()}
        dirs: set[LakePath] = set()
        for (p, day), (tmp, writer) in self._files.items():
            writer.close()
            path = self.lake.stream_file(self.table, day, ranges[p])
            storage.publish_spool(tmp, path)
            dirs.add(path.parent)
        for p, cols in self._dead.items():
            frame = pl.DataFrame(cols, schema=DEADLETTER_COLUMNS)
            storage.write_parquet_atomic(frame, self.lake.deadletter_file(self.table, ranges[p]))
        written = WrittenBatch(
            events=self.events,
            dead_letters=self.dead_letters,
            files=len(self._files) + len(self._dead),
            next_offsets={p: r.last_offset + 1 for p, r in ranges.items()},
            dirs=dirs,
        )
        self._files, self._dead = {}, {}
        return written

    def discard(self) -> None:
        """Close and delete the unpublished files (they would be deleted on restart anyway)."""
        for tmp, writer in self._files.values():
            with contextlib.suppress(Exception):
                writer.close()
            tmp.unlink(missing_ok=True)
        self._files = {}


def write_messages(
    lake: Lake,
    table: str,
    topic: str,
    *,
    values: list[bytes | None],
    partitions: list[int],
    offsets: list[int],
    keys: Callable[[int], bytes | None] = lambda _row: None,
    events: EventContract = SHIPPED,
) -> WrittenBatch:
    """Write one batch of messages as published stream files; the caller writes the checkpoint."""
    segment = Segment(lake, table, topic, events)
    try:
        segment.append(values, partitions, offsets, keys)
        return segment.publish()
    finally:
        segment.discard()


def land_messages(
    lake: Lake,
    payloads: list[bytes],
    topic: str,
    partition: int = 0,
    table: str = CLICKSTREAM_TABLE,
    events: EventContract = SHIPPED,
) -> WrittenBatch:
    """Land payloads without a broker, as if read from `topic`/`partition` after the checkpoint.

    For seeding demo and test lakes; a writer on the same topic resumes after these offsets.
    """
    next_offsets = read_checkpoint(lake, table, topic)
    first = next_offsets.get(partition, 0)
    written = write_messages(
        lake,
        table,
        topic,
        values=list(payloads),
        partitions=[partition] * len(payloads),
        offsets=list(range(first, first + len(payloads))),
        events=events,
    )
    next_offsets.update(written.next_offsets)
    write_checkpoint(lake, table, topic, next_offsets)
    return written
