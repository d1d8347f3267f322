"""Fixtures for the Snowflake path: a small lake built on DuckDB and promoted to a real fakesnow server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.batch.ingest import ingest_all
from pipelines.generate.batch import generate_exports
from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.warehouse import snowsim
from pipelines.warehouse.dbt import run_dbt_build
from pipelines.warehouse.promote import PromotionReport, promote

SCALE = 0.01


def settings_for(lake_dir: Path, **env: str) -> Settings:
    """Settings from an explicit env, so the developer's own SNOWFLAKE_* never leak into a test."""
    return Settings.from_env({"SHOPLAKE_LAKE_DIR": str(lake_dir), **env})


@dataclass
class BuiltLake:
    lake: Lake
    settings: Settings
    promotion: PromotionReport
    port: int


@pytest.fixture(scope="session")
def built_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltLake]:
    """Generate -> ingest -> dbt build on DuckDB -> snowsim on a free port -> promote + dbt build there."""
    root = tmp_path_factory.mktemp("snowflake-lake")
    settings = settings_for(root)
    lake = Lake(root).ensure()
    generate_exports(root, scale=SCALE, seed=11)
    report = ingest_all(root, progress=False)
    assert not report.failed_files, report.render()
    assert run_dbt_build(settings, target="dev", progress=False).success
    state = snowsim.start(lake)
    try:
        promotion = promote(settings, "snowsim", progress=False)
        yield BuiltLake(lake=lake, settings=settings, promotion=promotion, port=state.port)
    finally:
        snowsim.stop(lake)


@pytest.fixture
def fresh_snowsim(built_lake: BuiltLake, tmp_path: Path) -> Iterator[tuple[Lake, Settings]]:
    """A new lake holding a copy of the built lake's raw Parquet, with its own empty fakesnow server."""
    lake = Lake(tmp_path / "lake").ensure()
    shutil.copytree(built_lake.lake.root / "raw", lake.root / "raw", dirs_exist_ok=True)
    snowsim.start(lake)
    try:
        yield lake, settings_for(lake.root)
    finally:
        snowsim.stop(lake)
