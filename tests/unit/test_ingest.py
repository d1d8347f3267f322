"""Contract checks, imputation, ledger idempotency and bad-file handling of `shoplake ingest`."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from pipelines.batch.contract import load_contracts
from pipelines.batch.ingest import FileStatus, IngestAborted, ingest_all
from pipelines.batch.ledger import read_ledger
from pipelines.batch.validate import first_occurrence
from pipelines.catalog import committed_files, read_committed
from pipelines.generate.batch import REFERENCE_END_DATE, build_dataset, write_exports
from pipelines.lake import Lake
from pipelines.settings import Settings


def _quarantine(lake: Lake, table: str) -> pl.DataFrame:
    files = committed_files(lake, table, "quarantine")
    return pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame()


def _raw(lake: Lake, table: str) -> pl.DataFrame:
    return read_committed(lake, table)


def _ingest(lake: Lake):
    return ingest_all(Settings(lake_dir=lake.root), progress=False)


@pytest.fixture
def ingested(lake: Lake):
    ds = build_dataset(0.01, 5, REFERENCE_END_DATE)
    write_exports(ds, lake, scale=0.01, seed=5)
    report = _ingest(lake)
    return ds, report


def test_each_dirty_kind_is_quarantined_with_its_reason(lake: Lake, ingested) -> None:
    ds, _ = ingested
    contracts = load_contracts()
    # Row checks come first, then duplicates, then references in declared order: an item whose
    # order was itself quarantined reports the missing order, whatever else is wrong with it.
    items = ds.clean["order_items"]
    orphaned_by_order = set(items.filter(pl.col("order_id").is_in(list(ds.dirty_keys("orders"))))["order_item_id"])
    assert {t for t, kinds in ds.dirty.items() if kinds} == {"products", "customers", "orders", "order_items"}
    for table, kinds in ds.dirty.items():
        if not kinds:
            continue
        pk = contracts[table].primary_key[0]
        quarantined = _quarantine(lake, table).with_columns(pl.col(pk).cast(pl.Int64, strict=False))
        reason_of = dict(zip(quarantined[pk], quarantined["_reason"], strict=True))
        for kind, keys in kinds.items():
            assert keys, f"{table}: the generator made no {kind} rows"
            for key in keys:
                expected = {kind}
                if table == "order_items" and key in orphaned_by_order and kind.startswith("missing_reference"):
                    expected.add("missing_reference:order_id")
                assert reason_of.get(key) in expected, f"{table} {pk}={key}: {reason_of.get(key)} not {expected}"


def test_duplicates_keep_the_first_row(lake: Lake, ingested) -> None:
    ds, _ = ingested
    raw = _raw(lake, "customers")
    assert raw["customer_id"].n_unique() == raw.height
    dup_keys = set(ds.dirty["customers"]["duplicate_key"])
    assert dup_keys <= set(raw["customer_id"].to_list())
    quarantined = _quarantine(lake, "customers").filter(pl.col("_reason") == "duplicate_key")
    assert {int(k) for k in quarantined["customer_id"]} == dup_keys
    # the quarantined copy points at its own line, after the original's
    assert quarantined["_source_line"].min() > raw.filter(pl.col("customer_id").is_in(dup_keys))["_source_line"].max()


def test_rows_in_equal_landed_plus_quarantined(lake: Lake, ingested) -> None:
    ds, report = ingested
    for f in report.files:
        assert f.status == "landed"
        assert f.rows_in == f.rows_landed + f.rows_quarantined
        assert f.rows_in == ds.exports[f.table].height
        assert _raw(lake, f.table).height == f.rows_landed
        assert _quarantine(lake, f.table).height == f.rows_quarantined


def test_customers_quarantine_matches_the_dirt_exactly(lake: Lake, ingested) -> None:
    ds, report = ingested
    (customers,) = [f for f in report.files if f.table == "customers"]
    assert customers.reasons == {kind: len(keys) for kind, keys in ds.dirty["customers"].items()}


def test_imputation_is_applied_and_recorded(lake: Lake, ingested) -> None:
    ds, _ = ingested
    records = {r.table: r for r in read_ledger(lake)}
    assert records["customers"].imputed == ds.imputed["customers"]
    assert records["orders"].imputed == ds.imputed["orders"]
    raw = _raw(lake, "customers")
    assert raw["country"].null_count() == 0
    assert raw.filter(pl.col("country") == "unknown").height >= ds.imputed["customers"]["country"]


def test_second_ingest_is_a_no_op(lake: Lake, ingested) -> None:
    before = {p: p.stat().st_mtime_ns for p in (lake.root / "raw").rglob("*.parquet")}
    report = _ingest(lake)
    assert {f.status for f in report.files} == {FileStatus.SKIPPED}
    after = {p: p.stat().st_mtime_ns for p in (lake.root / "raw").rglob("*.parquet")}
    assert before == after
    assert len(list(lake.ledger_root.rglob("*.json"))) == 5


# -- bad files ----------------------------------------------------------------------------------

GOOD_CATEGORIES = "CATEGORY_ID,CATEGORY_NAME\n1,Books\n2,Toys\n"


def _land(lake: Lake, table: str, name: str, data: bytes) -> Path:
    path = lake.landing_dir(table) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"CATEGORY_ID;CATEGORY_NAME\n3;Garden\n", "wrong delimiter"),
        (b"CATEGORY_ID,LABEL\n3,Garden\n", "missing required column(s) CATEGORY_NAME"),
        ("CATEGORY_ID,CATEGORY_NAME\n3,Café\n".encode("latin-1"), "not valid utf-8"),
    ],
)
def test_bad_file_is_rejected_with_one_line_and_the_rest_lands(lake: Lake, data: bytes, message: str) -> None:
    _land(lake, "categories", "categories_good.csv", GOOD_CATEGORIES.encode())
    _land(lake, "categories", "categories_bad.csv", data)
    report = _ingest(lake)
    by_name = {f.path.name: f for f in report.files}
    bad = by_name["categories_bad.csv"]
    assert bad.status == "rejected"
    assert message in bad.error and "\n" not in bad.error
    assert by_name["categories_good.csv"].rows_landed == 2
    assert report.failed_files == [bad]
    assert "categories_bad.csv" in report.render() and message in report.render()
    # A rejected file is not recorded, so it is reported again until fixed.
    assert _ingest(lake).failed_files[0].path.name == "categories_bad.csv"


def test_truncated_last_line_is_quarantined_not_lost(lake: Lake) -> None:
    _land(lake, "categories", "categories.csv", b"CATEGORY_ID,CATEGORY_NAME\n1,Books\n2,Toys\n3")
    (result,) = _ingest(lake).files
    assert (result.rows_in, result.rows_landed, result.rows_quarantined) == (3, 2, 1)
    assert result.reasons == {"truncated_row": 1}
    assert "truncated" in result.warnings[0]
    assert _quarantine(lake, "categories")["_source_line"].to_list() == [4]


def test_header_only_file_lands_nothing(lake: Lake) -> None:
    _land(lake, "categories", "categories.csv", b"CATEGORY_ID,CATEGORY_NAME\n")
    (result,) = _ingest(lake).files
    assert (result.status, result.rows_in) == ("landed", 0)


def test_contract_mapping_renames_columns(lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user whose export names columns differently edits `source:` in the contract, not code."""
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "categories.yml").write_text(
        "table: categories\nfile_pattern: 'cats*.csv'\nprimary_key: [category_id]\ncolumns:\n"
        "  - {name: category_id, source: Id, type: bigint, required: true}\n"
        "  - {name: category_name, source: Label, type: string, required: true}\n"
    )
    monkeypatch.setenv("SHOPLAKE_CONTRACTS_DIR", str(contracts))
    _land(lake, "categories", "cats.csv", b"Id,Label\n7,Garden\nx,Broken\n")
    (result,) = _ingest(lake).files
    assert result.reasons == {"invalid_bigint:category_id": 1}
    assert _raw(lake, "categories").select("category_id", "category_name").rows() == [(7, "Garden")]
    record = json.loads(next(lake.ledger_root.rglob("*.json")).read_text())
    assert record["rows_in"] == 2


