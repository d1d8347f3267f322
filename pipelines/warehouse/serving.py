"""Published snapshots: readers query an immutable copy of the warehouse, never the live file.

DuckDB allows one read-write process per file and read-only openers fail while it is held, so
the dashboard, `shoplake sql` and reports read `serving/<snapshot>.duckdb`, chosen by the
`serving/CURRENT` pointer. A publish copies the checkpointed warehouse to a new file and then
atomically rewrites the pointer; a reader therefore sees one whole build or the previous one.
See docs/architecture.md ("Serving snapshots").
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from ..errors import ShopLakeError
from ..lake import Lake, atomic_path, write_text_atomic

KEEP_SNAPSHOTS = 3
GRACE_SECONDS = 120.0  # superseded snapshots younger than this are kept for readers mid-open


def release_dbt_duckdb() -> None:
    """dbt-duckdb keeps the database open for the life of the process; let go of the file lock."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - dbt-duckdb is a dependency
        return
    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
    DuckDBConnectionManager.close_all_connections()


def publish_snapshot(lake: Lake) -> Path:
    """Copy the warehouse into a new snapshot and point readers at it."""
    release_dbt_duckdb()
    snapshot_id = dt.datetime.now(dt.timezone.utc).strftime("snap-%Y%m%dT%H%M%S%fZ-") + uuid.uuid4().hex[:6]
    target = lake.snapshot_path(snapshot_id)
    lake.serving_dir.mkdir(parents=True, exist_ok=True)
    # Holding a read-write connection keeps other writers out while we checkpoint and copy.
    con = duckdb.connect(str(lake.warehouse_path))
    try:
        con.execute("checkpoint")
        with atomic_path(target) as tmp:
            shutil.copyfile(lake.warehouse_path, tmp)
    finally:
        con.close()
    write_text_atomic(lake.serving_pointer, snapshot_id + "\n")
    prune_snapshots(lake)
    return target


def prune_snapshots(lake: Lake, *, keep: int = KEEP_SNAPSHOTS, grace_s: float = GRACE_SECONDS) -> list[Path]:
    """Delete superseded snapshots beyond the newest `keep` once they are older than the grace period.

    Readers open a snapshot per query and hold its file descriptor, so an unlinked snapshot stays
    readable for a reader that already opened it; the grace period covers one that read the
    pointer but has not opened the file yet.
    """
    current = current_snapshot_id(lake)
    snapshots = sorted(lake.serving_dir.glob("snap-*.duckdb"), reverse=True)
    removed = []
    now = time.time()
    for path in snapshots[keep:]:
        if path.stem != current and now - path.stat().st_mtime > grace_s:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def current_snapshot_id(lake: Lake) -> str | None:
    try:
        return lake.serving_pointer.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


@contextmanager
def open_snapshot(lake: Lake) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the latest published snapshot; closed on exit."""
    for attempt in range(3):
        snapshot_id = current_snapshot_id(lake)
        if snapshot_id is None:
            raise ShopLakeError(
                f"no published warehouse under {lake.serving_dir}; run `shoplake transform` (or `shoplake demo`) first"
            )
        try:
            con = duckdb.connect(str(lake.snapshot_path(snapshot_id)), read_only=True)
            break
        except duckdb.IOException:
            if attempt == 2:  # pointer moved and the old file was pruned between read and open
                raise
            time.sleep(0.05)
    try:
        yield con
    finally:
        con.close()
