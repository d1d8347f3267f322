"""The alert entry point for flows and jobs: `raise_alert`.

It hands the alert to the quality part's router (pipelines/quality/alerts.py): appended to the
alert log (`alerts/alerts.jsonl`, the warehouse's `alert_log` table once published), posted to
`SHOPLAKE_ALERT_WEBHOOK_URL` as Slack-compatible JSON when set, and deduplicated by key. Delivery
problems are retried and logged, never raised: alerts must not fail runs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from .lake import Lake
from .settings import Settings


def raise_alert(
    settings: Settings,
    *,
    source: str,
    title: str,
    detail: str = "",
    severity: str = "error",
    context: dict[str, Any] | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    """Record (and deliver) one alert and return its log record.

    `key` names the condition for deduplication; by default the same source, title and detail
    are the same condition, so an identical failure is not re-sent within the dedup window.
    """
    from .quality.alerts import Alert, AlertRouter, log_record

    if key is None:
        digest = hashlib.sha256(f"{source}\n{title}\n{detail}".encode()).hexdigest()[:16]
        key = f"{source}:{digest}"
    alert = Alert(key=key, severity=severity, source=source, title=title, detail=detail, context=context or {})
    router = AlertRouter.from_settings(settings)
    (outcome,) = router.emit([alert])
    return log_record(outcome, router.now().isoformat())


def read_alerts(lake_dir: Path) -> list[dict[str, Any]]:
    """All alerts recorded in the lake's alert log, oldest first (suppressed repeats are not logged)."""
    from .quality.alerts import read_alert_log

    return read_alert_log(Lake(lake_dir))
