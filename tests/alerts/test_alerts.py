"""The alerts part: Slack-compatible payloads to a loopback receiver, dedup, retries, the alert log files."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time

import polars as pl

from pipelines.alerts import Alert, AlertRouter, Delivery, Severity, WebhookSink, raise_alert, read_alert_log
from pipelines.lake import Lake
from pipelines.results import ALERT_LOG, SCHEMAS, new_run_id, result_files
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


def _log_files(lake: Lake) -> list[str]:
    return [p.stem for p in result_files(lake, ALERT_LOG) if not p.stem.startswith("_")]


def test_webhook_gets_slack_payload_and_log_records_it(lake: Lake, webhook_receiver) -> None:
    router = AlertRouter(lake, webhook=WebhookSink(webhook_receiver.url))
    outcomes = router.emit([_alert()])
    assert [o.delivery for o in outcomes] == [Delivery.SENT]
    payload = json.loads(webhook_receiver.bodies[0])
    assert payload["text"].startswith(":warning: [WARN] daily volume warn: orders")
    section_texts = " ".join(b["text"]["text"] for b in payload["blocks"] if b["type"] == "section")
    assert "expected 94" in section_texts and "*failing_rows*: 12" in section_texts
    log = read_alert_log(lake)
    assert [(a["alert_key"], a["delivery"], a["context"]["failing_rows"]) for a in log] == [
        ("volume:volume_orders:2026-10-31", "sent", 12)
    ]


def test_each_emit_is_one_results_file_with_the_shared_schema(lake: Lake) -> None:
    router = AlertRouter(lake)
    router.emit([_alert("a"), _alert("b", "error")])
    router.emit([_alert("a")])  # suppressed only: nothing to log, no file
    router.emit([_alert("c")])
    files = _log_files(lake)
    assert len(files) == 2 and files == sorted(files)
    first = pl.read_parquet(lake.results_file(ALERT_LOG, files[0]))
    assert first.schema == pl.Schema(SCHEMAS[ALERT_LOG])
    assert first["alert_key"].to_list() == ["a", "b"] and first["raised_at"].n_unique() == 1


def test_same_condition_is_not_raised_twice_within_window(lake: Lake, webhook_receiver) -> None:
    router = AlertRouter(lake, webhook=WebhookSink(webhook_receiver.url), dedup_hours=24)
    router.emit([_alert(), _alert()])
    second = AlertRouter(lake, webhook=WebhookSink(webhook_receiver.url), dedup_hours=24).emit([_alert()])
    assert [o.delivery for o in second] == [Delivery.SUPPRESSED]
    assert len(webhook_receiver.bodies) == 1
    assert len(read_alert_log(lake)) == 1
    # Once the window has passed, the condition is raised again.
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=25)
    third = AlertRouter(lake, webhook=WebhookSink(webhook_receiver.url), now=later).emit([_alert()])
    assert [o.delivery for o in third] == [Delivery.SENT]


def test_dedup_reads_only_log_files_young_enough_for_its_window(lake: Lake) -> None:
    """A log file older than the window is never opened: here it is not even Parquet."""
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.timezone.utc)
    old = lake.results_file(ALERT_LOG, new_run_id(now - dt.timedelta(hours=30)))
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_bytes(b"not parquet: reading this file would fail")
    AlertRouter(lake, now=now - dt.timedelta(hours=2)).emit([_alert("recent")])
    outcomes = AlertRouter(lake, dedup_hours=24, now=now).emit([_alert("recent"), _alert("new")])
    assert [o.delivery for o in outcomes] == [Delivery.SUPPRESSED, Delivery.LOGGED]
    assert [a["alert_key"] for a in read_alert_log(lake, since=now - dt.timedelta(hours=24))] == ["recent", "new"]


def test_different_conditions_each_alert(lake: Lake) -> None:
    outcomes = AlertRouter(lake).emit([_alert("a"), _alert("b", "error")])
    assert [o.delivery for o in outcomes] == [Delivery.LOGGED, Delivery.LOGGED]
    assert sorted(a["alert_key"] for a in read_alert_log(lake)) == ["a", "b"]
    assert {a["severity"] for a in read_alert_log(lake)} == {Severity.WARN, Severity.ERROR}


def test_server_error_is_retried_until_delivered(lake: Lake, webhook_receiver) -> None:
    webhook_receiver.fail_first = 2
    sink = WebhookSink(webhook_receiver.url, attempts=3, backoff_s=0.01)
    outcomes = AlertRouter(lake, webhook=sink).emit([_alert()])
    assert (outcomes[0].delivery, outcomes[0].attempts) == (Delivery.SENT, 3)
    assert len(webhook_receiver.bodies) == 3


def test_client_error_is_not_retried(lake: Lake, webhook_receiver) -> None:
    """A 4xx (other than 429) means our URL or payload is wrong: retrying will not help."""
    webhook_receiver.status = 404
    webhook_receiver.fail_first = 5
    outcomes = AlertRouter(lake, webhook=WebhookSink(webhook_receiver.url, backoff_s=0.01)).emit([_alert()])
    assert (outcomes[0].delivery, outcomes[0].attempts, outcomes[0].error) == (Delivery.DELIVERY_FAILED, 1, "HTTP 404")
    assert len(webhook_receiver.bodies) == 1


def test_unreachable_webhook_is_retried_with_backoff_then_logged(lake: Lake, capsys) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = WebhookSink(f"http://127.0.0.1:{port}/hook", attempts=3, backoff_s=0.1, timeout_s=1)
    started = time.monotonic()
    outcomes = AlertRouter(lake, webhook=sink).emit([_alert()])
    elapsed = time.monotonic() - started
    assert (outcomes[0].delivery, outcomes[0].attempts) == (Delivery.DELIVERY_FAILED, 3)
    assert outcomes[0].delivery.is_failed
    assert elapsed >= 0.1 + 0.2  # two backoff sleeps, doubling
    (logged,) = read_alert_log(lake)
    assert logged["delivery"] == "delivery_failed" and "refused" in logged["delivery_error"].lower()
    assert "webhook unreachable after 3 attempts" in capsys.readouterr().err


def test_raise_alert_routes_flow_alerts_with_dedup(lake: Lake, webhook_receiver) -> None:
    """The flows' entry point: logged, posted, and an identical failure is not re-sent."""
    settings = Settings(lake_dir=lake.root, alert_webhook_url=webhook_receiver.url)
    outcome = raise_alert(settings, source="ingest-batch", title="1 export file(s) rejected", detail="orders.csv: bad")
    assert outcome.delivery == Delivery.SENT and outcome.alert.severity == Severity.ERROR
    raise_alert(settings, source="ingest-batch", title="1 export file(s) rejected", detail="orders.csv: bad")
    raise_alert(settings, source="ingest-batch", title="1 export file(s) rejected", detail="items.csv: bad")
    assert [a["detail"] for a in read_alert_log(lake)] == ["orders.csv: bad", "items.csv: bad"]
    assert len(webhook_receiver.bodies) == 2
