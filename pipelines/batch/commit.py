"""The batch commit protocol: attempt-unique output names, the ledger record as commit, recovery.

1. An ingest attempt (one run of `shoplake ingest`, or a `--reprocess`) has an id. Each source
   file's outputs are named `<stem>-<sha12>-<attempt>` (one raw file per hive partition, one
   quarantine file), so no attempt ever overwrites a file another attempt wrote or a reader lists.
2. Each output is written whole (`storage`: temp + fsync + rename locally, one PUT on an object store).
3. The ledger record, written last with a conditional create, lists the outputs (lake-relative). It
   is the commit point: readers (`pipelines/catalog.py`) read the files the records list, never a
   folder listing. Nothing is ever renamed, so the protocol is the same on an object store.
4. A crash leaves outputs no record lists (and maybe local temporary files; an object store has
   none, nor dangling multipart uploads: outputs are single PUTs). The next ingest removes them
   under the ingest lock, before it writes anything (`recover`). They were never visible.

A reprocess writes a new epoch of records, then the table's epoch pointer (its commit point); the
files of the epoch it replaces stay for `SUPERSEDED_GRACE_S`, for readers that listed them just before.
"""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .. import storage
from ..lake import Lake
from ..storage import LakePath, fsync_dir, is_temp, remove_empty_dirs
from .ledger import epoch_pointer, read_table_records, record_paths

SUPERSEDED_GRACE_S = 600.0  # files of a replaced epoch outlive the switch by this much
ZONE_FOLDERS = ("raw", "quarantine")


def new_attempt_id() -> str:
    """Unique per attempt and sortable by time: `20250601T120000-1a2b3c`."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{now}-{uuid.uuid4().hex[:6]}"


def output_stem(source_name: str, sha256: str, attempt: str) -> str:
    """Name of a source file's outputs in one attempt (the source's own stem keeps it readable)."""
    return f"{Path(source_name).stem}-{sha256[:12]}-{attempt}"


@dataclass
class Recovery:
    removed: list[str] = field(default_factory=list)  # lake-relative paths of deleted leftovers
    kept_superseded: int = 0  # files of replaced epochs still inside their grace period
    warnings: list[str] = field(default_factory=list)


def _zone_dirs(lake: Lake, table: str) -> list[LakePath]:
    return [lake.raw_dir(table), lake.quarantine_dir(table)]


def committed_outputs(lake: Lake, table: str, epoch: int) -> set[str]:
    return {o for r in read_table_records(lake, table, epoch) for o in r.outputs}


def recover(lake: Lake, tables: Iterable[str], *, now: dt.datetime | None = None) -> Recovery:
    """Remove what no committed record lists: outputs of crashed attempts, temp files, unfinished epochs.

    Call only under the ingest lock: with it, no other process is writing these folders, so every
    file a record does not list is a leftover. Stream tables are never passed here.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    recovery = Recovery()
    for table in tables:
        pointer = epoch_pointer(lake, table)
        records = read_table_records(lake, table, pointer.epoch)
        keep = {o for r in records for o in r.outputs}
        zones_ok = {
            # A record with rows but no listed file of a zone predates output lists: leave that zone alone.
            "raw": all(r.rows_landed == 0 or any(o.startswith("raw/") for o in r.outputs) for r in records),
            "quarantine": all(
                r.rows_quarantined == 0 or any(o.startswith("quarantine/") for o in r.outputs) for r in records
            ),
        }
        epochs = lake.ledger_epochs(table)
        for epoch in epochs:
            if epoch > pointer.epoch:  # a reprocess that crashed before its pointer: never committed
                recovery.removed.append(lake.rel(lake.ledger_dir(table, epoch)))
                storage.delete_tree(lake.ledger_dir(table, epoch))
            elif epoch < pointer.epoch:
                superseded_for = (now - pointer.committed_at).total_seconds() if pointer.committed_at else 1e18
                if superseded_for < SUPERSEDED_GRACE_S:
                    old = committed_outputs(lake, table, epoch) - keep
                    recovery.kept_superseded += len(old)
                    keep |= old
                else:
                    _drop_epoch_records(lake, table, epoch)
        if not lake.is_remote:  # local temporary files of record writes cut short (a store has none)
            for directory in (lake.ledger_dir(table, e) for e in epochs if e <= pointer.epoch):
                for info in storage.list_files(directory):
                    if is_temp(info.path.name) and storage.delete(info.path):
                        recovery.removed.append(lake.rel(info.path))
        for zone, directory in zip(ZONE_FOLDERS, _zone_dirs(lake, table), strict=True):
            if not zones_ok[zone]:
                if storage.is_dir(directory):
                    recovery.warnings.append(f"{table}: ledger records from before output lists; {zone}/ left as it is")
                continue
            leftovers = [f.path for f in storage.list_files(directory, recursive=True) if lake.rel(f.path) not in keep]
            if leftovers:
                storage.delete_many(leftovers)
                recovery.removed += [lake.rel(p) for p in leftovers]
                remove_empty_dirs(directory)
                fsync_dir(directory)
    for warning in recovery.warnings:
        print(f"ingest: {warning}", file=sys.stderr)
    return recovery


def _drop_epoch_records(lake: Lake, table: str, epoch: int) -> None:
    """Forget a replaced epoch: its records (its files are then leftovers like any other)."""
    if epoch > 0:
        storage.delete_tree(lake.ledger_dir(table, epoch))
        return
    storage.delete_many(record_paths(lake, table, 0))  # epoch 0 records sit in the table's folder itself
