"""Compaction of small stream files, committed by the checkpoint like every other stream write.

No folder is swapped and nothing is renamed, so the same protocol holds on an object store:

1. pick runs of >= 2 consecutive small committed files of one topic partition in a date folder;
2. write each run's rows as one new file named after the run's offsets and the next compaction
   generation (`<topic>__p<NNN>__<first>-<last>.c<gen>.parquet`): invisible to readers, because the
   checkpoint still counts `gen - 1` compactions;
3. the caller writes the checkpoint with `generation = gen` and the run's files listed as retired:
   in that one write the merged files become committed and the small ones stop being committed;
4. retired files are deleted once `RETIRED_GRACE_S` has passed (checkpoint.expire_retired).

A reader therefore sees the small files or the merged one, never both and never neither; a crash
before step 3 leaves merged files of an uncounted generation, which `checkpoint.recover` deletes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .. import storage
from ..lake import CLICKSTREAM_TABLE, Lake, StreamFileId
from ..storage import LakePath
from .checkpoint import Checkpoint, Retirement, StreamObject, list_stream_files

SMALL_FILE_BYTES = 8 << 20
MAX_MERGED_BYTES = 64 << 20


@dataclass(frozen=True)
class StreamFile:
    path: LakePath
    file_id: StreamFileId
    size: int


def stream_files(partition_dir: LakePath) -> list[StreamFile]:
    """Stream-named files of one date partition, committed or not (temp files and others ignored)."""
    out = []
    for info in storage.list_files(partition_dir):
        name = info.path.name
        if name.startswith(".") or not name.endswith(".parquet"):
            continue
        file_id = StreamFileId.parse(name[: -len(".parquet")])
        if file_id is not None:
            out.append(StreamFile(info.path, file_id, info.size))
    return out


def committed_in(lake: Lake, table: str, partition_dir: LakePath, checkpoint: Checkpoint) -> list[StreamObject]:
    """The files of `checkpoint`'s topic in one date partition that it commits."""
    retired = checkpoint.retired_files
    return [
        f for f in list_stream_files(lake, table, partition_dir)
        if f.file_id.topic == checkpoint.topic and checkpoint.covers(f.file_id, f.rel, retired)
    ]  # fmt: skip


def merge_groups(files: list[StreamObject]) -> list[list[StreamObject]]:
    """Runs of >= 2 consecutive small files of one topic partition, each capped in size."""
    groups: list[list[StreamObject]] = []
    by_partition: dict[tuple[str, int], list[StreamObject]] = {}
    for f in files:
        by_partition.setdefault((f.file_id.topic, f.file_id.partition), []).append(f)
    for part_files in by_partition.values():
        run: list[StreamObject] = []
        for f in sorted(part_files, key=lambda f: f.file_id.first_offset):
            if f.size >= SMALL_FILE_BYTES or sum(x.size for x in run) + f.size > MAX_MERGED_BYTES:
                if len(run) >= 2:
                    groups.append(run)
                run = [] if f.size >= SMALL_FILE_BYTES else [f]
                continue
            run.append(f)
        if len(run) >= 2:
            groups.append(run)
    return groups


def compact_partition(
    lake: Lake, partition_dir: LakePath, checkpoint: Checkpoint, table: str = CLICKSTREAM_TABLE
) -> int:
    """Write merged files for the runs of small committed files in one date partition and record them
    in `checkpoint` (generation + retired files); the caller's checkpoint write commits them.

    Returns how many files the merges take away. Only the stream writer calls this (it holds the
    writer lock), so no flush races with it. Every partition compacted before one checkpoint write
    shares the generation: call with the same `checkpoint` object.
    """
    groups = merge_groups(committed_in(lake, table, partition_dir, checkpoint))
    if not groups:
        return 0
    generation = checkpoint.generation + 1
    retired: list[str] = []
    for group in groups:
        ids = [f.file_id for f in group]
        merged_id = StreamFileId(ids[0].topic, ids[0].partition, ids[0].first_offset, ids[-1].last_offset, generation)
        final = partition_dir / f"{merged_id.name}.parquet"
        tmp = storage.spool_path(final, lake.spool_dir(table))
        try:
            _merge_files([f.path for f in group], tmp)
            storage.publish_spool(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        retired += [f.rel for f in group]
    checkpoint.generation = generation
    checkpoint.retired.append(Retirement(time.time(), tuple(retired)))
    return len(retired) - len(groups)


def _merge_files(paths: list[LakePath], out: Path) -> None:
    """Concatenate Parquet files in offset order with polars' streaming engine, so memory stays flat.

    Measured on 11 files (11 MB) of one partition: 0.18 s, against 0.38-0.52 s copying record
    batches through a pyarrow ParquetWriter, at the same peak RSS.
    """
    schemas = [storage.open_parquet(p).schema_arrow for p in paths]
    if any(not s.equals(schemas[0]) for s in schemas[1:]):  # contract evolved: unify in memory
        table = pa.concat_tables([storage.open_parquet(p).read() for p in paths], promote_options="default")
        pq.write_table(table, out, compression="snappy")
        return
    storage.scan_parquet(paths).sink_parquet(out, compression="snappy", maintain_order=True)
