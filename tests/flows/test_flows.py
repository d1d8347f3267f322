"""Flows under prefect_test_harness; every result is checked against the lake and the warehouse."""

from __future__ import annotations

import json

import duckdb
import polars as pl
import pytest

from pipelines.alerts import read_alert_log
from pipelines.lake import Lake
from pipelines.services import free_port
from pipelines.settings import Settings
from pipelines.storage import write_parquet_atomic
from pipelines.warehouse.query import run_query

from ..helpers import commit_raw_file
from .lakes import BROKEN_TEST, add_order_with_unknown_status

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _ledger_totals(lake: Lake) -> dict[str, int]:
    totals: dict[str, int] = {}
    for path in lake.ledger_root.glob("*/*.json"):
        record = json.loads(path.read_text())
        totals[record["table"]] = totals.get(record["table"], 0) + record["rows_landed"]
    return totals


def _artifact(key: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC, limit=1
        )
    assert found, f"no artifact {key!r}"
    return found[0]


def _task_run_counts(flow_run_id) -> list[int]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return [run.run_count for run in runs]


def _rows(artifact) -> list[dict]:
    """A table artifact's rows (Prefect stores them as a JSON string)."""
    return json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data


def test_ingest_batch_lands_exports_once(lake: Lake) -> None:
    from pipelines.flows.ingest import ingest_batch

    first = ingest_batch()
    landed = _ledger_totals(lake)
    assert first["files_landed"] == 5 and first["files_rejected"] == 0
    assert {t: v["landed"] for t, v in first["totals"].items()} == landed
    raw_orders = duckdb.sql(f"select count(*) from read_parquet('{lake.raw_glob('orders')}')").fetchall()[0][0]
    assert raw_orders == landed["orders"] > 0
    artifact = _artifact("batch-ingest")
    assert "5 new file(s) landed" in artifact.description
    assert {row["file"] for row in _rows(artifact)} == {f"{t}/{t}.csv" for t in landed}

    second = ingest_batch()  # the ledger makes a re-run a no-op
    assert second["files_landed"] == 0
    assert _ledger_totals(lake) == landed


def test_rejected_export_raises_an_alert_and_the_rest_lands(lake: Lake) -> None:
    from pipelines.flows.ingest import ingest_batch

    bad = lake.landing_dir("orders") / "orders-2099-01.csv"
    bad.write_text("ORDER_ID;CUSTOMER_ID;ORDER_DATE;ORDER_AMOUNT\n1;2;2099-01-01;3.5\n")  # wrong delimiter
    state = ingest_batch(return_state=True)
    assert state.is_failed()  # a scheduled run that could not land a file is red ...
    assert set(_ledger_totals(lake)) == {"categories", "customers", "orders", "products", "order_items"}
    assert "5 new file(s) landed, 1 did not land" in _artifact("batch-ingest").description  # ... the rest landed
    (alert,) = read_alert_log(lake)  # one alert, from the failure hook
    assert alert["source"] == "prefect/ingest_batch" and "orders/orders-2099-01.csv (rejected)" in alert["detail"]
    assert "delimiter" in alert["detail"]


def test_serve_without_a_server_is_a_one_line_error(tmp_path, monkeypatch, capsys) -> None:
    from pipelines.cli import main

    port = free_port()  # a port nobody listens on
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(tmp_path / "lake"))
    monkeypatch.setenv("SHOPLAKE_PREFECT_PORT", str(port))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert main(["serve"]) == 2
    assert f"no Prefect server answers at http://127.0.0.1:{port}/api" in capsys.readouterr().err


def test_transform_builds_and_publishes_warehouse(lake: Lake) -> None:
    from pipelines.flows.ingest import ingest_batch
    from pipelines.flows.transform import transform

    ingest_batch()
    result = transform()
    assert result["snapshot"] and lake.serving_pointer.read_text().strip() + ".duckdb" == result["snapshot"]
    _, rows = run_query(Settings(lake_dir=lake.root), "select count(*), count(distinct order_id) from fct_orders")
    distinct_orders = duckdb.sql(
        f"select count(distinct order_id) from read_parquet('{lake.raw_glob('orders')}')"
    ).fetchall()[0][0]
    assert rows[0] == (distinct_orders, distinct_orders)
    artifact = _artifact("dbt-build")
    assert {row["node"] for row in _rows(artifact)} >= {"fct_orders", "dim_customers", "top_customers"}
    assert all(row["status"] in ("success", "pass", "warn") for row in _rows(artifact))  # warn: severity-warn tests
    assert result["nodes"] == len(_rows(artifact))


