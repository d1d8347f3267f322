"""A real S3-compatible server on loopback for the object-store tests (moto's server mode), and lakes on it.

The server is started once per session on a free 127.0.0.1 port and answers like S3 (conditional
writes, listing, multipart, ranged GETs). Each test gets its own prefix in one bucket, and the
standard AWS environment (credentials, region, `AWS_ENDPOINT_URL`) for the test's duration only, so
nothing else in the suite talks to it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.lake import Lake
from pipelines.services import free_port
from pipelines.settings import Settings

from ..helpers import stop_process

BUCKET = "shoplake-test"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.endpoint,
        }  # fmt: skip


def _ready(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto in server mode on a free loopback port, with the test bucket created."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    server = S3Server(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while not _ready(server.endpoint):
            assert proc.poll() is None, "moto server exited at start"
            assert time.monotonic() < deadline, "moto server did not answer within 60 s"
            time.sleep(0.1)
        import boto3

        boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_bucket(Bucket=BUCKET)  # fmt: skip
        yield server
    finally:
        stop_process(proc, timeout_s=10)
        log.close()


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The AWS environment pointing at the test server, for this test (and the processes it starts)."""
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return s3_server.env


def new_uri() -> str:
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_lake(s3_env: dict[str, str], tmp_path: Path) -> Lake:
    """A lake whose data zones are under a fresh prefix of the bucket (local state under tmp_path)."""
    return Lake(tmp_path / "lake", new_uri()).ensure()


def settings_of(lake: Lake) -> Settings:
    return Settings.from_env({"SHOPLAKE_LAKE_DIR": str(lake.root), "SHOPLAKE_LAKE_URI": lake.uri or ""})


@pytest.fixture
def s3_settings(s3_lake: Lake, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(s3_lake.root))
    monkeypatch.setenv("SHOPLAKE_LAKE_URI", s3_lake.uri or "")
    return settings_of(s3_lake)


def child_env(lake: Lake, **extra: str) -> dict[str, str]:
    """The environment of a `shoplake` child process working on `lake`."""
    return {**os.environ, "SHOPLAKE_LAKE_DIR": str(lake.root), "SHOPLAKE_LAKE_URI": lake.uri or "", **extra}
