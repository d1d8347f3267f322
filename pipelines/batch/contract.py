"""Source contracts: the declared shape of each batch export, loaded from `pipelines/contracts/*.yml`.

A user whose exports use other column names edits `source:` in the YAML, not code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ShopLakeError

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"
TYPES = ("bigint", "double", "string", "date", "timestamp", "boolean")
FORMATS = ("email",)


@dataclass(frozen=True)
class Column:
    name: str
    source: str
    type: str
    required: bool = False
    default: Any = None
    format: str | None = None
    min: float | None = None
    allowed: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Reference:
    column: str
    table: str
    key: str


@dataclass(frozen=True)
class Partition:
    """Hive partition derived from a date column, e.g. order_month=2025-01."""

    column: str
    name: str
    format: str


@dataclass(frozen=True)
class Contract:
    table: str
    file_pattern: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    delimiter: str = ","
    encoding: str = "utf-8"
    references: tuple[Reference, ...] = field(default_factory=tuple)
    partition_by: Partition | None = None

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _parse(raw: dict[str, Any], path: Path) -> Contract:
    try:
        columns = tuple(
            Column(
                name=c["name"], source=c.get("source", c["name"]), type=c["type"],
                required=bool(c.get("required", False)), default=c.get("default"), format=c.get("format"),
                min=c.get("min"), allowed=tuple(c["allowed"]) if c.get("allowed") else None,
            )
            for c in raw["columns"]
        )  # fmt: skip
        contract = Contract(
            table=raw["table"],
            file_pattern=raw["file_pattern"],
            columns=columns,
            primary_key=tuple(raw["primary_key"]),
            delimiter=raw.get("delimiter", ","),
            encoding=raw.get("encoding", "utf-8"),
            references=tuple(Reference(**r) for r in raw.get("references", [])),
            partition_by=Partition(**raw["partition_by"]) if raw.get("partition_by") else None,
        )
    except (KeyError, TypeError) as exc:
        raise ShopLakeError(f"contract {path.name}: missing or unexpected key {exc}") from exc
    names = {c.name for c in columns}
    for col in columns:
        if col.type not in TYPES:
            raise ShopLakeError(f"contract {path.name}: column {col.name} has unknown type {col.type!r} ({TYPES})")
        if col.format is not None and col.format not in FORMATS:
            raise ShopLakeError(f"contract {path.name}: column {col.name} has unknown format {col.format!r}")
    for key in (*contract.primary_key, *(r.column for r in contract.references)):
        if key not in names:
            raise ShopLakeError(f"contract {path.name}: {key!r} is not a declared column")
    return contract


def load_contracts(directory: Path = CONTRACTS_DIR) -> dict[str, Contract]:
    """All contracts, ordered so that referenced tables come before the tables that reference them."""
    contracts = {}
    for path in sorted(directory.glob("*.yml")):
        # libyaml's parser when present: the pure-Python one took 7 ms of each ingest for five files.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        contract = _parse(yaml.load(path.read_text(encoding="utf-8"), Loader=loader), path)
        contracts[contract.table] = contract
    ordered: dict[str, Contract] = {}

    def visit(table: str, stack: tuple[str, ...] = ()) -> None:
        if table in ordered:
            return
        if table in stack:
            raise ShopLakeError(f"contracts: reference cycle {' -> '.join((*stack, table))}")
        for ref in contracts[table].references:
            if ref.table not in contracts:
                raise ShopLakeError(f"contract {table}: references unknown table {ref.table!r}")
            visit(ref.table, (*stack, table))
        ordered[table] = contracts[table]

    for table in contracts:
        visit(table)
    return ordered
