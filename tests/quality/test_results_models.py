"""dbt is the warehouse's only writer: the results tables reach readers as dbt models, built by `shoplake quality`.

One `shoplake quality` run (with a stale source, so it also raises an alert) on a copy of the session's
built lake; the tests read what it left: the published snapshot, the live warehouse, dbt's artifacts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from pipelines.alerts import Severity, read_alert_log
from pipelines.cli import main
from pipelines.lake import Lake
from pipelines.quality.status import CheckStatus
from pipelines.results import DQ_RESULTS, SCHEMAS, TABLES, read_results
from pipelines.settings import REPO_ROOT, Settings
from pipelines.storage import write_parquet_atomic
from pipelines.warehouse.query import run_query

RESULTS_MODELS = {
    "stg_results__dq_results", "stg_results__sales_forecast", "stg_results__alert_log",
    "dq_results", "sales_forecast", "alert_log",
}  # fmt: skip


@dataclass
class Checked:
    settings: Settings
    lake: Lake
    exit_code: int
    run_id: str
    stdout: str


@pytest.fixture(scope="module")
def checked(quality_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> Checked:
    """`shoplake quality` once on a private copy whose categories export is three days stale (an error)."""
    from pipelines.warehouse.serving import release_dbt_duckdb

    release_dbt_duckdb()
    root = tmp_path_factory.mktemp("results-models") / "lake"
    shutil.copytree(quality_lake, root)
    lake = Lake(root)
    stale = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(days=3)
    for path in lake.raw_dir("categories").rglob("*.parquet"):
        write_parquet_atomic(pl.read_parquet(path).with_columns(pl.lit(stale).alias("_ingested_at")), path)
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as env, contextlib.redirect_stdout(out):
        env.setenv("SHOPLAKE_LAKE_DIR", str(root))
        env.delenv("SHOPLAKE_ALERT_WEBHOOK_URL", raising=False)
        env.delenv("DBT_TARGET", raising=False)
        exit_code = main(["quality"])
    match = re.search(r"ShopLake data quality — run (\S+)", out.getvalue())
    assert match, out.getvalue()
    return Checked(Settings(lake_dir=root), lake, exit_code, match.group(1), out.getvalue())


def _described(settings: Settings, table: str) -> list[tuple[str, str]]:
    return [tuple(r) for r in run_query(settings, f"select column_name, column_type from (describe {table})")[1]]


def _last_invocation(lake: Lake) -> tuple[str, dict[str, str]]:
    """The last dbt invocation's command and the models it ran, with their status (dbt's run_results.json)."""
    run_results = json.loads((lake.dbt_artifacts_dir("dev") / "target" / "run_results.json").read_text())
    ran = run_results["results"]
    models = {r["unique_id"].split(".")[-1]: r["status"] for r in ran if r["unique_id"].startswith("model.")}
    return run_results["args"]["which"], models


def test_results_tables_exist_empty_before_the_first_run(quality_lake: Path) -> None:
    """A plain build (no quality or forecast run yet) already publishes the three models, empty and typed."""
    settings = Settings(lake_dir=quality_lake)
    assert all(read_results(Lake(quality_lake), table).is_empty() for table in TABLES)
    for table in TABLES:
        assert run_query(settings, f"select count(*) from {table}")[1] == [(0,)], table
        assert [name for name, _ in _described(settings, table)] == list(SCHEMAS[table]), table
    assert dict(_described(settings, "alert_log"))["raised_at"] == "TIMESTAMP WITH TIME ZONE"


def test_quality_run_reaches_readers_through_the_dq_results_model(checked: Checked) -> None:
    assert checked.exit_code == 1 and "result: FAILED: 1 error-severity check(s) failed" in checked.stdout
    recorded = read_results(checked.lake, DQ_RESULTS).filter(pl.col("run_id") == checked.run_id)
    _, published = run_query(
        checked.settings, "select check_name, status from dq_results where run_id = ? order by 1", [checked.run_id]
    )
    assert recorded.height > 20 and published == sorted(recorded.select("check_name", "status").rows())
    assert ("freshness_categories", "error") in published
    assert _last_invocation(checked.lake)[1].get("dq_results") == "success", "published by dbt's model"
    assert _described(checked.settings, "dq_results") == [
        ("run_id", "VARCHAR"), ("checked_at", "TIMESTAMP"), ("check_type", "VARCHAR"), ("check_name", "VARCHAR"),
        ("target", "VARCHAR"), ("severity", "VARCHAR"), ("status", "VARCHAR"), ("failing_rows", "BIGINT"),
        ("detail", "VARCHAR"), ("check_date", "DATE"),
    ]  # fmt: skip


def test_alert_log_model_has_the_emitted_alerts(checked: Checked) -> None:
    logged = [(a["alert_key"], a["severity"], a["delivery"]) for a in read_alert_log(checked.lake)]
    assert ("freshness:freshness_categories", "error", "logged") in logged
    _, published = run_query(checked.settings, "select alert_key, severity, delivery from alert_log order by raised_at")
    assert published == logged
    assert _last_invocation(checked.lake)[1].get("alert_log") == "success", "published by dbt's model"


def test_quality_tests_first_then_builds_only_the_results_models(checked: Checked) -> None:
    """No build loop: after its `dbt test`, the run's one build is of the results models (and their tests)."""
    which, models = _last_invocation(checked.lake)
    assert which == "build" and models == dict.fromkeys(RESULTS_MODELS, "success")


def _relation(name: str) -> tuple[str, str]:
    """(schema, table) of a manifest relation_name such as `"shoplake"."main"."dq_results"`."""
    _database, schema, table = (part.strip('"') for part in name.split("."))
    return schema, table


def test_every_warehouse_table_is_a_dbt_node(checked: Checked) -> None:
    """Nothing but dbt wrote the live warehouse: every relation in it is a model, a test's stored
    failures or a source (the `raw.<table>` views dbt's plugin makes) of the manifest."""
    from pipelines.warehouse.serving import release_dbt_duckdb

    manifest = json.loads((checked.lake.dbt_artifacts_dir("dev") / "target" / "manifest.json").read_text())
    nodes = {
        _relation(node["relation_name"]): node["resource_type"]
        for node in [*manifest["nodes"].values(), *manifest["sources"].values()]
        if node.get("relation_name")
    }
    release_dbt_duckdb()
    con = duckdb.connect(str(checked.lake.warehouse_path), read_only=True)
    try:
        relations = set(con.execute("select table_schema, table_name from information_schema.tables").fetchall())
    finally:
        con.close()
    assert relations - set(nodes) == set(), "relations in the warehouse that no dbt node made"
    assert all(nodes[("main", table)] == "model" for table in TABLES)
    assert {("raw", table) for table in TABLES} <= relations


def test_accepted_values_are_the_python_vocabularies() -> None:
    """dq_results' severity and status tests accept exactly what the checks write (the enums)."""
    models = yaml.safe_load((REPO_ROOT / "transforms/models/marts/results/_results__models.yml").read_text())
    (dq_results,) = [m for m in models["models"] if m["name"] == "dq_results"]
    accepted = {
        column["name"]: set(test["accepted_values"]["arguments"]["values"])
        for column in dq_results["columns"]
        for test in column.get("data_tests", [])
        if isinstance(test, dict) and "accepted_values" in test
    }
    assert accepted == {"severity": {s.value for s in Severity}, "status": {s.value for s in CheckStatus}}
