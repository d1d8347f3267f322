"""The ingestion ledger: one JSON record per ingested source file, keyed by content hash.

The record is written last, after every output file is in place, so its presence means the file
is fully in the lake. Readers (dbt, `shoplake quality`) read all records with one glob.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from ..lake import Lake, write_json_atomic


@dataclass(frozen=True)
class LedgerRecord:
    table: str
    source_file: str
    sha256: str
    size_bytes: int
    rows_in: int
    rows_landed: int
    rows_quarantined: int
    ingested_at: str
    duration_s: float
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    imputed: dict[str, int] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.rows_in != self.rows_landed + self.rows_quarantined:
            raise ValueError(f"{self.source_file}: rows in {self.rows_in} != landed + quarantined")


def write_ledger_record(lake: Lake, record: LedgerRecord) -> None:
    write_json_atomic(lake.ledger_file(record.table, record.sha256), asdict(record))


def read_ledger_record(lake: Lake, table: str, sha256: str) -> LedgerRecord | None:
    path = lake.ledger_file(table, sha256)
    if not path.exists():
        return None
    return LedgerRecord(**json.loads(path.read_text(encoding="utf-8")))


def read_ledger(lake: Lake) -> list[LedgerRecord]:
    """Every record, oldest first."""
    records = [LedgerRecord(**json.loads(p.read_text(encoding="utf-8"))) for p in lake.ledger_root.glob("*/*.json")]
    return sorted(records, key=lambda r: (r.ingested_at, r.table, r.source_file))
