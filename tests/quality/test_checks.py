"""Ledger and anomaly checks of `shoplake quality`, on small hand-made lakes (no dbt needed)."""

from __future__ import annotations

import datetime as dt

import duckdb

from pipelines.batch.ledger import LedgerRecord, write_ledger_record
from pipelines.lake import Lake
from pipelines.quality.checks import alerts_for, anomaly_checks, ledger_checks
from pipelines.storage import write_text_atomic


def _ledger(lake: Lake, table: str, rows_in: int, quarantined: int, imputed: int = 0) -> None:
    record = LedgerRecord(
        table=table, source_file=f"{table}.csv", sha256=f"{table}{rows_in}", size_bytes=1, rows_in=rows_in,
        rows_landed=rows_in - quarantined, rows_quarantined=quarantined, ingested_at="2026-11-01T00:00:00+00:00",
        duration_s=0.1, imputed={"sales_channel": imputed} if imputed else {},
    )  # fmt: skip
    write_ledger_record(lake, record)


def test_ledger_counts_are_recorded_and_normal_quarantine_is_quiet(empty_lake: Lake) -> None:
    _ledger(empty_lake, "orders", 1000, 16, imputed=4)
    results = {r.check_name: r for r in ledger_checks(empty_lake)}
    assert results["quarantine_orders"].status == "pass" and results["quarantine_orders"].failing_rows == 16
    assert results["imputed_orders"].failing_rows == 4 and results["imputed_orders"].severity == "info"
    assert alerts_for(list(results.values())) == []


def test_heavy_quarantine_fires(empty_lake: Lake) -> None:
    _ledger(empty_lake, "order_items", 1000, 80)
    results = {r.check_name: r for r in ledger_checks(empty_lake)}
    assert results["quarantine_order_items"].status == "warn"
    assert "80 of 1,000 rows quarantined (8.0%)" in results["quarantine_order_items"].detail
    (alert,) = alerts_for(list(results.values()))
    assert alert.key == "ledger_quarantine:quarantine_order_items" and "lake/quarantine" in alert.detail


def _publish_anomalies(lake: Lake, rows: list[tuple]) -> None:
    """A published snapshot holding only an `anomalies` table with the mart's columns."""
    lake.serving_dir.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(lake.snapshot_path("snap-test"))) as con:
        con.execute(
            "create table anomalies (sales_date date, category_id bigint, category_name varchar, direction varchar,"
            " orders bigint, expected_orders decimal(18, 2), revenue decimal(18, 2), expected_revenue decimal(18, 2),"
            " orders_score decimal(18, 3), is_anomaly boolean)"
        )
        con.executemany("insert into anomalies values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    write_text_atomic(lake.serving_pointer, "snap-test\n")


def test_recent_anomaly_fires_an_actionable_alert(empty_lake: Lake) -> None:
    last = dt.date(2026, 10, 31)
    _publish_anomalies(empty_lake, [
        (last, 4, "Beauty", "drop", 3, 40, 120.5, 2400, -7.1, True),
        (last - dt.timedelta(days=30), 5, "Books", "spike", 90, 20, 5000, 1000, 9.0, True),  # old news
        (last, 5, "Books", "spike", 22, 20, 1100, 1000, 0.4, False),
    ])  # fmt: skip
    (result,) = anomaly_checks(empty_lake)
    assert (result.status, result.check_date) == ("warn", last)
    assert "Beauty: drop — 3 orders vs 40 expected" in result.detail
    (alert,) = alerts_for([result])
    assert alert.key == "anomaly:anomaly_4_2026-10-31_drop" and "promotions, stock-outs" in alert.detail


def test_no_recent_anomaly_is_quiet(empty_lake: Lake) -> None:
    last = dt.date(2026, 10, 31)
    _publish_anomalies(empty_lake, [(last, 5, "Books", "spike", 22, 20, 1100, 1000, 0.4, False)])
    (result,) = anomaly_checks(empty_lake)
    assert result.status == "pass" and alerts_for([result]) == []
