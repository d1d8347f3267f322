"""Source variants against a real PostgreSQL: SQLAlchemy and queries, full refresh, soft deletes, reprocess, erp-sim."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from pipelines.batch.contract import CONTRACTS_DIR
from pipelines.batch.ingest import ingest_all, reprocess
from pipelines.batch.ledger import current_epoch
from pipelines.cli import main
from pipelines.extract.cursor import high_water
from pipelines.extract.run import ExtractMode, extract
from pipelines.lake import Lake
from pipelines.settings import Settings

from .conftest import URL_ENV, ErpDb
from .test_extract import KEYS, _db_keys, _keys, _rows

pytestmark = pytest.mark.erp_db


def _use_contracts_dir(
    monkeypatch: pytest.MonkeyPatch, directory: Path, changes: dict[str, dict] | None = None, **sources: dict
) -> None:
    """SHOPLAKE_CONTRACTS_DIR = a copy of the shipped contracts (some keys replaced) with these sources beside them."""
    (directory / "sources").mkdir(parents=True, exist_ok=True)
    for path in CONTRACTS_DIR.glob("*.yml"):
        raw = yaml.safe_load(path.read_text())
        raw.update((changes or {}).get(raw["table"], {}))
        (directory / path.name).write_text(yaml.safe_dump(raw))
    for name, raw in sources.items():
        (directory / "sources" / f"{name}.yml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("SHOPLAKE_CONTRACTS_DIR", str(directory))


def test_a_sqlalchemy_url_and_a_query_land_what_adbc_lands(
    erp_settings: Settings, erp_db: ErpDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`postgresql+psycopg://` takes the generic path (server-side cursor, bound cursor parameter)."""
    extract(erp_settings, tables=["orders"], progress=False)
    reference = _rows(Lake(erp_settings.lake_dir), "orders").drop("_source_file", "_ingested_at", "_source_line")
    _use_contracts_dir(monkeypatch, tmp_path / "contracts", shop={
        "url_env": "SHOP_DB_URL",
        "tables": [{
            "contract": "orders",
            "query": "select order_id as ord_no, customer_id, order_date, order_amount, status, channel, updated_at "
                     "from orders",
            "columns": {"ord_no": "order_id"},
            "cursor": {"column": "updated_at", "lookback": "5 minutes"},
        }],
    })  # fmt: skip
    generic = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(tmp_path / "generic")})
    env = {"SHOP_DB_URL": erp_db.url.replace("postgresql://", "postgresql+psycopg://")}
    report = extract(generic, env=env, progress=False, source="shop")
    assert [(t.table, t.mode) for t in report.tables] == [("orders", ExtractMode.FIRST)]
    lake = Lake(generic.lake_dir)
    landed = _rows(lake, "orders").drop("_source_file", "_ingested_at", "_source_line")
    assert landed.sort("order_id").equals(reference.sort("order_id"))
    assert _keys(lake, "orders") == _db_keys(erp_db, "orders")
    erp_db.execute("update orders set status = 'returned' where order_id in (5, 6)")
    again = extract(generic, env=env, progress=False, source="shop")
    assert (again.tables[0].mode, again.tables[0].rows_landed) == (ExtractMode.INCREMENTAL, 2)


def test_full_refresh_reconciles_hard_deletes_and_keeps_other_sources_rows(
    erp_settings: Settings, erp_db: ErpDb
) -> None:
    lake = Lake(erp_settings.lake_dir)
    extract(erp_settings, progress=False)
    # A category that came from a CSV export, not from the database.
    lake.landing_dir("categories").mkdir(parents=True, exist_ok=True)
    (lake.landing_dir("categories") / "categories.csv").write_text("CATEGORY_ID,CATEGORY_NAME\n99,Antiques\n")
    assert ingest_all(erp_settings, progress=False).files[0].rows_landed == 1
    gone = _db_keys(erp_db, "orders")[:2]
    erp_db.execute(f"delete from orders where order_id in ({gone[0]}, {gone[1]})", "delete from categories")
    extract(erp_settings, progress=False)
    assert set(gone) <= set(_keys(lake, "orders"))  # a hard delete is not seen by an incremental extract
    report = extract(erp_settings, full_refresh=True, progress=False)
    assert {t.mode for t in report.tables} == {ExtractMode.FULL_REFRESH}
    assert _keys(lake, "orders") == _db_keys(erp_db, "orders") and not set(gone) & set(_keys(lake, "orders"))
    assert _keys(lake, "categories") == [99]  # the database's are gone, the CSV's row stays
    assert current_epoch(lake, "orders") == 2  # the first extract made epoch 1, the refresh 2
    assert ingest_all(erp_settings, progress=False).files[0].status == "skipped"  # the CSV stays ingested
    after = extract(erp_settings, progress=False)  # the refresh set the high-water mark
    modes = {t.table: t.mode for t in after.tables}
    assert modes.pop("categories") == ExtractMode.FIRST  # the database's table is empty: no mark to keep
    assert set(modes.values()) == {ExtractMode.INCREMENTAL}
    assert after.totals()["rows_landed"] == 0


