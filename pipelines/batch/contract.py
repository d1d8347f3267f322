"""Source contracts: the declared shape of each batch export, loaded from YAML files, one per table.

The folder is the setting `SHOPLAKE_CONTRACTS_DIR` (default: the shipped `pipelines/contracts/`),
so a shop keeps its contracts in its own repository. A user whose exports look different (other
column names, a semicolon CSV in cp1252, `31.01.2025` dates, `1.234,56` amounts, German status
words, an Excel workbook) edits the YAML, never code. The YAML is validated by pydantic models, so
a mistake is reported with the file and the key that is wrong (`contract orders.yml: columns.3.type:
...`), and an unknown key is refused rather than ignored.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
import zoneinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ShopLakeError

if TYPE_CHECKING:
    from ..settings import Settings

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
FORMATS = ("csv", "xlsx", "parquet", "jsonl")
# Columns every landed row carries besides the contract's (where it came from, when it landed).
LINEAGE_COLUMNS = ("_source_line", "_source_file", "_ingested_at")
DEFAULT_DATE_FORMAT = "%Y-%m-%d"
DEFAULT_TRUE = ("true", "1")
DEFAULT_FALSE = ("false", "0")

ColumnType = Literal["bigint", "double", "string", "date", "timestamp", "boolean"]
FileFormat = Literal["csv", "xlsx", "parquet", "jsonl"]
Decimal = Literal[".", ","]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_strftime(fmt: str, column_type: str) -> None:
    """A date/timestamp format must round-trip a known instant (catches `%Q`, `DD.MM.YYYY` and the like)."""
    import polars as pl

    if "%" not in fmt:
        raise ValueError(
            f'format {fmt!r} is not a strftime pattern; write e.g. "%d.%m.%Y" for 31.01.2025 '
            f'or "%d.%m.%Y %H:%M" for 31.01.2025 14:30'
        )
    sample = dt.datetime(2031, 12, 28, 13, 14, 15, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    try:
        text = sample.strftime(fmt)
        series = pl.Series([text])
        if column_type == "date":
            series.str.to_date(fmt, strict=True)
        else:
            series.str.to_datetime(fmt, strict=True, time_zone="UTC" if "z" in fmt else None)
    except Exception:  # any failure means the pattern cannot read what it writes
        raise ValueError(f"format {fmt!r} cannot be read back (unknown or incomplete strftime pattern)") from None


class Column(_Model):
    name: str
    source: str  # the export's column name; defaults to `name`
    type: ColumnType
    required: bool = False
    default: Any = None
    # date/timestamp: a strftime pattern ("%d.%m.%Y"); string: "email" (the value must look like one).
    format: str | None = None
    min: float | None = None
    allowed: tuple[str, ...] | None = None
    # Number parsing; unset = the table's setting. `thousands: ""` turns the table's separator off here.
    decimal: Decimal | None = None
    thousands: str | None = None
    # Boolean words (compared without case); unset = true/false/1/0.
    true_values: tuple[str, ...] | None = None
    false_values: tuple[str, ...] | None = None
    # Strip surrounding blanks before parsing; unset = text columns are stripped, others are not.
    trim: bool | None = None
    # Source value -> canonical value (keys compared without case), applied before `allowed`.
    map: dict[str, str | None] | None = None
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

    @field_validator("allowed", "true_values", "false_values", mode="before")
    @classmethod
    def _words_as_text(cls, value: Any) -> Any:
        # YAML reads `ja`/`no`/`1` as booleans or numbers; the values are words as exported.
        if isinstance(value, list | tuple):
            return tuple(_yaml_word(v) for v in value)
        return value

    @field_validator("map", mode="before")
    @classmethod
    def _map_keys_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {_yaml_word(k): (None if v is None else _yaml_word(v)) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _options_fit_the_type(self) -> Column:
        t = self.type
        if self.format is not None:
            if t in ("date", "timestamp"):
                _check_strftime(self.format, t)
            elif t == "string":
                if self.format != "email":
                    raise ValueError(f"format: a string column's format can only be 'email' (got {self.format!r})")
            else:
                raise ValueError(f"format: applies to date/timestamp (strftime) and string (email), not {t}")
        if self.min is not None and t not in ("bigint", "double"):
            raise ValueError(f"min: applies to bigint and double columns, not {t}")
        if self.allowed and t != "string":
            raise ValueError(f"allowed: applies to string columns, not {t}")
        if self.decimal is not None and t != "double":
            raise ValueError(f"decimal: applies to double columns, not {t}")
        if self.thousands and t not in ("bigint", "double"):
            raise ValueError(f"thousands: applies to bigint and double columns, not {t}")
        if self.thousands and self.decimal and self.thousands == self.decimal:
            raise ValueError("thousands: must differ from decimal")
        if (self.true_values or self.false_values) and t != "boolean":
            raise ValueError(f"true_values/false_values: apply to boolean columns, not {t}")
        if self.true_values and self.false_values:
            both = {v.lower() for v in self.true_values} & {v.lower() for v in self.false_values}
            if both:
                raise ValueError(f"true_values and false_values share {', '.join(sorted(both))}")
        if self.map is not None:
            if t != "string":
                raise ValueError(f"map: applies to string columns, not {t}")
            seen: dict[str, str | None] = {}
            for key, value in self.map.items():
                if key.strip().lower() in seen and seen[key.strip().lower()] != value:
                    raise ValueError(f"map: {key!r} is mapped twice (keys are compared without case)")
                seen[key.strip().lower()] = value
            if self.allowed:
                outside = sorted({v for v in self.map.values() if v is not None} - set(self.allowed))
                if outside:
                    raise ValueError(f"map: {', '.join(outside)} not in allowed ({', '.join(self.allowed)})")
        return self

    @property
    def date_format(self) -> str:
        return self.format or DEFAULT_DATE_FORMAT

    @property
    def truthy(self) -> tuple[str, ...]:
        return tuple(v.lower() for v in self.true_values) if self.true_values else DEFAULT_TRUE

    @property
    def falsy(self) -> tuple[str, ...]:
        return tuple(v.lower() for v in self.false_values) if self.false_values else DEFAULT_FALSE

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


def _yaml_word(value: Any) -> str:
    """A YAML scalar as the word it was written as (`yes`, `no`, `1`, `0.5` stay text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
    # What the file is: csv (plain or gzip-compressed), xlsx (one sheet), parquet or jsonl (JSON Lines).
    format: FileFormat = "csv"
    sheet: str | None = None  # xlsx: the sheet to read (default: the first one)
    header: bool = True  # csv: the first line names the columns (false: columns are column_1, column_2, ...)
    # A column that marks a row deleted at its source (a soft delete: `deleted_at`, `is_deleted`): when
    # the winning row of a key has it set (not null; true for a boolean), staging drops the key.
    deleted_column: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    # Number parsing for every numeric column (a column may override): "1.234,56" is decimal "," thousands ".".
    decimal: Decimal = "."
    thousands: str | None = None
    # Time zone of timestamps written without an offset (with one, the offset says it); stored as UTC.
    timezone: str = "UTC"
    # A file whose quarantined share of rows is above this fails (nothing of it lands); unset = setting.
    max_quarantine_share: float | None = Field(default=None, ge=0.0, le=1.0)
    references: tuple[Reference, ...] = ()
    partition_by: Partition | None = None

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def decimal_of(self, column: Column) -> str:
        return column.decimal or self.decimal

    def thousands_of(self, column: Column) -> str | None:
        return (column.thousands if column.thousands is not None else self.thousands) or None

    @field_validator("delimiter", mode="after")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError(f'must be one character (got {value!r}; write a tab as "\\t")')
        return value

    @field_validator("encoding", mode="after")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r} (e.g. utf-8, cp1252, latin-1, utf-16)") from None
        return value

    @field_validator("timezone", mode="after")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Berlin)") from None
        return value

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
            *((("deleted_column", self.deleted_column),) if self.deleted_column else ()),
            *((("partition_by", self.partition_by.column),) if self.partition_by else ()),
        ):
            if key not in names:
                raise ValueError(f"{where}: {key!r} is not a declared column")
        if self.version_column and self.version_column in self.primary_key:
            raise ValueError(f"version_column: {self.version_column!r} is part of the primary key")
        if self.sheet is not None and self.format != "xlsx":
            raise ValueError(f"sheet: applies to format xlsx, not {self.format}")
        if self.thousands and self.thousands == self.decimal:
            raise ValueError("thousands: must differ from decimal")
        for column in self.columns:
            if self.thousands_of(column) and self.thousands_of(column) == self.decimal_of(column):
                raise ValueError(f"column {column.name}: thousands separator equals the decimal separator")
        if self.deleted_column and self.deleted_column in self.primary_key:
            raise ValueError(f"deleted_column: {self.deleted_column!r} is part of the primary key")
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


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML with only `true`/`false` as booleans (YAML 1.2): `ja`, `yes`, `no`, `on`, `off` stay words.

    libyaml's parser when present: the pure-Python one took 7 ms of each ingest for five files.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in _Loader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def read_yaml(text: str) -> Any:
    """Parse contract YAML (only true/false are booleans)."""
    return yaml.load(text, Loader=_Loader)


