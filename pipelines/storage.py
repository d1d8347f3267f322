"""How bytes get into the lake: every file appears whole or not at all.

The primitive the lake's commit protocols build on is "write one whole file" (locally: a hidden
temporary name in the final folder, fsync, rename, fsync the folder; on an object store: one PUT).
Nothing here makes *several* files appear together: that is what the ledger record (batch) and the
checkpoint (stream) are for, so the same protocols hold on object storage, where there is no
atomic rename (issue 16 puts an object-store implementation behind these functions).

`exchange_dirs` (renameat2) is the one exception, used by stream compaction on local disks only.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

TMP_SUFFIX = ".tmp"


def temp_path(path: Path) -> Path:
    """A fresh temporary name beside `path`, for a file that `publish_file` renames into place."""
    # Hidden and without the final suffix, so `*.parquet` / `*.json` globs never match it.
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")


def is_temp(name: str) -> bool:
    """Whether a file name is one of `temp_path`'s (a write in progress, or cut short by a crash)."""
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


def publish_file(tmp: Path, path: Path) -> None:
    """fsync `tmp` and rename it to `path`: readers see the whole file or none of it."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        publish_file(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable (it lives in the folder's entry list)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def exchange_dirs(a: Path, b: Path) -> None:
    """Swap two folders in one atomic step, so a reader lists either the old or the new content.

    Linux `renameat2(RENAME_EXCHANGE)`; elsewhere two renames (a reader may briefly see neither).
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        at_fdcwd, rename_exchange = -100, 2
        if libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
            fsync_dir(a.parent)
            return
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(a))
    parked = a.with_name(f".{a.name}.swap-{uuid.uuid4().hex[:8]}")
    os.rename(a, parked)
    os.rename(b, a)
    os.rename(parked, b)
    fsync_dir(a.parent)


def write_parquet_atomic(df: pl.DataFrame, path: Path) -> Path:
    """Write `df` as one Parquet file that appears all at once.

    Snappy: fast, and the Parquet codec every reader supports, Snowflake's COPY INTO included.
    """
    with atomic_path(path) as tmp:
        df.write_parquet(tmp, compression="snappy", statistics=True)
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_json_atomic(path: Path, payload: dict[str, Any]) -> Path:
    return write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def append_jsonl(path: Path, record: dict[str, Any]) -> Path:
    """Append one JSON line; a single O_APPEND write, so concurrent writers never interleave lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def remove_file(path: Path) -> bool:
    """Delete one file if it is there (a crash leftover); True when something was deleted."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def remove_empty_dirs(root: Path) -> None:
    """Remove folders under `root` that became empty (partition folders of deleted leftovers)."""
    if not root.is_dir():
        return
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):  # not empty
            directory.rmdir()


# -- reading ---------------------------------------------------------------------------------------
# Every read of a landed file goes through these, so an object store can serve the same bytes.


@dataclass(frozen=True)
class StoredFile:
    """One file of a folder listing: where it is and when it was last modified (ns since the epoch)."""

    path: Path
    mtime_ns: int


def list_files(directory: Path) -> list[StoredFile]:
    """The files directly in `directory` (no sub-folders), unordered; none when it does not exist."""
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [StoredFile(Path(e.path), e.stat().st_mtime_ns) for e in entries if e.is_file()]


def list_dirs(directory: Path) -> list[Path]:
    """The sub-folders directly in `directory`; none when it does not exist."""
    try:
        return [Path(e.path) for e in os.scandir(directory) if e.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def open_file(path: Path) -> BinaryIO:
    """Open a lake file for reading its bytes from the start (a context manager, like `open`)."""
    return open(path, "rb")


def read_file(path: Path, limit: int | None = None) -> bytes:
    """A lake file's bytes (the first `limit` bytes when given)."""
    with open_file(path) as fh:
        return fh.read() if limit is None else fh.read(limit)


@contextmanager
def local_file(path: Path) -> Iterator[Path]:
    """A local path with the file's bytes, for readers that want a path (polars, fastexcel).

    Locally that is the file itself; an object store downloads it to a temporary file first.
    """
    yield path
