from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.lake import Lake

from .lakes import make_lake

# Before Prefect is imported: no telemetry (no network here), and no state in the user's ~/.prefect.
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="shoplake-prefect-home-"))


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API (SQLite) for all unit-level flow tests of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lake:
    """A fresh lake with generated exports; flows read it through SHOPLAKE_LAKE_DIR like in production."""
    root = tmp_path / "lake"
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(root))
    monkeypatch.setenv("DBT_TARGET", "dev")
    return make_lake(root)
