import hashlib
from pathlib import Path

import polars as pl

from pipelines.generate.batch import TABLES, build_dataset, generate_exports
from pipelines.lake import Lake


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "landing").rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        generate_exports(tmp_path / name, scale=0.005, seed=seed)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_generate_does_not_overwrite_without_force(tmp_path: Path) -> None:
    first = generate_exports(tmp_path, scale=0.005, seed=1)
    again = generate_exports(tmp_path, scale=0.005, seed=2)
    assert not first.skipped and again.skipped
    forced = generate_exports(tmp_path, scale=0.005, seed=2, force=True)
    assert not forced.skipped


def test_exports_use_erd_column_names(tmp_path: Path) -> None:
    generate_exports(tmp_path, scale=0.005, seed=1)
    lake = Lake(tmp_path)
    headers = {t: pl.read_csv(lake.landing_dir(t) / f"{t}.csv", n_rows=1, infer_schema=False).columns for t in TABLES}
    assert headers["customers"][:3] == ["CUSTOMER_ID", "NAME", "EMAIL"]
    assert headers["orders"][:4] == ["ORDER_ID", "CUSTOMER_ID", "ORDER_DATE", "ORDER_AMOUNT"]
    assert headers["order_items"] == ["ORDER_ITEM_ID", "ORDER_ID", "PRODUCT_ID", "QUANTITY", "PRICE"]
    assert headers["products"] == ["PRODUCT_ID", "NAME", "CATEGORY_ID", "PRICE"]
    assert headers["categories"] == ["CATEGORY_ID", "CATEGORY_NAME"]


def test_data_has_realistic_shape() -> None:
    ds = build_dataset(0.05, 11)
    orders, items = ds.clean["orders"], ds.clean["order_items"]
    # Weekly seasonality: Saturdays busier than Tuesdays.
    by_weekday = orders.group_by(pl.col("order_date").dt.weekday().alias("wd")).len().sort("wd")
    counts = dict(zip(by_weekday["wd"], by_weekday["len"], strict=True))
    assert counts[6] > counts[2] * 1.1
    # Two years of history, anomalies labelled inside it.
    span = orders["order_date"].max() - orders["order_date"].min()
    assert span.days >= 700
    assert ds.anomalies.height >= 8
    # Long tail: the top 10% of products sell far more than the bottom half.
    per_product = items.group_by("product_id").agg(pl.col("quantity").sum()).sort("quantity", descending=True)
    top = per_product.head(per_product.height // 10)["quantity"].sum()
    bottom = per_product.tail(per_product.height // 2)["quantity"].sum()
    assert top > 3 * bottom
    # Repeat customers with Pareto-like spend: top 20% of customers bring most of the revenue.
    spend = orders.group_by("customer_id").agg(pl.col("order_amount").sum()).sort("order_amount", descending=True)
    assert spend.head(spend.height // 5)["order_amount"].sum() > 0.45 * spend["order_amount"].sum()
    assert (orders.group_by("customer_id").len()["len"] > 1).mean() > 0.5
    # Order amounts equal the sum of their lines in the clean data.
    lines = items.group_by("order_id").agg((pl.col("quantity") * pl.col("price")).sum().round(2).alias("s"))
    joined = orders.join(lines, on="order_id")
    assert (joined["order_amount"] - joined["s"]).abs().max() < 0.011
