"""The local-daemon manager: idempotent start with a readiness wait, status, and a stop that never
signals a process this lake did not start (the pid in a state file is checked against /proc)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines import services
from pipelines.errors import ShopLakeError
from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.warehouse import snowsim

HTTP = services.ServiceSpec(
    "tiny-http", lambda port: [sys.executable, "-m", "http.server", str(port), "--bind", services.HOST]
)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake").ensure()


def test_start_waits_until_ready_is_idempotent_and_stop_ends_it(lake: Lake) -> None:
    state, started = services.start(lake, HTTP)
    try:
        assert started and services.port_open(state.port)  # start returned only once it answered
        again, started_again = services.start(lake, HTTP)
        assert not started_again and again == state
        recorded = json.loads(lake.service_state_file("tiny-http").read_text())
        assert (recorded["pid"], recorded["port"], recorded["binary"]) == (state.pid, state.port, sys.executable)
        assert recorded["started_at"] == pytest.approx(time.time(), abs=60)
        status = services.status(lake, "tiny-http")
        assert status.answering and f"pid {state.pid}" in status.describe()
    finally:
        assert services.stop(lake, "tiny-http") == state
    assert services.running(lake, "tiny-http") is None
    assert not lake.service_state_file("tiny-http").exists()
    assert services.status(lake, "tiny-http").describe() == "tiny-http: not running"


def test_a_daemon_that_exits_during_start_is_a_one_line_error(lake: Lake) -> None:
    failing = services.ServiceSpec("broken", lambda port: [sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(ShopLakeError, match=r"broken exited during start \(code 3\)"):
        services.start(lake, failing)
    assert services.running(lake, "broken") is None


def _foreign_process_in_state_file(lake: Lake, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
    """Someone else's process whose pid the lake's state file names (a reused pid, a hand-edited file)."""
    other = subprocess.Popen(["sleep", "30"])
    deadline = time.monotonic() + 5
    while not Path(f"/proc/{other.pid}/cmdline").read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)  # Popen can return before the child has exec'ed
    state = {"name": name, "pid": other.pid, "port": 1, "binary": argv[0], "started_at": time.time(), "argv": argv}
    lake.service_state_file(name).write_text(json.dumps(state))
    return other


@pytest.mark.parametrize("argv", [["sleep", "31"], [sys.executable, "-m", "fakesnow", "-s"]])
def test_stop_never_signals_a_process_it_did_not_start(lake: Lake, argv: list[str]) -> None:
    other = _foreign_process_in_state_file(lake, "snowsim", argv)
    try:
        assert services.running(lake, "snowsim") is None  # /proc says the pid runs another command
        assert snowsim.stop(Settings.from_env({"SHOPLAKE_LAKE_DIR": str(lake.root)})) is False
        time.sleep(0.2)
        assert other.poll() is None, "snowsim stop signalled a process it did not start"
    finally:
        other.kill()
        other.wait()


def test_the_same_command_line_is_recognised_as_ours(lake: Lake) -> None:
    """The check is the whole argv: a state file naming exactly the running command is trusted (and stopped)."""
    other = _foreign_process_in_state_file(lake, "sleeper", ["sleep", "30"])
    try:
        running = services.running(lake, "sleeper")
        assert running is not None and running.pid == other.pid
        stopped = services.stop(lake, "sleeper", timeout_s=5)
        assert stopped is not None and stopped.pid == other.pid
        other.wait(timeout=5)  # (stop reaped it already: it is our child here)
        assert not Path(f"/proc/{other.pid}").exists()
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()
