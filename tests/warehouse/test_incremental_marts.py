"""Issue 16: the shop staging tables, facts and daily marts build incrementally (docs/incremental.md).

After new orders and late corrections (a status change on old orders, a moved date, a changed line, a
line moved to another order, an order left without lines, a product moved to another category) an
incremental build must give the same tables as a full refresh of the same lake, and a build with
nothing new ingested must change no row, also when the whole history is inside the lookback window
(then every key is recomputed and compared, and none may be rewritten).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.batch.ingest import ingest_all
from pipelines.catalog import read_committed
from pipelines.generate.changes import write_changes
from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.storage import write_text_atomic
from pipelines.warehouse.dbt import invoke_dbt, run_dbt_build

from ..helpers import settings_for

INCREMENTAL = ("stg_shop__orders", "stg_shop__order_items", "fct_order_items", "fct_orders",
               "int_category_daily_sales", "product_daily_sales", "product_category_sales")  # fmt: skip
# Tables built from the incremental ones: they must be right after an incremental run too.
DEPENDENTS = ("dim_customers", "top_customers", "customer_rfm", "customer_cohort_retention",
              "int_category_daily_baselines", "anomalies")  # fmt: skip


def _differences(a: Path, b: Path, tables: tuple[str, ...], *, rowid: bool = False) -> dict[str, int]:
    """Per table, the rows only one of the two warehouses has (with `rowid`, a row deleted and inserted
    again counts too); tables without differences are left out."""
    cols = "rowid, *" if rowid else "*"
    out = {}
    with duckdb.connect() as con:
        con.execute(f"attach '{a}' as a (read_only)")
        con.execute(f"attach '{b}' as b (read_only)")
        for t in tables:
            n = sum(
                con.execute(
                    f"select count(*) from (select {cols} from {x}.{t} except all select {cols} from {y}.{t})"
                ).fetchone()[0]
                for x, y in (("a", "b"), ("b", "a"))
            )
            if n:
                out[t] = n
    return out


def _move_a_product(lake: Lake) -> tuple[int, int]:
    """Re-export the best-selling product under another category; returns (product_id, new category)."""
    products = read_committed(lake, "products").sort("_ingested_at").unique("product_id", keep="last")
    top = read_committed(lake, "order_items").group_by("product_id").len().sort("len", "product_id").row(-1)[0]
    row = products.filter(pl.col("product_id") == top).row(0, named=True)
    category = products.filter(pl.col("category_id") != row["category_id"])["category_id"].min()
    frame = pl.DataFrame({"PRODUCT_ID": [top], "NAME": [row["product_name"]], "CATEGORY_ID": [category],
                          "PRICE": [row["price"]]})  # fmt: skip
    write_text_atomic(lake.landing_dir("products") / "products-changes-1.csv", frame.write_csv())
    return top, category


def _run_sql(lake: Lake, model: str) -> str:
    run_dir = lake.dbt_artifacts_dir("dev") / "target" / "run" / "shoplake" / "models"
    (path,) = run_dir.glob(f"**/{model}.sql")
    return path.read_text(encoding="utf-8").lower()


@pytest.mark.slow
def test_incremental_build_equals_a_full_refresh_and_a_noop_changes_no_row(
    built_copy: Settings, tmp_path: Path
) -> None:
    settings, lake = built_copy, Lake.of(built_copy)
    orders_before = read_committed(lake, "orders").n_unique("order_id")
    changes = write_changes(settings, share=0.03, corrections=45, seed=5)
    product, category = _move_a_product(lake)
    assert not ingest_all(settings, progress=False).failed_files

    result = run_dbt_build(settings, progress=False, publish=False)
    assert result.success, result.summary()
    for model in INCREMENTAL:
        assert "delete from" in _run_sql(lake, model), model  # the incremental path ran, not a rebuild

    with duckdb.connect(str(lake.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from fct_orders").fetchone()[0] == orders_before + changes.new_orders
        landed = pl.read_csv(lake.landing_dir("orders") / "orders-changes-1.csv", try_parse_dates=True)
        for order_id in changes.redated_orders[:3] + changes.corrected_orders[1:3]:
            want = landed.filter(pl.col("ORDER_ID") == order_id).select("STATUS", "ORDER_DATE").row(0)
            got = con.execute("select order_status, order_date from fct_orders where order_id = ?", [order_id])
            assert got.fetchone() == want, order_id
        item, _, to_order = changes.moved_items[0]
        got = con.execute("select order_id from fct_order_items where order_item_id = ?", [item]).fetchall()
        assert got == [(to_order,)]
        item, emptied, to_order = changes.moved_items[-1]  # the only line of its order
        got = con.execute("select order_id from fct_order_items where order_item_id = ?", [item]).fetchall()
        assert got == [(to_order,)]
        got = con.execute("select line_count, revenue from fct_orders where order_id = ?", [emptied]).fetchall()
        assert got == [(0, 0)]
        got = con.execute("select distinct category_id from fct_order_items where product_id = ?", [product])
        assert got.fetchall() == [(category,)]

    full = tmp_path / "full" / "lake"
    shutil.copytree(lake.root, full, ignore=shutil.ignore_patterns("serving"))
    rebuilt = run_dbt_build(settings_for(full), full_refresh=True, progress=False, publish=False)
    assert rebuilt.success, rebuilt.summary()
    assert _differences(lake.warehouse_path, Lake(full).warehouse_path, INCREMENTAL + DEPENDENTS) == {}

    before = tmp_path / "before.duckdb"
    shutil.copyfile(lake.warehouse_path, before)
    noop = run_dbt_build(settings, progress=False, publish=False)
    assert noop.success, noop.summary()
    assert _differences(before, lake.warehouse_path, INCREMENTAL, rowid=True) == {}
    everything = invoke_dbt(
        settings, ["run", "--select", " ".join(INCREMENTAL)], progress=False, extra_vars={"shop_lookback_hours": 10**6}
    )
    assert everything.success, everything.summary()
    assert _differences(before, lake.warehouse_path, INCREMENTAL, rowid=True) == {}
