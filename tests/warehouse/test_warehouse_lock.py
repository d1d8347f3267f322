"""Issue 14.5: every writer of the DuckDB warehouse takes the warehouse lock, from the CLI as from the flows.

Two real `shoplake transform` processes: the second waits, saying who holds the lock, and builds after
the first; told `--no-wait`, it exits 2 with one line naming the holder. The other dbt commands that
open the warehouse read-write (test, source freshness, docs generate) and the snapshot publish take
the same lock.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from pipelines import locks
from pipelines.errors import ShopLakeError
from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.warehouse.dbt import invoke_dbt, warehouse_lock
from pipelines.warehouse.serving import current_snapshot_id, publish_snapshot

SHOPLAKE = str(Path(sys.executable).with_name("shoplake"))


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "SHOPLAKE_LAKE_DIR": str(settings.lake_dir), "DBT_TARGET": "dev"}


class Lines:
    """Collects a child's stream line by line, so the test can wait for a line while the child runs."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True)
        self._thread.start()

    def wait_for(self, text: str, proc: subprocess.Popen, timeout: float = 120) -> str | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((line for line in list(self.lines) if text in line), None)
            if found or (proc.poll() is not None and not self._thread.is_alive()):
                return found
            time.sleep(0.05)
        return None

    def text(self) -> str:
        self._thread.join(timeout=30)
        return "".join(self.lines)


def _wait_for_holder(lake: Lake, pid: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    holder = lake.lock_file(locks.WAREHOUSE).with_name("warehouse.lock.holder")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if holder.exists() and f"pid {pid} " in locks.describe_holder(lake.lock_file(locks.WAREHOUSE)):
            return
        time.sleep(0.05)
    pytest.fail(f"`shoplake transform` (pid {pid}) never took the warehouse lock (exit code {proc.poll()})")


@pytest.mark.slow
def test_two_transforms_take_turns(built_copy: Settings) -> None:
    lake = Lake(built_copy.lake_dir)
    before = current_snapshot_id(lake)
    first = subprocess.Popen([SHOPLAKE, "transform"], env=_env(built_copy), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    first_err = Lines(first.stderr)
    try:
        _wait_for_holder(lake, first.pid, first)

        refused = subprocess.run([SHOPLAKE, "transform", "--no-wait"], env=_env(built_copy), text=True,
                                 capture_output=True, timeout=120)  # fmt: skip
        assert first.poll() is None, "the first build ended before the second asked; the test proves nothing"
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
        assert (
            refused.stderr.startswith(
                f"shoplake transform: error: the warehouse lock is held by pid {first.pid} (shoplake transform) since "
            )
            and "leave out --no-wait" in refused.stderr
        )

        second = subprocess.Popen([SHOPLAKE, "transform"], env=_env(built_copy), text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        second_err = Lines(second.stderr)
        waiting = second_err.wait_for("waiting for the warehouse lock", second)
        assert first.poll() is None, "the first build ended before the second started waiting"
        assert waiting and f"held by pid {first.pid} (shoplake transform)" in waiting, second_err.text()

        assert first.wait(timeout=600) == 0, first_err.text()
        second_out, _ = second.communicate(timeout=600)
        assert second.returncode == 0, second_err.text()
    finally:
        for proc in (first, locals().get("second")):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    # both built and published, one after the other; nobody saw "Could not set lock on file"
    assert "Could not set lock" not in first_err.text() + second_err.text()
    first_snapshot = next(line for line in first.stdout.read().splitlines() if line.startswith("published"))
    second_snapshot = next(line for line in second_out.splitlines() if line.startswith("published"))
    assert before < first_snapshot.split()[2] < second_snapshot.split()[2]
    assert current_snapshot_id(lake) + ".duckdb" == second_snapshot.split()[2]
    assert not lake.lock_file(locks.WAREHOUSE).with_name("warehouse.lock.holder").exists()


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pipelines import locks
    from pipelines.lake import Lake
    with locks.hold(Lake(Path(sys.argv[1])), locks.WAREHOUSE, command="shoplake transform"):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def _hold_in_child(lake: Lake, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(lake.root), str(seconds)], stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.parametrize("args", [["test"], ["source", "freshness"], ["docs", "generate"], ["build"]])
def test_every_dbt_command_on_duckdb_takes_the_lock(built_copy: Settings, args: list[str]) -> None:
    lake = Lake(built_copy.lake_dir)
    holder = _hold_in_child(lake, 60)
    try:
        started = time.monotonic()
        with pytest.raises(ShopLakeError, match=rf"warehouse lock is held by pid {holder.pid} \(shoplake transform\)"):
            invoke_dbt(built_copy, args, progress=False, wait=False)
        assert time.monotonic() - started < 5  # refused before dbt started
        # Snowflake targets do not touch the DuckDB file: nothing to take there.
        with warehouse_lock(built_copy, command="test", wait=False, target="snowsim"):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_publish_waits_for_the_lock(built_copy: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    lake = Lake(built_copy.lake_dir)
    before = current_snapshot_id(lake)
    holder = _hold_in_child(lake, 2.0)
    started = time.monotonic()
    published = publish_snapshot(lake)
    waited = time.monotonic() - started
    holder.wait()
    assert f"waiting for the warehouse lock, held by pid {holder.pid}" in capsys.readouterr().err
    assert waited > 1.0 and published.stem == current_snapshot_id(lake) != before
