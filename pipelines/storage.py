"""How bytes get into the lake, and out of it: every file appears whole or not at all.

The lake's data zones (landing, raw, quarantine, ledger, dead letters, results, stream checkpoints)
live either in a local folder or on an object store (`SHOPLAKE_LAKE_URI=s3://bucket/prefix`, also
`gs://` and `az://`). Every read or write of a data zone goes through the functions here, which
take a `LakePath`: a `pathlib.Path` for a local lake, an `ObjectPath` for an object store.

The primitive the lake's commit protocols build on is "write one whole file" (locally: a hidden
temporary name in the final folder, fsync, rename, fsync the folder; on an object store: one PUT,
never a multipart upload, so a killed writer leaves no half object and no dangling upload). Beyond
it they use two conditional writes, both native on object stores (S3 `If-None-Match: *` and
`If-Match: <etag>`; the same in GCS and Azure) and emulated locally:

- `create_bytes`: write a file only if it does not exist (the batch ledger record, the commit);
- `replace_json(..., version=...)`: replace a file only if nobody replaced it since it was read
  (the stream checkpoint), so a second writer on another machine cannot silently commit over one.

Nothing here makes *several* files appear together: that is what the ledger record (batch) and the
checkpoint (stream) are for, so the same protocols hold on object storage, where there is no rename.

Object stores are reached through obstore (one library for s3, gs and az; conditional puts,
listing, bulk deletes, ranged reads). Credentials come from the standard environment of each cloud
(`AWS_*`, with `AWS_ENDPOINT_URL` for S3-compatible services; `GOOGLE_*`; `AZURE_*`), else the
instance or workload identity; with `AWS_PROFILE` set, boto3's credential chain (profiles, SSO).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import stat
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import polars as pl

TMP_SUFFIX = ".tmp"
REMOTE_SCHEMES = ("s3", "gs", "az", "abfs", "abfss", "memory")


# -- paths -------------------------------------------------------------------------------------


class ObjectPath:
    """A path on an object store: the lake's URI and a key below it. Pure: no I/O, like PurePath.

    `str()` is the full URI (`s3://bucket/prefix/raw/orders/x.parquet`), what DuckDB and polars read.
    """

    __slots__ = ("key", "root")

    def __init__(self, root: str, key: str = "") -> None:
        self.root = root.rstrip("/")
        self.key = key.strip("/")

    def __truediv__(self, other: str | PurePosixPath) -> ObjectPath:
        other = str(other).strip("/")
        return ObjectPath(self.root, f"{self.key}/{other}" if self.key else other)

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1] if self.key else ""

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix

    @property
    def stem(self) -> str:
        return PurePosixPath(self.name).stem

    @property
    def parent(self) -> ObjectPath:
        return ObjectPath(self.root, self.key.rsplit("/", 1)[0] if "/" in self.key else "")

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.key.split("/")) if self.key else ()

    def with_name(self, name: str) -> ObjectPath:
        return self.parent / name

    def relative_to(self, other: ObjectPath) -> PurePosixPath:
        if not self.is_relative_to(other):
            raise ValueError(f"{self} is not under {other}")
        return PurePosixPath(self.key[len(other.key) :].lstrip("/") or ".")

    def is_relative_to(self, other: object) -> bool:
        if not isinstance(other, ObjectPath) or other.root != self.root:
            return False
        return not other.key or self.key == other.key or self.key.startswith(other.key + "/")

    def as_posix(self) -> str:
        return str(self)

    def __str__(self) -> str:
        return f"{self.root}/{self.key}" if self.key else self.root

    def __repr__(self) -> str:
        return f"ObjectPath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectPath) and (self.root, self.key) == (other.root, other.key)

    def __hash__(self) -> int:
        return hash((self.root, self.key))

    def __lt__(self, other: ObjectPath) -> bool:
        return str(self) < str(other)


LakePath = Path | ObjectPath


def is_remote_uri(uri: str) -> bool:
    return uri.split("://", 1)[0].lower() in REMOTE_SCHEMES and "://" in uri


def is_remote(path: LakePath) -> bool:
    return isinstance(path, ObjectPath)


@dataclass(frozen=True)
class FileInfo:
    """One file of a listing: where it is, its size, and when it was last modified (an object's
    last-modified time on a store)."""

    path: LakePath
    size: int
    mtime_ns: int  # ns since the epoch

    @property
    def mtime(self) -> float:
        """Seconds since the epoch."""
        return self.mtime_ns / 1e9


StoredFile = FileInfo  # the name the landing readers knew it by


class ConcurrentWrite(Exception):
    """A conditional write lost: the file exists already, or changed since it was read."""


# -- object stores -----------------------------------------------------------------------------

_STORES: dict[str, Any] = {}
_STORES_LOCK = threading.Lock()


def _client_options(uri: str) -> dict[str, Any]:
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
    if uri.startswith("s3://") and endpoint.startswith("http://"):
        return {"allow_http": True}  # a local S3-compatible server (MinIO, moto)
    return {}


def _credential_provider(uri: str) -> Any:
    """boto3's full credential chain (profiles, SSO) when `AWS_PROFILE` asks for it; else obstore's own
    (environment, web identity, container and instance metadata)."""
    if uri.startswith("s3://") and os.environ.get("AWS_PROFILE"):
        from obstore.auth.boto3 import Boto3CredentialProvider

        return Boto3CredentialProvider()
    return None


def store_for(root: str) -> Any:
    """The obstore store of a lake URI (its keys are relative to the URI's prefix); one per URI."""
    with _STORES_LOCK:
        store = _STORES.get(root)
        if store is None:
            from obstore.store import from_url

            kwargs: dict[str, Any] = {"client_options": _client_options(root)}
            if (provider := _credential_provider(root)) is not None:
                kwargs["credential_provider"] = provider
            store = _STORES[root] = from_url(root, **kwargs)
        return store


def _store(path: ObjectPath) -> Any:
    return store_for(path.root)


def _not_found(exc: BaseException) -> bool:
    from obstore.exceptions import NotFoundError

    return isinstance(exc, NotFoundError | FileNotFoundError)


# -- local primitives --------------------------------------------------------------------------


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
    """Yield a temporary path beside `path`; on success fsync it and rename it into place (local only)."""
    if isinstance(path, ObjectPath):
        raise TypeError(f"atomic_path is for local files; use storage.write_* for {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        publish_file(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def fsync_dir(directory: LakePath) -> None:
    """Make a rename or unlink in `directory` durable (it lives in the folder's entry list); no-op on a store."""
    if isinstance(directory, ObjectPath):
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- writing -----------------------------------------------------------------------------------


def _put(path: ObjectPath, data: bytes | memoryview | Path, mode: Any = None) -> dict[str, Any]:
    """One PUT (never multipart: a killed writer leaves nothing behind, not even a dangling upload)."""
    import obstore

    return obstore.put(_store(path), path.key, data, mode=mode, use_multipart=False)


def parquet_bytes(df: pl.DataFrame) -> memoryview:
    """`df` as Parquet in memory (snappy: fast, and what every reader supports, Snowflake's COPY included)."""
    buffer = io.BytesIO()
    df.write_parquet(buffer, compression="snappy", statistics=True)
    return buffer.getbuffer()


def write_parquet_atomic(df: pl.DataFrame, path: LakePath) -> LakePath:
    """Write `df` as one Parquet file that appears all at once."""
    if isinstance(path, ObjectPath):
        _put(path, parquet_bytes(df))
        return path
    with atomic_path(path) as tmp:
        df.write_parquet(tmp, compression="snappy", statistics=True)
    return path


def write_bytes_atomic(path: LakePath, data: bytes) -> LakePath:
    if isinstance(path, ObjectPath):
        _put(path, data)
        return path
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_text_atomic(path: LakePath, text: str) -> LakePath:
    return write_bytes_atomic(path, text.encode("utf-8"))


def _json_bytes(payload: Any) -> bytes:
    return (json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")


def write_json_atomic(path: LakePath, payload: dict[str, Any]) -> LakePath:
    return write_bytes_atomic(path, _json_bytes(payload))


def create_bytes(path: LakePath, data: bytes | memoryview) -> bool:
    """Write `path` whole only if it does not exist yet; False (and nothing written) if it does.

    Object stores: a conditional PUT (`If-None-Match: *`), so of two racing writers exactly one wins.
    Locally: the data goes to a temporary file, which is hard-linked to the final name (link fails
    if the name exists: the same one-winner rule), then the temporary name is removed.
    """
    if isinstance(path, ObjectPath):
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        try:
            _put(path, data, mode="create")
        except (AlreadyExistsError, PreconditionError):
            return False
        return True
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        fsync_dir(path.parent)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def create_json(path: LakePath, payload: dict[str, Any]) -> bool:
    return create_bytes(path, _json_bytes(payload))


def _local_version(path: Path) -> str | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"


def read_json_versioned(path: LakePath) -> tuple[Any, str | None]:
    """(payload, version) of a JSON file, or (None, None) when it does not exist.

    The version (an object's ETag; locally inode, mtime and size) is what `replace_json` checks.
    """
    if isinstance(path, ObjectPath):
        import obstore

        try:
            result = obstore.get(_store(path), path.key)
        except Exception as exc:
            if _not_found(exc):
                return None, None
            raise
        return json.loads(bytes(result.bytes())), result.meta.get("e_tag")
    version = _local_version(path)
    if version is None:
        return None, None
    try:
        return json.loads(path.read_text(encoding="utf-8")), version
    except FileNotFoundError:
        return None, None


def replace_json(path: LakePath, payload: dict[str, Any], *, version: str | None) -> str | None:
    """Replace a JSON file whole, only if it is still at `version` (None: only if it does not exist).

    Returns the new version; raises `ConcurrentWrite` if someone else wrote it since. On an object
    store the check and the write are one conditional PUT; locally the check precedes the rename
    (the local lock already keeps a second writer out; the check catches a lock that was bypassed).
    """
    data = _json_bytes(payload)
    if isinstance(path, ObjectPath):
        from obstore.exceptions import AlreadyExistsError, NotFoundError, PreconditionError

        mode: Any = "create" if version is None else {"e_tag": version}
        try:
            result = _put(path, data, mode=mode)
        except (AlreadyExistsError, PreconditionError, NotFoundError) as exc:
            raise ConcurrentWrite(f"{path} was written by someone else since it was read") from exc
        return result.get("e_tag")
    if _local_version(path) != version:
        raise ConcurrentWrite(f"{path} was written by someone else since it was read")
    write_bytes_atomic(path, data)
    return _local_version(path)


def append_jsonl(path: Path, record: dict[str, Any]) -> Path:
    """Append one JSON line; a single O_APPEND write, so concurrent writers never interleave lines (local only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


# -- spooling: files built piece by piece, then published whole --------------------------------


def spool_path(path: LakePath, spool_dir: Path) -> Path:
    """A local file to build `path` in (row group by row group); `publish_spool` puts it in place.

    Locally it is a hidden temporary name beside `path` (published by rename); for an object store
    it lives under `spool_dir` on local disk (published by one PUT).
    """
    if isinstance(path, ObjectPath):
        spool_dir.mkdir(parents=True, exist_ok=True)
        return spool_dir / f".{uuid.uuid4().hex[:12]}-{path.name}{TMP_SUFFIX}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return temp_path(path)


def publish_spool(tmp: Path, path: LakePath) -> None:
    if isinstance(path, ObjectPath):
        _put(path, tmp)
        tmp.unlink(missing_ok=True)
        return
    publish_file(tmp, path)


# -- reading -----------------------------------------------------------------------------------


def exists(path: LakePath) -> bool:
    if isinstance(path, ObjectPath):
        import obstore

        try:
            obstore.head(_store(path), path.key)
        except Exception as exc:
            if _not_found(exc):
                return False
            raise
        return True
    return path.exists()


def read_bytes(path: LakePath) -> bytes:
    """The file's bytes; FileNotFoundError when it is not there (on a store too)."""
    if isinstance(path, ObjectPath):
        import obstore

        try:
            return bytes(obstore.get(_store(path), path.key).bytes())
        except Exception as exc:
            if _not_found(exc):
                raise FileNotFoundError(str(path)) from exc
            raise
    return path.read_bytes()


def read_text(path: LakePath) -> str:
    return read_bytes(path).decode("utf-8")


def read_json(path: LakePath) -> Any:
    """The parsed JSON file, or None when it does not exist."""
    try:
        return json.loads(read_bytes(path))
    except FileNotFoundError:
        return None


def read_many(paths: Sequence[LakePath], read: Callable[[LakePath], Any] = read_bytes) -> list[Any]:
    """`read` of each path, in order; in parallel on an object store (each is a round trip)."""
    if len(paths) < 2 or not any(isinstance(p, ObjectPath) for p in paths):
        return [read(p) for p in paths]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(16, len(paths))) as pool:
        return list(pool.map(read, paths))


def list_files(directory: LakePath, *, recursive: bool = False) -> list[FileInfo]:
    """Files in `directory` (or under it, with `recursive`), sorted by path; [] when it is not there.

    Hidden names are included (callers decide: a local temporary file is hidden).
    """
    if isinstance(directory, ObjectPath):
        import obstore

        store, prefix = _store(directory), (directory.key + "/" if directory.key else "")
        if recursive:
            metas = [m for chunk in obstore.list(store, prefix=prefix or None) for m in chunk]
        else:
            metas = obstore.list_with_delimiter(store, prefix=prefix or None)["objects"]
        out = [
            FileInfo(ObjectPath(directory.root, m["path"]), int(m["size"]), _ns(m["last_modified"]))
            for m in metas
            if not m["path"].endswith("/")
        ]
        return sorted(out, key=lambda f: f.path.key)
    if not directory.is_dir():
        return []
    infos = []
    entries = (p for p in directory.rglob("*")) if recursive else (Path(e.path) for e in os.scandir(directory))
    for path in entries:
        try:
            st = path.lstat()
        except FileNotFoundError:  # removed while listing
            continue
        if not stat.S_ISDIR(st.st_mode):
            infos.append(FileInfo(path, st.st_size, st.st_mtime_ns))
    return sorted(infos, key=lambda f: str(f.path))


def _ns(at: dt.datetime) -> int:
    """A last-modified time as ns since the epoch (exact: no float on the way)."""
    epoch = dt.datetime(1970, 1, 1, tzinfo=at.tzinfo or dt.timezone.utc)
    return (at - epoch) // dt.timedelta(microseconds=1) * 1000


def list_dirs(directory: LakePath) -> list[LakePath]:
    """Immediate sub-folders of `directory` (on a store: the common prefixes below it), sorted."""
    if isinstance(directory, ObjectPath):
        import obstore

        prefix = directory.key + "/" if directory.key else None
        found = obstore.list_with_delimiter(_store(directory), prefix=prefix)["common_prefixes"]
        return sorted(ObjectPath(directory.root, p) for p in found)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_dir())


def is_dir(directory: LakePath) -> bool:
    """Whether the folder exists (on a store: whether any object lies below the prefix)."""
    if isinstance(directory, ObjectPath):
        import obstore

        for chunk in obstore.list(_store(directory), prefix=directory.key + "/", chunk_size=1):
            return bool(chunk)
        return False
    return directory.is_dir()


def ensure_dir(directory: LakePath) -> None:
    """Create a local folder (object stores have no folders: nothing to do)."""
    if not isinstance(directory, ObjectPath):
        directory.mkdir(parents=True, exist_ok=True)


@contextmanager
def local_copy(path: LakePath, scratch: Path) -> Iterator[Path]:
    """A local file with `path`'s bytes for the block: the file itself, or a download into `scratch`.

    For readers of landed files that need a real file (CSV sniffing, Excel, ...): the same code reads
    a local lake and an object store."""
    if not isinstance(path, ObjectPath):
        yield path
        return
    scratch.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".dl-", suffix=f"-{path.name}", dir=scratch)
    local = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(read_bytes(path))
        yield local
    finally:
        local.unlink(missing_ok=True)


