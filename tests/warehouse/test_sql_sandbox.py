"""Issue 14.1: `shoplake sql` (and every reader connection) cannot write, attach, read files or install.

Each attack from the issue runs twice: through the CLI (statement check + sandbox) and straight on a
reader connection from `open_snapshot` (the sandbox alone, as the dashboard gets it). After each, the
lake is checked for the damage the issue saw: a replaced raw file, a dropped live table, a broken
`serving/CURRENT`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from pipelines.errors import ShopLakeError
from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.warehouse.query import run_query
from pipelines.warehouse.serving import current_snapshot_id, open_snapshot


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _attacks(lake: Lake) -> dict[str, str]:
    raw_file = sorted((lake.root / "raw" / "categories").rglob("*.parquet"))[0]
    return {
        "copy_over_raw_file": f"copy (select 1 as category_id) to '{raw_file}' (format parquet)",
        "attach_live_warehouse_and_drop": (
            f"attach '{lake.warehouse_path}' as w (read_only false); drop table w.main.fct_orders"
        ),
        "attach_live_warehouse": f"attach '{lake.warehouse_path}' as w (read_only false)",
        "copy_over_current": f"copy (select 'snap-x' as x) to '{lake.serving_pointer}' (format csv, header false)",
        "read_etc_passwd": "select * from read_csv('/etc/passwd', header = false, sep = ':')",
        "install": "install httpfs",
        "load": "load httpfs",
        "create_table": "create table stolen as select * from dim_customers",
        "set_config_back": "set enable_external_access = true",
    }


@pytest.fixture
def guarded(built_copy: Settings):
    """The copy's lake and a check that none of the issue's damage happened to it."""
    lake = Lake(built_copy.lake_dir)
    raw_file = sorted((lake.root / "raw" / "categories").rglob("*.parquet"))[0]
    before = {"raw": _digest(raw_file), "current": lake.serving_pointer.read_text()}

    def intact() -> None:
        assert _digest(raw_file) == before["raw"], "a raw file was overwritten"
        assert lake.serving_pointer.read_text() == before["current"], "serving/CURRENT was overwritten"
        with duckdb.connect(str(lake.warehouse_path), read_only=True) as con:
            tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
        assert "fct_orders" in tables, "a live warehouse table was dropped"
        snapshot = lake.snapshot_path(current_snapshot_id(lake))
        with duckdb.connect(str(snapshot), read_only=True) as con:  # readers still find a whole build
            assert con.execute("select count(*) from fct_orders").fetchone()[0] > 0
            assert "stolen" not in {r[0] for r in con.execute("select table_name from information_schema.tables")
                                    .fetchall()}  # fmt: skip

    return lake, intact


@pytest.mark.parametrize(
    "attack",
    ["copy_over_raw_file", "attach_live_warehouse_and_drop", "attach_live_warehouse", "copy_over_current",
     "read_etc_passwd", "install", "load", "create_table", "set_config_back"],
)  # fmt: skip
def test_shoplake_sql_refuses_in_one_line(guarded, attack: str, capsys: pytest.CaptureFixture[str]) -> None:
    lake, intact = guarded
    assert main(["sql", _attacks(lake)[attack]]) == 2
    out, err = capsys.readouterr()
    assert "root:" not in out and out == ""
    assert err.count("\n") == 1 and err.startswith("shoplake sql: error: ") and "Traceback" not in err
    intact()


@pytest.mark.parametrize(
    "attack",
    ["copy_over_raw_file", "attach_live_warehouse", "copy_over_current", "read_etc_passwd", "install", "load",
     "create_table", "set_config_back"],
)  # fmt: skip
def test_reader_connection_alone_refuses(guarded, attack: str) -> None:
    """Without the statement check (the dashboard's connections, reports' snapshot): the sandbox holds."""
    lake, intact = guarded
    with open_snapshot(lake) as con:
        with pytest.raises(duckdb.Error):
            con.execute(_attacks(lake)[attack])
        # a cursor (the dashboard gives each query one) is just as confined
        with pytest.raises(duckdb.Error):
            con.cursor().execute(_attacks(lake)["read_etc_passwd"])
    intact()


def test_two_readers_of_one_snapshot_in_one_process(built_copy: Settings) -> None:
    """DuckDB shares one instance per file within a process; the second reader must still open (and be confined)."""
    lake = Lake(built_copy.lake_dir)
    with open_snapshot(lake) as first, open_snapshot(lake) as second:
        assert (
            first.execute("select count(*) from dim_customers").fetchone()
            == second.execute("select count(*) from dim_customers").fetchone()
        )
        with pytest.raises(duckdb.Error):
            second.execute("select * from read_csv('/etc/passwd')")


def test_statement_is_checked_before_anything_runs(tmp_path: Path) -> None:
    """No snapshot at all: a write is refused for what it is, not for the missing warehouse."""
    settings = Settings(lake_dir=tmp_path / "empty")
    with pytest.raises(ShopLakeError, match=r"only read statements may run here .* got DROP"):
        run_query(settings, "drop table fct_orders")
    with pytest.raises(ShopLakeError, match="only one statement may run at a time; got 2"):
        run_query(settings, "select 1; select 2")
    with pytest.raises(ShopLakeError, match="no published warehouse"):
        run_query(settings, "select 1")


def test_sql_errors_are_one_line_with_the_database_message(built_copy, capsys) -> None:
    assert main(["sql", "select no_such_column from fct_orders"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Binder Error" in err and "no_such_column" in err and "Traceback" not in err
    assert main(["sql", "select * from stg_shop__customers"]) == 2  # a view over the lake's files
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "readers query the marts" in err


def test_reads_still_work_in_every_format(built_copy, capsys) -> None:
    query = "select customer_id, customer_name, lifetime_revenue from top_customers order by revenue_rank limit 3"
    assert main(["sql", query, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and set(rows[0]) == {"customer_id", "customer_name", "lifetime_revenue"}
    assert main(["sql", query]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["customer_id", "customer_name", "lifetime_revenue"] and table[-1] == "(3 rows)"
    first = table[2]
    assert first.rstrip().endswith(f"{rows[0]['lifetime_revenue']:.2f}")  # numbers right-aligned, whole
    for statement in ("show tables", "describe fct_orders", "with t as (select 1 as n) select n from t"):
        assert main(["sql", statement, "--format", "csv"]) == 0, statement
        assert capsys.readouterr().out
    assert current_snapshot_id(Lake(built_copy.lake_dir))
