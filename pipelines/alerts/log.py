"""The alert log: `results/alert_log/<run_id>.parquet`, one file per emit that logged at least one alert.

The file's run id starts with the emit's time, which is also every row's `raised_at`, so dedup
reads only the files young enough for its window (see pipelines/results.py).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl

from ..lake import Lake
from ..results import ALERT_LOG, new_run_id, read_results, write_results
from .model import Outcome


def log_frame(outcomes: list[Outcome], raised_at: dt.datetime) -> pl.DataFrame:
    """The alert_log rows for `outcomes`, all raised at `raised_at` (UTC)."""
    rows = [
        {
            "raised_at": raised_at, "alert_key": o.alert.key, "source": o.alert.source,
            "severity": str(o.alert.severity), "title": o.alert.title, "detail": o.alert.detail,
            "context": json.dumps(o.alert.context, sort_keys=True, default=str), "delivery": str(o.delivery),
            "delivery_attempts": o.attempts, "delivery_error": o.error,
        }
        for o in outcomes
    ]  # fmt: skip
    return pl.DataFrame(rows, schema_overrides={"raised_at": pl.Datetime("us", "UTC")})


def write_alert_log(lake: Lake, outcomes: list[Outcome], raised_at: dt.datetime) -> Path | None:
    """One file for this emit's logged alerts (nothing when there are none)."""
    if not outcomes:
        return None
    return write_results(lake, ALERT_LOG, log_frame(outcomes, raised_at), new_run_id(raised_at))


def read_alert_log(lake: Lake, *, since: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Logged alerts, oldest first (`since`: only those raised at or after it), `context` as a dict."""
    frame = read_results(lake, ALERT_LOG, since=since).sort("raised_at", maintain_order=True)
    if since is not None:
        frame = frame.filter(pl.col("raised_at") >= since)
    records = frame.to_dicts()
    for record in records:
        record["context"] = json.loads(record["context"]) if record["context"] else {}
    return records
