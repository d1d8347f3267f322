"""Named locks between ShopLake processes (the CLI, Prefect flows, benchmarks): one holder at a time.

A lock is an OS file lock under the lake's `state/` (filelock), so the kernel drops it when its
holder dies, even by kill -9. Beside it a small JSON note says who holds it (pid, command, since),
so a process that has to wait can say for whom, and one that was told not to wait can say why.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import ShopLakeError
from .lake import Lake

INGEST = "ingest"  # batch ingest and extract: one writer of raw/, quarantine/ and ledger/ at a time
WAREHOUSE = "warehouse"  # dbt builds and snapshot publishing: DuckDB allows one writer per file


def stream_writer(table: str, topic: str) -> str:
    """One stream writer per table and topic (log name) of a lake."""
    return f"stream.{table}.{topic}"


def _holder_file(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".holder")


def describe_holder(lock_path: Path) -> str:
    """`pid 123 (shoplake transform) since 12:00:01 UTC`, or a vaguer phrase when the note is gone."""
    try:
        note = json.loads(_holder_file(lock_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "another process"
    return f"pid {note.get('pid')} ({note.get('command', '?')}) since {note.get('since', '?')}"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def hold(
    lake: Lake,
    name: str,
    *,
    command: str,
    wait: bool = True,
    on_wait: Callable[[str], None] = _say,
    busy_hint: str = "try again later (or leave out --no-wait)",
) -> Iterator[None]:
    """Hold lock `name` of `lake` for the block; `command` names the holder for others to see.

    With `wait`, a held lock is waited for (after telling `on_wait` who holds it); without, a held
    lock raises a one-line ShopLakeError naming the holder, followed by `busy_hint`.
    """
    path = lake.lock_file(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = describe_holder(path)
        if not wait:
            raise ShopLakeError(f"the {name} lock is held by {holder}; {busy_hint}") from None
        on_wait(f"waiting for the {name} lock, held by {holder} ...")
        lock.acquire()
    try:
        note = {
            "pid": os.getpid(),
            "command": command,
            "since": dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S UTC"),
        }
        _holder_file(path).write_text(json.dumps(note), encoding="utf-8")
        yield
    finally:
        _holder_file(path).unlink(missing_ok=True)
        lock.release()
