"""Fixtures for the quality tests: one tiny built lake per session, copied when a test changes it."""

from __future__ import annotations

import contextlib
import shutil
import sys
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
        ingest_all(Settings(lake_dir=root), progress=False)
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
