"""Fixtures for the analytics tests: a private copy of the session's built lake."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.settings import Settings

from ..conftest import BuiltLake


@pytest.fixture
def built_copy(built_lake: BuiltLake, tmp_path: Path) -> Settings:
    """A copy of the built lake to write forecasts into (its warehouse views still read the original raw files)."""
    from pipelines.warehouse.serving import release_dbt_duckdb

    release_dbt_duckdb()
    root = tmp_path / "lake"
    shutil.copytree(built_lake.lake.root, root)
    return Settings.from_env({"SHOPLAKE_LAKE_DIR": str(root)})