def default_contracts_dir() -> Path:
    """The contracts folder the environment names (`SHOPLAKE_CONTRACTS_DIR`), else the shipped one."""
    from ..settings import Settings

    return Settings().contracts_dir or CONTRACTS_DIR


def contracts_dir(settings: Settings) -> Path:
    """`settings`' contracts folder; unset = as the environment says now, else the shipped folder."""
    return settings.contracts_dir or default_contracts_dir()


def contracts_for(settings: Settings) -> dict[str, Contract]:
    """The contracts `settings` name (`SHOPLAKE_CONTRACTS_DIR`, default the shipped ones)."""
    return load_contracts(contracts_dir(settings))


def load_contracts(directory: Path | None = None) -> dict[str, Contract]:
    """All contracts, ordered so that referenced tables come before the tables that reference them.

    `directory` defaults to `SHOPLAKE_CONTRACTS_DIR` (read from the environment), else the shipped folder.
    """
    directory = default_contracts_dir() if directory is None else directory
    if not directory.is_dir():
        raise ShopLakeError(f"contracts folder {directory} does not exist (SHOPLAKE_CONTRACTS_DIR)")
    contracts: dict[str, Contract] = {}
    files: dict[str, str] = {}
    for path in sorted(directory.glob("*.yml")):
        try:
            raw = read_yaml(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ShopLakeError(f"contract {path.name}: not valid YAML ({str(exc).splitlines()[0]})") from None
        contract = parse_contract(raw, path)
        if contract.table in contracts:
            raise ShopLakeError(f"contract {path.name}: table {contract.table!r} is declared by another file too")
        contracts[contract.table] = contract
        files[contract.table] = path.name
    if not contracts:
        raise ShopLakeError(f"contracts folder {directory} holds no *.yml contract (SHOPLAKE_CONTRACTS_DIR)")
    ordered: dict[str, Contract] = {}

    def visit(table: str, stack: tuple[str, ...] = ()) -> None:
        if table in ordered:
            return
        if table in stack:
            raise ShopLakeError(f"contracts: reference cycle {' -> '.join((*stack, table))}")
        for ref in contracts[table].references:
            if ref.table not in contracts:
                raise ShopLakeError(f"contract {files[table]}: references unknown table {ref.table!r}")
            _check_reference(contracts[table], ref, contracts[ref.table], files[table])
            visit(ref.table, (*stack, table))
        ordered[table] = contracts[table]

    for table in contracts:
        visit(table)
    return ordered


def _check_reference(contract: Contract, ref: Reference, target: Contract, file: str) -> None:
    """A reference names a column of the referenced table (or its partition) of the same type."""
    where = f"contract {file}: references {ref.column} -> {ref.table}.{ref.key}"
    if target.partition_by is not None and ref.key == target.partition_by.name:
        return
    keys = {c.name: c for c in target.columns}
    if ref.key not in keys:
        raise ShopLakeError(f"{where}: {ref.table} declares no column {ref.key!r} (it has {', '.join(keys)})")
    own, theirs = contract.column(ref.column).type, keys[ref.key].type
    if own != theirs:
        raise ShopLakeError(f"{where}: {ref.column} is {own} but {ref.table}.{ref.key} is {theirs}; declare both alike")
