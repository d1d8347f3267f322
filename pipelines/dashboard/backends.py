"""Where the dashboard's warehouse reads go: the published DuckDB snapshot or Snowflake.

Both backends answer the same portable SQL with `?` placeholders, so the page queries
(`queries.py`) are written once. Values are always bound parameters, never formatted into SQL.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import duckdb
import pandas as pd

from ..lake import Lake
from ..settings import Settings
from ..warehouse.serving import MANIFEST_TABLE, connect_snapshot, current_snapshot_id
from ..warehouse.snowflake import TARGETS, Target, connect, resolve_target

SNOWFLAKE_TARGETS = TARGETS  # prod (SNOWFLAKE_* settings) and snowsim (the lake's running `shoplake snowsim`)


class Backend(Protocol):
    """What the page queries need from a warehouse connection."""

    kind: str

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame: ...

    def has_table(self, table: str) -> bool: ...

    def cache_key(self) -> str: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


@dataclass
class _Handle:
    snapshot_id: str
    con: duckdb.DuckDBPyConnection
    users: int = 0
    retired: bool = False


class SnapshotBackend:
    """Reads the published snapshot; follows `serving/CURRENT` to each new build between queries.

    One read-only connection per snapshot is shared by all threads (each query gets its own
    cursor); a superseded snapshot's connection is closed once its last in-flight query ends.
    """

    kind = "duckdb"

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._lock = threading.Lock()
        self._handle: _Handle | None = None
        self._tables: dict[str, frozenset[str]] = {}  # snapshot id -> its table names

    def _acquire(self) -> _Handle:
        wanted = current_snapshot_id(self.lake)
        with self._lock:
            handle = self._handle
            if handle is None or (wanted is not None and wanted != handle.snapshot_id):
                snapshot_id, con = connect_snapshot(self.lake)
                if handle is not None:
                    handle.retired = True
                    if handle.users == 0:
                        handle.con.close()
                handle = self._handle = _Handle(snapshot_id, con)
            handle.users += 1
            return handle

    def _release(self, handle: _Handle) -> None:
        with self._lock:
            handle.users -= 1
            if handle.retired and handle.users == 0:
                handle.con.close()

    def query_with_snapshot(self, sql: str, params: Sequence[Any] = ()) -> tuple[str, pd.DataFrame]:
        """Like `query`, and says which snapshot answered (tests prove reads never mix builds)."""
        handle = self._acquire()
        try:
            cursor = handle.con.cursor()
            try:
                return handle.snapshot_id, cursor.execute(sql, list(params)).df()
            finally:
                cursor.close()
        finally:
            self._release(handle)

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        return self.query_with_snapshot(sql, params)[1]

    def has_table(self, table: str) -> bool:
        names = self._tables.get(current_snapshot_id(self.lake) or "")
        if names is None:  # a new build: list its tables once
            snapshot_id, df = self.query_with_snapshot(
                "select lower(table_name) as table_name from information_schema.tables where table_schema = 'main'"
            )
            names = frozenset(df["table_name"])
            self._tables = {snapshot_id: names}
        return table.lower() in names

    def cache_key(self) -> str:
        return f"duckdb:{self.lake.root}:{current_snapshot_id(self.lake)}"

    def describe(self) -> str:
        published = None
        if self.has_table(MANIFEST_TABLE):  # snapshots published before manifests existed have none
            df = self.query(f"select min(published_at) as published_at from {MANIFEST_TABLE}")
            published = df["published_at"].iloc[0] if len(df) else None
        return f"local DuckDB snapshot {current_snapshot_id(self.lake)}" + (
            f", published {pd.Timestamp(published):%Y-%m-%d %H:%M:%S} UTC" if published is not None else ""
        )

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.con.close()
                self._handle = None


class SnowflakeBackend:
    """Reads the marts from the Snowflake target schema; `qmark` binding is done by the server.

    The connection comes from `warehouse.snowflake` like promotion's and the reports': the same settings
    checks, key-pair or password auth, snowsim discovery and one-line errors that never echo a secret.
    """

    kind = "snowflake"

    def __init__(self, target: Target) -> None:
        self.target = target
        self._con = connect(target, paramstyle="qmark")
        self._lock = threading.Lock()
        self._tables: frozenset[str] | None = None

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        with self._lock:  # one connection; the connector's cursors are not meant for parallel use
            cursor = self._con.cursor()
            try:
                cursor.execute(sql, list(params))
                names = [d[0].lower() for d in cursor.description or []]
                rows = cursor.fetchall() if names else []
            finally:
                cursor.close()
        return pd.DataFrame.from_records(rows, columns=names)

    def has_table(self, table: str) -> bool:
        if self._tables is None:  # the schema's tables change only when dbt builds there: list them once
            df = self.query(
                "select lower(table_name) as table_name from information_schema.tables "
                "where upper(table_schema) = upper(?)",
                [self.target.schema],
            )
            self._tables = frozenset(df["table_name"])
        return table.lower() in self._tables

    def cache_key(self) -> str:
        t = self.target
        return f"snowflake:{t.name}:{t.endpoint}:{t.account}:{t.database}.{t.schema}"

    def describe(self) -> str:
        t = self.target
        where = f"snowsim at {t.endpoint}" if t.is_emulator else f"Snowflake {t.account}"
        return f"{where} {t.database}.{t.schema}"

    def close(self) -> None:
        self._con.close()


def open_backend(settings: Settings, target: str | None = None) -> Backend:
    """The published snapshot for `dev`; Snowflake (or its local emulator) for `prod` and `snowsim`."""
    target = target or settings.dbt_target
    if target in SNOWFLAKE_TARGETS:
        return SnowflakeBackend(resolve_target(settings, target))
    return SnapshotBackend(Lake.of(settings))
