"""Helpers shared by test packages (fixtures live in conftest.py files; these are plain functions)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

# DuckDB types of the marts -> the Snowflake types dbt-snowflake would create
SNOWFLAKE_TYPES = {"BIGINT": "number(38, 0)", "HUGEINT": "number(38, 0)", "INTEGER": "number(38, 0)",
                   "DOUBLE": "float"}  # fmt: skip


def snowflake_type(duckdb_type: str) -> str:
    return SNOWFLAKE_TYPES.get(duckdb_type, duckdb_type.replace("DECIMAL", "number"))


def copy_marts_to_fakesnow(snapshot: Path, con: Any, tables: Sequence[str] | None = None) -> list[str]:
    """Copy tables of a DuckDB snapshot into the current schema of a fakesnow connection.

    `tables` defaults to every base table of the snapshot's `main` schema (the marts; dbt's stored test
    failures live in main_dbt_test__audit). fakesnow parses every statement as Snowflake SQL, so the
    copy has Snowflake column types and upper-case names, as a dbt build on Snowflake would leave them.
    """
    from fakesnow.pandas_tools import write_pandas

    src = duckdb.connect(str(snapshot), read_only=True)
    try:
        if tables is None:
            tables = [r[0] for r in src.execute(
                "select table_name from information_schema.tables "
                "where table_type = 'BASE TABLE' and table_schema = 'main' order by 1"
            ).fetchall()]  # fmt: skip
        for table in tables:
            columns = src.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'main' and table_name = ? order by ordinal_position",
                [table],
            ).fetchall()
            assert columns, f"{table} is not in {snapshot}"
            ddl = ", ".join(f"{name} {snowflake_type(kind)}" for name, kind in columns)
            con.cursor().execute(f"create table {table} ({ddl})")
            frame = src.execute(f"select * from {table}").df()
            frame.columns = [c.upper() for c in frame.columns]
            write_pandas(con, frame, table.upper())
    finally:
        src.close()
    return list(tables)
