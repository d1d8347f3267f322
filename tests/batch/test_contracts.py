"""Contracts are pydantic models: a mistake names the file and the key; the YAML format is unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.batch.contract import CONTRACTS_DIR, Contract, load_contracts
from pipelines.batch.report import FileResult, FileStatus, IngestReport
from pipelines.errors import ShopLakeError

GOOD = """table: things
file_pattern: "things*.csv"
primary_key: [thing_id]
columns:
  - {name: thing_id, source: ID, type: bigint, required: true}
  - {name: label, type: string}
"""


def _load(tmp_path: Path, text: str) -> dict[str, Contract]:
    (tmp_path / "things.yml").write_text(text)
    return load_contracts(tmp_path)


def test_the_shipped_contracts_load_in_dependency_order() -> None:
    contracts = load_contracts(CONTRACTS_DIR)
    assert list(contracts)[-1] == "order_items"
    assert contracts["orders"].partition_by.name == "order_month"
    assert contracts["customers"].column("customer_id").source == "CUSTOMER_ID"


def test_source_defaults_to_the_column_name(tmp_path: Path) -> None:
    contract = _load(tmp_path, GOOD)["things"]
    assert contract.column("label").source == "label" and contract.version_column is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("type: bigint", "type: integer"), "contract things.yml: columns.0.type: Input should be 'bigint'"),
        (("primary_key: [thing_id]", "primary_key: [id]"), "contract things.yml: primary_key: 'id' is not a declared"),
        (("table: things", "table: things\ncolour: red"), "things.yml: colour: Extra inputs are not permitted"),
        (("table: things\n", ""), "contract things.yml: table: Field required"),
        (("primary_key: [thing_id]", "primary_key: [thing_id]\nversion_column: updated"),
         "contract things.yml: version_column: 'updated' is not a declared column"),
        (("primary_key: [thing_id]", "primary_key: [thing_id]\nversion_column: thing_id"),
         "version_column: 'thing_id' is part of the primary key"),
        (("columns:", "columns: [\n"), "contract things.yml: not valid YAML"),
    ],
)  # fmt: skip
def test_a_mistake_names_the_file_and_the_key(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    with pytest.raises(ShopLakeError) as caught:
        _load(tmp_path, GOOD.replace(*change))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_version_column_is_declared_by_name(tmp_path: Path) -> None:
    text = GOOD.replace("primary_key: [thing_id]", "primary_key: [thing_id]\nversion_column: updated_at")
    text += "  - {name: updated_at, type: timestamp}\n"
    assert _load(tmp_path, text)["things"].version_column == "updated_at"


def test_the_failed_statuses_are_defined_once_and_the_report_prints_plain_text() -> None:
    assert FileStatus.failed() == {FileStatus.REJECTED, FileStatus.FAILED, FileStatus.UNMATCHED}
    report = IngestReport(files=[
        FileResult("orders", Path("orders.csv"), FileStatus.LANDED, 3, 2, 1, {"too_many_fields": 1}),
        FileResult("orders", Path("bad.csv"), FileStatus.REJECTED, error="empty file (0 bytes)"),
    ])  # fmt: skip
    assert report.failed_files == [report.files[1]]
    text = report.render()
    assert "orders/orders.csv" in text and "\x1b[" not in text
    assert "orders/orders.csv: quarantined 1 too_many_fields" in text
    assert "orders/bad.csv: error: empty file (0 bytes)" in text