def fetch(path: LakePath, scratch: Path) -> Path:
    """A local copy of `path` that the caller removes (`discard_fetched`); the file itself when local."""
    if not isinstance(path, ObjectPath):
        return path
    scratch.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".dl-", suffix=f"-{path.name}", dir=scratch)
    with os.fdopen(fd, "wb") as fh:
        fh.write(read_bytes(path))
    return Path(name)


def discard_fetched(local: Path, path: LakePath) -> None:
    if isinstance(path, ObjectPath):
        local.unlink(missing_ok=True)


def open_file(path: LakePath) -> BinaryIO:
    """Open a lake file for reading its bytes from the start (a context manager, like `open`).

    On an object store each read is a ranged GET (buffered), so reading a file's head costs no more."""
    if not isinstance(path, ObjectPath):
        return open(path, "rb")
    import obstore

    store = _store(path)
    try:
        size = int(obstore.head(store, path.key)["size"])
    except Exception as exc:
        if _not_found(exc):
            raise FileNotFoundError(str(path)) from exc
        raise
    raw = PositionalReadFile(
        lambda start, end: bytes(obstore.get_range(store, path.key, start=start, end=end)), size, str(path)
    )
    return io.BufferedReader(raw, buffer_size=1 << 20)  # type: ignore[return-value]


