"""One way to raise alerts: dedup by key, deliver to the webhook when one is set, log every raised alert.

An alert's `key` names its condition (check + object + day). A key raised within the dedup window
is suppressed, so a failing check does not page people on every run. Delivery never fails the
caller: an unreachable webhook is retried (webhook.py), then the failure is logged and a warning
printed.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

from ..lake import Lake
from ..settings import Settings
from .log import read_alert_log, write_alert_log
from .model import Alert, Delivery, Outcome, Severity, default_key
from .webhook import WebhookSink


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
        return cls(Lake.of(settings), webhook=webhook, dedup_hours=settings.alert_dedup_hours)

    def now(self) -> dt.datetime:
        return self._now or dt.datetime.now(dt.timezone.utc)

    def recent_keys(self, now: dt.datetime) -> set[str]:
        """Keys raised within the dedup window before `now` (reads only the log files that young)."""
        return {r["alert_key"] for r in read_alert_log(self.lake, since=now - self.dedup) if r["alert_key"]}

    def emit(self, alerts: list[Alert]) -> list[Outcome]:
        """Raise each new alert once; returns what happened to every alert passed in."""
        if not alerts:
            return []
        now = self.now()
        seen = self.recent_keys(now)
        outcomes: list[Outcome] = []
        for alert in alerts:
            if alert.key in seen:
                outcomes.append(Outcome(alert, Delivery.SUPPRESSED))
                continue
            seen.add(alert.key)
            if self.webhook is None:
                outcomes.append(Outcome(alert, Delivery.LOGGED))
                continue
            ok, attempts, error = self.webhook.send(alert)
            if not ok:
                print(
                    f"warning: alert webhook unreachable after {attempts} attempts ({error}); logged only",
                    file=sys.stderr,
                )
            outcomes.append(Outcome(alert, Delivery.SENT if ok else Delivery.DELIVERY_FAILED, attempts, error))
        write_alert_log(self.lake, [o for o in outcomes if o.delivery != Delivery.SUPPRESSED], now)
        return outcomes


def raise_alert(
    settings: Settings,
    *,
    source: str,
    title: str,
    detail: str = "",
    severity: Severity = Severity.ERROR,
    context: dict[str, Any] | None = None,
    key: str | None = None,
) -> Outcome:
    """Record (and deliver) one alert; `key` defaults to source + title + detail (see `default_key`)."""
    alert = Alert(
        key=key or default_key(source, title, detail), severity=severity, source=source, title=title,
        detail=detail, context=context or {},
    )  # fmt: skip
    (outcome,) = AlertRouter.from_settings(settings).emit([alert])
    return outcome
