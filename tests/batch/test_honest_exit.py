"""Honest exit (issue 12): what does not land is listed and fails the run; the report is always printed.

- files no contract takes (landing root, unknown folder, another name) are `unmatched`, with the
  folder/pattern that would take them;
- a file whose quarantined share is above the limit is `failed` and lands nothing (so fixing the
  contract and running again lands it; no ledger record hides it as `skipped`);
- a file ingest crashes on is `failed` and the others land; a failed write stops the run but the
  CLI still prints the report;
- string keys against an empty referenced table declared with another key type: a contract error,
  not polars' `'is_in' cannot check for String values in List(Int64)`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.batch.contract import CONTRACTS_DIR, load_contracts
from pipelines.batch.ledger import read_ledger
from pipelines.catalog import read_committed
from pipelines.cli import main
from pipelines.errors import ShopLakeError
from pipelines.lake import Lake

from .conftest import contracts_with, ingest, land, use_contracts

CATEGORIES = "CATEGORY_ID,CATEGORY_NAME\n1,Books\n2,Toys\n"


def _cli(lake: Lake, monkeypatch: pytest.MonkeyPatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(lake.root))
    code = main(["ingest", "--quiet", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_files_no_contract_takes_are_listed_with_where_they_belong_and_fail_the_run(
    lake: Lake, monkeypatch, capsys
) -> None:
    land(lake, "categories", "categories.csv", CATEGORIES)
    (lake.landing_root / "orders_2025.csv").write_text("ORDER_ID\n1\n")  # in landing/ itself
    land(lake, "categories", "cats.csv", CATEGORIES)  # in its folder, but not the contract's name
    land(lake, "categories", "customers_extra.csv", "x\n")  # another table's name in this folder
    land(lake, "bestellungen", "export.csv", "x\n")  # a folder no contract names
    (lake.landing_dir("orders") / "2025").mkdir(parents=True)  # files in a sub-folder are not read
    (lake.landing_dir("orders") / "2025" / "orders.csv").write_text("x\n")
    (lake.landing_root / ".DS_Store").write_text("")  # hidden: not an export
    code, out, _ = _cli(lake, monkeypatch, capsys)
    assert code == 1
    assert "categories/categories.csv" in out and "landed" in out
    expected = {
        "landing/orders_2025.csv: error: files in landing/ itself are not read; the orders contract takes it: "
        "move it to landing/orders/",
        "landing/categories/cats.csv: error: the categories contract takes 'categories*.csv', not this name; "
        "rename the file or change `file_pattern`",
        "landing/categories/customers_extra.csv: error: the categories contract takes 'categories*.csv', not this "
        "name; the customers contract takes it: move it to landing/customers/",
        "landing/orders/2025: error: files in sub-folders are not read: move them up to landing/orders/",
    }  # fmt: skip
    lines = set(out.splitlines())
    assert expected <= lines, sorted(lines)
    unknown = next(line for line in lines if line.startswith("landing/bestellungen/export.csv: error: "))
    assert "no contract has table 'bestellungen'" in unknown and "landing/orders/orders*.csv" in unknown
    assert ".DS_Store" not in out


def test_with_only_matched_files_the_run_is_green(lake: Lake, monkeypatch, capsys) -> None:
    land(lake, "categories", "categories.csv", CATEGORIES)
    lake.extracts_dir("categories").mkdir(parents=True)  # ShopLake's own folders are not exports
    code, out, _ = _cli(lake, monkeypatch, capsys)
    assert code == 0 and "unmatched" not in out


def test_a_file_above_the_quarantine_share_fails_lands_nothing_and_lands_once_fixed(
    lake: Lake, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Every date is DD.MM.YYYY but the contract says ISO: 100 % quarantined is a contract error, not data."""
    header = "ORDER_ID,CUSTOMER_ID,ORDER_DATE,ORDER_AMOUNT\n"
    land(lake, "categories", "categories.csv", CATEGORIES)
    land(lake, "orders", "orders.csv", header + "1,1,31.01.2025,10.0\n2,1,01.02.2025,20.0\n3,1,2025-02-03,5.0\n")
    code, out, _ = _cli(lake, monkeypatch, capsys)
    assert code == 1
    assert "orders/orders.csv" in out and "failed" in out
    assert "orders/orders.csv: quarantined 2 invalid_date:order_date (first: line 2, '31.01.2025')" in out
    assert "2 of 3 rows (67%) broke the contract, more than max_quarantine_share 0.5: nothing landed" in out
    assert {r.table for r in read_ledger(lake)} == {"categories"}  # no record: the next run tries it again
    assert read_committed(lake, "orders").height == 0

    # The next run (contract unchanged) fails again instead of reporting it `skipped`.
    code, out, _ = _cli(lake, monkeypatch, capsys)
    assert code == 1 and "failed" in out

    columns = [c.model_dump(exclude_none=True) for c in load_contracts(CONTRACTS_DIR)["orders"].columns]
    for c in columns:
        if c["name"] == "order_date":
            c["format"] = "%d.%m.%Y"
    use_contracts(monkeypatch, contracts_with(tmp_path, {"orders": {"columns": columns}}))
    code, out, _ = _cli(lake, monkeypatch, capsys)
    assert code == 0
    (orders,) = [r for r in read_ledger(lake) if r.table == "orders"]
    assert (orders.rows_landed, orders.quarantine_reasons) == (2, {"invalid_date:order_date": 1})