def read_file(path: LakePath, limit: int | None = None) -> bytes:
    """A lake file's bytes (the first `limit` bytes when given)."""
    if limit is None:
        return read_bytes(path)
    with open_file(path) as fh:
        return fh.read(limit)


@contextmanager
def local_file(path: LakePath) -> Iterator[Path]:
    """A local path with the file's bytes, for readers that want a path (polars, fastexcel).

    Locally that is the file itself; an object store downloads it to a temporary file first."""
    with local_copy(path, Path(tempfile.gettempdir())) as local:
        yield local


class PositionalReadFile(io.RawIOBase):
    """A read-only file over ranged reads: `seek` only records a per-thread position, `read` is one
    stateless ranged GET. DuckDB's Python filesystem layer shares one handle between its threads and
    calls seek() then read() (two calls): with a stateful handle another thread's seek can land in
    between (short reads, bytes from the wrong offset; measured on s3fs and obstore's fsspec)."""

    def __init__(self, read_range: Callable[[int, int], bytes], size: int, name: str = "") -> None:
        super().__init__()
        self._read_range, self.size, self.name = read_range, size, name
        self._local = threading.local()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return getattr(self._local, "pos", 0)

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 1:
            pos += self.tell()
        elif whence == 2:
            pos += self.size
        self._local.pos = pos
        return pos

    def read(self, n: int | None = -1) -> bytes:
        pos = self.tell()
        end = self.size if n is None or n < 0 else min(pos + n, self.size)
        if pos >= end:
            return b""
        data = self._read_range(pos, end)
        self._local.pos = pos + len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def open_parquet(path: LakePath) -> Any:
    """A `pyarrow.parquet.ParquetFile` of a lake file (footer reads only fetch the footer's bytes)."""
    import pyarrow.parquet as pq

    if not isinstance(path, ObjectPath):
        return pq.ParquetFile(path)
    import obstore

    store = _store(path)
    size = int(obstore.head(store, path.key)["size"])
    reader = PositionalReadFile(
        lambda start, end: bytes(obstore.get_range(store, path.key, start=start, end=end)), size, str(path)
    )
    return pq.ParquetFile(reader)


