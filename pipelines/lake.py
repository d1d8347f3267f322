"""The lake layout: the only module that knows where things live.

Two roots. The data zones (landing, raw, quarantine, ledger, dead letters, results, stream
checkpoints) live under `SHOPLAKE_LAKE_URI` when it names an object store (`s3://bucket/prefix`,
`gs://...`, `az://...`), else under `SHOPLAKE_LAKE_DIR`; their paths are `LakePath`s (a `Path`, or a
`storage.ObjectPath` on a store) and are read and written only through `pipelines/storage.py`.
The warehouse, serving snapshots, reports, docs, state (locks, services, spool) always live under
`SHOPLAKE_LAKE_DIR`, on local disk.

Layout (relative to those roots):

    landing/<table>/*.csv                 incoming batch exports (input; never modified by ShopLake)
    landing/<table>/_extracts/*.parquet   frames landed through the API (`land_frame`), kept for --reprocess
    landing/_ground_truth/                generator's labelled anomalies (for scoring)
    raw/<table>/[<part>=<value>/]<stem>-<sha12>-<attempt>.parquet
                                          contract-checked rows: one file per source file (and partition)
                                          and ingest attempt; only those a ledger record lists are committed
    quarantine/<table>/<stem>-<sha12>-<attempt>.parquet
                                          rejected rows with reason, source file and physical line
    ledger/<table>/<sha256>.json          one record per ingested source file: the commit point, listing
                                          its outputs (epoch 0)
    ledger/<table>/EPOCH                  the table's current ledger epoch (absent = 0); written last by
                                          `shoplake ingest --reprocess`
    ledger/<table>/epoch-<n>/<sha256>.json  the records of epoch n > 0
    warehouse/shoplake.duckdb             dbt's DuckDB database (single writer)
    serving/                              published read-only snapshots for readers
    results/<table>/<run_id>.parquet      what ShopLake computes in Python: dq_results, sales_forecast,
                                          alert_log (one file per run; schemas in pipelines/results.py)
    state/                                locks; state/spool/ holds stream files being built for an object store
    state/<service>.json, <service>.log   local daemons (broker, snowsim, erp-sim): pid, port, binary, log
    state/<service>.private.json          a daemon's owner-only facts (erp-sim: data folder, password; mode 0600)
    raw/clickstream_events/event_date=<d>/<topic>__p<NNN>__<first>-<last>[.c<gen>].parquet
                                          stream micro-batches; the name carries topic, partition, offsets
                                          (and, for a file compaction merged, the compaction generation)
    deadletter/clickstream_events/<topic>__p<NNN>__<first>-<last>.parquet
                                          stream messages that broke the contract (raw payload + reason)
    ledger/_stream/<table>/<topic>.json   stream checkpoint: next offset per partition, compaction
                                          generation and retired files (the commit point)
    state/prefect/                        Prefect's home (settings, SQLite DB) for `shoplake ui`
    reports/<target>/                     `shoplake report` output (<report>.<md|csv|html> + index page)
    docs/                                 `shoplake docs`: the generated dbt docs site

How files are written is `pipelines/storage.py`; which files are committed is `pipelines/catalog.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import storage
from .storage import LakePath, ObjectPath

if TYPE_CHECKING:
    from .settings import Settings

CLICKSTREAM_TABLE = "clickstream_events"
EPOCH_DIR_PREFIX = "epoch-"
_STREAM_NAME = re.compile(
    r"^(?P<topic>.+)__p(?P<partition>\d{3,})__(?P<first>\d{12,})-(?P<last>\d{12,})(?:\.c(?P<generation>\d+))?$"
)


@dataclass(frozen=True)
class StreamFileId:
    """Identity of one stream file: which offsets of which topic partition it was cut from."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    generation: int = 0  # 0: written by a flush; n > 0: merged by the n-th compaction of the topic

    @property
    def name(self) -> str:
        name = f"{self.topic}__p{self.partition:03d}__{self.first_offset:012d}-{self.last_offset:012d}"
        return f"{name}.c{self.generation}" if self.generation else name

    @classmethod
    def parse(cls, stem: str) -> StreamFileId | None:
        match = _STREAM_NAME.match(stem)
        if match is None:
            return None
        generation = int(match["generation"]) if match["generation"] else 0
        return cls(match["topic"], int(match["partition"]), int(match["first"]), int(match["last"]), generation)