def test_transform_fails_naming_the_failing_test(lake: Lake) -> None:
    from pipelines.flows.ingest import ingest_batch
    from pipelines.flows.transform import transform

    ingest_batch()
    add_order_with_unknown_status(lake)
    state = transform(return_state=True)
    assert state.is_failed()
    assert BROKEN_TEST in state.message
    assert not lake.serving_pointer.exists(), "a failed build must not publish a snapshot"
    failed_rows = [row for row in _rows(_artifact("dbt-build")) if row["status"] == "fail"]
    assert [row["node"].startswith(BROKEN_TEST) for row in failed_rows] == [True]
    alerts = read_alert_log(lake)
    assert len(alerts) == 1 and alerts[0]["source"] == "prefect/transform"
    assert BROKEN_TEST in alerts[0]["detail"]


@pytest.mark.slow
def test_pipeline_runs_all_steps_and_alerts_on_failure(lake: Lake) -> None:
    from pipelines.flows.pipeline import pipeline

    result = pipeline()
    assert result["ingest"]["files_landed"] == 5
    assert result["quality"]["summary"].startswith("OK")  # the quality part's checks ran after the build
    rows = run_query(Settings(lake_dir=lake.root), "select count(*), count(distinct customer_id) from dim_customers")[1]
    [(dims, distinct)] = rows
    raw = duckdb.sql(f"select count(distinct customer_id) from read_parquet('{lake.raw_glob('customers')}')")
    assert dims == distinct >= raw.fetchall()[0][0] > 0  # every landed customer, once (plus inferred ones)
    assert read_alert_log(lake) == []

    add_order_with_unknown_status(lake)
    state = pipeline(return_state=True)
    assert state.is_failed() and BROKEN_TEST in state.message
    alerts = read_alert_log(lake)
    assert [a["source"] for a in alerts] == ["prefect/pipeline"]
    assert BROKEN_TEST in alerts[0]["detail"] and alerts[0]["context"]["state"] == "FAILED"
    # readers still see the last good build
    assert (
        run_query(Settings(lake_dir=lake.root), "select count(*), count(distinct customer_id) from dim_customers")[1]
        == rows
    )


def test_promote_fails_naming_the_table_that_did_not_load(tmp_path, monkeypatch) -> None:
    """A finished promotion whose report is not ok fails the flow (and its alert hook) naming the table."""
    from pipelines.flows.promote import promote
    from pipelines.warehouse import snowsim

    lake = Lake(tmp_path / "lake").ensure()
    good = pl.DataFrame({"category_id": [1, 2], "category_name": ["Books", "Games"], "_source_line": [2, 3],
                         "_source_file": ["categories.csv"] * 2})  # fmt: skip
    good_path = write_parquet_atomic(good, lake.raw_file("categories", "categories-0123456789ab"))
    commit_raw_file(lake, "categories", good_path)
    lake.raw_dir("products").mkdir(parents=True)
    broken = lake.raw_dir("products") / "products-ba9876543210.parquet"
    broken.write_bytes(b"not parquet at all")
    commit_raw_file(lake, "products", broken, rows=0)
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(lake.root))
    monkeypatch.setenv("SHOPLAKE_FLOW_RETRY_DELAY_SECONDS", "0")
    settings = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(lake.root)})
    snowsim.start(settings)
    try:
        state = promote(target="snowsim", return_state=True)
    finally:
        snowsim.stop(settings)
    assert state.is_failed()
    assert "promotion to snowsim failed: products failed" in state.message
    assert "products-ba9876543210.parquet is not readable Parquet" in state.message
    assert "categories" not in state.message  # the table that loaded is not blamed
    (alert,) = read_alert_log(lake)
    assert alert["source"] == "prefect/promote" and "products failed" in alert["detail"]
    assert _task_run_counts(state.state_details.flow_run_id) == [1]  # a finished report is not retried


def test_promote_follow_flow_runs_cycles_and_loads_new_files(tmp_path, monkeypatch) -> None:
    """The `promote-follow` deployment's flow: cycles of the follower, each loading what is new."""
    from pipelines.flows.promote import promote_follow
    from pipelines.warehouse import snowsim
    from pipelines.warehouse.promote import count_rows
    from pipelines.warehouse.snowflake import connect, resolve_target

    lake = Lake(tmp_path / "lake").ensure()
    rows = pl.DataFrame({"category_id": [1, 2], "category_name": ["Books", "Games"], "_source_line": [2, 3],
                         "_source_file": ["categories.csv"] * 2})  # fmt: skip
    commit_raw_file(
        lake, "categories", write_parquet_atomic(rows, lake.raw_file("categories", "categories-0123456789ab"))
    )
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(lake.root))
    settings = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(lake.root)})
    snowsim.start(settings)
    try:
        state = promote_follow(target="snowsim", interval=0.1, max_cycles=2, build=False, return_state=True)
        con = connect(resolve_target(settings, "snowsim"))
        try:
            loaded = count_rows(con.cursor(), "categories")
        finally:
            con.close()
    finally:
        snowsim.stop(settings)
    assert state.is_completed(), state.message
    assert state.result() == {"cycles": 2, "failed_cycles": 0}
    assert loaded == 2


