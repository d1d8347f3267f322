"""Database sources, declared in YAML beside the contracts: `<SHOPLAKE_CONTRACTS_DIR>/sources/<name>.yml`.

A source names the environment variable that holds its connection URL (never the URL: it carries
the password) and, per table, what to read (a table or a query), the contract the rows feed, and
how to read only what changed: a cursor column that grows with every insert or update
(`updated_at`, or a growing id) with a lookback for rows committed late, and optionally the column
that marks soft deletes. A mistake is reported with the file and the key, as for contracts.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..batch.contract import CONTRACTS_DIR, Contract, contracts_dir
from ..errors import ShopLakeError
from ..settings import Settings

SOURCES_DIR = CONTRACTS_DIR / "sources"  # the shipped sources (beside the shipped contracts)


def sources_dir(settings: Settings) -> Path:
    """Where the sources of `settings`' contracts folder live: its `sources/` subfolder."""
    return contracts_dir(settings) / "sources"


DEFAULT_LOOKBACK = "10 minutes"
_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
}  # fmt: skip
_LOOKBACK = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Cursor(_Model):
    """How to read only what changed: rows whose `column` is >= the high-water mark minus `lookback`."""

    column: str
    # A duration ("10 minutes", "2h", or seconds) for timestamp and date cursors, a count of ids for
    # integer ones. At least the longest transaction of the ERP plus the clock skew between its writers.
    lookback: str | float | None = None

    @field_validator("lookback", mode="after")
    @classmethod
    def _parseable(cls, value: str | float | None) -> str | float | None:
        if isinstance(value, str) and _LOOKBACK.match(value.lower()) is None:
            raise ValueError(f"lookback {value!r}: write a number and a unit, e.g. '10 minutes', '2h', '1 day'")
        if isinstance(value, str):
            unit = _LOOKBACK.match(value.lower())[2]  # type: ignore[index]
            if unit and unit not in _UNITS:
                raise ValueError(f"lookback {value!r}: unknown unit {unit!r} (seconds, minutes, hours, days)")
        if isinstance(value, float | int) and value < 0:
            raise ValueError("lookback must not be negative")
        return value

    def duration(self) -> dt.timedelta:
        """The lookback of a timestamp or date cursor."""
        value = DEFAULT_LOOKBACK if self.lookback is None else self.lookback
        if isinstance(value, int | float):
            return dt.timedelta(seconds=value)
        number, unit = _LOOKBACK.match(value.lower()).groups()  # type: ignore[union-attr]
        return dt.timedelta(seconds=float(number) * _UNITS[unit or "s"])

    def ids(self) -> int:
        """The lookback of an integer cursor (a growing id): how many ids back to read again."""
        if self.lookback is None:
            return 0
        if isinstance(self.lookback, str):
            number, unit = _LOOKBACK.match(self.lookback.lower()).groups()  # type: ignore[union-attr]
            if unit:
                raise ShopLakeError(
                    f"cursor {self.column}: is an integer, so its lookback is a number of ids, not {self.lookback!r}"
                )
            return int(float(number))
        return int(self.lookback)


class Table(_Model):
    """One table (or query) of the source, and the contract its rows feed."""

    contract: str
    table: str | None = None  # `schema.table` (each dotted part one identifier, case kept)
    query: str | None = None  # any SELECT; read as a subquery
    cursor: Cursor | None = None  # none: every extract reads the whole table (a full refresh)
    # The database column that marks a row deleted; it lands in the contract's `deleted_column`.
    soft_delete: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)  # database column -> contract column, where names differ

    @model_validator(mode="after")
    def _table_or_query(self) -> Table:
        if (self.table is None) == (self.query is None):
            raise ValueError("give either `table` or `query`")
        return self

    @property
    def what(self) -> str:
        return self.table or "(query)"


class SourceConfig(_Model):
    """One database: its URL's environment variable and the tables to extract, in the order given."""

    source: str
    url_env: str
    tables: tuple[Table, ...] = Field(min_length=1)
    chunk_rows: int | None = Field(default=None, gt=0)  # rows landed per ledger commit (default: the setting)
    path: Path | None = Field(default=None, exclude=True)

    @field_validator("url_env", mode="after")
    @classmethod
    def _a_variable_name(cls, value: str) -> str:
        if "://" in value or not _ENV_NAME.match(value):
            raise ValueError(
                "url_env names the environment variable that holds the URL (e.g. SHOPLAKE_ERP_URL); "
                "never put the URL itself, with its password, in a file"
            )
        return value

    @model_validator(mode="after")
    def _one_entry_per_contract(self) -> SourceConfig:
        names = [t.contract for t in self.tables]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"contract(s) fed twice by this source: {', '.join(twice)}")
        return self

    def table(self, contract: str) -> Table:
        return next(t for t in self.tables if t.contract == contract)


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) + ": " if loc else ""


def parse_source(raw: Any, path: Path, contracts: dict[str, Contract]) -> SourceConfig:
    """One source from its parsed YAML, checked against the contracts; one-line errors naming file and key."""
    if not isinstance(raw, dict):
        raise ShopLakeError(f"source {path.name}: expected a mapping of keys (source, url_env, tables)")
    try:
        config = SourceConfig.model_validate({"source": path.stem, **raw, "path": path})
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ShopLakeError(f"source {path.name}: {_location(first['loc'])}{message}{more}") from None
    for i, table in enumerate(config.tables):
        where = f"source {path.name}: tables.{i}"
        contract = contracts.get(table.contract)
        if contract is None:
            raise ShopLakeError(f"{where}.contract: no contract {table.contract!r} (known: {', '.join(contracts)})")
        names = {c.name for c in contract.columns}
        unknown = sorted(set(table.columns.values()) - names)
        if unknown:
            raise ShopLakeError(f"{where}.columns: {', '.join(unknown)} not a column of the {table.contract} contract")
        if table.soft_delete and contract.deleted_column is None:
            raise ShopLakeError(
                f"{where}.soft_delete: the {table.contract} contract declares no `deleted_column` to carry it"
            )
    return config


def load_sources(contracts: dict[str, Contract], directory: Path) -> dict[str, SourceConfig]:
    """Every source declared in `directory` (`sources_dir(settings)`), by name."""
    sources: dict[str, SourceConfig] = {}
    for path in sorted(directory.glob("*.yml")) if directory.is_dir() else []:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ShopLakeError(f"source {path.name}: not valid YAML ({str(exc).splitlines()[0]})") from None
        config = parse_source(raw, path, contracts)
        if config.source in sources:
            raise ShopLakeError(f"source {path.name}: source {config.source!r} is declared by another file too")
        sources[config.source] = config
    return sources
