"""Data quality checks, anomaly and clickstream alerts, the sales forecast, and alert delivery."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..settings import Settings
    from .checks import QualityReport


def run_quality(settings: Settings) -> QualityReport:
    """The Prefect `quality` step (see pipelines/flows/optional.py): all checks, `.success`, `.summary()`."""
    from .checks import run_quality as _run_quality

    return _run_quality(settings)
