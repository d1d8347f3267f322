"""End to end: a real Prefect server (`shoplake ui`), `shoplake serve`, runs triggered through the REST API.

One server and one served lake for the module (a Prefect server takes ~20-60 s to start on 2 cores).
The failing-run test breaks the lake's data, so it runs last.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from pipelines.alerts import read_alert_log
from pipelines.flows.server import wait_for_server
from pipelines.lake import Lake
from pipelines.services import free_port
from pipelines.settings import Settings
from pipelines.warehouse.query import run_query

from ..helpers import launch_chromium
from .lakes import BROKEN_TEST, add_order_with_unknown_status, make_lake

pytestmark = pytest.mark.slow

SHOPLAKE = str(Path(sys.executable).parent / "shoplake")
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass
class Stack:
    url: str  # API root, e.g. http://127.0.0.1:PORT/api
    ui_url: str
    lake: Lake
    logs: Path

    def api(self, method: str, path: str, json: Any = None) -> Any:
        # The server answers 503 while its SQLite DB is busy and expects clients to retry (its own client does).
        for attempt in range(6):
            resp = httpx.request(method, f"{self.url}{path}", json=json, timeout=30)
            if resp.status_code not in (429, 503):
                break
            time.sleep(0.5 * 2**attempt)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def deployments(self) -> dict[str, dict]:
        return {d["name"]: d for d in self.api("POST", "/deployments/filter", {})}

    def run_deployment(self, name: str, timeout_s: float = 240) -> dict:
        """Create a flow run of deployment `name` and wait for it to end; returns the flow run."""
        run = self.api("POST", f"/deployments/{self.deployments()[name]['id']}/create_flow_run", {})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run = self.api("GET", f"/flow_runs/{run['id']}")
            if run["state_type"] in TERMINAL:
                return run
            time.sleep(1)
        raise AssertionError(f"flow run {run['name']} still {run['state_type']} after {timeout_s}s; see {self.logs}")

    def run_logs(self, flow_run_id: str) -> list[str]:
        logs = self.api("POST", "/logs/filter", {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200})
        return [entry["message"] for entry in logs]

    def wait_for_log_line(self, flow_run_id: str, *needles: str, timeout_s: float = 30) -> str:
        """The run's first log line containing all `needles` (logs are shipped in batches, after the state)."""
        deadline = time.monotonic() + timeout_s
        while True:
            lines = self.run_logs(flow_run_id)
            found = [line for line in lines if all(n in line for n in needles)]
            if found:
                return found[0]
            assert time.monotonic() < deadline, f"no log line with {needles}; last lines: {lines[-10:]}"
            time.sleep(1)


def _announced(log: Path) -> set[str]:
    """Deployment names `shoplake serve` printed it is serving (empty until it has)."""
    match = re.search(r"Serving \d+ deployment\(s\) against \S+: (.+)", log.read_text(errors="replace"))
    return set(match.group(1).strip().split(", ")) if match else set()


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as fh:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(args, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("prefect-e2e")
    lake = make_lake(root / "lake")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"SHOPLAKE_LAKE_DIR": str(lake.root), "SHOPLAKE_PREFECT_PORT": str(port), "DBT_TARGET": "dev"})
    stack = Stack(f"http://127.0.0.1:{port}/api", f"http://127.0.0.1:{port}", lake, root / "processes.log")
    ui = _start([SHOPLAKE, "ui"], env, stack.logs)
    procs = [ui]
    try:
        wait_for_server(stack.url, timeout_s=180)
        serve = _start([SHOPLAKE, "serve"], env, stack.logs)
        procs.append(serve)
        deadline = time.monotonic() + 120
        # serve() registers its deployments one by one: wait for every name it announced.
        while not (announced := _announced(stack.logs)) or not announced <= set(stack.deployments()):
            assert serve.poll() is None, f"shoplake serve exited: {stack.logs.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "deployments not registered after 120 s"
            time.sleep(1)
        yield stack
    finally:
        for proc in reversed(procs):
            _stop(proc)


