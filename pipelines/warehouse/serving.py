"""Published snapshots: readers query an immutable copy of the warehouse, never the live file.

DuckDB allows one read-write process per file and read-only openers fail while it is held, so
the dashboard, `shoplake sql` and reports read `serving/<snapshot>.duckdb`, chosen by the
`serving/CURRENT` pointer. A publish copies the checkpointed warehouse to a temporary file,
stamps it with a manifest (row count per table), renames it into place and only then atomically
rewrites the pointer; a reader therefore sees one whole build or the previous one. Readers open
snapshots only through the sandbox (`sandbox.connect_reader`): read-only, no file access, no ATTACH,
no extensions. Publishing holds the warehouse lock (`locks.WAREHOUSE`), as dbt builds do.
See docs/architecture.md ("Serving snapshots").
"""

from __future__ import annotations

import datetime as dt
import gc
import shutil
import time
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from .. import locks
from ..errors import ShopLakeError
from ..lake import Lake
from ..storage import TMP_SUFFIX, atomic_path, write_text_atomic
from .sandbox import connect_reader

KEEP_SNAPSHOTS = 3
GRACE_SECONDS = 120.0  # a superseded snapshot is kept this long for readers that read the old pointer
MANIFEST_TABLE = "_snapshot_manifest"  # snapshot_id, published_at, table_name, row_count
OPEN_ATTEMPTS = 5


def release_dbt_duckdb() -> None:
    """Let go of the warehouse file after an in-process dbt invocation.

    dbt-duckdb keeps its database open for the life of the process (profile setting `keep_open`, true
    by default since dbt-duckdb#502; `keep_open: false` made our builds ~30% slower by reopening the
    file per node). Its supported way to let go after a programmatic dbtRunner invocation is
    `DuckDBConnectionManager.close_all_connections()` (the maintainers' answer in dbt-duckdb#616, and
    what its own tests call): it drops the environment, whose DuckDB connection closes when collected.
    """
    try:
        from dbt.adapters.duckdb import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - dbt-duckdb is a dependency
        return
    try:
        env = weakref.ref(DuckDBConnectionManager.env())
    except Exception:  # env() raises when no environment was created: nothing is open
        return
    DuckDBConnectionManager.close_all_connections()
    if env() is not None:  # still referenced from a cycle (e.g. a failed node's traceback): collect it now
        gc.collect()


def new_snapshot_id(now: dt.datetime | None = None) -> str:
    """Sortable by publish time (prune relies on it), unique across processes."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return now.strftime("snap-%Y%m%dT%H%M%S%fZ-") + uuid.uuid4().hex[:6]


def publish_snapshot(lake: Lake, *, command: str = "publish snapshot") -> Path:
    """Copy the warehouse into a new, manifest-stamped snapshot and point readers at it.

    Takes the warehouse lock (a no-op when the caller, e.g. `run_dbt_build`, already holds it).
    """
    with locks.hold(lake, locks.WAREHOUSE, command=command):
        release_dbt_duckdb()
        return _publish(lake)


def _publish(lake: Lake) -> Path:
    snapshot_id = new_snapshot_id()
    target = lake.snapshot_path(snapshot_id)
    lake.serving_dir.mkdir(parents=True, exist_ok=True)
    # Holding a read-write connection keeps other writers out while we checkpoint and copy.
    con = duckdb.connect(str(lake.warehouse_path))
    try:
        con.execute("checkpoint")
        with atomic_path(target) as tmp:
            shutil.copyfile(lake.warehouse_path, tmp)
            _stamp_manifest(tmp, snapshot_id)
    finally:
        con.close()
    write_text_atomic(lake.serving_pointer, snapshot_id + "\n")
    prune_snapshots(lake)
    return target


def _stamp_manifest(path: Path, snapshot_id: str) -> None:
    """Record every base table's row count, so a reader can prove it sees one whole build."""
    con = duckdb.connect(str(path))
    try:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'main' and table_type = 'BASE TABLE' and table_name <> ? order by 1",
                [MANIFEST_TABLE],
            ).fetchall()
        ]
        con.execute(f"drop table if exists {MANIFEST_TABLE}")
        con.execute(
            f"create table {MANIFEST_TABLE} (snapshot_id varchar, published_at timestamptz, "
            "table_name varchar, row_count bigint)"
        )
        published_at = dt.datetime.now(dt.timezone.utc)
        for table in tables:
            # table names come from the catalog of the file we just wrote, not from user input
            (count,) = con.execute(f'select count(*) from main."{table}"').fetchone()
            con.execute(f"insert into {MANIFEST_TABLE} values (?, ?, ?, ?)", [snapshot_id, published_at, table, count])
        con.execute("checkpoint")
    finally:
        con.close()


def prune_snapshots(lake: Lake, *, keep: int = KEEP_SNAPSHOTS, grace_s: float = GRACE_SECONDS) -> list[Path]:
    """Delete superseded snapshots beyond the newest `keep` once superseded for longer than the grace period.

    A reader that already opened a snapshot holds its file descriptor, and on POSIX an unlinked
    file stays readable until the last descriptor closes, so deleting never breaks a reader that
    has it open. The grace period (counted from when the next snapshot was published) covers a
    reader that read the old pointer but has not opened the file yet; `open_snapshot` also
    re-reads the pointer and retries if its file vanished. Orphaned temporary copies from a
    crashed publish are removed after the same grace period.
    """
    current = current_snapshot_id(lake)
    snapshots = sorted(lake.serving_dir.glob("snap-*.duckdb"), reverse=True)  # newest first
    removed = []
    now = time.time()
    for index in range(keep, len(snapshots)):
        path = snapshots[index]
        try:
            superseded_at = snapshots[index - 1].stat().st_mtime
        except FileNotFoundError:
            superseded_at = now
        if path.stem != current and now - superseded_at > grace_s:
            path.unlink(missing_ok=True)
            removed.append(path)
    for tmp in lake.serving_dir.glob(f".snap-*{TMP_SUFFIX}"):
        try:
            if now - tmp.stat().st_mtime > grace_s:
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
        except FileNotFoundError:
            continue
    return removed


def current_snapshot_id(lake: Lake) -> str | None:
    try:
        return lake.serving_pointer.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def connect_snapshot(lake: Lake) -> tuple[str, duckdb.DuckDBPyConnection]:
    """Open the snapshot CURRENT points to in a reader sandbox; re-read the pointer if its file just vanished."""
    last_error: Exception | None = None
    for attempt in range(OPEN_ATTEMPTS):
        snapshot_id = current_snapshot_id(lake)
        if snapshot_id is None:
            raise ShopLakeError(
                f"no published warehouse under {lake.serving_dir}; run `shoplake transform` (or `shoplake demo`) first"
            )
        try:
            return snapshot_id, connect_reader(lake.snapshot_path(snapshot_id))
        except ShopLakeError as exc:
            last_error = exc  # pointer moved and the old file was pruned between read and open
            time.sleep(0.02 * (attempt + 1))
    raise ShopLakeError(f"could not open the published snapshot under {lake.serving_dir}: {last_error}")


@contextmanager
def open_snapshot(lake: Lake) -> Iterator[duckdb.DuckDBPyConnection]:
    """A sandboxed, read-only connection to the latest published snapshot; closed on exit."""
    _, con = connect_snapshot(lake)
    try:
        yield con
    finally:
        con.close()
