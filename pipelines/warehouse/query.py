"""`shoplake sql`: one read statement against the latest published snapshot, in the reader sandbox."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import shutil
import sys
from typing import Any

import duckdb
from rich import box
from rich.console import Console
from rich.table import Table

from ..errors import ShopLakeError
from ..lake import Lake
from ..settings import Settings
from .sandbox import check_read_only, reader_error
from .serving import open_snapshot

Params = list[Any] | dict[str, Any] | None
FORMATS = ("table", "csv", "json")
# Staging and intermediate models are views over the lake's files, which the sandbox does not open.
_FILE_ACCESS_HINT = "; readers query the marts and dims (tables), not the staging views over the lake's files"


def run_query(settings: Settings, sql: str, params: Params = None) -> tuple[list[str], list]:
    """Run one read statement on the published snapshot; refuse anything else before it runs.

    Errors (a refused statement, a database error) are one-line ShopLakeErrors.
    """
    check_read_only(sql)
    try:
        return query_snapshot(Lake.of(settings), sql, params)
    except ShopLakeError as exc:
        if "file system operations are disabled" in str(exc):
            raise ShopLakeError(f"{exc}{_FILE_ACCESS_HINT}") from None
        raise


def query_snapshot(lake: Lake, sql: str, params: Params = None) -> tuple[list[str], list]:
    """ShopLake's own queries on the snapshot (sandboxed connection, no statement check); closed on return."""
    with open_snapshot(lake) as con:
        try:
            cursor = con.execute(sql, params) if params else con.execute(sql)
            columns = [d[0] for d in cursor.description] if cursor.description else []
            rows = cursor.fetchall() if columns else []
        except duckdb.Error as exc:
            raise reader_error(exc) from None
    return columns, rows


def _jsonable(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool)


def format_result(columns: list[str], rows: list, fmt: str = "table") -> str:
    """json and csv for machines (plain); `table` for people, drawn by rich with numbers right-aligned."""
    if fmt == "json":
        return json.dumps([{c: _jsonable(v) for c, v in zip(columns, row, strict=True)} for row in rows], indent=1)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    table = Table(box=box.SIMPLE_HEAD)
    for index, name in enumerate(columns):
        numeric = any(_is_number(row[index]) for row in rows) and all(
            row[index] is None or _is_number(row[index]) for row in rows
        )
        table.add_column(name, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*("NULL" if v is None else str(v) for v in row))
    return render_table(table, footer=f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def render_table(table: Table, footer: str = "") -> str:
    """A rich table as plain text: fitted to the terminal's width there; piped, every cell whole on one line."""
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 100_000
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, highlight=False, emoji=False, markup=False)
    console.print(table)
    if footer:
        console.print(footer)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()).strip("\n")
