"""Reader connections: every DuckDB connection that runs a reader's SQL is opened here, sandboxed.

Readers (`shoplake sql`, reports, the dashboard) may read what they were opened on and nothing
else: the database file read-only, no file access except the paths named (`allowed_paths`), no
ATTACH of files, no extension installs or loads, and the configuration locked so a query cannot
undo any of it (DESIGN.md, promise 7).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from ..errors import ShopLakeError

# Applied after the database starts (DuckDB refuses `allowed_paths` in the connect-time config).
_LOCKDOWN = (
    "set enable_external_access = false",
    "set autoinstall_known_extensions = false",
    "set autoload_known_extensions = false",
    "set allow_community_extensions = false",
    "set lock_configuration = true",
)


def connect_reader(database: Path | None = None, *, read_paths: Sequence[str | Path] = ()) -> duckdb.DuckDBPyConnection:
    """A sandboxed connection: `database` opened read-only (or in memory), and only `read_paths` readable."""
    try:
        con = duckdb.connect(str(database) if database else ":memory:", read_only=database is not None)
    except duckdb.Error as exc:
        raise reader_error(exc) from None
    try:
        if read_paths:
            con.execute("set allowed_paths = ?", [[str(p) for p in read_paths]])
        for statement in _LOCKDOWN:
            con.execute(statement)
    except BaseException:
        con.close()
        raise
    return con


def reader_error(exc: BaseException) -> ShopLakeError:
    """The database's own message as one line (no traceback), for people running their SQL."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return ShopLakeError(lines[0] if lines else type(exc).__name__)
