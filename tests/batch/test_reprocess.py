"""`shoplake ingest --reprocess TABLE`: rebuild a table from its landed files, switching at table
level (readers see the old set or the new one), with a new ledger epoch; refused when a file is gone."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from pipelines.batch import commit
from pipelines.batch.ingest import reprocess
from pipelines.batch.ledger import current_epoch, read_table_records
from pipelines.catalog import committed_files, read_committed
from pipelines.cli import main
from pipelines.errors import ShopLakeError
from pipelines.lake import Lake
from pipelines.settings import Settings

from .conftest import contracts_with, crash_ingest, files_on_disk, ingest, land, old, use_contracts

HEADER = "ORDER_ID,CUSTOMER_ID,ORDER_DATE,ORDER_AMOUNT,STATUS,CHANNEL\n"
STATUSES = ["completed", "shipped", "cancelled", "returned"]


@pytest.fixture(autouse=True)
def _any_quarantine_share(monkeypatch: pytest.MonkeyPatch) -> None:
    """These exports are a row or two with a quarantined one; the share rule has its own tests."""
    monkeypatch.setenv("SHOPLAKE_MAX_QUARANTINE_SHARE", "1")


def _orders(lake: Lake) -> None:
    land(lake, "orders", "orders.csv", HEADER + "1,1,2025-03-01,10.0,completed,web\n2,1,2025-04-02,20.0,on_hold,web\n",
         mtime=old(600))  # fmt: skip
    land(lake, "orders", "orders_2.csv", HEADER + "3,1,2025-03-03,30.0,on_hold,web\n", mtime=old(60))


def test_reprocess_after_a_contract_change_rebuilds_the_table_in_a_new_epoch(lake: Lake, monkeypatch) -> None:
    _orders(lake)
    ingest(lake)
    before = read_table_records(lake, "orders")
    assert [r.rows_quarantined for r in before] == [1, 1]
    old_files = {lake.rel(p) for z in ("raw", "quarantine") for p in committed_files(lake, "orders", z)}

    column = {"name": "order_status", "source": "STATUS", "type": "string", "default": "completed",
              "allowed": [*STATUSES, "on_hold"]}  # fmt: skip
    from pipelines.batch.contract import load_contracts

    columns = [c.model_dump(exclude_none=True) for c in load_contracts()["orders"].columns]
    columns = [column if c["name"] == "order_status" else c for c in columns]
    use_contracts(monkeypatch, contracts_with(lake.root.parent, {"orders": {"columns": columns}}))
    report = reprocess(Settings(lake_dir=lake.root), "orders", progress=False)

    assert not report.failed_files and report.reprocessed == "orders"
    assert current_epoch(lake, "orders") == 1
    after = read_table_records(lake, "orders")
    assert [(r.source_file, r.rows_landed, r.rows_quarantined, r.epoch) for r in after] == [
        ("orders.csv", 2, 0, 1), ("orders_2.csv", 1, 0, 1),
    ]  # fmt: skip
    # Same ingestion order and times: which row wins does not change.
    assert [r.ingested_at for r in after] == [r.ingested_at for r in before]
    raw = read_committed(lake, "orders").sort("order_id")
    assert raw.select("order_id", "order_status").rows() == [(1, "completed"), (2, "on_hold"), (3, "on_hold")]
    assert committed_files(lake, "orders", "quarantine") == []
    # The replaced epoch's files stay for readers that listed them just before, then go.
    ingest(lake)
    assert old_files <= files_on_disk(lake, "orders") | files_on_disk(lake, "orders", "quarantine")
    monkeypatch.setattr(commit, "SUPERSEDED_GRACE_S", 0.0)
    ingest(lake)
    on_disk = files_on_disk(lake, "orders") | files_on_disk(lake, "orders", "quarantine")
    assert on_disk == {lake.rel(p) for z in ("raw", "quarantine") for p in committed_files(lake, "orders", z)}
    assert not list(lake.ledger_dir("orders", 0).glob("*.json"))  # epoch 0's records are forgotten


def test_a_reprocess_killed_midway_changes_nothing(lake: Lake) -> None:
    _orders(lake)
    ingest(lake)
    before = read_committed(lake, "orders").sort("order_id")
    records = read_table_records(lake, "orders")
    crash_ingest(lake, after_writes=2, reprocess="orders")
    assert current_epoch(lake, "orders") == 0
    assert read_table_records(lake, "orders") == records
    assert read_committed(lake, "orders").sort("order_id").equals(before)
    assert lake.ledger_dir("orders", 1).is_dir()  # the unfinished epoch is there ...
    ingest(lake)
    assert not lake.ledger_dir("orders", 1).exists()  # ... until the next ingest removes it
    assert files_on_disk(lake, "orders") == {lake.rel(p) for p in committed_files(lake, "orders")}


def test_reprocess_refuses_when_a_landed_file_is_missing(lake: Lake) -> None:
    _orders(lake)
    ingest(lake)
    (lake.landing_dir("orders") / "orders_2.csv").unlink()
    with pytest.raises(ShopLakeError, match=r"landed file\(s\) missing: .*orders_2\.csv.*nothing was changed"):
        reprocess(Settings(lake_dir=lake.root), "orders", progress=False)
    assert current_epoch(lake, "orders") == 0


def test_reprocess_keeps_the_table_when_a_landed_file_changed(lake: Lake) -> None:
    _orders(lake)
    ingest(lake)
    land(lake, "orders", "orders_2.csv", HEADER + "3,1,2025-03-03,31.0,completed,web\n")
    report = reprocess(Settings(lake_dir=lake.root), "orders", progress=False)
    assert [f.path.name for f in report.failed_files] == ["orders_2.csv"]
    assert "changed since it was ingested" in report.failed_files[0].error
    assert current_epoch(lake, "orders") == 0 and not lake.ledger_dir("orders", 1).exists()
    assert "nothing was changed" in report.render()


def test_cli_reprocess(lake: Lake, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(lake.root))
    _orders(lake)
    assert main(["ingest", "--quiet"]) == 0
    assert main(["ingest", "--quiet", "--reprocess", "orders"]) == 0
    assert "reprocessed orders" in capsys.readouterr().out
    assert current_epoch(lake, "orders") == 1
    assert main(["ingest", "--reprocess", "nope"]) == 2


def test_land_frame_lands_typed_rows_like_a_file_and_reprocess_reads_them_again(lake: Lake) -> None:
    from pipelines.batch.ingest import land_frame

    settings = Settings(lake_dir=lake.root)
    frame = pl.DataFrame({
        "ORDER_ID": [1, 2, 2, 4], "CUSTOMER_ID": [7, 7, 7, None],
        "ORDER_DATE": [dt.date(2025, 3, 1), dt.date(2025, 3, 2), dt.date(2025, 3, 2), dt.date(2025, 3, 4)],
        "ORDER_AMOUNT": [10.5, 20.0, 20.0, 4.0], "STATUS": ["completed", "shipped", "shipped", "completed"],
    })  # fmt: skip
    result = land_frame(settings, "orders", frame, source_name="erp.orders@2025-03-04")
    assert (result.status, result.rows_landed, result.rows_quarantined) == ("landed", 2, 2)
    assert result.reasons == {"duplicate_key": 1, "missing_required:customer_id": 1}
    raw = read_committed(lake, "orders").sort("order_id")
    assert raw.select("order_id", "order_amount", "sales_channel", "_source_file").rows() == [
        (1, 10.5, "unknown", "erp.orders@2025-03-04"), (2, 20.0, "unknown", "erp.orders@2025-03-04"),
    ]  # fmt: skip
    assert land_frame(settings, "orders", frame, source_name="erp.orders@again").status == "skipped"
    reprocess(settings, "orders", progress=False)
    assert read_committed(lake, "orders").sort("order_id").drop("_ingested_at").equals(raw.drop("_ingested_at"))
