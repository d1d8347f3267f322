"""The ingestion ledger: one JSON record per ingested source file, keyed by content hash.

The record is the commit point of the batch commit protocol (docs/architecture.md): a source
file's outputs (raw Parquet, quarantine Parquet) are written first under names unique to the
ingest attempt, and the record, written last as one whole file, lists them. A file the ledger does
not list is not part of the lake, whatever lies on disk.

Records are grouped in epochs per table. `shoplake ingest --reprocess` writes a whole new set of
records in the next epoch, then the table's `EPOCH` pointer (one small file, written last): readers
follow the pointer, so they see the old set or the new one, never a mix, without relying on a
rename of several files (object stores have none).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from ..lake import Lake
from ..storage import write_json_atomic


@dataclass(frozen=True)
class LedgerRecord:
    table: str
    source_file: str
    sha256: str
    size_bytes: int
    rows_in: int
    rows_landed: int
    rows_quarantined: int
    ingested_at: str  # ISO UTC with "Z"; the ingestion order between source files (row-wins rule)
    duration_s: float
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    imputed: dict[str, int] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)  # lake-relative paths of the raw and quarantine files
    attempt: str = ""  # the ingest attempt that wrote the outputs (part of their names)
    epoch: int = 0
    source_path: str = ""  # lake-relative path of the landed file, read again by --reprocess
    # For rows read from a database (`pipelines/extract`): the source and the cursor range they cover.
    # Written in the same record that commits the rows, so a high-water mark never runs ahead of them.
    extract: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rows_in != self.rows_landed + self.rows_quarantined:
            raise ValueError(f"{self.source_file}: rows in {self.rows_in} != landed + quarantined")

    @property
    def ingested_datetime(self) -> dt.datetime:
        """`ingested_at` as the naive UTC datetime the rows carry in `_ingested_at`."""
        return dt.datetime.fromisoformat(self.ingested_at.removesuffix("Z"))


@dataclass(frozen=True)
class EpochPointer:
    epoch: int
    committed_at: dt.datetime | None  # when this epoch replaced the previous one (None for epoch 0)


_FIELDS = {f.name for f in fields(LedgerRecord)}


def _record(lake: Lake, payload: dict[str, Any]) -> LedgerRecord:
    record = LedgerRecord(**{k: v for k, v in payload.items() if k in _FIELDS})
    if any(Path(o).is_absolute() for o in record.outputs):
        # Records written before outputs were lake-relative listed absolute paths.
        outputs = [_relative(lake, o) for o in record.outputs]
        record = LedgerRecord(**{**asdict(record), "outputs": outputs})
    return record


def _relative(lake: Lake, output: str) -> str:
    path = Path(output)
    if not path.is_absolute():
        return output
    try:
        return lake.rel(path)
    except ValueError:  # the lake was moved: keep the part from the zone folder on
        parts = path.parts
        for zone in ("raw", "quarantine"):
            if zone in parts:
                return Path(*parts[len(parts) - parts[::-1].index(zone) - 1 :]).as_posix()
        return output


def epoch_pointer(lake: Lake, table: str) -> EpochPointer:
    path = lake.ledger_epoch_file(table)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return EpochPointer(0, None)
    committed = payload.get("committed_at")
    return EpochPointer(int(payload["epoch"]), dt.datetime.fromisoformat(committed) if committed else None)


def current_epoch(lake: Lake, table: str) -> int:
    return epoch_pointer(lake, table).epoch


def write_epoch(lake: Lake, table: str, epoch: int) -> None:
    """Switch the table to `epoch`: the commit point of a reprocess (its records are all written)."""
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    write_json_atomic(lake.ledger_epoch_file(table), {"epoch": epoch, "committed_at": now})


def write_ledger_record(lake: Lake, record: LedgerRecord) -> None:
    write_json_atomic(lake.ledger_file(record.table, record.sha256, record.epoch), asdict(record))


def read_ledger_record(lake: Lake, table: str, sha256: str, epoch: int | None = None) -> LedgerRecord | None:
    """The record of one source file in `epoch` (default: the table's current epoch), or None."""
    epoch = current_epoch(lake, table) if epoch is None else epoch
    path = lake.ledger_file(table, sha256, epoch)
    try:
        return _record(lake, json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None


def read_table_records(lake: Lake, table: str, epoch: int | None = None) -> list[LedgerRecord]:
    """The records of one table's epoch (default: current), in ingestion order (oldest first)."""
    epoch = current_epoch(lake, table) if epoch is None else epoch
    directory = lake.ledger_dir(table, epoch)
    if not directory.is_dir():
        return []
    records = [_record(lake, json.loads(p.read_text(encoding="utf-8"))) for p in directory.glob("*.json")]
    return sorted(records, key=lambda r: (r.ingested_at, r.source_file))


def read_ledger(lake: Lake) -> list[LedgerRecord]:
    """Every table's current records, oldest first."""
    records = [r for table in lake.ledger_tables() for r in read_table_records(lake, table)]
    return sorted(records, key=lambda r: (r.ingested_at, r.table, r.source_file))


def ledger_totals(lake: Lake) -> dict[str, dict[str, int]]:
    """Per table: source files, rows in, landed and quarantined over the current records."""
    totals: dict[str, dict[str, int]] = {}
    for record in read_ledger(lake):
        t = totals.setdefault(record.table, {"files": 0, "rows_in": 0, "landed": 0, "quarantined": 0})
        t["files"] += 1
        t["rows_in"] += record.rows_in
        t["landed"] += record.rows_landed
        t["quarantined"] += record.rows_quarantined
    return dict(sorted(totals.items()))


Zone = Literal["raw", "quarantine"]
ZONES: tuple[Zone, ...] = ("raw", "quarantine")


def committed_rels(lake: Lake, table: str, zone: Zone = "raw") -> list[str]:
    """Lake-relative paths of a batch table's committed files in `zone`, in ingestion order."""
    prefix = f"{zone}/{table}/"
    return [o for record in read_table_records(lake, table) for o in record.outputs if o.startswith(prefix)]
