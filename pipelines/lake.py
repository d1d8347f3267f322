"""The lake layout: the only module that knows where things live under the lake dir.

Layout (all under `SHOPLAKE_LAKE_DIR`):

    landing/<table>/*.csv                 incoming batch exports
    landing/_ground_truth/                generator's labelled anomalies (for scoring)
    raw/<table>/[<part>=<value>/]*.parquet  contract-checked rows, one file per source file and partition
    quarantine/<table>/*.parquet          rejected rows with reason, source file and line
    ledger/<table>/<sha256>.json          one record per ingested source file (idempotency + counts)
    warehouse/shoplake.duckdb             dbt's DuckDB database (single writer)
    serving/                              published read-only snapshots for readers
    results/<table>/<run_id>.parquet      what ShopLake computes in Python: dq_results, sales_forecast,
                                          alert_log (one file per run; schemas in pipelines/results.py)
    state/                                locks, compaction staging (same filesystem: hard links, renames)
    state/<service>.json, <service>.log   local daemons (broker, snowsim): pid, port, binary, log
    raw/clickstream_events/event_date=<d>/<topic>__p<NNN>__<first>-<last>.parquet
                                          stream micro-batches; the name carries topic, partition, offsets
    deadletter/clickstream_events/<topic>__p<NNN>__<first>-<last>.parquet
                                          stream messages that broke the contract (raw payload + reason)
    ledger/_stream/<table>/<topic>.json   stream checkpoint: next offset per partition (commit point)
    state/prefect/                        Prefect's home (settings, SQLite DB) for `shoplake ui`
    reports/<target>/                     `shoplake report` output (<report>.<md|csv|html> + index page)
    docs/                                 `shoplake docs`: the generated dbt docs site

Every file is written under a temporary name in the same folder and renamed into place,
so a reader globbing `*.parquet` never sees half a file.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

TMP_SUFFIX = ".tmp"

CLICKSTREAM_TABLE = "clickstream_events"
_STREAM_NAME = re.compile(r"^(?P<topic>.+)__p(?P<partition>\d{3,})__(?P<first>\d{12,})-(?P<last>\d{12,})$")
# Name markers of compaction folders (kept under state/, because DuckDB's `**` enters dot-folders).
_COMPACT_STAGING = ".compact-"
_COMPACT_RETIRED = ".retired-"


@dataclass(frozen=True)
class StreamFileId:
    """Identity of one stream file: which offsets of which topic partition it was cut from."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int

    @property
    def name(self) -> str:
        return f"{self.topic}__p{self.partition:03d}__{self.first_offset:012d}-{self.last_offset:012d}"

    @classmethod
    def parse(cls, stem: str) -> StreamFileId | None:
        match = _STREAM_NAME.match(stem)
        if match is None:
            return None
        return cls(match["topic"], int(match["partition"]), int(match["first"]), int(match["last"]))


