"""The batch commit protocol (issue 14, findings 2 and 3): a crashed ingest never doubles raw
history, and what it half-wrote is never read (catalog, dbt, promotion) and is gone after the next run."""

from __future__ import annotations

import threading

import duckdb
import polars as pl
import pytest

from pipelines import locks
from pipelines.batch.ledger import read_ledger, read_table_records
from pipelines.catalog import committed_files, read_committed
from pipelines.errors import ShopLakeError
from pipelines.generate.batch import build_dataset, write_exports
from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.warehouse.lake_sources import create_views

from .conftest import crash_ingest, files_on_disk, ingest, land

SCALE, SEED = 0.01, 11


@pytest.fixture
def exported(lake: Lake):
    """Generated exports with everything but orders and order_items already ingested."""
    ds = build_dataset(SCALE, SEED)
    write_exports(ds, lake, scale=SCALE, seed=SEED)
    ingest(lake, tables=["categories", "products", "customers"])
    return ds


def _reexport_with_one_more_order(lake: Lake) -> int:
    """The ERP exports orders.csv again, with one more order; returns its id."""
    path = lake.landing_dir("orders") / "orders.csv"
    orders = pl.read_csv(path, infer_schema=False)
    new_id = int(orders["ORDER_ID"].cast(pl.Int64, strict=False).max()) + 1
    extra = orders.head(1).with_columns(pl.lit(str(new_id)).alias("ORDER_ID"))
    pl.concat([orders, extra]).write_csv(path)
    return new_id


def test_a_crash_then_a_reexport_never_doubles_raw_history(lake: Lake, exported) -> None:
    """Finding 2: kill -9 while orders' partitions are written, re-export with one more row, ingest."""
    crash_ingest(lake, after_writes=5, half_written=True)
    assert files_on_disk(lake, "orders"), "the crash should have left partition files behind"
    new_id = _reexport_with_one_more_order(lake)

    report = ingest(lake)
    assert report.removed_leftovers >= 6  # 5 whole partition files and the cut-short temporary one
    on_disk = files_on_disk(lake, "orders")
    committed = {lake.rel(p) for p in committed_files(lake, "orders")}
    assert on_disk == committed, f"orphans left in raw/orders: {sorted(on_disk - committed)[:3]}"
    assert not [p for p in lake.root.rglob("*.tmp")], "a temporary file survived"
    # Whatever reads the folder now sees each order once: nothing of the crashed attempt is left.
    raw = pl.read_parquet(lake.raw_glob("orders"), hive_partitioning=True)
    assert raw.height == raw["order_id"].n_unique()
    assert new_id in raw["order_id"].to_list()
    (record,) = read_table_records(lake, "orders")
    assert raw.height == record.rows_landed


def test_leftovers_are_never_read_before_the_next_ingest_removes_them(lake: Lake, exported) -> None:
    """Between the crash and the next ingest, every reader sees the lake as committed."""
    committed_before = read_committed(lake, "customers").height
    crash_ingest(lake, after_writes=3)
    assert files_on_disk(lake, "orders") and not committed_files(lake, "orders")
    assert read_committed(lake, "orders").height == 0
    with duckdb.connect() as con:
        create_views(con, lake)
        assert con.execute("select count(*) from raw.orders").fetchone() == (0,)
        assert con.execute("select count(*) from raw.customers").fetchone() == (committed_before,)
        # The empty view still has the table's columns and types.
        types = dict(con.execute("select column_name, column_type from (describe raw.orders)").fetchall())
        assert types["order_id"] == "BIGINT" and types["order_date"] == "DATE" and types["order_month"] == "VARCHAR"
    from pipelines.warehouse.promote import lake_files

    assert lake_files(lake, "orders") == []


@pytest.mark.slow
def test_a_half_landed_export_is_not_published_by_transform(lake: Lake, exported) -> None:
    """Finding 3: kill -9 during the ingest of a new file, then `shoplake transform`."""
    from pipelines.warehouse.dbt import invoke_dbt

    ingest(lake)  # orders and order_items land whole
    # A new export of more orders: its partition files are cut off after 4 were written.
    first = pl.read_csv(lake.landing_dir("orders") / "orders.csv", infer_schema=False)
    more = first.with_columns((pl.col("ORDER_ID").cast(pl.Int64, strict=False) + 1_000_000).cast(pl.String))
    more.write_csv(lake.landing_dir("orders") / "orders_more.csv")
    crash_ingest(lake, after_writes=4)

    settings = Settings(lake_dir=lake.root)
    result = invoke_dbt(settings, ["run", "--select", "stg_shop__orders"], progress=False)
    assert result.success, result.summary()
    landed = sum(r.rows_landed for r in read_ledger(lake) if r.table == "orders")
    with duckdb.connect(str(lake.warehouse_path), read_only=True) as con:
        (orders,) = con.execute("select count(*) from stg_shop__orders").fetchone()
        (beyond,) = con.execute("select count(*) from stg_shop__orders where order_id > 1000000").fetchone()
    assert (orders, beyond) == (landed, 0)


def test_no_wait_says_who_holds_the_ingest_lock(lake: Lake) -> None:
    held = r"ingest lock is held by pid \d+ \(shoplake ingest \(test\)\)"
    taken, release = threading.Event(), threading.Event()

    def holder() -> None:  # another holder: the lock is reentrant only within the thread holding it
        with locks.hold(lake, locks.INGEST, command="shoplake ingest (test)"):
            taken.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert taken.wait(30)
        with pytest.raises(ShopLakeError, match=held):
            ingest(lake, wait=False)
    finally:
        release.set()
        thread.join()


def test_a_file_with_no_record_in_an_old_lake_is_removed_but_committed_files_stay(lake: Lake) -> None:
    land(lake, "categories", "categories.csv", "CATEGORY_ID,CATEGORY_NAME\n1,Books\n2,Toys\n")
    ingest(lake)
    stray = lake.raw_file("categories", "categories-0123456789ab-crashed")
    pl.DataFrame({"category_id": [1]}).write_parquet(stray)
    tmp = lake.ledger_dir("categories") / ".x.json.abcd1234.tmp"
    tmp.write_text("{")
    report = ingest(lake)
    assert report.removed_leftovers == 2 and not stray.exists() and not tmp.exists()
    assert read_committed(lake, "categories").height == 2
