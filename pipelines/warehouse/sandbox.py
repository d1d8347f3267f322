"""Reader connections: every DuckDB connection that runs a reader's SQL is opened here, sandboxed.

Readers (`shoplake sql`, reports, the dashboard) may read what they were opened on and nothing
else: the database file read-only, no file access except the paths named (`read_paths`), no
ATTACH of files, no extension installs or loads, and the configuration locked so a query cannot
undo any of it (DESIGN.md, promise 7). SQL typed by people is also checked before it runs
(`check_read_only`): one read statement, nothing else; on Snowflake, where no read-only
connection exists, that check and a read-only role are what stand between a report and the data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from ..errors import ShopLakeError

# Set after the database starts (DuckDB refuses `allowed_paths` in the connect-time config), in this
# order: locking the configuration comes last.
_LOCKDOWN = {
    "enable_external_access": "false",
    "autoinstall_known_extensions": "false",
    "autoload_known_extensions": "false",
    "allow_community_extensions": "false",
    "lock_configuration": "true",
}

# Statements that only read. Anything else (DML, DDL, ATTACH, COPY, INSTALL, SET, PRAGMA, CALL, ...)
# is refused, also when nested inside one of these.
_READ_ROOTS: tuple[type[exp.Expression], ...] = (
    exp.Select, exp.SetOperation, exp.Values, exp.Describe, exp.Show, exp.Summarize,
)  # fmt: skip
_WRITE_NODES: tuple[type[exp.Expression], ...] = (
    exp.DML, exp.DDL, exp.Drop, exp.Alter, exp.TruncateTable, exp.Into, exp.Command, exp.Attach, exp.Detach,
    exp.Install, exp.Set, exp.Use, exp.Transaction, exp.Commit, exp.Rollback, exp.Pragma, exp.Grant, exp.Revoke,
    exp.Comment, exp.Cache, exp.Uncache, exp.Refresh, exp.LoadData, exp.Analyze, exp.Export, exp.Kill,
    exp.Declare, exp.Execute, exp.Lock, exp.Put, exp.Get,
)  # fmt: skip

# sqlglot logs a warning whenever it falls back to an opaque Command (e.g. for LOAD, CALL, VACUUM);
# those statements are refused with our own message, so its warning is noise to the person typing.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


def connect_reader(database: Path | None = None, *, read_paths: Sequence[str | Path] = ()) -> duckdb.DuckDBPyConnection:
    """A sandboxed connection: `database` opened read-only (or in memory), and only `read_paths` readable.

    DuckDB shares one database instance, configuration included, between the connections of a
    process to the same file. A second reader of a file this process already reads therefore finds the
    instance locked down by the first; it checks the lockdown instead of applying it again.
    """
    try:
        con = duckdb.connect(str(database) if database else ":memory:", read_only=database is not None)
    except duckdb.Error as exc:
        raise reader_error(exc) from None
    try:
        wanted_paths = sorted(str(p) for p in read_paths)
        if _settings(con)["lock_configuration"] == "true":
            _check_locked_down(con, database, wanted_paths)
        else:
            if wanted_paths:
                con.execute("set allowed_paths = ?", [wanted_paths])
            for name, value in _LOCKDOWN.items():
                con.execute(f"set {name} = {value}")
    except duckdb.Error as exc:
        con.close()
        raise reader_error(exc) from None
    except BaseException:
        con.close()
        raise
    return con


def _settings(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    names = [*_LOCKDOWN, "allowed_paths"]
    return dict(con.execute("select name, value from duckdb_settings() where name in ?", [names]).fetchall())


def _check_locked_down(con: duckdb.DuckDBPyConnection, database: Path | None, read_paths: list[str]) -> None:
    settings = _settings(con)
    loose = sorted(name for name, value in _LOCKDOWN.items() if settings.get(name) != value)
    # DuckDB adds the database's own files (and its WAL) to allowed_paths; other paths must be the ones asked for
    own = (str(database), str(database.resolve())) if database else ()  # DuckDB may record the symlink's target
    allowed = con.execute("select current_setting('allowed_paths')").fetchone()[0] or []
    extra = sorted(p for p in allowed if not p.startswith(own) and p not in read_paths)
    if loose or extra:
        raise ShopLakeError(
            f"{database or 'the in-memory database'} is already open in this process with another configuration "
            f"({', '.join(loose + extra)}); close that connection first"
        )


def check_read_only(sql: str, *, dialect: str = "duckdb") -> None:
    """Refuse, with one line, SQL that is not exactly one read statement (SELECT/WITH/UNION/VALUES,
    DESCRIBE, SHOW, SUMMARIZE, or EXPLAIN of one of those). Checked before anything runs."""
    statement = _strip_explain(sql)
    try:
        trees = [t for t in sqlglot.parse(statement, read=dialect) if t is not None]
    except SqlglotError as exc:
        raise ShopLakeError(f"could not check the SQL before running it: {_first_line(str(exc))}") from None
    if not trees:
        raise ShopLakeError("no SQL statement given")
    if len(trees) > 1:
        raise ShopLakeError(f"only one statement may run at a time; got {len(trees)}")
    tree = trees[0]
    if not isinstance(tree, _READ_ROOTS):
        # a lone word such as `checkpoint` parses as a column: name it by what was typed
        kind = statement.split(None, 1)[0].upper() if isinstance(tree, exp.Condition) else _kind(tree)
        raise ShopLakeError(f"only read statements may run here (SELECT, WITH, SHOW, DESCRIBE); got {kind}")
    writer = next(tree.find_all(*_WRITE_NODES), None)
    if writer is not None:
        raise ShopLakeError(f"only read statements may run here; the query contains {_kind(writer)}")


def _strip_explain(sql: str) -> str:
    """`explain [analyze] <query>` reads what `<query>` reads: check the query itself."""
    words = sql.lstrip().split(None, 2)
    if words and words[0].lower() == "explain":
        rest = sql.lstrip()[len(words[0]) :].lstrip()
        if rest.lower().startswith("analyze"):
            rest = rest[len("analyze") :]
        return rest
    return sql


def _kind(node: exp.Expression) -> str:
    """A statement's name for people: `DROP`, `INSERT`, `ATTACH`, or the command's first word."""
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    if isinstance(node, exp.Into):
        return "SELECT INTO"
    return node.key.upper()


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    # Snowflake's connector puts the heading on line one ("SQL compilation error:") and the reason below.
    if lines[0].endswith(":") and len(lines) > 1:
        return f"{lines[0]} {lines[1]}"
    return lines[0]


def reader_error(exc: BaseException) -> ShopLakeError:
    """The database's own message as one line (no traceback), for people running their SQL."""
    return ShopLakeError(_first_line(str(exc)) or type(exc).__name__)
