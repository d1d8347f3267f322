"""Named locks between ShopLake processes (the CLI, Prefect flows, benchmarks): one holder at a time.

A lock is an OS file lock under the lake's `state/` (filelock), so the kernel drops it when its
holder dies, even by kill -9. Beside it a small JSON note says who holds it (pid, command, since),
so a process that has to wait can say for whom, and one that was told not to wait can say why.

Within one process a lock is reentrant for the thread that holds it (a `shoplake transform` holds the
warehouse lock for the build and the publish, and each of them asks for it too); other threads of
the process wait their turn like other processes do.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import ShopLakeError
from .lake import Lake

INGEST = "ingest"  # batch ingest and extract: one writer of raw/, quarantine/ and ledger/ at a time
WAREHOUSE = "warehouse"  # dbt builds and snapshot publishing: DuckDB allows one writer per file


def promotion(target: str) -> str:
    """One promotion (`shoplake promote`, a follower's cycle) per Snowflake target at a time."""
    return f"promote.{target}"


def stream_writer(table: str, topic: str) -> str:
    """One stream writer per table and topic (log name) of a lake."""
    return f"stream.{table}.{topic}"


class _InProcess:
    """This process's side of one lock file: threads take turns on `turn`; `depth` counts the owner's holds."""

    def __init__(self) -> None:
        self.turn = threading.RLock()
        self.depth = 0


_IN_PROCESS: dict[Path, _InProcess] = {}
_IN_PROCESS_GUARD = threading.Lock()


def _in_process(lock_path: Path) -> _InProcess:
    with _IN_PROCESS_GUARD:
        return _IN_PROCESS.setdefault(lock_path.resolve(), _InProcess())


def _holder_file(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".holder")


def describe_holder(lock_path: Path) -> str:
    """`pid 123 (shoplake transform) since 12:00:01 UTC`, or a vaguer phrase when the note is gone."""
    try:
        note = json.loads(_holder_file(lock_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "another process"
    return f"pid {note.get('pid')} ({note.get('command', '?')}) since {note.get('since', '?')}"


def _held(name: str, holder: str, busy_hint: str) -> ShopLakeError:
    return ShopLakeError(f"the {name} lock is held by {holder}; {busy_hint}")


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
    local = _in_process(path)
    if not local.turn.acquire(blocking=False):  # another thread of this process holds it
        holder = describe_holder(path)
        if not wait:
            raise _held(name, holder, busy_hint)
        on_wait(f"waiting for the {name} lock, held by {holder} ...")
        local.turn.acquire()
    local.depth += 1
    try:
        if local.depth > 1:  # this thread already holds it
            yield
            return
        with _file_lock(path, name, command=command, wait=wait, on_wait=on_wait, busy_hint=busy_hint):
            yield
    finally:
        local.depth -= 1
        local.turn.release()


@contextmanager
def _file_lock(
    path: Path, name: str, *, command: str, wait: bool, on_wait: Callable[[str], None], busy_hint: str
) -> Iterator[None]:
    """The OS lock between processes, with the holder note beside it."""
    lock = FileLock(path, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = describe_holder(path)
        if not wait:
            raise _held(name, holder, busy_hint) from None
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
