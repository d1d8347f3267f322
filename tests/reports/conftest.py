"""Report fixtures over the session's built lake (`built_lake` in tests/conftest.py): generated,
ingested and built once; reports read its published snapshot."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.lake import Lake
from pipelines.reports.targets import DbApiTarget, open_target
from pipelines.settings import Settings
from pipelines.warehouse.serving import current_snapshot_id


@pytest.fixture
def report_settings(built_lake, tmp_path: Path) -> Settings:
    """The session's warehouse, but report output in this test's own lake folder.

    The snapshot is shared read-only; `reports/` is written per test so tests do not see each other's files.
    """
    lake = Lake(tmp_path / "lake")
    lake.serving_dir.mkdir(parents=True)
    src = built_lake.lake
    snapshot_id = current_snapshot_id(src)
    lake.snapshot_path(snapshot_id).symlink_to(src.snapshot_path(snapshot_id))
    lake.serving_pointer.write_text(snapshot_id + "\n")
    return Settings.from_env({"SHOPLAKE_LAKE_DIR": str(lake.root)})


@pytest.fixture
def direct(built_lake):
    """Run SQL directly on the published snapshot, for checking report figures."""
    lake = built_lake.lake
    con = duckdb.connect(str(lake.snapshot_path(current_snapshot_id(lake))), read_only=True)

    def query(sql: str, params: list | None = None) -> list[tuple]:
        return con.execute(sql, params or []).fetchall()

    yield query
    con.close()


@pytest.fixture(params=["dev", "snowsim"])
def target_opener(request):
    """(target name, opener) for every target the reports must run on.

    dev is the real `--target dev` path (published DuckDB snapshot). snowsim is the real `--target snowsim`
    path (`snowflake_connection(settings, "snowsim")`) to the session's fakesnow server, where the same
    raw tables were promoted and the marts built by `dbt build` on the snowsim target (`promoted_lake`).
    Reports write into the test's own lake; only the connection comes from the promoted lake's settings.
    """
    if request.param == "dev":
        return "dev", open_target
    promoted = request.getfixturevalue("promoted_lake")
    assert promoted.promotion.ok, promoted.promotion.render()

    def opener(settings: Settings, target: str):
        return open_target(promoted.settings, target)

    return "snowsim", opener


def memory_target(setup_sql: str) -> DbApiTarget:
    """An in-memory DuckDB target with hand-made tables, for marts that other branches build."""
    con = duckdb.connect()
    con.execute(setup_sql)
    return DbApiTarget("memory", con, "qmark", "in-memory test tables")
