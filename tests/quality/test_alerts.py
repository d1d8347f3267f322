"""Alert router: Slack-compatible payloads to a loopback receiver, dedup, retries, never failing."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time

from pipelines.alerts import raise_alert, read_alerts
from pipelines.lake import Lake
from pipelines.quality.alerts import Alert, AlertRouter, WebhookSink
from pipelines.settings import Settings


def _alert(key: str = "volume:volume_orders:2026-10-31", severity: str = "warn") -> Alert:
    return Alert(
        key=key,
        severity=severity,
        source="volume",
        title="daily volume warn: orders",
        detail="12 rows on 2026-10-31, expected 94 (band 55-132)",
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
    log = read_alerts(empty_lake.root)
    assert [(a["alert_key"], a["delivery"], a["context"]["failing_rows"]) for a in log] == [
        ("volume:volume_orders:2026-10-31", "sent", 12)
    ]


def test_same_condition_is_not_raised_twice_within_window(empty_lake: Lake, webhook_receiver) -> None:
    router = AlertRouter(empty_lake, webhook=WebhookSink(webhook_receiver.url), dedup_hours=24)
    router.emit([_alert(), _alert()])
    second = AlertRouter(empty_lake, webhook=WebhookSink(webhook_receiver.url), dedup_hours=24).emit([_alert()])
    assert [o.status for o in second] == ["suppressed"]
    assert len(webhook_receiver.bodies) == 1
    assert len(read_alerts(empty_lake.root)) == 1
    # Once the window has passed, the condition is raised again.
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=25)
    third = AlertRouter(empty_lake, webhook=WebhookSink(webhook_receiver.url), now=later).emit([_alert()])
    assert [o.status for o in third] == ["sent"]


def test_different_conditions_each_alert(empty_lake: Lake) -> None:
    outcomes = AlertRouter(empty_lake).emit([_alert("a"), _alert("b", "error")])
    assert [o.status for o in outcomes] == ["logged", "logged"]
    assert sorted(a["alert_key"] for a in read_alerts(empty_lake.root)) == ["a", "b"]


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
    (logged,) = read_alerts(empty_lake.root)
    assert logged["delivery"] == "delivery_failed" and logged["delivery_error"]
    assert "webhook unreachable after 3 attempts" in capsys.readouterr().err


def test_raise_alert_routes_flow_alerts_with_dedup(empty_lake: Lake, webhook_receiver) -> None:
    """The flows' entry point: logged, posted, and an identical failure is not re-sent."""
    settings = Settings(lake_dir=empty_lake.root, alert_webhook_url=webhook_receiver.url)
    record = raise_alert(settings, source="ingest-batch", title="1 export file(s) rejected", detail="orders.csv: bad")
    assert record["delivery"] == "sent" and record["severity"] == "error"
    raise_alert(settings, source="ingest-batch", title="1 export file(s) rejected", detail="orders.csv: bad")
    raise_alert(settings, source="ingest-batch", title="1 export file(s) rejected", detail="items.csv: bad")
    assert [a["detail"] for a in read_alerts(empty_lake.root)] == ["orders.csv: bad", "items.csv: bad"]
    assert len(webhook_receiver.bodies) == 2


def test_check_results_become_keyed_actionable_alerts() -> None:
    from pipelines.quality.checks import CheckResult, alerts_for

    day = dt.date(2026, 10, 31)
    results = [
        CheckResult("volume", "volume_orders", "orders", "warn", "warn", 12, "12 rows on 2026-10-31, ...", day),
        CheckResult("dbt_test", "unique_fct_orders_order_id", "unique_fct_orders_order_id", "error", "fail", 3, "3"),
        CheckResult("dbt_test", "assert_order_amount_matches_lines", "x", "warn", "warn", 40, "chronic"),
        CheckResult("freshness", "freshness_orders", "source shop.orders", "error", "pass", None, "0.1 h"),
    ]
    alerts = {a.key: a for a in alerts_for(results)}
    assert set(alerts) == {"volume:volume_orders:2026-10-31", "dbt_test:unique_fct_orders_order_id"}
    failed = alerts["dbt_test:unique_fct_orders_order_id"]
    assert failed.severity == "error" and failed.context["failing_rows"] == 3
    assert "dbt_test__audit" in failed.detail  # where to look next
