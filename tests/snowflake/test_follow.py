"""Continuous promotion (`shoplake promote --follow`, issue 17): crash safety and mart parity.

- A real `shoplake promote --follow` subprocess is killed with SIGKILL while its cycle holds the
  promotion lock (loading), three times with new clicks landed in between, then restarted: every
  table equals the lake, every event id is in RAW exactly once, the manifest names no file twice.
- Several follow cycles with new clicks between them (the DuckDB side built incrementally like
  `shoplake transform` would): each cycle loads just the new files and builds just the clickstream
  marts (incrementally); then every mart is equal on DuckDB and snowsim, and the dashboard's live
  panel gives the same numbers over Snowflake's RAW events as over the lake, in the app too; in
  Chromium, the open page shows later clicks within a few refreshes after a follow cycle loads them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from pipelines import locks
from pipelines.catalog import committed_files, load_click_catalog, read_committed
from pipelines.dashboard.backends import open_backend
from pipelines.dashboard.live import clickstream_live, clickstream_live_snowflake
from pipelines.lake import CLICKSTREAM_TABLE, Lake
from pipelines.services import free_port
from pipelines.settings import Settings
from pipelines.stream.segment import land_messages
from pipelines.stream.simulator import SessionGenerator, encode
from pipelines.warehouse.dbt import run_dbt_build
from pipelines.warehouse.follow import follow_cycle, source_of_tables
from pipelines.warehouse.parity import compare_marts
from pipelines.warehouse.promote import MANIFEST, load_tables
from pipelines.warehouse.snowflake import connect, resolve_target

from ..helpers import copy_lake, launch_chromium, settings_for, stop_process, wait_healthy
from .conftest import running_snowsim

pytestmark = pytest.mark.slow

TOPIC = "clickstream.events"
CLICKS = f"source:clickstream.{CLICKSTREAM_TABLE}+"


@pytest.fixture
def follow_lake(built_lake, tmp_path: Path) -> Iterator[tuple[Lake, Settings]]:
    """The session lake (raw, ledger, stream checkpoint, DuckDB warehouse and snapshot), its own empty snowsim."""
    lake = copy_lake(built_lake.lake, tmp_path / "lake", snapshot=True, warehouse=True)
    with running_snowsim(settings_for(lake.root)) as settings:
        yield lake, settings


def land_clicks(lake: Lake, seed: int, day: int, sessions: int = 300, hour: int = 20, minute: int = 0) -> int:
    """A batch of sessions ending at `day hour:minute` (UTC), landed as the stream writer lands them;
    returns the events landed."""
    frame = SessionGenerator(load_click_catalog(lake), seed=seed).chunk(
        sessions, datetime(2025, 6, day, hour, minute, tzinfo=timezone.utc)
    )
    land_messages(lake, encode(frame)[0], TOPIC)
    return frame.height


def snow_rows(settings: Settings, sql: str) -> list[tuple]:
    con = connect(resolve_target(settings, "snowsim"))
    try:
        cur = con.cursor()
        cur.execute(sql)
        return cur.fetchall()
    finally:
        con.close()


def manifest_files(settings: Settings) -> int:
    """Files the manifest records; 0 before the first cycle got as far as creating it."""
    from snowflake.connector.errors import ProgrammingError

    try:
        return int(snow_rows(settings, f"select count(*) from {MANIFEST}")[0][0])
    except ProgrammingError:
        return 0


def _holder_pid(lake: Lake) -> int | None:
    note = lake.lock_file(locks.promotion("snowsim"))
    try:
        return json.loads(note.with_name(note.name + ".holder").read_text(encoding="utf-8"))["pid"]
    except (OSError, ValueError, KeyError):
        return None


def test_follower_killed_mid_load_then_restarted_loses_and_doubles_nothing(follow_lake) -> None:
    lake, settings = follow_lake
    env = {**os.environ, "SHOPLAKE_LAKE_DIR": str(lake.root)}
    follow = [sys.executable, "-m", "pipelines.cli", "promote", "--follow", "--target", "snowsim", "--no-build"]
    pending_after_kill = []
    for i, delay in enumerate((0.0, 0.5, 1.5)):
        for part in range(3):  # new clicks: several commits, so a cycle has files of several partitions to load
            land_clicks(lake, seed=100 + 10 * i + part, day=3 + i)
        proc = subprocess.Popen(
            [*follow, "--interval", "0.2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while _holder_pid(lake) != proc.pid:  # its first cycle holds the promotion lock: it is loading
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr and proc.stderr.read()
            time.sleep(0.02)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        loaded = manifest_files(settings)
        committed = sum(len(committed_files(lake, t)) for t in lake.raw_tables())
        pending_after_kill.append(committed - loaded)
    assert any(p > 0 for p in pending_after_kill), pending_after_kill  # a kill did interrupt a load

    done = subprocess.run([*follow, "--max-cycles", "1"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]

    events = snow_rows(settings, f"select event_id from RAW.{CLICKSTREAM_TABLE.upper()}")
    in_raw = [str(r[0]) for r in events]
    in_lake = read_committed(lake, CLICKSTREAM_TABLE, columns=["event_id"]).get_column("event_id").to_list()
    assert len(in_raw) == len(set(in_raw)), "an event was loaded twice"  # 0 doubled
    assert set(in_raw) == set(in_lake) and len(in_lake) == len(set(in_lake))  # 0 lost, 0 extra
    ((files, distinct),) = snow_rows(
        settings, f"select count(*), count(distinct table_name || file_path) from {MANIFEST}"
    )
    assert files == distinct
    check = load_tables(settings, "snowsim", progress=False)  # nothing left, every count equal to the lake's
    assert check.ok, check.render()
    assert sum(t.loaded_files for t in check.tables) == 0
    assert all(t.snowflake_rows == t.lake_rows for t in check.tables if t.lake_files)


def test_marts_match_duckdb_after_several_follow_cycles_and_live_panel_reads_snowflake(
    follow_lake, monkeypatch
) -> None:
    lake, settings = follow_lake
    first = follow_cycle(settings, "snowsim", cycle=1)
    assert first.ok, first.line()
    # a target new to the lake: every table is created, so every model downstream of every source is built
    assert first.select is not None and all(
        f"source:{src}.{t}+" in first.select for t, src in source_of_tables().items()
    )

    for cycle, day in ((2, 3), (3, 4)):
        landed = land_clicks(lake, seed=40 + cycle, day=day)
        duck = run_dbt_build(settings, select=CLICKS, progress=False)  # the DuckDB side, incremental
        assert duck.success, duck.summary()
        report = follow_cycle(settings, "snowsim", cycle=cycle)
        assert report.ok, report.line()
        assert report.loaded == {CLICKSTREAM_TABLE: landed} and report.select == CLICKS, report.line()
        run_sql = (lake.dbt_artifacts_dir("snowsim") / "target" / "run").rglob("fct_sessions.sql")
        assert "delete from" in next(run_sql).read_text(encoding="utf-8").lower()  # the incremental path

    idle = follow_cycle(settings, "snowsim", cycle=4)
    assert idle.ok and idle.loaded == {} and idle.select is None, idle.line()
    parity = compare_marts(settings, "snowsim")
    assert parity.ok and all(m.status == "equal" for m in parity.marts), parity.render()
    assert {"fct_sessions", "funnel_daily"} <= {m.model for m in parity.marts}

    # The live panel over Snowflake (RAW events the follower loaded) equals the lake's.
    backend = open_backend(settings, "snowsim")
    try:
        on_lake, on_snow = clickstream_live(settings, 30), clickstream_live_snowflake(backend, 30)
    finally:
        backend.close()
    assert on_lake is not None and on_snow is not None
    assert (on_snow.newest_event, on_snow.window_events) == (on_lake.newest_event, on_lake.window_events)
    for name in ("per_minute", "funnel", "top_pages", "top_products"):
        pd.testing.assert_frame_equal(getattr(on_snow, name), getattr(on_lake, name), check_dtype=False, obj=name)

    from streamlit.testing.v1 import AppTest

    from pipelines.settings import REPO_ROOT

    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(lake.root))
    monkeypatch.setenv("DBT_TARGET", "snowsim")
    at = AppTest.from_file(str(REPO_ROOT / "app" / "streamlit_app.py"), default_timeout=90)
    at.run()
    at.switch_page("app_pages/clickstream.py")
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Events in the last 30 min"] == f"{on_lake.window_events:,}"
    assert any("Snowflake RAW.CLICKSTREAM_EVENTS" in c.value for c in at.caption)
    assert len(at.get("vega_lite_chart")) >= 2

    _live_panel_refreshes_in_chromium(lake, settings)  # `make test` installs Chromium (.ci/system-deps)


NEWEST_TILE = """(want) => [...document.querySelectorAll('[data-testid="stMetric"]')]
    .some((tile) => tile.innerText.includes('Newest event') && tile.innerText.includes(want))"""


def _live_panel_refreshes_in_chromium(lake: Lake, settings: Settings) -> None:
    """`shoplake dashboard` over snowsim: the open Clickstream page shows the newest event in RAW, and
    after a follow cycle loads later clicks it shows those within a few refreshes, without a reload."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    env = {**os.environ, "SHOPLAKE_LAKE_DIR": str(lake.root), "DBT_TARGET": "snowsim"}
    shoplake = str(Path(sys.executable).with_name("shoplake"))
    proc = subprocess.Popen([shoplake, "dashboard", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{url}/clickstream", wait_until="domcontentloaded")
                page.wait_for_function(NEWEST_TILE, arg="20:00:00", timeout=60_000)  # day 4's clicks end 20:00
                land_clicks(lake, seed=77, day=5, sessions=50, hour=21, minute=30)
                loaded = follow_cycle(settings, "snowsim", cycle=5, build=False)
                assert loaded.loaded.get(CLICKSTREAM_TABLE), loaded.line()
                page.wait_for_function(NEWEST_TILE, arg="21:30:00", timeout=30_000)  # refreshed in place
                assert "Snowflake RAW.CLICKSTREAM_EVENTS" in page.inner_text("body")
            finally:
                browser.close()
    finally:
        stop_process(proc)
