"""Fixtures for the quality tests: one tiny built lake per session, copied when a test changes it."""

from __future__ import annotations

import contextlib
import shutil
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipelines.lake import Lake
from pipelines.settings import Settings

TINY_SCALE = 0.01
SEED = 7


@pytest.fixture(scope="session")
def quality_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated, ingested and built once (about 15 s); tests that change it use `lake_copy`."""
    from pipelines.batch.ingest import ingest_all
    from pipelines.generate.batch import REFERENCE_END_DATE, generate_exports
    from pipelines.warehouse.dbt import run_dbt_build

    root = tmp_path_factory.mktemp("quality") / "lake"
    generate_exports(Settings(lake_dir=root), scale=TINY_SCALE, seed=SEED, end_date=REFERENCE_END_DATE)
    with contextlib.redirect_stdout(sys.stderr):
        ingest_all(root, progress=False)
        result = run_dbt_build(Settings(lake_dir=root), target="dev", progress=False)
    assert result.success, result.summary()
    return root


@pytest.fixture
def lake_copy(quality_lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A private copy of the built lake (its warehouse views still read the original raw files)."""
    from pipelines.warehouse.serving import release_dbt_duckdb

    release_dbt_duckdb()
    root = tmp_path / "lake"
    shutil.copytree(quality_lake, root)
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(root))
    monkeypatch.delenv("SHOPLAKE_ALERT_WEBHOOK_URL", raising=False)
    return Settings(lake_dir=root)


@pytest.fixture
def empty_lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake").ensure()


@dataclass
class Receiver:
    """A Slack-like webhook on loopback that records what it was sent."""

    url: str
    bodies: list[bytes] = field(default_factory=list)
    fail_first: int = 0  # answer HTTP 500 to this many requests first


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.bodies.append(body)
            status = 500 if len(receiver.bodies) <= receiver.fail_first else 200
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
