"""Which row wins between exports is defined (issue 14, finding 4): the contract's version column,
else ingestion order, with a run's files taken by modification time, never by file name. Staging
deduplicates on exactly the declared key (issue 12's silent loss with a composite key)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from pipelines.batch.contract import CONTRACTS_DIR, load_contracts
from pipelines.catalog import read_committed
from pipelines.lake import Lake
from pipelines.settings import REPO_ROOT, Settings

from .conftest import contracts_with, ingest, land, old, use_contracts

HEADER = "ORDER_ID,CUSTOMER_ID,ORDER_DATE,ORDER_AMOUNT,STATUS,CHANNEL\n"


def _orders(*rows: tuple[int, float]) -> str:
    return HEADER + "".join(f"{oid},1,2025-03-0{oid},{amount},completed,web\n" for oid, amount in rows)


def _staged(lake: Lake, model: str, columns: str) -> list[tuple]:
    from pipelines.warehouse.dbt import invoke_dbt

    result = invoke_dbt(Settings(lake_dir=lake.root), ["run", "--select", model], progress=False)
    assert result.success, result.summary()
    with duckdb.connect(str(lake.warehouse_path), read_only=True) as con:
        return con.execute(f"select {columns} from {model} order by all").fetchall()


@pytest.mark.parametrize("fix_name", ["orders-fix.csv", "orders_v2.csv"])
def test_the_newer_file_of_a_run_wins_whatever_its_name(lake: Lake, fix_name: str, monkeypatch) -> None:
    use_contracts(monkeypatch, contracts_with(lake.root.parent, {"orders": {"file_pattern": "*.csv"}}))
    land(lake, "orders", "orders.csv", _orders((1, 10.0), (2, 20.0)), mtime=old(3600))
    land(lake, "orders", fix_name, _orders((2, 25.0)), mtime=old(60))
    report = ingest(lake)
    assert [f.path.name for f in report.files] == ["orders.csv", fix_name]  # by modification time
    raw = read_committed(lake, "orders").sort("_ingested_at")
    assert raw["_source_file"].to_list() == ["orders.csv", "orders.csv", fix_name]
    stamps = dict(raw.select("_source_file", "_ingested_at").unique().iter_rows())
    assert stamps["orders.csv"] < stamps[fix_name]  # the order of ingestion is in the rows
    assert _staged(lake, "stg_shop__orders", "order_id, order_amount") == [(1, 10.0), (2, 25.0)]


def test_a_later_run_wins_over_an_earlier_one(lake: Lake) -> None:
    land(lake, "orders", "orders.csv", _orders((1, 10.0)), mtime=old(60))
    ingest(lake)
    land(lake, "orders", "orders_0.csv", _orders((1, 11.0)), mtime=old(3600))  # older file, later run
    ingest(lake)
    assert _staged(lake, "stg_shop__orders", "order_id, order_amount") == [(1, 11.0)]


def test_a_declared_version_column_wins_over_ingestion_order(lake: Lake, monkeypatch, tmp_path: Path) -> None:
    contract = yaml.safe_load((CONTRACTS_DIR / "orders.yml").read_text())
    contract["columns"].append({"name": "updated_at", "source": "UPDATED_AT", "type": "timestamp"})
    contract["version_column"] = "updated_at"
    use_contracts(monkeypatch, contracts_with(tmp_path, {"orders": contract}))
    head = HEADER.strip() + ",UPDATED_AT\n"
    land(lake, "orders", "orders.csv", head + "1,1,2025-03-01,12.0,completed,web,2025-03-02T10:00:00Z\n"
         "2,1,2025-03-02,20.0,completed,web,2025-03-02T10:00:00Z\n", mtime=old(3600))  # fmt: skip
    # Ingested later, but an older version of order 1 (a late replay) and a newer one of order 2.
    land(lake, "orders", "orders_replay.csv", head + "1,1,2025-03-01,99.0,completed,web,2025-03-01T09:00:00Z\n"
         "2,1,2025-03-02,21.0,completed,web,2025-03-03T08:00:00Z\n", mtime=old(60))  # fmt: skip
    ingest(lake)
    assert _staged(lake, "stg_shop__orders", "order_id, order_amount") == [(1, 12.0), (2, 21.0)]


def test_staging_keeps_every_row_of_a_composite_key(lake: Lake, monkeypatch, tmp_path: Path) -> None:
    """Order lines numbered 1..n inside each order: the key is (order_id, order_item_id)."""
    use_contracts(monkeypatch, contracts_with(tmp_path, {
        "order_items": {"primary_key": ["order_id", "order_item_id"], "references": []},
    }))  # fmt: skip
    lines = "ORDER_ITEM_ID,ORDER_ID,PRODUCT_ID,QUANTITY,PRICE\n" + "".join(
        f"{line},{order},7,1,{order}.{line}0\n" for order in (1, 2, 3) for line in (1, 2)
    )
    land(lake, "order_items", "order_items.csv", lines)
    (result,) = ingest(lake).files
    assert result.rows_landed == 6
    staged = _staged(lake, "stg_shop__order_items", "order_id, order_item_id")
    assert staged == [(o, i) for o in (1, 2, 3) for i in (1, 2)]


def test_dbt_project_defaults_equal_the_shipped_contracts() -> None:
    """dbt_project.yml's `contracts` var is what `shoplake transform` passes for the shipped contracts."""
    from pipelines.warehouse.dbt import contract_vars

    project = yaml.safe_load((REPO_ROOT / "transforms" / "dbt_project.yml").read_text())
    assert project["vars"]["contracts"] == contract_vars(load_contracts())["contracts"]
