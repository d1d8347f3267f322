"""What the contracts declare reaches dbt as vars (`dbt_vars`): key types, canonical and revenue
statuses, column types, the business time zone; dbt_project.yml's defaults are the shipped contracts'."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from pipelines.batch.contract import CONTRACTS_DIR, Column, load_contracts
from pipelines.errors import ShopLakeError
from pipelines.settings import REPO_ROOT, Settings
from pipelines.warehouse.dbt import contract_vars, dbt_vars

PROJECT_VARS = yaml.safe_load((REPO_ROOT / "transforms" / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]


def _contracts(tmp_path: Path, changes: dict[str, dict[str, dict]]) -> Path:
    """The shipped contracts with some columns changed: {table: {column: {key: value}}}."""
    for path in CONTRACTS_DIR.glob("*.yml"):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        for column in raw["columns"]:
            column.update(changes.get(raw["table"], {}).get(column["name"], {}))
        (tmp_path / path.name).write_text(yaml.safe_dump(raw), encoding="utf-8")
    return tmp_path


def test_every_contract_var_default_equals_the_shipped_contracts() -> None:
    """A plain `dbt build` (no --vars) sees what `shoplake transform` passes for the shipped contracts."""
    shipped = contract_vars(load_contracts(CONTRACTS_DIR))
    assert {name: PROJECT_VARS[name] for name in shipped} == shipped
    orders = load_contracts(CONTRACTS_DIR)["orders"].column("order_status")
    assert PROJECT_VARS["revenue_statuses"] == list(orders.revenue_values or ())
    assert PROJECT_VARS["order_statuses"] == list(orders.allowed or ())


def test_dbt_vars_carry_the_business_time_zone(tmp_path: Path) -> None:
    settings = Settings(lake_dir=tmp_path, business_timezone="Europe/Berlin")
    assert dbt_vars(settings)["business_timezone"] == "Europe/Berlin"
    assert dbt_vars(Settings(lake_dir=tmp_path))["business_timezone"] == PROJECT_VARS["business_timezone"] == "UTC"
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings.from_env({"SHOPLAKE_BUSINESS_TIMEZONE": "Europe/Springfield"})


def test_string_keys_in_the_contracts_make_varchar_keys_in_the_marts(tmp_path: Path) -> None:
    string = {"type": "string"}
    folder = _contracts(tmp_path, {
        "customers": {"customer_id": string}, "orders": {"customer_id": string, "order_id": string},
        "order_items": {"order_id": string, "product_id": string}, "products": {"product_id": string},
    })  # fmt: skip
    keys = contract_vars(load_contracts(folder))["key_data_types"]
    assert keys == {"category_id": "bigint", "customer_id": "varchar", "order_id": "varchar",
                    "order_item_id": "bigint", "product_id": "varchar"}  # fmt: skip


def test_a_key_declared_with_two_types_is_refused(tmp_path: Path) -> None:
    """orders.customer_id has no reference check, so only here can the disagreement be caught."""
    folder = _contracts(tmp_path, {"customers": {"customer_id": {"type": "string"}}})
    with pytest.raises(ShopLakeError, match=r"customer_id is declared with different types \(bigint in orders; "
                                            r"string in customers\)"):  # fmt: skip
        contract_vars(load_contracts(folder))


def test_a_key_of_another_type_is_refused(tmp_path: Path) -> None:
    folder = _contracts(tmp_path, {"categories": {"category_id": {"type": "double"}},
                                   "products": {"category_id": {"type": "double"}}})  # fmt: skip
    with pytest.raises(
        ShopLakeError, match="key category_id is double in categories, products; a key is bigint or string"
    ):
        contract_vars(load_contracts(folder))


def test_the_orders_contract_declares_the_statuses_once(tmp_path: Path) -> None:
    folder = _contracts(tmp_path, {"orders": {"order_status": {
        "allowed": ["paid", "delivered", "collected", "cancelled"],
        "revenue_values": ["paid", "delivered", "collected"],
    }}})  # fmt: skip
    got = contract_vars(load_contracts(folder))
    assert got["order_statuses"] == ["paid", "delivered", "collected", "cancelled"]
    assert got["revenue_statuses"] == ["paid", "delivered", "collected"]


def test_statuses_without_revenue_values_must_contain_the_default_revenue_statuses(tmp_path: Path) -> None:
    allowed = {"allowed": ["paid", "cancelled"], "revenue_values": None}
    folder = _contracts(tmp_path, {"orders": {"order_status": allowed}})
    with pytest.raises(ShopLakeError, match="declare which earn revenue with `revenue_values:`"):
        contract_vars(load_contracts(folder))
    # Without `revenue_values`, the shipped revenue statuses apply when they are allowed.
    folder = _contracts(tmp_path, {"orders": {"order_status": {**allowed, "allowed": [*PROJECT_VARS["order_statuses"],
                                                                                       "on_hold"]}}})  # fmt: skip
    assert contract_vars(load_contracts(folder))["revenue_statuses"] == PROJECT_VARS["revenue_statuses"]


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ({"type": "string", "revenue_values": ["paid"]}, "needs a string column that declares its canonical values"),
        ({"type": "bigint", "allowed": ["1"], "revenue_values": ["1"]}, "needs a string column"),
        ({"type": "string", "allowed": ["paid", "open"], "revenue_values": ["paid", "shipped"]},
         "shipped not in allowed"),
    ],
)  # fmt: skip
def test_revenue_values_are_some_of_the_allowed_values(column: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Column.model_validate({"name": "order_status", **column})


def test_column_types_reach_staging(tmp_path: Path) -> None:
    folder = _contracts(tmp_path, {"orders": {"order_date": {"type": "timestamp"}}})
    facts = contract_vars(load_contracts(folder))["contracts"]["orders"]
    assert facts["column_types"]["order_date"] == "timestamp"
    assert facts["primary_key"] == ["order_id"]
