"""The stream's commit record: the checkpoint (next offset per partition), recovery from it, and the writer lock.

A stream file is committed iff the checkpoint covers its first offset. `recover` deletes what a
crashed writer left uncommitted, so the next start rewrites it from the broker exactly once.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import locks
from ..lake import Lake, StreamFileId, write_json_atomic
from .compaction import remove_leftovers, stream_files


@contextmanager
def writer_lock(lake: Lake, table: str, topic: str) -> Iterator[None]:
    """One writer per topic and lake; the kernel drops the lock when the process dies (kill -9)."""
    with locks.hold(
        lake, locks.stream_writer(table, topic), command="shoplake stream", wait=False,
        busy_hint="one stream writer per topic and lake: stop the other one first",
    ):  # fmt: skip
        yield


def read_checkpoint(lake: Lake, table: str, topic: str) -> dict[int, int]:
    path = lake.stream_checkpoint(table, topic)
    if not path.exists():
        return {}
    return {int(k): int(v) for k, v in json.loads(path.read_text(encoding="utf-8"))["next_offsets"].items()}


def recover(lake: Lake, table: str, topic: str) -> dict[int, int]:
    """Resume point from the lake; deletes files of flushes that crashed before their checkpoint."""
    remove_leftovers(lake, table)
    next_offsets = read_checkpoint(lake, table, topic)
    candidates: list[tuple[Path, StreamFileId]] = []
    for part_dir in lake.stream_partition_dirs(table):
        for entry in os.scandir(part_dir):
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                os.unlink(entry.path)  # a write cut short; never visible to readers
        candidates += [(f.path, f.file_id) for f in stream_files(part_dir) if f.file_id.topic == topic]
    dl_dir = lake.deadletter_dir(table)
    if dl_dir.is_dir():
        for path in dl_dir.glob("*.parquet"):
            file_id = StreamFileId.parse(path.stem)
            if file_id is not None and file_id.topic == topic:
                candidates.append((path, file_id))
    checkpoint = lake.stream_checkpoint(table, topic)
    if not checkpoint.exists():
        # A writer records an (empty) checkpoint before its first flush, so files without any
        # checkpoint mean it was removed by hand: trust the files rather than delete the lake.
        for _path, file_id in candidates:
            next_offsets[file_id.partition] = max(next_offsets.get(file_id.partition, 0), file_id.last_offset + 1)
        if candidates:
            print(f"stream: no checkpoint at {checkpoint}; resuming after the files found", file=sys.stderr)
        write_checkpoint(lake, table, topic, next_offsets)
        return next_offsets
    for path, file_id in candidates:
        if file_id.first_offset >= next_offsets.get(file_id.partition, 0):
            path.unlink()
    return next_offsets


def write_checkpoint(lake: Lake, table: str, topic: str, next_offsets: dict[int, int]) -> None:
    """The commit point: replaced atomically, after the files it covers are in place."""
    payload = {"topic": topic, "next_offsets": {str(p): o for p, o in sorted(next_offsets.items())}}
    write_json_atomic(lake.stream_checkpoint(table, topic), payload)
