"""Where reports run: one small interface over DuckDB snapshots and Snowflake connections.

The runner only calls `execute` and `relation_exists`, and reads `paramstyle` and `dialect`, so adding
a target means writing an opener here, not touching the runner. DuckDB reports read the published
snapshot through the reader sandbox (`open_snapshot`); on Snowflake nothing makes a connection
read-only, so the runner's statement check and a read-only role are the protection (docs/reports.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import ShopLakeError
from ..lake import Lake
from ..settings import Settings
from ..warehouse.sandbox import reader_error
from .params import translate

TARGETS = ("dev", "prod", "snowsim")

EXISTS_SQL = (
    "select count(*) from information_schema.tables "
    "where lower(table_name) = lower(:name) and lower(table_schema) = lower(current_schema())"
)


class ReportTarget(Protocol):
    """A live connection reports can run on."""

    name: str
    paramstyle: str  # see params.translate
    description: str  # shown on the index page, e.g. the snapshot id
    dialect: str  # sqlglot's name for the target's SQL: duckdb or snowflake

    def execute(self, sql: str, values: dict[str, Any]) -> tuple[list[str], list[tuple]]: ...

    def relation_exists(self, name: str) -> bool: ...


@dataclass
class DbApiTarget:
    """Any DB-API connection (duckdb, snowflake.connector) with a known paramstyle."""

    name: str
    connection: Any
    paramstyle: str
    description: str = ""
    dialect: str = "duckdb"

    def execute(self, sql: str, values: dict[str, Any]) -> tuple[list[str], list[tuple]]:
        """Run `sql` with its `:name` values bound; a driver error becomes the database's message in one line."""
        query, bound = translate(sql, values, self.paramstyle, dialect=self.dialect)
        cursor = self.connection.cursor()
        try:
            if bound:
                cursor.execute(query, bound)
            else:
                cursor.execute(query)
            columns = [d[0].lower() for d in cursor.description] if cursor.description else []
            rows = [tuple(r) for r in cursor.fetchall()] if columns else []
        except Exception as exc:  # duckdb.Error, snowflake.connector's errors: whatever the driver raises
            raise reader_error(exc) from None
        finally:
            cursor.close()
        return columns, rows

    def relation_exists(self, name: str) -> bool:
        _, rows = self.execute(EXISTS_SQL, {"name": name})
        return bool(rows and rows[0][0])


@contextmanager
def duckdb_target(settings: Settings) -> Iterator[DbApiTarget]:
    """The latest published DuckDB snapshot in the reader sandbox (readers never open the live warehouse)."""
    from ..warehouse.serving import current_snapshot_id, open_snapshot

    lake = Lake.of(settings)
    with open_snapshot(lake) as con:
        yield DbApiTarget("dev", con, "qmark", f"DuckDB snapshot {current_snapshot_id(lake)}")


def snowflake_connection(settings: Settings, target: str) -> Any:
    """A snowflake-connector-python session for `prod` (SNOWFLAKE_* settings) or `snowsim` (the local
    fakesnow of `shoplake snowsim start`), in the model schema, with one-line errors naming the setting
    to fix (pipelines/warehouse/snowflake.py)."""
    from ..warehouse.snowflake import connect, resolve_target

    return connect(resolve_target(settings, target), paramstyle="qmark")


@contextmanager
def snowflake_target(settings: Settings, target: str = "prod") -> Iterator[DbApiTarget]:
    """Reports on Snowflake (or the fakesnow emulator), bound with qmark (server-side binding)."""
    con = snowflake_connection(settings, target)
    try:
        description = f"Snowflake {getattr(con, 'database', '') or ''}".strip()
        yield DbApiTarget(target, con, "qmark", description, dialect="snowflake")
    finally:
        con.close()


def open_target(settings: Settings, target: str) -> AbstractContextManager[ReportTarget]:
    """Connection for `--target`: dev reads the DuckDB snapshot; prod and snowsim go through Snowflake."""
    if target == "dev":
        return duckdb_target(settings)
    if target in ("prod", "snowsim"):
        return snowflake_target(settings, target)
    raise ShopLakeError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