def scan_parquet(paths: Sequence[LakePath], **kwargs: Any) -> pl.LazyFrame:
    """polars' lazy scan of lake files, local or on a store (polars reads the same environment)."""
    return pl.scan_parquet([str(p) for p in paths], **kwargs)


def read_parquet(path: LakePath, **kwargs: Any) -> pl.DataFrame:
    if isinstance(path, ObjectPath):
        return pl.read_parquet(io.BytesIO(read_bytes(path)), **kwargs)
    return pl.read_parquet(path, **kwargs)


# -- DuckDB ------------------------------------------------------------------------------------


def duckdb_filesystem(root: str) -> Any:
    """An fsspec filesystem for DuckDB's `register_filesystem`, reading the lake's store.

    DuckDB 2.0 has no httpfs wheel to install offline; the Python filesystem it calls into is
    obstore's fsspec adapter, with positional reads (see `PositionalReadFile`). Read-only use.
    """
    from obstore.fsspec import FsspecStore

    protocol = root.split("://", 1)[0]
    options: dict[str, Any] = {"client_options": _client_options(root)}
    if (provider := _credential_provider(root)) is not None:
        options["credential_provider"] = provider

    class PositionalStore(FsspecStore):  # type: ignore[misc]
        def _open(self, path: str, mode: str = "rb", **kw: Any) -> Any:
            if "r" not in mode:
                return super()._open(path, mode, **kw)
            size = int(self.size(path))
            return PositionalReadFile(lambda s, e: self.cat_file(path, start=s, end=e), size, path)

    return PositionalStore(protocol, skip_instance_cache=True, **options)