def test_the_share_limit_comes_from_the_contract_before_the_setting(lake: Lake, tmp_path: Path, monkeypatch) -> None:
    land(lake, "categories", "categories.csv", CATEGORIES + "x,Broken\n")  # 1 of 3 quarantined
    monkeypatch.setenv("SHOPLAKE_MAX_QUARANTINE_SHARE", "0.2")
    (result,) = ingest(lake).files
    assert result.status == "failed" and "max_quarantine_share 0.2" in result.error
    use_contracts(monkeypatch, contracts_with(tmp_path, {"categories": {"max_quarantine_share": 0.4}}))
    (result,) = ingest(lake).files
    assert (result.status, result.rows_landed) == ("landed", 2)


def test_a_crash_on_one_file_fails_that_file_and_the_others_land(lake: Lake, monkeypatch, capsys) -> None:
    import pipelines.batch.ingest as ingest_module

    real = ingest_module.validate

    def validate(df, contract, *args, **kwargs):
        if contract.table == "customers":
            raise RuntimeError("boom")
        return real(df, contract, *args, **kwargs)

    monkeypatch.setattr(ingest_module, "validate", validate)
    land(lake, "categories", "categories.csv", CATEGORIES)
    land(lake, "customers", "customers.csv", "CUSTOMER_ID,NAME,EMAIL,SIGNUP_DATE\n1,Ann,ann@example.com,2024-01-01\n")
    land(lake, "orders", "orders.csv", "ORDER_ID,CUSTOMER_ID,ORDER_DATE,ORDER_AMOUNT\n1,1,2025-01-01,10.0\n")
    code, out, err = _cli(lake, monkeypatch, capsys)
    assert code == 1
    assert "customers/customers.csv: error: ingest crashed while validating this file (RuntimeError: boom)" in out
    assert "Traceback" in err  # for a bug report
    assert {r.table for r in read_ledger(lake)} == {"categories", "orders"}


def test_a_failed_write_still_prints_the_report(lake: Lake, monkeypatch, capsys) -> None:
    land(lake, "categories", "categories.csv", CATEGORIES)
    land(lake, "customers", "customers.csv", "CUSTOMER_ID,NAME,EMAIL,SIGNUP_DATE\n1,Ann,ann@example.com,2024-01-01\n")
    lake.raw_dir("customers").parent.mkdir(parents=True, exist_ok=True)
    lake.raw_dir("customers").write_text("a file where the customers folder should be")
    code, out, err = _cli(lake, monkeypatch, capsys)
    assert code == 1
    assert "categories/categories.csv" in out and "customers/customers.csv" in out
    assert "not committed: the run stopped before this file's ledger record was written" in out
    assert "shoplake ingest: error: ingest stopped" in err


