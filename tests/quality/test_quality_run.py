"""`shoplake quality` end to end on a real dbt build: quiet on clean data, failing on a stale source."""

from __future__ import annotations

import datetime as dt
import json
import re

import polars as pl

from pipelines.cli import main
from pipelines.lake import Lake
from pipelines.quality.checks import run_quality
from pipelines.quality.volume import check_volume
from pipelines.results import DQ_RESULTS, read_results
from pipelines.settings import Settings
from pipelines.storage import write_parquet_atomic
from pipelines.warehouse.query import run_query

from ..helpers import commit_raw_file


def test_clean_lake_passes_and_records_every_check(lake_copy: Settings) -> None:
    report = run_quality(lake_copy)
    assert report.exit_code == 0, report.render()
    kinds = {r.check_type for r in report.results}
    assert kinds >= {"dbt_test", "unit_test", "freshness", "volume", "ledger_quarantine", "ledger_imputed", "anomaly"}
    assert all(r.status == "pass" for r in report.results if r.check_type in ("freshness", "unit_test"))
    # The generated exports lose some lines to quarantine: that check warns, with its failing rows counted.
    amounts = next(r for r in report.results if r.check_name == "assert_order_amount_matches_lines")
    assert (amounts.severity, amounts.status) == ("warn", "warn") and amounts.failing_rows > 0

    # dq_results and the alert log are in the published snapshot, with the ledger's counts.
    _, rows = run_query(
        lake_copy,
        "select failing_rows from dq_results where check_name = 'quarantine_order_items' and run_id = ?",
        [report.run_id],
    )
    ledger = pl.read_json(next(Lake(lake_copy.lake_dir).ledger_root.glob("order_items/*.json")))
    assert rows == [(ledger["rows_quarantined"][0],)]
    assert report.alerts == [], "clean data raises no alerts (warn-severity tests are recorded, not alerted)"

    # Stored failing rows of that test are in the warehouse for inspection.
    audit = "main_dbt_test__audit.assert_order_amount_matches_lines"
    _, stored = run_query(lake_copy, f"select count(*) from {audit}")
    assert stored[0][0] == amounts.failing_rows


def report_run_id(text: str) -> str:
    match = re.search(r"ShopLake data quality — run (\S+)", text)
    assert match, text
    return match.group(1)


def test_stale_source_is_an_error_and_exits_nonzero(lake_copy: Settings, webhook_receiver, monkeypatch, capsys) -> None:
    lake = Lake(lake_copy.lake_dir)
    stale = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(days=3)
    for path in lake.raw_dir("categories").rglob("*.parquet"):
        df = pl.read_parquet(path).with_columns(pl.lit(stale).alias("_ingested_at"))
        write_parquet_atomic(df, path)
    monkeypatch.setenv("SHOPLAKE_ALERT_WEBHOOK_URL", webhook_receiver.url)

    assert main(["quality"]) == 1
    out = capsys.readouterr().out
    row = r"^ *ERROR +source freshness +source shop\.categories +newest row loaded 7\d\.\d h ago$"
    assert re.search(row, out, re.M), out
    assert "result: FAILED: 1 error-severity check(s) failed" in out
    texts = [json.loads(b)["text"] for b in webhook_receiver.bodies]
    assert texts == [":rotating_light: [ERROR] freshness error: source shop.categories"]
    _, logged = run_query(lake_copy, "select alert_key, severity, delivery from alert_log")
    assert logged == [("freshness:freshness_categories", "error", "sent")]

    # A second run records itself again but does not re-raise the same condition.
    again = run_quality(Settings.from_env())
    assert not again.success and [o.delivery for o in again.alerts] == ["suppressed"]
    assert len(webhook_receiver.bodies) == 1
    assert read_results(lake, DQ_RESULTS)["run_id"].n_unique() == 2
    assert sorted(p.stem for p in lake.results_dir(DQ_RESULTS).glob("*.parquet")) == sorted(
        [report_run_id(out), again.run_id]
    )


def test_short_daily_load_fires_volume_alert(lake_copy: Settings) -> None:
    lake = Lake(lake_copy.lake_dir)
    (path,) = list(lake.raw_dir("orders").glob("order_month=2026-10/*.parquet"))
    orders = pl.read_parquet(path)
    last_day = orders["order_date"].max()
    keep = orders.filter((pl.col("order_date") != last_day) | (pl.int_range(pl.len()) % 10 == 0))
    write_parquet_atomic(keep, path)
    results = {r.source: r for r in check_volume(lake)}
    assert results["orders"].status == "warn" and results["orders"].day == last_day
    assert results["order_items"].status == "warn"


def test_failing_error_test_exits_nonzero_with_stored_failing_rows(lake_copy: Settings) -> None:
    """A bad row that reached the lake (a buggy writer) fails an error-severity dbt test."""
    from pipelines.warehouse.dbt import invoke_dbt

    lake = Lake(lake_copy.lake_dir)
    first = sorted(lake.raw_dir("orders").rglob("*.parquet"))[0]
    template = pl.read_parquet(first, hive_partitioning=False).head(2)
    bad = template.with_columns(
        (pl.col("order_id") + 10_000_000).alias("order_id"),
        pl.lit("lost_in_transit").alias("order_status"),
        # stamped when it lands, like every writer's rows: incremental builds read what is newer
        pl.lit(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), dtype=template.schema["_ingested_at"]).alias(
            "_ingested_at"
        ),
    )
    commit_raw_file(lake, "orders", write_parquet_atomic(bad, first.with_name("orders-buggy-writer.parquet")))
    # The copied warehouse's staging views still read the original lake: point them at this copy, and
    # rebuild the marts over it too (else the row-preservation tests rightly see marts behind the lake).
    assert invoke_dbt(lake_copy, ["run"], progress=False).success

    report = run_quality(lake_copy)
    assert report.exit_code == 1 and not report.success
    (failed,) = [r for r in report.results if r.is_error]
    assert failed.check_name.startswith("accepted_values_stg_shop__orders_order_status")
    assert failed.failing_rows == 1  # one distinct bad value
    assert report.summary().startswith("FAILED: 1 error-severity check(s) failed")
    (alert,) = [o.alert for o in report.alerts]
    assert alert.severity == "error" and alert.key == f"dbt_test:{failed.check_name}"
