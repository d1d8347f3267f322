"""Promotion loads the lake's committed files only, and follows a reprocessed table to its new set."""

from __future__ import annotations

import pytest

from pipelines.batch.contract import load_contracts
from pipelines.batch.ingest import reprocess
from pipelines.catalog import read_committed
from pipelines.lake import Lake
from pipelines.warehouse import snowsim
from pipelines.warehouse.promote import count_rows, promote
from pipelines.warehouse.snowflake import connect, resolve_target

from ..helpers import settings_for
from .conftest import contracts_with, crash_ingest, ingest, land, old, use_contracts

pytestmark = pytest.mark.slow
HEADER = "ORDER_ID,CUSTOMER_ID,ORDER_DATE,ORDER_AMOUNT,STATUS,CHANNEL\n"


def _raw_rows(settings, table: str) -> list[tuple]:
    con = connect(resolve_target(settings, "snowsim"))
    try:
        cur = con.cursor()
        cur.execute(f"select order_id, order_status from RAW.{table.upper()} order by order_id")
        return [(int(a), b) for a, b in cur.fetchall()]
    finally:
        con.close()


def test_promotion_skips_uncommitted_files_and_rebuilds_a_reprocessed_table(lake: Lake, monkeypatch) -> None:
    monkeypatch.setenv("SHOPLAKE_MAX_QUARANTINE_SHARE", "1")  # a two-row export with a quarantined row lands
    land(lake, "orders", "orders.csv", HEADER + "1,1,2025-03-01,10.0,completed,web\n2,1,2025-04-02,20.0,on_hold,web\n",
         mtime=old(600))  # fmt: skip
    ingest(lake)
    # A crashed ingest of a second export: its partition file is on disk, uncommitted.
    land(lake, "orders", "orders_2.csv", HEADER + "3,1,2025-05-03,30.0,on_hold,web\n4,1,2025-06-03,5.0,shipped,web\n")
    crash_ingest(lake, after_writes=1)
    settings = settings_for(lake.root)
    snowsim.start(settings)
    try:
        first = promote(settings, "snowsim", tables=["orders"], build=False, progress=False)
        assert first.ok, first.render()
        assert _raw_rows(settings, "orders") == [(1, "completed")]

        ingest(lake)  # the crash's leftover is removed, orders_2.csv lands
        columns = [c.model_dump(exclude_none=True) for c in load_contracts()["orders"].columns]
        for c in columns:
            if c["name"] == "order_status":
                c["allowed"] = [*c["allowed"], "on_hold"]
        use_contracts(monkeypatch, contracts_with(lake.root.parent, {"orders": {"columns": columns}}))
        reprocess(settings, "orders", progress=False)
        assert read_committed(lake, "orders").height == 4

        second = promote(settings, "snowsim", tables=["orders"], build=False, progress=False)
        (t,) = second.tables
        assert second.ok and "rebuilt RAW.ORDERS" in (t.message or ""), second.render()
        assert _raw_rows(settings, "orders") == [(1, "completed"), (2, "on_hold"), (3, "on_hold"), (4, "shipped")]

        land(lake, "orders", "orders_3.csv", HEADER + "5,1,2025-07-01,7.0,completed,web\n")
        ingest(lake)
        third = promote(settings, "snowsim", tables=["orders"], build=False, progress=False)
        (t,) = third.tables
        assert third.ok and t.loaded_files == 1 and t.skipped_files == 4, third.render()
        con = connect(resolve_target(settings, "snowsim"))
        try:
            assert count_rows(con.cursor(), "orders") == read_committed(lake, "orders").height == 5
        finally:
            con.close()
    finally:
        snowsim.stop(settings)
