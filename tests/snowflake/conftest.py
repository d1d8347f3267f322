"""Fixtures for the Snowflake path; the promoted session lake (`promoted_lake`) is in tests/conftest.py,
shared with the reports' tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.warehouse import snowsim

from ..helpers import PromotedLake, copy_lake, settings_for


@pytest.fixture
def fresh_snowsim(promoted_lake: PromotedLake, tmp_path: Path) -> Iterator[tuple[Lake, Settings]]:
    """A new lake holding a copy of the raw Parquet, with its own empty fakesnow server."""
    lake = copy_lake(promoted_lake.lake, tmp_path / "lake", snapshot=False)
    settings = settings_for(lake.root)
    snowsim.start(settings)
    try:
        yield lake, settings
    finally:
        snowsim.stop(settings)