@dataclass(frozen=True)
class Lake:
    """Paths of one lake; construct with the lake root (see `Settings.lake_dir`)."""

    root: Path

    # -- batch -----------------------------------------------------------------------------
    @property
    def landing_root(self) -> Path:
        return self.root / "landing"

    def landing_dir(self, table: str) -> Path:
        return self.landing_root / table

    @property
    def ground_truth_dir(self) -> Path:
        return self.landing_root / "_ground_truth"

    def raw_dir(self, table: str) -> Path:
        return self.root / "raw" / table

    def raw_file(self, table: str, name: str, partition: tuple[str, str] | None = None) -> Path:
        """A raw Parquet file; `partition` is a hive (key, value) pair such as ("order_month", "2025-01")."""
        base = self.raw_dir(table)
        if partition is not None:
            base = base / f"{partition[0]}={partition[1]}"
        return base / f"{name}.parquet"

    def raw_tables(self) -> list[str]:
        """Every table that has a folder under raw/ (batch contracts and the clickstream alike)."""
        base = self.root / "raw"
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))

    def raw_files(self, table: str) -> list[Path]:
        """The table's complete Parquet files (temporary files are hidden and never match)."""
        return sorted(p for p in self.raw_dir(table).rglob("*.parquet") if not p.name.startswith("."))

    def raw_glob(self, table: str) -> str:
        return str(self.raw_dir(table) / "**" / "*.parquet")

    def quarantine_dir(self, table: str) -> Path:
        return self.root / "quarantine" / table

    def quarantine_file(self, table: str, name: str) -> Path:
        return self.quarantine_dir(table) / f"{name}.parquet"

    @property
    def ledger_root(self) -> Path:
        return self.root / "ledger"

    def ledger_file(self, table: str, sha256: str) -> Path:
        return self.ledger_root / table / f"{sha256}.json"

    def ledger_glob(self) -> str:
        return str(self.ledger_root / "*" / "*.json")

    # -- warehouse and serving -------------------------------------------------------------
    @property
    def warehouse_path(self) -> Path:
        return self.root / "warehouse" / "shoplake.duckdb"

    def dbt_artifacts_dir(self, target: str) -> Path:
        """dbt's target-path and log-path for one target, so runs over different lakes never mix."""
        return self.root / "warehouse" / "dbt" / target

    @property
    def serving_dir(self) -> Path:
        return self.root / "serving"

    @property
    def serving_pointer(self) -> Path:
        return self.serving_dir / "CURRENT"

    def snapshot_path(self, snapshot_id: str) -> Path:
        return self.serving_dir / f"{snapshot_id}.duckdb"

    # -- results: quality runs, forecasts, alerts ------------------------------------------
    @property
    def results_root(self) -> Path:
        return self.root / "results"

    def results_dir(self, table: str) -> Path:
        return self.results_root / table

    def results_file(self, table: str, run_id: str) -> Path:
        return self.results_dir(table) / f"{run_id}.parquet"

    def results_glob(self, table: str) -> str:
        return str(self.results_dir(table) / "*.parquet")

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    def service_state_file(self, name: str) -> Path:
        """pid, port, binary and start time of a local daemon (`pipelines/services.py`): broker, snowsim, ..."""
        return self.state_dir / f"{name}.json"

    def service_log_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.log"

    # -- stream ----------------------------------------------------------------------------
    def stream_checkpoint(self, table: str, topic: str) -> Path:
        """Commit point of the stream writer: the next offset per partition that the lake holds."""
        return self.ledger_root / "_stream" / table / f"{topic}.json"

    def stream_partition_dir(self, table: str, event_date: str) -> Path:
        return self.raw_dir(table) / f"event_date={event_date}"

    def stream_partition_dirs(self, table: str) -> list[Path]:
        base = self.raw_dir(table)
        if not base.is_dir():
            return []
        return sorted(p for p in base.iterdir() if p.is_dir() and p.name.startswith("event_date="))

    def stream_file(self, table: str, event_date: str, file_id: StreamFileId) -> Path:
        return self.raw_file(table, file_id.name, ("event_date", event_date))

    def stream_empty_file(self, table: str) -> Path:
        """Zero-row file so the table's glob matches (and has a schema) before any event arrives."""
        return self.raw_file(table, "_empty", ("event_date", "1970-01-01"))

    def compaction_dir(self, table: str) -> Path:
        """Where compaction builds and retires date partitions: outside the table's glob."""
        return self.state_dir / "compaction" / table

    def compaction_staging_dir(self, table: str, partition_dir: Path) -> Path:
        return self.compaction_dir(table) / f"{partition_dir.name}{_COMPACT_STAGING}{uuid.uuid4().hex[:8]}"

    def compaction_leftovers(self, table: str) -> list[Path]:
        """Staging and retired folders of earlier compactions (never read)."""
        base = self.compaction_dir(table)
        return sorted(base.iterdir()) if base.is_dir() else []

    def retired_dir(self, staging_dir: Path) -> Path:
        return staging_dir.with_name(staging_dir.name.replace(_COMPACT_STAGING, _COMPACT_RETIRED))

    def deadletter_dir(self, table: str) -> Path:
        return self.root / "deadletter" / table

    def deadletter_file(self, table: str, file_id: StreamFileId) -> Path:
        return self.deadletter_dir(table) / f"{file_id.name}.parquet"

    def deadletter_glob(self, table: str) -> str:
        return str(self.deadletter_dir(table) / "*.parquet")

    def lock_file(self, name: str) -> Path:
        """A named lock between processes (`pipelines/locks.py`): ingest, warehouse, ..."""
        return self.state_dir / f"{name}.lock"

    @property
    def warehouse_lock_file(self) -> Path:
        """Held while dbt builds, so scheduled, triggered and CLI builds take turns."""
        return self.lock_file("warehouse")

    @property
    def prefect_home(self) -> Path:
        return self.state_dir / "prefect"

    # -- reports and docs ------------------------------------------------------------------
    @property
    def reports_root(self) -> Path:
        return self.root / "reports"

    def reports_dir(self, target: str) -> Path:
        """One folder per target, so dev and prod results sit side by side."""
        return self.reports_root / target

    def report_file(self, target: str, name: str, fmt: str) -> Path:
        return self.reports_dir(target) / f"{name}.{fmt}"

    @property
    def docs_dir(self) -> Path:
        return self.root / "docs"

    def ensure(self) -> Lake:
        """Create the top-level folders (idempotent)."""
        for path in (
            self.landing_root,
            self.root / "raw",
            self.root / "quarantine",
            self.ledger_root,
            self.warehouse_path.parent,
            self.serving_dir,
            self.results_root,
            self.state_dir,
        ):
            path.mkdir(parents=True, exist_ok=True)
        empty = self.stream_empty_file(CLICKSTREAM_TABLE)
        if not empty.exists():
            from .stream.contract import empty_events_frame

            write_parquet_atomic(empty_events_frame(), empty)
        from .results import ensure_results

        ensure_results(self)
        return self


def temp_path(path: Path) -> Path:
    """A fresh temporary name beside `path`, for a file that `publish_file` renames into place."""
    # Hidden and without the final suffix, so `*.parquet` / `*.json` globs never match it.
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")


def publish_file(tmp: Path, path: Path) -> None:
    """fsync `tmp` and rename it to `path`: readers see the whole file or none of it."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


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


def _fsync_dir(directory: Path) -> None:
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
            _fsync_dir(a.parent)
            return
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(a))
    parked = a.with_name(f".{a.name}.swap-{uuid.uuid4().hex[:8]}")
    os.rename(a, parked)
    os.rename(b, a)
    os.rename(parked, b)
    _fsync_dir(a.parent)


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


def write_json_atomic(path: Path, payload: dict[str, Any]) -> Path:
    return write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