def test_deployments_listed_with_schedules_and_state_under_lake(stack: Stack) -> None:
    deployments = stack.deployments()
    clickstream = {"clickstream-bounded", "clickstream-continuous"}  # the stream writer is installed
    assert set(deployments) == {"ingest-batch", "transform", "pipeline", "quality", *clickstream}
    assert [s["schedule"]["cron"] for s in deployments["ingest-batch"]["schedules"]] == ["0 * * * *"]
    assert deployments["pipeline"]["schedules"] == []
    automations = {a["name"] for a in stack.api("POST", "/automations/filter", {})}
    assert "after ingest_batch completes or fails" in automations  # transform runs after each batch ingest
    assert (stack.lake.prefect_home / "prefect.db").exists(), "Prefect's DB must live under the lake"


def test_pipeline_deployment_builds_the_warehouse(stack: Stack) -> None:
    run = stack.run_deployment("pipeline")
    assert run["state_type"] == "COMPLETED", stack.run_logs(run["id"])[-20:]
    _, rows = run_query(Settings(lake_dir=stack.lake.root), "select count(*) from fct_orders")
    raw_orders = duckdb.sql(
        f"select count(distinct order_id) from read_parquet('{stack.lake.raw_glob('orders')}')"
    ).fetchall()[0][0]
    assert rows[0][0] == raw_orders > 0
    assert len(list(stack.lake.ledger_root.glob("*/*.json"))) == 5
    stack.wait_for_log_line(run["id"], "dbt success", "fct_orders")  # one line per dbt node reaches Prefect
    assert read_alert_log(stack.lake) == []


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            yield browser
        finally:
            browser.close()


def test_ui_lists_the_deployments(stack: Stack, browser: Any, screenshot_dir: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 640})
    page.goto(f"{stack.ui_url}/deployments")
    for name in ("ingest-batch", "transform", "pipeline"):  # the UI is a SPA: wait for the rows
        page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
    page.get_by_text("Every hour", exact=False).first.wait_for(timeout=30_000)
    page.get_by_text("ingest_batch", exact=True).first.wait_for(timeout=30_000)  # flow names load last
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(screenshot_dir / "prefect-deployments.png"))
    page.close()


def test_ui_shows_a_flow_run_with_its_logs(stack: Stack, browser: Any, screenshot_dir: Path) -> None:
    """A deployment run triggered through the API, opened in the UI: its state and the logs it shipped."""
    run = stack.run_deployment("pipeline")  # ingest -> dbt build -> quality; needs nothing before it
    assert run["state_type"] == "COMPLETED", stack.run_logs(run["id"])[-20:]
    stack.wait_for_log_line(run["id"], "dbt success", "fct_orders")  # logs reach the server after the state
    first_line = " ".join(stack.run_logs(run["id"])[0].split())  # the Logs tab lists the oldest first
    page = browser.new_page(viewport={"width": 1400, "height": 1500})  # tall: the run graph, then ~15 log lines
    page.goto(f"{stack.ui_url}/runs/flow-run/{run['id']}")
    page.get_by_text(run["name"], exact=True).first.wait_for(timeout=60_000)
    page.get_by_text("Completed", exact=True).first.wait_for(timeout=30_000)
    page.get_by_text(first_line).first.wait_for(timeout=60_000)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(screenshot_dir / "prefect-flow-run.png"))
    page.close()


def test_failing_dbt_test_fails_the_run_names_the_node_and_alerts(stack: Stack) -> None:
    pointer_before = stack.lake.serving_pointer.read_text()
    add_order_with_unknown_status(stack.lake)
    run = stack.run_deployment("pipeline")
    assert run["state_type"] == "FAILED"
    assert BROKEN_TEST in run["state"]["message"]
    assert "dbt fail" in stack.wait_for_log_line(run["id"], BROKEN_TEST)
    alerts = [a for a in read_alert_log(stack.lake) if a["context"].get("flow_run_id") == run["id"]]
    assert len(alerts) == 1 and alerts[0]["source"] == "prefect/pipeline"
    assert BROKEN_TEST in alerts[0]["detail"]
    assert stack.lake.serving_pointer.read_text() == pointer_before, "readers keep the last good build"