@pytest.mark.parametrize(
    "keys",
    [
        [],
        [1, 2, 3],
        [3, 2, 1],
        [1, 2, 3, 2, 9, 9, None, 1, None],  # sorted export with duplicates and nulls appended
        [None, 1, 2, 1],
        [5, 6, 7, None, 5, 8, None],
        [0, 6148914691236517205, -6148914691236517206, 0],  # increasing only if int64 differences wrap
    ],
)
def test_first_occurrence_matches_is_first_distinct(keys: list[int | None]) -> None:
    series = pl.Series("key", keys, dtype=pl.Int64)
    assert first_occurrence(series).to_list() == series.is_first_distinct().to_list()


def test_a_copy_of_an_ingested_file_is_skipped(lake: Lake) -> None:
    """Same bytes under another name: skipped by hash, even while the first copy is still being written."""
    _land(lake, "categories", "categories_a.csv", GOOD_CATEGORIES.encode())
    _land(lake, "categories", "categories_b.csv", GOOD_CATEGORIES.encode())
    report = _ingest(lake)
    assert [(f.path.name, f.status) for f in report.files] == [
        ("categories_a.csv", "landed"),
        ("categories_b.csv", "skipped"),
    ]
    assert _raw(lake, "categories").height == 2


def test_a_failed_write_stops_the_run_and_nothing_later_lands(lake: Lake) -> None:
    _land(lake, "categories", "categories.csv", GOOD_CATEGORIES.encode())
    _land(lake, "customers", "customers.csv", b"CUSTOMER_ID,NAME,EMAIL,SIGNUP_DATE\n1,Ann,ann@example.com,2024-01-01\n")
    _land(lake, "orders", "orders.csv", b"ORDER_ID,CUSTOMER_ID,ORDER_DATE,ORDER_AMOUNT\n1,1,2025-01-01,10.0\n")
    lake.raw_dir("customers").parent.mkdir(parents=True, exist_ok=True)
    lake.raw_dir("customers").write_text("a file where the customers folder should be")
    with pytest.raises(IngestAborted) as aborted:
        _ingest(lake)
    assert isinstance(aborted.value.__cause__, OSError)
    # The report says what happened: categories landed, customers (and what came after) did not.
    statuses = {f.table: f.status for f in aborted.value.report.files}
    assert statuses["categories"] == "landed" and statuses["customers"] == "failed"
    assert "ingest stopped" in aborted.value.report.render()
    assert {r.table for r in read_ledger(lake)} == {"categories"}
    assert not lake.raw_dir("orders").exists()
    assert not list(lake.quarantine_dir("orders").glob("*"))
