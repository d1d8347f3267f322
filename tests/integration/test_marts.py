"""The marts equal an independent computation from the generator's clean tables."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from pipelines.generate.batch import Dataset
from pipelines.warehouse.query import run_query
from pipelines.warehouse.serving import current_snapshot_id

REVENUE_STATUSES = ["completed", "shipped"]


def _expected_lines(ds: Dataset) -> pl.DataFrame:
    """Clean order lines that survive ingest: neither the line, its order nor its product was dirtied."""
    orders = ds.clean["orders"].filter(~pl.col("order_id").is_in(list(ds.dirty_keys("orders"))))
    products = ds.clean["products"].filter(~pl.col("product_id").is_in(list(ds.dirty_keys("products"))))
    return (
        ds.clean["order_items"]
        .filter(~pl.col("order_item_id").is_in(list(ds.dirty_keys("order_items"))))
        .join(orders, on="order_id")
        .join(products.select("product_id", "category_id"), on="product_id")
        .with_columns(
            # integer cents: exact, like the warehouse's numeric(18, 2)
            pl.when(pl.col("order_status").is_in(REVENUE_STATUSES))
            .then(pl.col("quantity") * (pl.col("price") * 100).round(0).cast(pl.Int64))
            .otherwise(0)
            .alias("revenue_cents")
        )
    )


def _cents(value: Decimal) -> int:
    return int(value * 100)


def test_product_category_sales_equals_independent_computation(built_lake) -> None:
    lines = _expected_lines(built_lake.dataset)
    expected = (
        lines.group_by("order_date", "category_id")
        .agg(
            pl.col("revenue_cents").sum(),
            pl.col("order_id").filter(pl.col("revenue_cents") > 0).n_unique().alias("orders"),
            pl.col("quantity").filter(pl.col("order_status").is_in(REVENUE_STATUSES)).sum().alias("units"),
        )
        .filter(pl.col("revenue_cents") > 0)
    )
    expected_rows = {
        (d, c): (r, o, u) for d, c, r, o, u in expected.select("order_date", "category_id", "revenue_cents",
                                                                "orders", "units").rows()
    }  # fmt: skip
    _, rows = run_query(
        built_lake.settings,
        "select sales_date, category_id, revenue, orders, units from product_category_sales where revenue > 0",
    )
    actual = {(d, c): (_cents(r), o, u) for d, c, r, o, u in rows}
    assert actual == expected_rows
    # quiet days are present as zero rows: every category on every trading day
    _, [(n_rows, n_days, n_categories)] = run_query(
        built_lake.settings,
        "select count(*), count(distinct sales_date), count(distinct category_id) from product_category_sales",
    )
    assert n_rows == n_days * n_categories


def test_top_customers_equal_independent_computation(built_lake) -> None:
    lines = _expected_lines(built_lake.dataset)
    expected = (
        lines.group_by("customer_id")
        .agg(pl.col("revenue_cents").sum())
        .sort(["revenue_cents", "customer_id"], descending=[True, False])
        .head(20)
    )
    _, rows = run_query(
        built_lake.settings,
        "select customer_id, lifetime_revenue from top_customers where revenue_rank <= 20 order by revenue_rank",
    )
    assert [(c, _cents(r)) for c, r in rows] == expected.rows()


def test_order_revenue_only_from_revenue_statuses(built_lake) -> None:
    _, rows = run_query(
        built_lake.settings,
        "select order_status, sum(revenue), count(*) from fct_orders group by 1 order by 1",
    )
    by_status = {s: (r, n) for s, r, n in rows}
    assert by_status["cancelled"][0] == 0 and by_status["returned"][0] == 0
    assert by_status["completed"][0] > 0 and by_status["cancelled"][1] > 0


def test_every_order_is_kept_even_when_its_customer_was_quarantined(built_lake) -> None:
    ds = built_lake.dataset
    surviving = ds.clean["orders"].filter(~pl.col("order_id").is_in(list(ds.dirty_keys("orders"))))
    _, [(n_orders, n_inferred)] = run_query(
        built_lake.settings,
        "select (select count(*) from fct_orders), (select count(*) from dim_customers where is_inferred)",
    )
    assert n_orders == surviving.height
    quarantined_customers = ds.dirty_keys("customers")
    expected_inferred = surviving.filter(pl.col("customer_id").is_in(list(quarantined_customers)))["customer_id"]
    assert n_inferred == expected_inferred.n_unique()


def test_sql_reads_a_snapshot_not_the_live_warehouse(built_lake) -> None:
    import duckdb

    # A writer holding the live warehouse does not block readers of the published snapshot.
    con = duckdb.connect(str(built_lake.lake.warehouse_path))
    try:
        _, [(n,)] = run_query(built_lake.settings, "select count(*) from dim_products where list_price > ?", [0])
        snapshot = built_lake.lake.snapshot_path(current_snapshot_id(built_lake.lake))
        with duckdb.connect(str(snapshot), read_only=True) as direct:
            (expected,) = direct.execute("select count(*) from dim_products where list_price > 0").fetchone()
        assert n == expected > 0
    finally:
        con.close()
