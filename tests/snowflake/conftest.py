"""Fixtures for the Snowflake path; the promoted session lake (`promoted_lake`) is in tests/conftest.py,
shared with the reports' tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.warehouse import snowsim

from ..helpers import PromotedLake, copy_lake, settings_for


@contextmanager
def running_snowsim(settings: Settings) -> Iterator[Settings]:
    """A fakesnow server of the lake's own for the duration of the block."""
    snowsim.start(settings)
    try:
        yield settings
    finally:
        snowsim.stop(settings)


@pytest.fixture
def fresh_snowsim(promoted_lake: PromotedLake, tmp_path: Path) -> Iterator[tuple[Lake, Settings]]:
    """A new lake holding a copy of the raw Parquet, with its own empty fakesnow server."""
    lake = copy_lake(promoted_lake.lake, tmp_path / "lake", snapshot=False)
    with running_snowsim(settings_for(lake.root)) as settings:
        yield lake, settings
