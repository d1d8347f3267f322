import datetime as dt
import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from pipelines.cli import main
from pipelines.generate.batch import REFERENCE_END_DATE, TABLES, build_dataset, generate_exports
from pipelines.lake import Lake
from pipelines.settings import Settings


def _generate(lake_dir: Path, **kwargs) -> object:
    kwargs.setdefault("end_date", REFERENCE_END_DATE)
    return generate_exports(Settings(lake_dir=lake_dir), scale=0.005, **kwargs)


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "landing").rglob("*"))
        if p.is_file()
    }


def test_same_seed_and_end_date_same_bytes_otherwise_other_bytes(tmp_path: Path) -> None:
    for name, seed, end in (("a", 3, None), ("b", 3, None), ("c", 4, None), ("d", 3, dt.date(2026, 10, 30))):
        _generate(tmp_path / name, seed=seed, **({"end_date": end} if end else {}))
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "d")


def test_history_ends_yesterday_utc_by_default(tmp_path: Path) -> None:
    yesterday = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    ds = build_dataset(0.05, 11)
    assert ds.end_date == yesterday
    assert ds.clean["orders"]["order_date"].max() == yesterday  # ~70 orders a day: the last day has some
    result = generate_exports(Settings(lake_dir=tmp_path), scale=0.005, seed=1)
    assert result.end_date == yesterday and f"history up to {yesterday}" in result.summary()
    manifest = json.loads((Lake(tmp_path).ground_truth_dir / "manifest.json").read_text())
    assert manifest["end_date"] == yesterday.isoformat()


def test_end_date_pins_the_history(tmp_path: Path) -> None:
    end = dt.date(2025, 3, 9)
    ds = build_dataset(0.05, 11, end)
    dates = ds.clean["orders"]["order_date"]
    assert dates.max() == end and dates.min() >= end - dt.timedelta(days=729)
    assert ds.anomalies["anomaly_date"].max() <= end


def test_cli_end_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(tmp_path))
    assert main(["generate", "--scale", "0.005", "--end-date", "2026-10-31"]) == 0
    assert "history up to 2026-10-31" in capsys.readouterr().out
    _generate(tmp_path / "api", seed=42)  # the CLI's default seed through the API: the same bytes
    assert _digest(tmp_path) == _digest(tmp_path / "api")
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--end-date", "31/10/2026"])
    assert exc.value.code == 2 and "expected a date as YYYY-MM-DD" in capsys.readouterr().err


def test_generate_does_not_overwrite_without_force(tmp_path: Path) -> None:
    first = _generate(tmp_path, seed=1)
    again = _generate(tmp_path, seed=2)
    assert not first.skipped and again.skipped
    forced = _generate(tmp_path, seed=2, force=True)
    assert not forced.skipped


def test_exports_use_erd_column_names(tmp_path: Path) -> None:
    _generate(tmp_path, seed=1)
    lake = Lake(tmp_path)
    headers = {t: pl.read_csv(lake.landing_dir(t) / f"{t}.csv", n_rows=1, infer_schema=False).columns for t in TABLES}
    assert headers["customers"][:3] == ["CUSTOMER_ID", "NAME", "EMAIL"]
    assert headers["orders"][:4] == ["ORDER_ID", "CUSTOMER_ID", "ORDER_DATE", "ORDER_AMOUNT"]
    assert headers["order_items"] == ["ORDER_ITEM_ID", "ORDER_ID", "PRODUCT_ID", "QUANTITY", "PRICE"]
    assert headers["products"] == ["PRODUCT_ID", "NAME", "CATEGORY_ID", "PRICE"]
    assert headers["categories"] == ["CATEGORY_ID", "CATEGORY_NAME"]


def test_data_has_realistic_shape() -> None:
    ds = build_dataset(0.05, 11, REFERENCE_END_DATE)
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
