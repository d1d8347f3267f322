"""The stream's commit record: the checkpoint, recovery from it, and the writer lock.

The checkpoint (`ledger/_stream/<table>/<topic>.json`) is the one commit point of the stream writer,
for new data and for compaction alike, so nothing relies on renaming files (object stores have no
rename). A stream file is committed iff

1. the checkpoint covers its first offset (`first < next_offsets[partition]`): a flush's files;
2. its compaction generation (`.c<n>` in its name; 0 for a flush's file) is at most the
   checkpoint's `generation`: a file compaction merged becomes visible when the checkpoint that
   counts its compaction is written;
3. the checkpoint does not list it as `retired`: the files a merge replaced disappear from the
   committed set in that same checkpoint, and are deleted `RETIRED_GRACE_S` later (readers that
   listed them just before, such as a long dbt build, can still read them).

`recover` deletes what a crashed writer left uncommitted (files past the checkpoint, merges of an
uncounted compaction, local spool files), so the next start rewrites it from the broker exactly once.
The checkpoint is replaced with a conditional write (`storage.replace_json`): if another writer
(another machine, whose lock this one cannot see) wrote it since, this writer stops.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .. import locks, storage
from ..errors import ShopLakeError
from ..lake import Lake, StreamFileId
from ..storage import LakePath

WRITER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
RETIRED_GRACE_S = 300.0  # files compaction replaced stay this long after the checkpoint retired them


@dataclass(frozen=True)
class Retirement:
    at: float  # time.time() of the checkpoint that retired the files
    files: tuple[str, ...]  # paths relative to the table's raw folder (`event_date=<d>/<name>.parquet`)


@dataclass
class Checkpoint:
    """One topic's checkpoint as the lake holds it (`version`: what it was read at, for the next write)."""

    topic: str
    next_offsets: dict[int, int] = field(default_factory=dict)
    generation: int = 0  # compactions committed so far
    retired: list[Retirement] = field(default_factory=list)
    version: str | None = None
    exists: bool = False

    @classmethod
    def from_payload(cls, payload: dict[str, Any], topic: str, version: str | None = None) -> Checkpoint:
        compaction = payload.get("compaction") or {}
        retired = [Retirement(float(r["at"]), tuple(r["files"])) for r in compaction.get("retired", [])]
        offsets = {int(p): int(o) for p, o in payload.get("next_offsets", {}).items()}
        return cls(payload.get("topic", topic), offsets, int(compaction.get("generation", 0)), retired, version, True)

    def payload(self) -> dict[str, Any]:
        return {
            # Who wrote it, when: every write differs, so an object store's ETag (a hash of the
            # content) changes with each one and the conditional replace catches any other writer.
            "written_by": WRITER_ID,
            "written_at": time.time(),
            "topic": self.topic,
            "next_offsets": {str(p): o for p, o in sorted(self.next_offsets.items())},
            "compaction": {
                "generation": self.generation,
                "retired": [{"at": r.at, "files": list(r.files)} for r in self.retired],
            },
        }

    @property
    def retired_files(self) -> frozenset[str]:
        return frozenset(f for r in self.retired for f in r.files)

    def covers(self, file_id: StreamFileId, rel: str, retired: frozenset[str] | None = None) -> bool:
        """Whether the file (`rel`: its path under the table's raw folder) is committed (module docstring)."""
        if file_id.first_offset >= self.next_offsets.get(file_id.partition, 0):
            return False
        if file_id.generation > self.generation:
            return False
        return rel not in (self.retired_files if retired is None else retired)


@contextmanager
def writer_lock(lake: Lake, table: str, topic: str) -> Iterator[None]:
    """One writer per topic and lake; the kernel drops the lock when the process dies (kill -9)."""
    with locks.hold(
        lake, locks.stream_writer(table, topic), command="shoplake stream", wait=False,
        busy_hint="one stream writer per topic and lake: stop the other one first",
    ):  # fmt: skip
        yield


def load_checkpoint(lake: Lake, table: str, topic: str) -> Checkpoint:
    payload, version = storage.read_json_versioned(lake.stream_checkpoint(table, topic))
    if payload is None:
        return Checkpoint(topic)
    return Checkpoint.from_payload(payload, topic, version)


def checkpoints(lake: Lake, table: str) -> list[Checkpoint]:
    """Every topic's checkpoint of a table."""
    paths = [f.path for f in storage.list_files(lake.stream_checkpoint_dir(table))
             if f.path.name.endswith(".json") and not f.path.name.startswith(".")]  # fmt: skip
    return [Checkpoint.from_payload(p, path.stem) for path, p in zip(paths, storage.read_many(paths, storage.read_json),
                                                                    strict=True) if p is not None]  # fmt: skip


def read_checkpoint(lake: Lake, table: str, topic: str) -> dict[int, int]:
    return load_checkpoint(lake, table, topic).next_offsets


def save_checkpoint(lake: Lake, table: str, checkpoint: Checkpoint) -> None:
    """The commit point: replaced whole, after the files it covers are in place, only if nobody else
    wrote it since this writer read it."""
    try:
        checkpoint.version = storage.replace_json(
            lake.stream_checkpoint(table, checkpoint.topic), checkpoint.payload(), version=checkpoint.version
        )
    except storage.ConcurrentWrite as exc:
        raise ShopLakeError(
            f"stream: the checkpoint of {checkpoint.topic} was written by another writer (another machine?); "
            "stopping: one stream writer per topic and lake"
        ) from exc
    checkpoint.exists = True