def register_duckdb(con: Any, root: str | None) -> Any:
    """Let a DuckDB connection read the lake's store (nothing to do for a local lake); returns `con`."""
    if root and is_remote_uri(root):
        con.register_filesystem(duckdb_filesystem(root))
    return con


def connect_duckdb(root: str | None, database: str = ":memory:") -> Any:
    """A DuckDB connection that reads the lake's files wherever they are (`root`: the lake's URI or None)."""
    import duckdb

    return register_duckdb(duckdb.connect(database), root)


# -- deleting ----------------------------------------------------------------------------------


def delete(path: LakePath) -> bool:
    """Delete one file if it is there (a crash leftover); True when something may have been deleted."""
    if isinstance(path, ObjectPath):
        import obstore

        try:
            obstore.delete(_store(path), path.key)
        except Exception as exc:
            if _not_found(exc):
                return False
            raise
        return True
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def delete_many(paths: Sequence[LakePath]) -> None:
    """Delete files (one bulk request per 1,000 keys on a store)."""
    remote = [p for p in paths if isinstance(p, ObjectPath)]
    for p in paths:
        if not isinstance(p, ObjectPath):
            delete(p)
    by_root: dict[str, list[str]] = {}
    for p in remote:
        by_root.setdefault(p.root, []).append(p.key)
    if by_root:
        import obstore

        for root, keys in by_root.items():
            for i in range(0, len(keys), 1000):
                obstore.delete(store_for(root), keys[i : i + 1000])


def delete_tree(directory: LakePath) -> None:
    """Delete a folder and everything below it."""
    if isinstance(directory, ObjectPath):
        delete_many([f.path for f in list_files(directory, recursive=True)])
        return
    import shutil

    shutil.rmtree(directory, ignore_errors=True)


def remove_empty_dirs(root: LakePath) -> None:
    """Remove folders under `root` that became empty (object stores have none to remove)."""
    if isinstance(root, ObjectPath) or not root.is_dir():
        return
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):  # not empty
            directory.rmdir()