def test_a_soft_delete_in_the_database_drops_the_key_in_staging(
    erp_settings: Settings, erp_db: ErpDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.warehouse.dbt import invoke_dbt

    orders = yaml.safe_load((CONTRACTS_DIR / "orders.yml").read_text())
    orders["columns"].append({"name": "deleted_at", "source": "DELETED_AT", "type": "timestamp"})
    orders["deleted_column"] = "deleted_at"
    source = yaml.safe_load((CONTRACTS_DIR / "sources" / "erp.yml").read_text())
    next(t for t in source["tables"] if t["contract"] == "orders")["soft_delete"] = "deleted_at"
    _use_contracts_dir(monkeypatch, tmp_path / "contracts", {"orders": orders}, erp=source)
    extract(erp_settings, progress=False)
    deleted, kept = _db_keys(erp_db, "orders", "customer_id is not null")[:2]
    erp_db.execute(f"update orders set deleted_at = now() where order_id = {deleted}")
    report = extract(erp_settings, progress=False)
    assert next(t for t in report.tables if t.table == "orders").rows_landed == 1
    lake = Lake(erp_settings.lake_dir)
    raw = _rows(lake, "orders").filter(pl.col("order_id") == deleted).sort("_ingested_at")
    assert raw["deleted_at"].is_null().to_list() == [True, False]  # the deletion landed as a new version
    result = invoke_dbt(erp_settings, ["run", "--select", "stg_shop__orders"], progress=False)
    assert result.success, result.summary()
    with duckdb.connect(str(lake.warehouse_path), read_only=True) as con:
        staged = {r[0] for r in con.execute("select order_id from stg_shop__orders").fetchall()}
    assert deleted not in staged and kept in staged


def test_reprocess_keeps_the_high_water_mark(erp_settings: Settings, erp_db: ErpDb) -> None:
    lake = Lake(erp_settings.lake_dir)
    extract(erp_settings, tables=["orders"], progress=False)
    before = high_water(lake, "orders", "erp", "updated_at")
    assert before is not None
    assert not reprocess(erp_settings, "orders", progress=False).failed_files
    after = high_water(lake, "orders", "erp", "updated_at")
    assert after is not None and after.value == before.value and current_epoch(lake, "orders") == 2
    assert extract(erp_settings, tables=["orders"], progress=False).totals()["rows_landed"] == 0
    assert _keys(lake, "orders") == _db_keys(erp_db, "orders")


def test_erp_sim_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """start -> env -> extract -> mutate (with a late commit) -> extract -> stop, as a user runs them."""
    from pipelines.generate import erp_sim

    root = tmp_path / "lake"
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(root))
    monkeypatch.delenv(URL_ENV, raising=False)
    assert main(["erp-sim", "status"]) == 1
    assert main(["erp-sim", "start", "--scale", "0.01"]) == 0
    try:
        out = capsys.readouterr().out
        assert "erp-sim: PostgreSQL running" in out and "orders=10,2" in out
        assert erp_sim.running(Settings.from_env({"SHOPLAKE_LAKE_DIR": str(root)})) is not None
        assert main(["extract", "--quiet"]) == 2  # the URL is not set yet: one line says which variable
        assert f"environment variable {URL_ENV} is not set" in capsys.readouterr().err
        assert main(["erp-sim", "env"]) == 0
        line = capsys.readouterr().out.strip()
        assert line.startswith(f"export {URL_ENV}='postgresql://shoplake:")
        monkeypatch.setenv(URL_ENV, line.split("=", 1)[1].strip("'"))
        assert main(["extract", "--quiet"]) == 0
        assert main(["erp-sim", "mutate", "--orders", "3", "--updates", "2", "--seed", "1"]) == 0
        assert "3 new order(s)" in capsys.readouterr().out
        settings = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(root)})
        report = extract(settings, progress=False)
        orders = next(t for t in report.tables if t.table == "orders")
        assert (orders.mode, orders.rows_landed) == (ExtractMode.INCREMENTAL, 3 + 2 + 1)  # + the late order
        private = Lake(root).service_private_file(erp_sim.NAME)
        assert private.stat().st_mode & 0o077 == 0
        data_dir = Path(erp_sim.running(settings).root)  # type: ignore[union-attr]
    finally:
        assert main(["erp-sim", "stop"]) == 0
    assert not data_dir.exists() and main(["erp-sim", "status"]) == 1


def test_extract_flow_lands_and_reports(erp_settings: Settings, erp_db: ErpDb) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from pipelines.flows.extract import extract_erp

    with prefect_test_harness(server_startup_timeout=180):
        totals = extract_erp()
    assert totals["rows_landed"] + totals["rows_quarantined"] == sum(len(_db_keys(erp_db, t)) for t in KEYS)