STRING_ITEMS = {
    "order_items": {"columns": [
        {"name": "order_item_id", "source": "ORDER_ITEM_ID", "type": "string", "required": True},
        {"name": "order_id", "source": "ORDER_ID", "type": "string", "required": True},
        {"name": "product_id", "source": "PRODUCT_ID", "type": "string", "required": True},
        {"name": "quantity", "source": "QUANTITY", "type": "bigint", "required": True},
        {"name": "price", "source": "PRICE", "type": "double", "required": True},
    ]},
    "orders": {"columns": [
        {"name": "order_id", "source": "ORDER_ID", "type": "string", "required": True},
        {"name": "customer_id", "source": "CUSTOMER_ID", "type": "string", "required": True},
        {"name": "order_date", "source": "ORDER_DATE", "type": "date", "required": True},
        {"name": "order_amount", "source": "ORDER_AMOUNT", "type": "double", "required": True},
    ]},
}  # fmt: skip


def test_string_keys_against_a_bigint_key_are_a_contract_error_not_a_crash(
    lake: Lake, tmp_path: Path, monkeypatch, capsys
) -> None:
    """The issue's crash: SKU strings in order_items, products still bigint (and empty, every SKU quarantined)."""
    use_contracts(monkeypatch, contracts_with(tmp_path, STRING_ITEMS))
    land(lake, "orders", "orders.csv", "ORDER_ID,CUSTOMER_ID,ORDER_DATE,ORDER_AMOUNT\nB-1,K-1,2025-01-01,2.0\n")
    items = "ORDER_ITEM_ID,ORDER_ID,PRODUCT_ID,QUANTITY,PRICE\nL1,B-1,GH-1,1,2.0\n"
    land(lake, "order_items", "order_items.csv", items)
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(lake.root))
    assert main(["ingest", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "shoplake ingest: error: contract order_items.yml: references product_id -> products.product_id: "
        "product_id is string but products.product_id is bigint; declare both alike"
    )


def test_a_reference_key_landed_under_an_earlier_key_type_still_matches(lake: Lake, tmp_path, monkeypatch) -> None:
    """products landed with bigint ids; then both contracts say string: the lake's Int64 keys are compared as text."""
    land(lake, "categories", "categories.csv", CATEGORIES)
    land(lake, "products", "products.csv", "PRODUCT_ID,NAME,CATEGORY_ID,PRICE\n7,Pen,1,1.5\n")
    ingest(lake)
    columns = [c.model_dump(exclude_none=True) for c in load_contracts(CONTRACTS_DIR)["products"].columns]
    columns[0]["type"] = "string"
    items = [dict(c) for c in STRING_ITEMS["order_items"]["columns"]]
    changes = {"products": {"columns": columns}, "order_items": {"columns": items}, "orders": STRING_ITEMS["orders"]}
    use_contracts(monkeypatch, contracts_with(tmp_path, changes))
    land(lake, "orders", "orders.csv", "ORDER_ID,CUSTOMER_ID,ORDER_DATE,ORDER_AMOUNT\nB-1,K-1,2025-01-01,2.0\n")
    land(lake, "order_items", "order_items.csv", "ORDER_ITEM_ID,ORDER_ID,PRODUCT_ID,QUANTITY,PRICE\nL1,B-1,7,1,1.5\n")
    report = ingest(lake, tables=["orders", "order_items"])
    assert [(f.table, f.status, f.rows_landed) for f in report.files] == [("orders", "landed", 1),
                                                                           ("order_items", "landed", 1)]  # fmt: skip
    assert read_committed(lake, "order_items")["product_id"].to_list() == ["7"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"orders": {"references": [{"column": "customer_id", "table": "customers", "key": "customer_no"}]}},
         "references customer_id -> customers.customer_no: customers declares no column 'customer_no'"),
        ({"orders": {"timezone": "Mitteleuropa"}}, "timezone: unknown time zone 'Mitteleuropa'"),
        ({"orders": {"encoding": "ansi"}}, "encoding: unknown encoding 'ansi'"),
        ({"orders": {"sheet": "Tabelle1"}}, "sheet: applies to format xlsx, not csv"),
        ({"orders": {"delimiter": ";;"}}, "delimiter: must be one character"),
        ({"orders": {"decimal": ",", "thousands": ","}}, "thousands: must differ from decimal"),
        ({"orders": {"max_quarantine_share": 2}}, "max_quarantine_share: Input should be less than or equal to 1"),
    ],
)  # fmt: skip
def test_contract_mistakes_across_keys_name_the_file(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(ShopLakeError) as caught:
        load_contracts(contracts_with(tmp_path, changes))
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ({"type": "date", "format": "DD.MM.YYYY"}, "format 'DD.MM.YYYY' is not a strftime pattern; write e.g. "
         '"%d.%m.%Y"'),
        ({"type": "date", "format": "%d.%m.%Q"}, "cannot be read back"),
        ({"type": "bigint", "decimal": ","}, "decimal: applies to double columns, not bigint"),
        ({"type": "string", "map": {"ABGESCHLOSSEN": "done"}, "allowed": ["completed"]}, "map: done not in allowed"),
        ({"type": "string", "map": {"A": "x", "a": "y"}}, "map: 'a' is mapped twice"),
        ({"type": "bigint", "map": {"A": "1"}}, "map: applies to string columns, not bigint"),
        ({"type": "string", "min": 1}, "min: applies to bigint and double columns, not string"),
        ({"type": "bigint", "allowed": ["1"]}, "allowed: applies to string columns, not bigint"),
        ({"type": "boolean", "true_values": ["ja"], "false_values": ["JA"]}, "true_values and false_values share ja"),
        ({"type": "string", "format": "%Y"}, "a string column's format can only be 'email'"),
    ],
)  # fmt: skip
def test_column_option_mistakes_name_the_column(tmp_path: Path, column: dict, message: str) -> None:
    spec = {"name": "extra", "source": "EXTRA", **column}
    columns = [c.model_dump(exclude_none=True) for c in load_contracts(CONTRACTS_DIR)["categories"].columns]
    with pytest.raises(ShopLakeError) as caught:
        load_contracts(contracts_with(tmp_path, {"categories": {"columns": [*columns, spec]}}))
    assert "contract categories.yml: columns.2" in str(caught.value) and message in str(caught.value)


