"""Steps built on other branches (stream writer, Snowflake promotion, quality) are looked up lazily.

A flow or deployment whose step is not installed is not registered (or logs that it is not
configured); there are no stand-in implementations.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

# step name -> (module, function). The function signatures the flows rely on:
#   run_stream(lake: Lake, config: WriterConfig, mode: "forever" | "until-caught-up") -> WriterStats
#   run_quality(settings: Settings) -> object with `success: bool` and `summary() -> str`
#   promote(settings: Settings, *, target: str, progress: bool) -> object with `ok: bool`, `target`, `tables`,
#     `dbt_success` and `summary() -> str`
OPTIONAL_STEPS: dict[str, tuple[str, str]] = {
    "clickstream": ("pipelines.stream.writer", "run_stream"),
    "quality": ("pipelines.quality", "run_quality"),
    "promote": ("pipelines.warehouse.promote", "promote"),
}


def load_step(step: str) -> Callable[..., Any] | None:
    """The step's function, or None when its module (or the function) is not installed."""
    module_name, attr = OPTIONAL_STEPS[step]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only a missing step module means "not installed"; a broken import inside it is a bug to surface.
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            return None
        raise
    return getattr(module, attr, None)


def not_configured(step: str) -> str:
    module_name, attr = OPTIONAL_STEPS[step]
    return f"{step}: not configured ({module_name}.{attr} is not installed in this build)"
