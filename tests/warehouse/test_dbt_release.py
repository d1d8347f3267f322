"""Issue 15.6: after an in-process dbtRunner invocation the warehouse file is free again (dbt-duckdb's
supported `close_all_connections()`, no private attributes), and a publish right after a build works."""

from __future__ import annotations

import subprocess
import sys

import duckdb

from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.warehouse import serving
from pipelines.warehouse.dbt import invoke_dbt, run_dbt_build

OPEN_READ_WRITE = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('checkpoint'); print('opened')"


def _other_process_can_write(lake: Lake) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", OPEN_READ_WRITE, str(lake.warehouse_path)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_build_then_publish_in_one_process_and_the_file_is_let_go(built_copy: Settings) -> None:
    lake = Lake(built_copy.lake_dir)
    before = serving.current_snapshot_id(lake)

    result = invoke_dbt(built_copy, ["run", "--select", "dim_products"], progress=False)
    assert result.success, result.summary()
    child = _other_process_can_write(lake)
    assert child.returncode == 0 and "opened" in child.stdout, child.stderr  # dbt-duckdb let go of the file

    result = run_dbt_build(built_copy, select="dim_products", progress=False)  # build, then publish, same process
    assert result.success and result.snapshot is not None, result.summary()
    assert result.snapshot.stem == serving.current_snapshot_id(lake) != before
    with duckdb.connect(str(result.snapshot), read_only=True) as con:
        manifest = dict(con.execute(f"select table_name, row_count from {serving.MANIFEST_TABLE}").fetchall())
        assert manifest["dim_products"] == con.execute("select count(*) from dim_products").fetchone()[0] > 0
    child = _other_process_can_write(lake)
    assert child.returncode == 0, child.stderr


def test_release_uses_only_dbt_duckdbs_public_names() -> None:
    """The old release reached into DuckDBConnectionManager._ENV, which breaks on upgrade."""
    import inspect

    source = inspect.getsource(serving.release_dbt_duckdb)
    assert "._" not in source.replace("__", "")
    assert "close_all_connections()" in source
