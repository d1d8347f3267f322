"""The whole demo through the CLI in a temporary lake, twice, plus failure reporting of transform."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipelines.catalog import read_committed
from pipelines.cli import main
from pipelines.lake import CLICKSTREAM_TABLE, Lake
from pipelines.settings import REPO_ROOT


def _count(sql: str, capsys: pytest.CaptureFixture[str]) -> int:
    assert main(["sql", sql, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)[0]["n"]


@pytest.mark.slow
def test_demo_runs_end_to_end_and_is_safe_twice(settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--scale", "0.005", "--click-events", "3000"]) == 0
    first = capsys.readouterr().out
    assert "Top 5 customers" in first and "Revenue by category" in first and "6/6 sales forecast" in first
    assert "wrote 3,000 events" in first  # through the local broker and the exactly-once writer

    # Expected figures straight from the lake's committed files (readers' SQL cannot read files).
    lake = Lake(settings.lake_dir)
    n_orders = _count("select count(*) as n from fct_orders", capsys)
    assert n_orders == read_committed(lake, "orders", ["order_id"])["order_id"].n_unique() > 0
    sessions = read_committed(lake, CLICKSTREAM_TABLE, ["session_id"])["session_id"].n_unique()
    assert _count("select count(*) as n from fct_sessions", capsys) == sessions > 0
    categories = _count("select count(distinct category_id) as n from product_category_sales", capsys)
    assert _count("select count(*) as n from sales_forecast", capsys) == 14 * categories > 0

    # Twice: exports are not landed again; new simulated clicks are new events, each landed once.
    assert main(["demo", "--click-events", "2000"]) == 0
    second = capsys.readouterr().out
    assert "not regenerating" in second and "skipped" in second
    assert _count("select count(*) as n from fct_orders", capsys) == n_orders
    # readers see marts only (the sandbox gives `shoplake sql` no file access, so not the staging views)
    assert _count("select sum(event_count) as n from fct_sessions", capsys) == 5000


def test_sql_without_a_build_is_a_clear_error(settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "select 1"]) == 2
    err = capsys.readouterr().err
    assert "no published warehouse" in err and "Traceback" not in err


def test_sql_formats(built_lake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(built_lake.lake.root))
    assert main(["sql", "select 1 as a, 'x' as b", "--format", "csv"]) == 0
    assert capsys.readouterr().out.strip() == "a,b\n1,x"
    assert main(["sql", "select 1 as a"]) == 0
    assert "(1 row)" in capsys.readouterr().out


@pytest.mark.slow
def test_failing_dbt_test_fails_transform_and_names_the_node(built_lake, tmp_path: Path, monkeypatch) -> None:
    """A copy of the project with a failing singular test: transform exits non-zero naming it."""
    from pipelines.warehouse import dbt as dbt_module

    project = tmp_path / "transforms"
    shutil.copytree(REPO_ROOT / "transforms", project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "tests" / "assert_no_orders_exist.sql").write_text("select * from {{ ref('fct_orders') }}\n")
    monkeypatch.setattr(dbt_module, "PROJECT_DIR", project)
    result = dbt_module.run_dbt_build(built_lake.settings, progress=False, publish=False)
    assert not result.success
    assert [n.name for n in result.failed] == ["assert_no_orders_exist"]
    assert "assert_no_orders_exist" in result.summary()