def test_deployments_follow_settings(tmp_path, monkeypatch) -> None:
    from pipelines.flows.deployments import build_deployments

    monkeypatch.delenv("SHOPLAKE_ERP_URL", raising=False)  # no database source configured here

    env = {"SHOPLAKE_LAKE_DIR": str(tmp_path), "SHOPLAKE_INGEST_CRON": "*/15 * * * *"}
    plan = build_deployments(Settings.from_env(env))
    by_name = {d.name: d for d in plan.deployments}
    clickstream = {"clickstream-bounded", "clickstream-continuous"}
    assert set(by_name) == {"ingest-batch", "transform", "pipeline", "quality", *clickstream}
    assert by_name["ingest-batch"].schedules[0].schedule.cron == "*/15 * * * *"
    assert by_name["pipeline"].schedules == []  # on demand unless SHOPLAKE_PIPELINE_CRON is set
    trigger = by_name["transform"].triggers[0]
    assert trigger.expect == {"prefect.flow-run.Completed", "prefect.flow-run.Failed"}  # landed files count
    assert trigger.match_related.root["prefect.resource.name"] == "ingest_batch"
    assert {d.entrypoint for d in plan.deployments} == {
        "pipelines.flows.ingest.ingest_batch",
        "pipelines.flows.ingest.ingest_clickstream",
        "pipelines.flows.transform.transform",
        "pipelines.flows.pipeline.pipeline",
        "pipelines.flows.quality.quality",
    }
    assert by_name["quality"].triggers[0].match_related.root["prefect.resource.name"] == "transform"
    # promote needs SHOPLAKE_PROMOTE_TARGET, extract-erp a database source: reported as not registered, not faked
    assert sorted(s.split(":")[0] for s in plan.skipped) == ["extract-erp", "promote", "promote-follow"]
    promoting = build_deployments(Settings.from_env({**env, "SHOPLAKE_PROMOTE_TARGET": "snowsim"}))
    assert [s.split(":")[0] for s in promoting.skipped] == ["extract-erp"] and "promote" in promoting.names
    promote_deployment = next(d for d in promoting.deployments if d.name == "promote")
    assert promote_deployment.parameters == {"target": "snowsim"}
    # the follower: one long run, restarted by an interval schedule, a second run cancelled while one runs
    follower = next(d for d in promoting.deployments if d.name == "promote-follow")
    assert follower.entrypoint == "pipelines.flows.promote.promote_follow"
    assert follower.parameters == {"target": "snowsim", "interval": 15.0}
    assert follower.schedules[0].schedule.interval.total_seconds() == 60
    assert follower.concurrency_limit == 1 and follower.concurrency_options.collision_strategy == "CANCEL_NEW"
    no_follow = build_deployments(
        Settings.from_env({**env, "SHOPLAKE_PROMOTE_TARGET": "snowsim", "SHOPLAKE_PROMOTE_FOLLOW_SECONDS": "0"})
    )
    assert "promote-follow" not in no_follow.names and "promote" in no_follow.names

    off = build_deployments(
        Settings.from_env({**env, "SHOPLAKE_INGEST_CRON": "off", "SHOPLAKE_PIPELINE_CRON": "0 4 * * *"})
    )
    by_name = {d.name: d for d in off.deployments}
    assert by_name["ingest-batch"].schedules == []
    assert by_name["pipeline"].schedules[0].schedule.cron == "0 4 * * *"


def test_a_failing_quality_run_alerts_once_per_condition(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each failed run of the quality flow raises the run's failure alert; the same failing checks on the
    next run are the same condition (suppressed within the dedup window), a new failing check is news."""
    import datetime as dt

    from pipelines.flows import quality as quality_flow
    from pipelines.quality.checks import CheckResult, QualityReport
    from pipelines.results import new_run_id

    failing = [CheckResult("freshness", "freshness_categories", "source shop.categories", "error", "error")]

    def fake_run_quality(settings: Settings) -> QualityReport:  # a failed run, with its own run id and time
        now = dt.datetime.now(dt.timezone.utc)
        return QualityReport(new_run_id(now), now.replace(tzinfo=None), results=list(failing))

    monkeypatch.setattr(quality_flow, "run_quality", fake_run_quality)
    assert quality_flow.quality(return_state=True).is_failed()
    assert quality_flow.quality(return_state=True).is_failed()
    step_alerts = [a for a in read_alert_log(lake) if a["source"] == "quality"]
    assert len(step_alerts) == 1, [a["detail"] for a in step_alerts]
    assert "freshness error: source shop.categories" in step_alerts[0]["detail"]

    failing.append(CheckResult("dbt_test", "unique_fct_orders_order_id", "unique_fct_orders_order_id", "error", "fail"))
    assert quality_flow.quality(return_state=True).is_failed()
    step_alerts = [a for a in read_alert_log(lake) if a["source"] == "quality"]
    assert len(step_alerts) == 2 and step_alerts[0]["alert_key"] != step_alerts[1]["alert_key"]
