"""The lake layout: the only module that knows where things live under the lake dir.

Layout (all under `SHOPLAKE_LAKE_DIR`):

    landing/<table>/*.csv                 incoming batch exports
    landing/_ground_truth/                generator's labelled anomalies (for scoring)
    raw/<table>/[<part>=<value>/]*.parquet  contract-checked rows, one file per source file and partition
    quarantine/<table>/*.parquet          rejected rows with reason, source file and line
    ledger/<table>/<sha256>.json          one record per ingested source file (idempotency + counts)
    warehouse/shoplake.duckdb             dbt's DuckDB database (single writer)
    serving/                              published read-only snapshots for readers
    quality/<table>/*.parquet             dq_results (one file per run) and the latest sales_forecast;
                                          copied into the warehouse on publish (with the alert log)
    state/                                pid files and ports of local services
    state/snowsim.json, snowsim.log       the local fakesnow server of `shoplake snowsim` (pid, port, log)
    state/prefect/                        Prefect's home (settings, SQLite DB) for `shoplake ui`
    alerts/alerts.jsonl                   alert log: one JSON object per alert (append-only)
    reports/<target>/                     `shoplake report` output (<report>.<md|csv|html> + index page)
    docs/                                 `shoplake docs`: the generated dbt docs site

Every file is written under a temporary name in the same folder and renamed into place,
so a reader globbing `*.parquet` never sees half a file.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

TMP_SUFFIX = ".tmp"


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

    def quarantine_glob(self) -> str:
        return str(self.root / "quarantine" / "*" / "*.parquet")

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

    # -- quality, alerts, forecast ---------------------------------------------------------
    @property
    def quality_root(self) -> Path:
        return self.root / "quality"

    def quality_dir(self, table: str) -> Path:
        return self.quality_root / table

    def quality_file(self, table: str, name: str) -> Path:
        return self.quality_dir(table) / f"{name}.parquet"

    def quality_glob(self, table: str) -> str:
        return str(self.quality_dir(table) / "*.parquet")

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def snowsim_state_file(self) -> Path:
        """pid, port and log of the local fakesnow server started by `shoplake snowsim start`."""
        return self.state_dir / "snowsim.json"

    @property
    def snowsim_log_file(self) -> Path:
        return self.state_dir / "snowsim.log"

    @property
    def warehouse_lock_file(self) -> Path:
        """Held by a flow while dbt builds, so scheduled and triggered builds take turns."""
        return self.state_dir / "warehouse.lock"

    @property
    def prefect_home(self) -> Path:
        return self.state_dir / "prefect"

    # -- alerts ----------------------------------------------------------------------------
    @property
    def alert_log(self) -> Path:
        return self.root / "alerts" / "alerts.jsonl"

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
            self.quality_root,
            self.state_dir,
        ):
            path.mkdir(parents=True, exist_ok=True)
        return self


def _tmp_path(path: Path) -> Path:
    # Hidden and without the final suffix, so `*.parquet` / `*.json` globs never match it.
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
