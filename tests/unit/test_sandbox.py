"""Reader connections cannot write, attach, read other files or change their own configuration."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.errors import ShopLakeError
from pipelines.warehouse.sandbox import connect_reader, reader_error


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "snap.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table fct_orders as select 1 as order_id")
    return path


@pytest.mark.parametrize(
    "sql",
    [
        "drop table fct_orders",
        "create table t as select 1",
        "copy fct_orders to '{tmp}/out.parquet'",
        "attach '{tmp}/other.duckdb' as other",
        "select * from read_csv('/etc/passwd')",
        "install httpfs",
        "set enable_external_access = true",
    ],
)
def test_reader_cannot(database: Path, sql: str) -> None:
    con = connect_reader(database)
    with pytest.raises(duckdb.Error):
        con.execute(sql.format(tmp=database.parent))
    assert not (database.parent / "out.parquet").exists()
    assert con.execute("select count(*) from fct_orders").fetchone() == (1,)


def test_reader_reads_only_the_paths_it_was_given(tmp_path: Path) -> None:
    allowed, other = tmp_path / "a.parquet", tmp_path / "b.parquet"
    with duckdb.connect() as con:
        for path in (allowed, other):
            con.execute(f"copy (select 1 as x) to '{path}'")
    con = connect_reader(read_paths=[allowed])
    assert con.execute("select x from read_parquet(?)", [str(allowed)]).fetchone() == (1,)
    with pytest.raises(duckdb.Error):
        con.execute("select x from read_parquet(?)", [str(other)])


def test_reader_error_is_one_line() -> None:
    try:
        duckdb.connect().execute("select * from no_such_table")
    except duckdb.Error as exc:
        err = reader_error(exc)
    assert isinstance(err, ShopLakeError)
    assert "\n" not in str(err) and "no_such_table" in str(err)
