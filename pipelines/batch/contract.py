"""Source contracts: the declared shape of each batch export, loaded from `pipelines/contracts/*.yml`.

A user whose exports use other column names edits `source:` in the YAML, not code. The YAML is
validated by pydantic models, so a mistake is reported with the file and the key that is wrong
(`contract orders.yml: columns.3.type: ...`), and an unknown key is refused rather than ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ShopLakeError

# Polars types of the contract types, and of the lineage columns every raw file carries.
CONTRACT_DTYPES: dict[str, pl.DataType] = {
    "bigint": pl.Int64(), "double": pl.Float64(), "string": pl.String(), "date": pl.Date(),
    "timestamp": pl.Datetime("us", "UTC"), "boolean": pl.Boolean(),
}  # fmt: skip
LINEAGE_DTYPES: dict[str, pl.DataType] = {
    "_source_line": pl.Int64(), "_source_file": pl.String(), "_ingested_at": pl.Datetime("us"),
}  # fmt: skip

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"
TYPES = ("bigint", "double", "string", "date", "timestamp", "boolean")
FORMATS = ("email",)
# Columns every landed row carries besides the contract's (where it came from, when it landed).
LINEAGE_COLUMNS = ("_source_line", "_source_file", "_ingested_at")

ColumnType = Literal["bigint", "double", "string", "date", "timestamp", "boolean"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Column(_Model):
    name: str
    source: str  # the export's column name; defaults to `name`
    type: ColumnType
    required: bool = False
    default: Any = None
    format: Literal["email"] | None = None
    min: float | None = None
    allowed: tuple[str, ...] | None = None
    # The canonical values (of `allowed`) that earn revenue, e.g. order_status `[completed, shipped]`.
    # Declared once here, they reach dbt's revenue logic through pipelines/warehouse/dbt.py.
    revenue_values: tuple[str, ...] | None = None

    @model_validator(mode="before")
    @classmethod
    def _source_defaults_to_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("source") and "name" in data:
            return {**data, "source": data["name"]}
        return data

    @field_validator("allowed", mode="after")
    @classmethod
    def _empty_allowed_is_none(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return value or None

    @model_validator(mode="after")
    def _revenue_values_are_allowed_values(self) -> Column:
        if self.revenue_values is None:
            return self
        if self.type != "string" or not self.allowed:
            raise ValueError("revenue_values: needs a string column that declares its canonical values in `allowed`")
        outside = sorted(set(self.revenue_values) - set(self.allowed))
        if outside:
            raise ValueError(f"revenue_values: {', '.join(outside)} not in allowed ({', '.join(self.allowed)})")
        return self


class Reference(_Model):
    column: str
    table: str
    key: str


class Partition(_Model):
    """Hive partition derived from a date column, e.g. order_month=2025-01."""

    column: str
    name: str
    format: str


class Contract(_Model):
    table: str
    file_pattern: str
    columns: tuple[Column, ...] = Field(min_length=1)
    primary_key: tuple[str, ...] = Field(min_length=1)
    # A column whose larger value marks the newer version of a row (e.g. `updated_at`): between rows
    # with the same primary key the newest version wins; without one, the most recently ingested row.
    version_column: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    references: tuple[Reference, ...] = ()
    partition_by: Partition | None = None

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @model_validator(mode="after")
    def _names_are_declared(self) -> Contract:
        names = [c.name for c in self.columns]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"column(s) declared twice: {', '.join(duplicated)}")
        for where, key in (
            *(("primary_key", k) for k in self.primary_key),
            *(("references", r.column) for r in self.references),
            *((("version_column", self.version_column),) if self.version_column else ()),
            *((("partition_by", self.partition_by.column),) if self.partition_by else ()),
        ):
            if key not in names:
                raise ValueError(f"{where}: {key!r} is not a declared column")
        if self.version_column and self.version_column in self.primary_key:
            raise ValueError(f"version_column: {self.version_column!r} is part of the primary key")
        return self


def _location(loc: tuple[int | str, ...]) -> str:
    """`columns.3.type: ` for an error at a key; nothing for a check across keys (its message names them)."""
    return ".".join(str(part) for part in loc) + ": " if loc else ""


def parse_contract(raw: Any, path: Path) -> Contract:
    """One contract from its parsed YAML; a mistake raises a one-line ShopLakeError naming file and key."""
    if not isinstance(raw, dict):
        raise ShopLakeError(f"contract {path.name}: expected a mapping of keys (table, columns, ...)")
    try:
        return Contract.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ShopLakeError(f"contract {path.name}: {_location(first['loc'])}{message}{more}") from None


def load_contracts(directory: Path | None = None) -> dict[str, Contract]:
    """All contracts, ordered so that referenced tables come before the tables that reference them.

    `directory` defaults to `CONTRACTS_DIR`, read when called (not when this module was imported).
    """
    directory = CONTRACTS_DIR if directory is None else directory
    contracts: dict[str, Contract] = {}
    for path in sorted(directory.glob("*.yml")):
        # libyaml's parser when present: the pure-Python one took 7 ms of each ingest for five files.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            raw = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
        except yaml.YAMLError as exc:
            raise ShopLakeError(f"contract {path.name}: not valid YAML ({str(exc).splitlines()[0]})") from None
        contract = parse_contract(raw, path)
        if contract.table in contracts:
            raise ShopLakeError(f"contract {path.name}: table {contract.table!r} is declared by another file too")
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
