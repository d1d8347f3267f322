"""What an alert is and what became of it: the `Alert`, its severity, and its delivery outcome."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..status import Status


class Severity(StrEnum):
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class Delivery(Status):
    """What happened to one alert passed to the router (the alert log's `delivery` column)."""

    SENT = "sent"  # posted to the webhook
    LOGGED = "logged"  # no webhook configured: the alert log only
    DELIVERY_FAILED = "delivery_failed"  # the webhook did not take it after retries; logged
    SUPPRESSED = "suppressed"  # same key raised within the dedup window: neither sent nor logged

    @classmethod
    def failed(cls) -> frozenset[Delivery]:
        return frozenset({cls.DELIVERY_FAILED})


EMOJI = {Severity.INFO: ":information_source:", Severity.WARN: ":warning:", Severity.ERROR: ":rotating_light:"}


def default_key(source: str, title: str, detail: str) -> str:
    """The same source, title and detail are the same condition (deduplicated as one)."""
    digest = hashlib.sha256("\n".join((source, title, detail)).encode()).hexdigest()[:16]
    return f"{source}:{digest}"


@dataclass(frozen=True)
class Alert:
    """What happened, where, and what to look at next."""

    key: str  # the condition; same key = same alert for dedup
    severity: Severity
    source: str  # check family or flow: dbt_test, freshness, volume, anomaly, clickstream, prefect/<flow>, ...
    title: str
    detail: str
    context: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "severity", Severity(self.severity))
        except ValueError:
            raise ValueError(f"severity must be one of {[s.value for s in Severity]}, got {self.severity!r}") from None

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
    delivery: Delivery
    attempts: int = 0
    error: str | None = None
