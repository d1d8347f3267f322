"""Shared fixtures: every test gets its own lake; expensive builds are made once per session."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipelines.generate.batch import REFERENCE_END_DATE, Dataset, build_dataset, write_exports
from pipelines.lake import Lake
from pipelines.settings import Settings

from .helpers import PromotedLake, copy_lake, settings_for

TINY_SCALE = 0.01
SEED = 7
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
# Fixtures that use the session's promoted snowsim lake (the reports' `target_opener` asks for it by
# name), and the test files that use them: pytest-xdist runs those files on one worker, so the lake
# (about a minute to build) is built once; collection fails if a file using it is missing here.
USES_PROMOTED_LAKE = {"promoted_lake", "target_opener"}
PROMOTED_LAKE_FILES = frozenset({
    "tests/reports/test_reports_run.py",
    "tests/snowflake/test_snowflake_parity.py",
    "tests/snowflake/test_snowflake_promotion.py",
})  # fmt: skip


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-screenshots",
        action="store_true",
        help=f"browser tests write their screenshots to {SCREENSHOTS} (`make screenshots`); default: a temp dir",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the files for `make test`'s two workers (pytest-xdist hands out files in this order): the
    files sharing the promoted snowsim lake, then the files with slow tests, then the rest, so the
    workers finish together. Serial runs keep this order too."""
    files: dict[Path, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.path, []).append(item)
    rel = {path: path.relative_to(config.rootpath).as_posix() for path in files}
    uses_lake = {rel[path] for path, its in files.items() if any(USES_PROMOTED_LAKE & set(i.fixturenames) for i in its)}
    if missing := sorted(uses_lake - PROMOTED_LAKE_FILES):
        raise pytest.UsageError(f"add {missing} to PROMOTED_LAKE_FILES in tests/conftest.py")
    slow = {path for path, its in files.items() if any(i.get_closest_marker("slow") for i in its)}
    order = sorted(files, key=lambda path: (rel[path] not in PROMOTED_LAKE_FILES, path not in slow))  # stable
    items[:] = [item for path in order for item in files[path]]


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, which serial runs may not have
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """With `--dist loadfile` (`make test`), a file is a work unit, so its module fixtures are built
    once, except that PROMOTED_LAKE_FILES are one unit, so one worker builds the promoted lake."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class Scheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            return "promoted_lake" if path in PROMOTED_LAKE_FILES else path

    return Scheduling(config, log)


@pytest.fixture(scope="session")
def screenshot_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where browser tests save screenshots: the tracked docs/screenshots only when asked to refresh them."""
    if request.config.getoption("--update-screenshots"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake").ensure()


@pytest.fixture
def settings(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(lake.root))
    return Settings.from_env({"SHOPLAKE_LAKE_DIR": str(lake.root)})


@dataclass
class BuiltLake:
    lake: Lake
    settings: Settings
    dataset: Dataset


def _seed_clickstream(lake: Lake) -> None:
    """Two days of clickstream over the generated customers and products, landed without a broker."""
    from datetime import datetime, timezone

    from pipelines.catalog import load_click_catalog
    from pipelines.stream.segment import land_messages
    from pipelines.stream.simulator import SessionGenerator, encode

    sessions = SessionGenerator(load_click_catalog(lake), seed=SEED)
    frames = [sessions.chunk(2_500, datetime(2025, 6, d, 20, tzinfo=timezone.utc), span_s=43_200) for d in (1, 2)]
    for frame in frames:
        land_messages(lake, encode(frame)[0], "clickstream.events")


@pytest.fixture(scope="session")
def built_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltLake]:
    """A tiny lake generated, ingested and built with dbt once for the whole session (read-only use)."""
    from pipelines.batch.ingest import ingest_all
    from pipelines.warehouse.dbt import run_dbt_build

    root = tmp_path_factory.mktemp("built") / "lake"
    lake = Lake(root).ensure()
    settings = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(root)})
    dataset = build_dataset(TINY_SCALE, SEED, REFERENCE_END_DATE)
    write_exports(dataset, lake, scale=TINY_SCALE, seed=SEED)
    report = ingest_all(settings, progress=False)
    assert not report.failed_files
    _seed_clickstream(lake)
    result = run_dbt_build(settings, progress=False)
    assert result.success, result.summary()
    yield BuiltLake(lake=lake, settings=settings, dataset=dataset)


def add_results(settings: Settings) -> None:
    """Rows in every results table, made and published by the commands that make them on DuckDB: an
    alert, a quality run (which publishes dq_results and alert_log), then two forecast runs."""
    import contextlib
    import sys

    from pipelines.alerts import Alert, AlertRouter
    from pipelines.cli import main
    from pipelines.quality.checks import run_quality

    AlertRouter.from_settings(settings).emit(
        [Alert(key="test:promoted", severity="warn", source="test", title="promoted lake", detail="an alert")]
    )
    with pytest.MonkeyPatch.context() as env, contextlib.redirect_stdout(sys.stderr):
        env.setenv("SHOPLAKE_LAKE_DIR", str(settings.lake_dir))
        env.delenv("DBT_TARGET", raising=False)
        run_quality(settings)
        for horizon in ("14", "7"):
            assert main(["forecast", "--horizon", horizon]) == 0


@pytest.fixture(scope="session")
def promoted_lake(built_lake: BuiltLake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromotedLake]:
    """The session lake copied, with results (`add_results`), then: snowsim on a free loopback port ->
    `promote` (PUT + COPY INTO) -> `dbt build` on the snowsim target. Used by tests/snowflake and the
    reports' Snowflake runs."""
    from pipelines.warehouse import snowsim
    from pipelines.warehouse.promote import promote

    lake = copy_lake(built_lake.lake, tmp_path_factory.mktemp("snowflake") / "lake", snapshot=True, warehouse=True)
    settings = settings_for(lake.root)
    add_results(settings)
    state = snowsim.start(settings)
    try:
        promotion = promote(settings, "snowsim", progress=False)
        yield PromotedLake(lake=lake, settings=settings, promotion=promotion, port=state.port)
    finally:
        snowsim.stop(settings)


@dataclass
class Receiver:
    """A Slack-like webhook on loopback that records what it was sent."""

    url: str
    bodies: list[bytes] = field(default_factory=list)
    fail_first: int = 0  # answer `status` to this many requests first
    status: int = 500


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.bodies.append(body)
            status = receiver.status if len(receiver.bodies) <= receiver.fail_first else 200
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"error")

        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/shoplake"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
