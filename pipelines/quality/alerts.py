"""One way to raise an alert: `AlertRouter.emit` (flows call it through `pipelines.alerts.raise_alert`).
Every alert goes to the alert log (`alerts/alerts.jsonl`); when a webhook is configured it is also
posted as Slack-compatible JSON.

Deduplication: an alert has a `key` naming its condition (check + object + day). A key that was
already raised within the dedup window is not raised again, so a failing check does not page
people on every run. Delivery never fails the pipeline: an unreachable webhook is retried with
backoff, then the failure is written to the log and a warning printed.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from ..lake import Lake, append_jsonl
from ..settings import Settings

SEVERITIES = ("info", "warn", "error")
EMOJI = {"info": ":information_source:", "warn": ":warning:", "error": ":rotating_light:"}


@dataclass(frozen=True)
class Alert:
    """What happened, where, and what to look at next."""

    key: str  # the condition; same key = same alert for dedup
    severity: str  # info | warn | error
    source: str  # check family: dbt_test, freshness, volume, anomaly, clickstream, ledger
    title: str
    detail: str
    context: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    def slack_payload(self) -> dict[str, Any]:
        """Slack incoming-webhook JSON: `text` for notifications, blocks for the details."""
        facts = "\n".join(f"*{k}*: {v}" for k, v in self.context.items())
        text = f"{EMOJI[self.severity]} [{self.severity.upper()}] {self.title}"
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{text}\n{self.detail}"}},
        ]
        if facts:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": facts}})
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"ShopLake · {self.source} · {self.key}"}]}
        )
        return {"text": text, "blocks": blocks}


@dataclass
class Outcome:
    alert: Alert
    status: str  # sent | logged | delivery_failed | suppressed
    attempts: int = 0
    error: str | None = None


class WebhookSink:
    """POST alerts to a Slack-compatible webhook; retry with exponential backoff, never raise."""

    def __init__(self, url: str, *, attempts: int = 3, backoff_s: float = 0.5, timeout_s: float = 5.0) -> None:
        self.url = url
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s

    def send(self, alert: Alert) -> tuple[bool, int, str | None]:
        body = json.dumps(alert.slack_payload()).encode("utf-8")
        error = None
        for attempt in range(1, self.attempts + 1):
            request = urllib.request.Request(
                self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    if 200 <= response.status < 300:
                        return True, attempt, None
                    error = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}"
                if 400 <= exc.code < 500 and exc.code != 429:  # our payload or URL is wrong: retrying won't help
                    return False, attempt, error
            except (urllib.error.URLError, OSError) as exc:
                error = str(getattr(exc, "reason", exc))
            if attempt < self.attempts:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
        return False, self.attempts, error


class AlertRouter:
    """Dedup, deliver and log alerts for one lake."""

    def __init__(
        self,
        lake: Lake,
        *,
        webhook: WebhookSink | None = None,
        dedup_hours: float = 24.0,
        now: dt.datetime | None = None,
    ) -> None:
        self.lake = lake
        self.webhook = webhook
        self.dedup = dt.timedelta(hours=dedup_hours)
        self._now = now

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertRouter:
        webhook = WebhookSink(settings.alert_webhook_url) if settings.alert_webhook_url else None
        return cls(Lake(settings.lake_dir), webhook=webhook, dedup_hours=settings.alert_dedup_hours)

    def now(self) -> dt.datetime:
        return self._now or dt.datetime.now(dt.timezone.utc)

    def recent_keys(self) -> set[str]:
        """Keys raised within the dedup window (suppressed repeats are not in the log)."""
        since = self.now() - self.dedup
        keys = set()
        for record in read_alert_log(self.lake):
            raised = dt.datetime.fromisoformat(record["raised_at"])
            if raised.tzinfo is None:
                raised = raised.replace(tzinfo=dt.timezone.utc)
            if raised >= since and record.get("alert_key"):
                keys.add(record["alert_key"])
        return keys

    def emit(self, alerts: list[Alert]) -> list[Outcome]:
        """Raise each new alert once; returns what happened to every alert passed in."""
        seen = self.recent_keys()
        outcomes: list[Outcome] = []
        for alert in alerts:
            if alert.key in seen:
                outcomes.append(Outcome(alert, "suppressed"))
                continue
            seen.add(alert.key)
            if self.webhook is None:
                outcomes.append(Outcome(alert, "logged"))
                continue
            ok, attempts, error = self.webhook.send(alert)
            if not ok:
                print(
                    f"warning: alert webhook unreachable after {attempts} attempts ({error}); logged only",
                    file=sys.stderr,
                )
            outcomes.append(Outcome(alert, "sent" if ok else "delivery_failed", attempts, error))
        self._log([o for o in outcomes if o.status != "suppressed"])
        return outcomes

    def _log(self, outcomes: list[Outcome]) -> None:
        raised_at = self.now().isoformat()
        for o in outcomes:
            append_jsonl(self.lake.alert_log, log_record(o, raised_at))


def log_record(outcome: Outcome, raised_at: str) -> dict[str, Any]:
    """One line of the alert log (the warehouse's `alert_log` has the same columns)."""
    a = outcome.alert
    return {
        "raised_at": raised_at, "alert_key": a.key, "source": a.source, "severity": a.severity, "title": a.title,
        "detail": a.detail, "context": a.context, "delivery": outcome.status,
        "delivery_attempts": outcome.attempts, "delivery_error": outcome.error,
    }  # fmt: skip


def read_alert_log(lake: Lake) -> list[dict[str, Any]]:
    """Every logged alert, oldest first."""
    if not lake.alert_log.exists():
        return []
    lines = lake.alert_log.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
