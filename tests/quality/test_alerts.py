"""Alert router: Slack-compatible payloads to a loopback receiver, dedup, retries, never failing."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time

from pipelines.lake import Lake
from pipelines.quality.alerts import Alert, AlertRouter, WebhookSink
from pipelines.quality.store import read_rows


def _alert(key: str = "volume:volume_orders:2026-10-31", severity: str = "warn") -> Alert:
    return Alert(
        key=key,
        severity=severity,
        source="volume",
        title="daily volume warn: orders",
        message="12 rows on 2026-10-31, expected 94 (band 55-132)",
        context={"check": "volume_orders", "failing_rows": 12},
    )


def test_webhook_gets_slack_payload_and_log_records_it(empty_lake: Lake, webhook_receiver) -> None:
    router = AlertRouter(empty_lake, webhook=WebhookSink(webhook_receiver.url))
    outcomes = router.emit([_alert()])
    assert [o.status for o in outcomes] == ["sent"]
    payload = json.loads(webhook_receiver.bodies[0])
    assert payload["text"].startswith(":warning: [WARN] daily volume warn: orders")
    section_texts = " ".join(b["text"]["text"] for b in payload["blocks"] if b["type"] == "section")
    assert "expected 94" in section_texts and "*failing_rows*: 12" in section_texts
    log = read_rows(empty_lake, "alert_log")
    assert log.select("alert_key", "delivery").rows() == [("volume:volume_orders:2026-10-31", "sent")]


def test_same_condition_is_not_raised_twice_within_window(empty_lake: Lake, webhook_receiver) -> None:
    router = AlertRouter(empty_lake, webhook=WebhookSink(webhook_receiver.url), dedup_hours=24)
    router.emit([_alert(), _alert()])
    second = AlertRouter(empty_lake, webhook=WebhookSink(webhook_receiver.url), dedup_hours=24).emit([_alert()])
    assert [o.status for o in second] == ["suppressed"]
    assert len(webhook_receiver.bodies) == 1
    assert read_rows(empty_lake, "alert_log").height == 1
    # Once the window has passed, the condition is raised again.
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=25)
    third = AlertRouter(empty_lake, webhook=WebhookSink(webhook_receiver.url), now=later).emit([_alert()])
    assert [o.status for o in third] == ["sent"]


def test_different_conditions_each_alert(empty_lake: Lake) -> None:
    outcomes = AlertRouter(empty_lake).emit([_alert("a"), _alert("b", "error")])
    assert [o.status for o in outcomes] == ["logged", "logged"]
    assert sorted(read_rows(empty_lake, "alert_log")["alert_key"].to_list()) == ["a", "b"]


def test_server_error_is_retried_until_delivered(empty_lake: Lake, webhook_receiver) -> None:
    webhook_receiver.fail_first = 2
    sink = WebhookSink(webhook_receiver.url, attempts=3, backoff_s=0.01)
    outcomes = AlertRouter(empty_lake, webhook=sink).emit([_alert()])
    assert (outcomes[0].status, outcomes[0].attempts) == ("sent", 3)
    assert len(webhook_receiver.bodies) == 3


def test_unreachable_webhook_is_retried_with_backoff_then_logged(empty_lake: Lake, capsys) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = WebhookSink(f"http://127.0.0.1:{port}/hook", attempts=3, backoff_s=0.1, timeout_s=1)
    started = time.monotonic()
    outcomes = AlertRouter(empty_lake, webhook=sink).emit([_alert()])
    elapsed = time.monotonic() - started
    assert (outcomes[0].status, outcomes[0].attempts) == ("delivery_failed", 3)
    assert elapsed >= 0.1 + 0.2  # two backoff sleeps, doubling
    log = read_rows(empty_lake, "alert_log")
    assert log["delivery"].to_list() == ["delivery_failed"] and log["delivery_error"][0]
    assert "webhook unreachable after 3 attempts" in capsys.readouterr().err
