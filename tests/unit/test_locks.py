"""Named locks: a second holder waits (saying for whom) or, told not to wait, fails naming the holder."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from pipelines import locks
from pipelines.errors import ShopLakeError
from pipelines.lake import Lake

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
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lake.root), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_no_wait_names_the_holder(lake: Lake) -> None:
    proc = _hold_in_child(lake, 30)
    try:
        with (
            pytest.raises(ShopLakeError, match=rf"held by pid {proc.pid} \(shoplake transform\)"),
            locks.hold(lake, locks.WAREHOUSE, command="test", wait=False),
        ):
            pass
    finally:
        proc.kill()
        proc.wait()


def test_waiter_says_who_it_waits_for_and_gets_the_lock_after_the_holder_dies(lake: Lake) -> None:
    proc = _hold_in_child(lake, 1.0)
    said: list[str] = []
    started = time.monotonic()
    with locks.hold(lake, locks.WAREHOUSE, command="test", on_wait=said.append):
        waited = time.monotonic() - started
    proc.wait()
    assert said and f"pid {proc.pid}" in said[0]
    assert waited > 0.3  # it really waited for the child


def test_lock_is_released_when_the_holder_is_killed(lake: Lake) -> None:
    proc = _hold_in_child(lake, 60)
    proc.kill()
    proc.wait()
    with locks.hold(lake, locks.WAREHOUSE, command="test", wait=False):
        pass


def test_reentrant_in_the_holding_thread_exclusive_for_other_threads(lake: Lake) -> None:
    """A build holds the lock and its publish asks again (same thread); another thread takes its turn."""
    import threading

    events: list[str] = []
    said: list[str] = []
    with locks.hold(lake, locks.WAREHOUSE, command="outer"):
        with locks.hold(lake, locks.WAREHOUSE, command="inner", wait=False):
            events.append("nested")
        assert "(outer)" in locks.describe_holder(lake.lock_file(locks.WAREHOUSE))  # the note is the outer holder's

        refused: list[BaseException] = []

        def no_wait() -> None:
            try:
                with locks.hold(lake, locks.WAREHOUSE, command="thread", wait=False):
                    events.append("thread without waiting")
            except ShopLakeError as exc:
                refused.append(exc)

        def waits() -> None:
            with locks.hold(lake, locks.WAREHOUSE, command="thread", on_wait=said.append):
                events.append("thread after waiting")

        t = threading.Thread(target=no_wait)
        t.start()
        t.join()
        assert refused and "(outer)" in str(refused[0])
        waiter = threading.Thread(target=waits)
        waiter.start()
        time.sleep(0.3)
        events.append("outer releases")
    waiter.join(timeout=10)
    assert events == ["nested", "outer releases", "thread after waiting"]
    assert said and "(outer)" in said[0]
    # released for other processes too
    proc = _hold_in_child(lake, 0.1)
    proc.wait()