def write_checkpoint(lake: Lake, table: str, topic: str, next_offsets: dict[int, int]) -> None:
    """Advance a topic's offsets (keeping its compaction state): for landing without a writer loop."""
    checkpoint = load_checkpoint(lake, table, topic)
    checkpoint.next_offsets = dict(next_offsets)
    save_checkpoint(lake, table, checkpoint)


@dataclass(frozen=True)
class StreamObject:
    """A stream or dead-letter file as listed: its path, identity and size."""

    path: LakePath
    rel: str  # under the table's raw folder
    file_id: StreamFileId
    size: int
    mtime: float  # when it was written (an object's last-modified time)


def list_stream_files(lake: Lake, table: str, partition_dir: LakePath | None = None) -> list[StreamObject]:
    """Stream-named Parquet files of a table (or of one date partition), committed or not."""
    base = lake.raw_dir(table)
    listing = storage.list_files(partition_dir if partition_dir is not None else base, recursive=partition_dir is None)
    out = []
    for info in listing:
        name = info.path.name
        if name.startswith(".") or not name.endswith(".parquet"):
            continue
        file_id = StreamFileId.parse(name.removesuffix(".parquet"))
        if file_id is not None:
            rel = info.path.relative_to(base).as_posix()  # type: ignore[arg-type]
            out.append(StreamObject(info.path, rel, file_id, info.size, info.mtime))
    return out


def recover(lake: Lake, table: str, topic: str) -> Checkpoint:
    """Resume point from the lake; deletes what no checkpoint committed (see the module docstring)."""
    storage.delete_tree(lake.spool_dir(table))  # files being built when the writer died (local disk)
    checkpoint = load_checkpoint(lake, table, topic)
    files = [f for f in list_stream_files(lake, table) if f.file_id.topic == topic]
    if not lake.is_remote:  # local writes cut short: hidden temporary files beside their final names
        for part_dir in lake.stream_partition_dirs(table):
            storage.delete_many([i.path for i in storage.list_files(part_dir) if storage.is_temp(i.path.name)])
    dead = []
    for info in storage.list_files(lake.deadletter_dir(table)):
        file_id = StreamFileId.parse(info.path.stem) if info.path.name.endswith(".parquet") else None
        if file_id is not None and file_id.topic == topic:
            dead.append((info.path, file_id))
    if not checkpoint.exists:
        # A writer records an (empty) checkpoint before its first flush, so files without any
        # checkpoint mean it was removed by hand: trust the files rather than delete the lake, keeping
        # of a merged file and the files it replaced only the merged one (the same rows).
        merged = [f for f in files if f.file_id.generation]
        replaced = [f for f in files if any(_within(f, m) for m in merged)]
        storage.delete_many([f.path for f in replaced])
        files = [f for f in files if f not in replaced]
        for f in files:
            p = f.file_id.partition
            checkpoint.next_offsets[p] = max(checkpoint.next_offsets.get(p, 0), f.file_id.last_offset + 1)
        checkpoint.generation = max((f.file_id.generation for f in files), default=0)
        if files:
            where = lake.stream_checkpoint(table, topic)
            print(f"stream: no checkpoint at {where}; resuming after the files found", file=sys.stderr)
        save_checkpoint(lake, table, checkpoint)
        return checkpoint
    retired = checkpoint.retired_files
    uncommitted = [f.path for f in files if f.rel not in retired and not checkpoint.covers(f.file_id, f.rel, retired)]
    uncommitted += [path for path, file_id in dead if file_id.first_offset >= checkpoint.next_offsets.get(
        file_id.partition, 0)]  # fmt: skip
    storage.delete_many(uncommitted)
    if expire_retired(lake, table, checkpoint):  # a stopped writer's retirements, past their grace period
        save_checkpoint(lake, table, checkpoint)
    return checkpoint


def _within(f: StreamObject, merged: StreamObject) -> bool:
    """`f` is one of the files `merged` replaced: same folder and partition, an older generation, inside its offsets."""
    a, m = f.file_id, merged.file_id
    same_folder = f.rel.rsplit("/", 1)[0] == merged.rel.rsplit("/", 1)[0]
    return same_folder and a.partition == m.partition and a.generation < m.generation and (
        m.first_offset <= a.first_offset and a.last_offset <= m.last_offset)  # fmt: skip


def expire_retired(lake: Lake, table: str, checkpoint: Checkpoint, *, now: float | None = None) -> bool:
    """Delete files retired longer than the grace period ago and forget them (in the next checkpoint
    write). Deleting first is safe: the checkpoint already excludes them. True when something expired."""
    now = time.time() if now is None else now
    due = [r for r in checkpoint.retired if now - r.at >= RETIRED_GRACE_S]
    if not due:
        return False
    base = lake.raw_dir(table)
    storage.delete_many([base / f for r in due for f in r.files])
    checkpoint.retired = [r for r in checkpoint.retired if r not in due]
    return True