@dataclass(frozen=True)
class Lake:
    """Paths of one lake: `root` is the local folder (`Settings.lake_dir`); `uri` the object store that
    holds the data zones (`Settings.lake_uri`; None = they live under `root` too). Entry points build
    it with `Lake.of(settings)`."""

    root: Path
    uri: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> Lake:
        return cls(settings.lake_dir, settings.lake_uri or None)

    @property
    def data_root(self) -> LakePath:
        """Where the data zones live: `root`, or the object store's prefix."""
        return ObjectPath(self.uri) if self.uri else self.root

    @property
    def is_remote(self) -> bool:
        return self.uri is not None

    @property
    def location(self) -> str:
        """The data zones' location for messages and DuckDB: the URI, or the local folder."""
        return str(self.data_root)

    # -- batch -----------------------------------------------------------------------------
    @property
    def landing_root(self) -> LakePath:
        return self.data_root / "landing"

    def landing_dir(self, table: str) -> LakePath:
        return self.landing_root / table

    @property
    def ground_truth_dir(self) -> LakePath:
        return self.landing_root / "_ground_truth"

    def raw_dir(self, table: str) -> LakePath:
        return self.data_root / "raw" / table

    def raw_file(self, table: str, name: str, partition: tuple[str, str] | None = None) -> LakePath:
        """A raw Parquet file; `partition` is a hive (key, value) pair such as ("order_month", "2025-01")."""
        base = self.raw_dir(table)
        if partition is not None:
            base = base / f"{partition[0]}={partition[1]}"
        return base / f"{name}.parquet"

    def raw_tables(self) -> list[str]:
        """Every table that has a folder under raw/ (batch contracts and the clickstream alike)."""
        dirs = storage.list_dirs(self.data_root / "raw")
        return sorted(p.name for p in dirs if not p.name.startswith((".", "_")))

    def raw_glob(self, table: str) -> str:
        """Every Parquet file under the table's folder, committed or not: for diagnostics and tests.

        Readers use `pipelines.catalog.committed_files` instead (a crashed ingest's leftovers match
        this glob until the next ingest removes them).
        """
        return str(self.raw_dir(table) / "**" / "*.parquet")

    def quarantine_dir(self, table: str) -> LakePath:
        return self.data_root / "quarantine" / table

    def quarantine_file(self, table: str, name: str) -> LakePath:
        return self.quarantine_dir(table) / f"{name}.parquet"

    def extracts_dir(self, table: str) -> LakePath:
        """Frames landed through the API (not CSV exports), kept so `--reprocess` can read them again."""
        return self.landing_dir(table) / "_extracts"

    @property
    def ledger_root(self) -> LakePath:
        return self.data_root / "ledger"

    def ledger_table_dir(self, table: str) -> LakePath:
        return self.ledger_root / table

    def ledger_dir(self, table: str, epoch: int = 0) -> LakePath:
        """Where the records of one ledger epoch of a table live (epoch 0 directly in the table's folder)."""
        base = self.ledger_table_dir(table)
        return base if epoch == 0 else base / f"{EPOCH_DIR_PREFIX}{epoch}"

    def ledger_file(self, table: str, sha256: str, epoch: int = 0) -> LakePath:
        return self.ledger_dir(table, epoch) / f"{sha256}.json"

    def ledger_epoch_file(self, table: str) -> LakePath:
        """The pointer to the table's current ledger epoch: the commit point of a reprocess."""
        return self.ledger_table_dir(table) / "EPOCH"

    def ledger_epochs(self, table: str) -> list[int]:
        """Epochs that have a records folder (0 when the table has a ledger folder at all)."""
        base = self.ledger_table_dir(table)
        if not storage.is_dir(base):
            return []
        epochs = [0]
        for entry in storage.list_dirs(base):
            suffix = entry.name.removeprefix(EPOCH_DIR_PREFIX)
            if entry.name.startswith(EPOCH_DIR_PREFIX) and suffix.isdigit():
                epochs.append(int(suffix))
        return sorted(epochs)

    def ledger_tables(self) -> list[str]:
        """Tables with a batch ledger folder (the stream's checkpoints live under `_stream`)."""
        dirs = storage.list_dirs(self.ledger_root)
        return sorted(p.name for p in dirs if not p.name.startswith((".", "_")))

    def rel(self, path: LakePath) -> str:
        """A data file's path relative to the data root, as ledger records list it (posix)."""
        return path.relative_to(self.data_root).as_posix()  # type: ignore[arg-type]

    def path(self, rel: str) -> LakePath:
        """The data file a lake-relative path names."""
        return self.data_root / rel

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
    def results_root(self) -> LakePath:
        return self.data_root / "results"

    def results_dir(self, table: str) -> LakePath:
        return self.results_root / table

    def results_file(self, table: str, run_id: str) -> LakePath:
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

    def service_private_file(self, name: str) -> Path:
        """What a local daemon keeps that only its owner may read (erp-sim: its data folder and password)."""
        return self.state_dir / f"{name}.private.json"

    # -- stream ----------------------------------------------------------------------------
    def stream_checkpoint_dir(self, table: str) -> LakePath:
        return self.ledger_root / "_stream" / table

    def stream_checkpoint(self, table: str, topic: str) -> LakePath:
        """Commit point of the stream writer: the next offset per partition that the lake holds."""
        return self.stream_checkpoint_dir(table) / f"{topic}.json"

    def stream_tables(self) -> list[str]:
        """Tables the stream writer has recorded a checkpoint for."""
        dirs = storage.list_dirs(self.ledger_root / "_stream")
        return sorted(p.name for p in dirs if not p.name.startswith("."))

    def stream_partition_dir(self, table: str, event_date: str) -> LakePath:
        return self.raw_dir(table) / f"event_date={event_date}"

    def stream_partition_dirs(self, table: str) -> list[LakePath]:
        return [p for p in storage.list_dirs(self.raw_dir(table)) if p.name.startswith("event_date=")]

    def stream_file(self, table: str, event_date: str, file_id: StreamFileId) -> LakePath:
        return self.raw_file(table, file_id.name, ("event_date", event_date))

    def spool_dir(self, table: str) -> Path:
        """Local disk where the stream writer builds files bound for an object store (never read)."""
        return self.state_dir / "spool" / table

    def deadletter_dir(self, table: str) -> LakePath:
        return self.data_root / "deadletter" / table

    def deadletter_file(self, table: str, file_id: StreamFileId) -> LakePath:
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
        """Create the top-level folders (idempotent; an object store has no folders to create)."""
        for path in (self.warehouse_path.parent, self.serving_dir, self.state_dir):
            path.mkdir(parents=True, exist_ok=True)
        for zone in (self.landing_root, self.data_root / "raw", self.data_root / "quarantine", self.ledger_root,
                     self.results_root):  # fmt: skip
            storage.ensure_dir(zone)
        return self