def test_yaml_words_stay_words(tmp_path: Path) -> None:
    """`ja`, `yes`, `no`, `on` are the export's words, not YAML booleans."""
    (tmp_path / "flags.yml").write_text(
        "table: flags\nfile_pattern: '*'\nprimary_key: [id]\ncolumns:\n"
        "  - {name: id, type: bigint, required: yes}\n"
        "  - {name: flag, type: boolean, true_values: [yes, on, ja], false_values: [no, off, nein]}\n"
    )
    contract = load_contracts(tmp_path)["flags"]
    assert contract.column("id").required is True
    flag = contract.column("flag")
    assert (flag.truthy, flag.falsy) == (("yes", "on", "ja"), ("no", "off", "nein"))


def test_the_contracts_folder_setting_reaches_the_catalog_and_dbt_vars(tmp_path: Path, monkeypatch) -> None:
    from pipelines.settings import Settings
    from pipelines.warehouse.dbt import dbt_vars

    folder = contracts_with(tmp_path, {"order_items": {"primary_key": ["order_id", "order_item_id"]}})
    settings = Settings(lake_dir=tmp_path / "lake", contracts_dir=folder)
    assert dbt_vars(settings)["contracts"]["order_items"]["primary_key"] == ["order_id", "order_item_id"]
    monkeypatch.setenv("SHOPLAKE_CONTRACTS_DIR", str(folder))
    assert load_contracts()["order_items"].primary_key == ("order_id", "order_item_id")
    monkeypatch.setenv("SHOPLAKE_CONTRACTS_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ShopLakeError, match=r"contracts folder .*nowhere does not exist"):
        load_contracts()
