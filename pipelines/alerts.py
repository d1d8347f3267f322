"""Minimal alert sink until the data-quality work lands: one JSON line per alert in the lake.

`raise_alert` is the single entry point the flows call (the pipeline's failure hook, the quality
flow). The quality branch replaces its body with the full alert interface (warehouse alert log,
webhook, de-duplication); callers keep calling `raise_alert` with the same arguments.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from .lake import Lake, append_jsonl
from .settings import Settings


def raise_alert(
    settings: Settings,
    *,
    source: str,
    title: str,
    detail: str = "",
    severity: str = "error",
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Record one alert and return it; never raises for a well-formed alert (alerts must not fail runs)."""
    record = {
        "raised_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "source": source,
        "severity": severity,
        "title": title,
        "detail": detail,
        "context": context or {},
    }
    append_jsonl(Lake(settings.lake_dir).alert_log, record)
    return record


def read_alerts(lake_dir: Path) -> list[dict[str, Any]]:
    """All alerts recorded in the lake's alert log, oldest first."""
    path = Lake(lake_dir).alert_log
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
