"""A private, writable copy of the session's built lake, for tests that attack it or build in it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.warehouse.serving import release_dbt_duckdb


@pytest.fixture
def built_copy(built_lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The whole built lake (exports, raw, ledger, warehouse, snapshot) copied; SHOPLAKE_LAKE_DIR points at it."""
    release_dbt_duckdb()
    root = tmp_path / "lake"
    shutil.copytree(built_lake.lake.root, root)
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(root))
    monkeypatch.setenv("DBT_TARGET", "dev")
    Lake(root).ensure()
    return Settings.from_env({"SHOPLAKE_LAKE_DIR": str(root)})
