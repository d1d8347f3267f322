"""Reader connections cannot write, attach, read other files or change their own configuration."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from pipelines.errors import ShopLakeError
from pipelines.warehouse.sandbox import check_read_only, connect_reader, reader_error


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


def test_second_reader_of_the_same_file_in_one_process(database: Path) -> None:
    """DuckDB shares the instance (and its locked configuration) between a process's connections to a file."""
    first = connect_reader(database)
    second = connect_reader(database)
    assert second.execute("select count(*) from fct_orders").fetchone() == (1,)
    with pytest.raises(duckdb.Error):
        second.execute("select * from read_csv('/etc/passwd')")
    first.close()
    second.close()


def test_reader_refuses_a_file_this_process_opened_outside_the_sandbox(database: Path) -> None:
    loose = duckdb.connect(str(database), read_only=True)
    loose.execute("set lock_configuration = true")  # locked, but with file access still on
    with pytest.raises(ShopLakeError, match="enable_external_access"):
        connect_reader(database)
    loose.close()


@pytest.mark.parametrize(
    "sql",
    [
        "select 1", "select 1;", "with a as (select 1 as n) select n from a", "select 1 union all select 2",
        "from fct_orders", "values (1)", "describe fct_orders", "show tables", "summarize fct_orders",
        "explain select * from fct_orders", "select * from t where a = :a and b::date > current_date",
    ],
)  # fmt: skip
def test_read_statements_pass(sql: str) -> None:
    check_read_only(sql)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("drop table fct_orders", "got DROP"),
        ("create table t as select 1", "got CREATE"),
        ("with a as (select 1) insert into t select * from a", "got INSERT"),
        ("update t set a = 1", "got UPDATE"),
        ("delete from t", "got DELETE"),
        ("copy (select 1) to 'x.csv'", "got COPY"),
        ("attach 'x.duckdb' as x", "got ATTACH"),
        ("detach x", "got DETACH"),
        ("install httpfs", "got INSTALL"),
        ("load httpfs", "got LOAD"),
        ("set enable_external_access = true", "got SET"),
        ("pragma enable_profiling", "got PRAGMA"),
        ("call pragma_version()", "got CALL"),
        ("checkpoint", "got CHECKPOINT"),
        ("use other", "got USE"),
        ("begin", "got TRANSACTION"),
        ("explain drop table t", "got DROP"),
        ("select 1 into t", "contains SELECT INTO"),
        ("select 1; drop table fct_orders", "only one statement may run at a time; got 2"),
        ("select 1; select 2", "only one statement"),
        ("", "no SQL statement"),
        ("select (", "could not check the SQL"),
    ],
)
def test_other_statements_are_refused_in_one_line(sql: str, message: str) -> None:
    with pytest.raises(ShopLakeError, match=re.escape(message)) as info:
        check_read_only(sql)
    assert "\n" not in str(info.value)


def test_snowflake_statements_that_write_are_refused() -> None:
    check_read_only("select * from orders where id = :id", dialect="snowflake")
    for sql in ("put file:///tmp/x @stage", "list @stage", "merge into t using s on t.a = s.a when matched then delete",
                "grant select on table t to role r", "alter warehouse w suspend"):  # fmt: skip
        with pytest.raises(ShopLakeError, match="only read statements"):
            check_read_only(sql, dialect="snowflake")


def test_snowflake_error_keeps_its_reason() -> None:
    """snowflake-connector-python puts a heading on the first line and the reason on the next."""
    exc = Exception("002003 (42S02): SQL compilation error:\nObject 'NOPE' does not exist or not authorized.")
    assert str(reader_error(exc)) == (
        "002003 (42S02): SQL compilation error: Object 'NOPE' does not exist or not authorized."
    )
