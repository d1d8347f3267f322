"""Fixtures for the Snowflake path: the session's DuckDB-built lake, promoted to a real fakesnow server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.warehouse import snowsim
from pipelines.warehouse.promote import PromotionReport, promote
from pipelines.warehouse.serving import current_snapshot_id


def settings_for(lake_dir: Path, **env: str) -> Settings:
    """Settings from an explicit env, so the developer's own SNOWFLAKE_* never leak into a test."""
    return Settings.from_env({"SHOPLAKE_LAKE_DIR": str(lake_dir), **env})


@dataclass
class PromotedLake:
    lake: Lake
    settings: Settings
    promotion: PromotionReport
    port: int


def copy_lake(source: Lake, root: Path, *, snapshot: bool) -> Lake:
    """A lake of our own with the source's raw Parquet (and its published DuckDB snapshot)."""
    lake = Lake(root).ensure()
    shutil.copytree(source.root / "raw", lake.root / "raw", dirs_exist_ok=True)
    if snapshot:
        snapshot_id = current_snapshot_id(source)
        assert snapshot_id, "the session lake has no published DuckDB build"
        shutil.copyfile(source.snapshot_path(snapshot_id), lake.snapshot_path(snapshot_id))
        lake.serving_pointer.write_text(snapshot_id + "\n", encoding="utf-8")
    return lake


@pytest.fixture(scope="session")
def promoted_lake(built_lake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromotedLake]:
    """The session lake (generated, ingested, built on DuckDB once in tests/conftest.py) copied, then:
    snowsim on a free loopback port -> `promote` (PUT + COPY INTO) -> `dbt build` on the snowsim target."""
    lake = copy_lake(built_lake.lake, tmp_path_factory.mktemp("snowflake") / "lake", snapshot=True)
    settings = settings_for(lake.root)
    state = snowsim.start(lake)
    try:
        promotion = promote(settings, "snowsim", progress=False)
        yield PromotedLake(lake=lake, settings=settings, promotion=promotion, port=state.port)
    finally:
        snowsim.stop(lake)


@pytest.fixture
def fresh_snowsim(promoted_lake: PromotedLake, tmp_path: Path) -> Iterator[tuple[Lake, Settings]]:
    """A new lake holding a copy of the raw Parquet, with its own empty fakesnow server."""
    lake = copy_lake(promoted_lake.lake, tmp_path / "lake", snapshot=False)
    snowsim.start(lake)
    try:
        yield lake, settings_for(lake.root)
    finally:
        snowsim.stop(lake)
