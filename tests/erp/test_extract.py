"""`shoplake extract` against a real PostgreSQL: what lands equals the database, incrementally and after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.batch.ledger import current_epoch
from pipelines.catalog import committed_files
from pipelines.cli import main
from pipelines.extract.run import ExtractMode, extract
from pipelines.lake import Lake
from pipelines.services import free_port
from pipelines.settings import REPO_ROOT, Settings
from pipelines.warehouse.serving import current_snapshot_id

from .conftest import URL_ENV, ErpDb

pytestmark = pytest.mark.erp_db

KEYS = {"categories": "category_id", "products": "product_id", "customers": "customer_id", "orders": "order_id",
        "order_items": "order_item_id"}  # fmt: skip
MARTS = ("dim_customers", "dim_products", "fct_orders", "fct_order_items", "top_customers", "product_category_sales",
         "product_daily_sales", "customer_rfm", "customer_cohort_retention", "anomalies")  # fmt: skip


def _rows(lake: Lake, table: str, zone: str = "raw", files: set[Path] | None = None) -> pl.DataFrame:
    """Committed rows of a zone (optionally only from `files`), keys as integers."""
    paths = [p for p in committed_files(lake, table, zone) if files is None or p in files]  # type: ignore[arg-type]
    if not paths:
        return pl.DataFrame({KEYS[table]: []}, schema={KEYS[table]: pl.Int64})
    frame = pl.read_parquet(paths, hive_partitioning=False)
    return frame.with_columns(pl.col(KEYS[table]).cast(pl.Int64))


def _keys(lake: Lake, table: str, files: set[Path] | None = None) -> list[int]:
    """Keys of every committed row, landed or quarantined (a key twice = a row landed twice)."""
    both = [_rows(lake, table, zone, files)[KEYS[table]] for zone in ("raw", "quarantine")]
    return sorted(pl.concat(both).to_list())


def _all_files(lake: Lake) -> set[Path]:
    return {p for t in KEYS for zone in ("raw", "quarantine") for p in committed_files(lake, t, zone)}  # type: ignore[arg-type]


def _db_keys(db: ErpDb, table: str, where: str = "true") -> list[int]:
    return sorted(db.query(f"select {KEYS[table]} from {table} where {where}")[KEYS[table]].to_list())


def test_first_extract_equals_the_table(erp_settings: Settings, erp_db: ErpDb) -> None:
    report = extract(erp_settings, progress=False)
    lake = Lake(erp_settings.lake_dir)
    assert {t.table: t.mode for t in report.tables} == dict.fromkeys(KEYS, ExtractMode.FIRST)
    for table in KEYS:
        assert _keys(lake, table) == _db_keys(erp_db, table), table  # every row once: landed or quarantined
    expected = erp_db.query(
        "select order_id, customer_id, order_date, order_amount::float8 as order_amount, status as order_status, "
        "coalesce(channel, 'unknown') as sales_channel from orders where customer_id is not null"
    ).sort("order_id")
    landed = _rows(lake, "orders").select(expected.columns).sort("order_id")
    assert landed.equals(expected)
    items = _rows(lake, "order_items")
    assert items["price"].dtype == pl.Float64 and items["quantity"].dtype == pl.Int64
    # The database's defects are quarantined with the reasons a CSV export's would get.
    reasons = {r: n for t in report.tables for r, n in t.reasons.items()}
    assert set(reasons) >= {"missing_required:customer_id", "invalid_email", "missing_reference:order_id"}
    # Run again with nothing changed: nothing lands.
    again = extract(erp_settings, progress=False)
    assert again.totals()["rows_landed"] == again.totals()["rows_quarantined"] == again.totals()["commits"] == 0
    assert {t.mode for t in again.tables} == {ExtractMode.INCREMENTAL}


@pytest.mark.slow
def test_incremental_extract_lands_exactly_the_changes_and_the_marts_equal_a_full_extract(
    erp_settings: Settings, erp_db: ErpDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.warehouse.dbt import run_dbt_build

    lake = Lake(erp_settings.lake_dir)
    extract(erp_settings, progress=False)
    existing = erp_db.query("select order_id from orders where customer_id is not null order by order_id limit 3")
    a, b, c = existing["order_id"].to_list()
    item_of_b = erp_db.query(f"select min(order_item_id) as i from order_items where order_id = {b}")["i"][0]

    # A long transaction: begins now (its rows' updated_at = now()), commits after the next extract.
    late = erp_db.connect(autocommit=False)
    late_cur = late.cursor()
    late_cur.execute(
        "insert into orders (order_id, customer_id, order_date, order_amount, status, channel) "
        "values (900100, 1, current_date, 30.00, 'completed', 'web')"
    )
    late_cur.execute("insert into order_items values (900100, 900100, 1, 1, 30.00)")
    late_cur.execute(f"update orders set status = 'returned' where order_id = {c}")
    time.sleep(0.05)
    # Quick transactions, committed at once: a new order with two lines, two status changes, a quantity change.
    erp_db.execute(
        "insert into orders (order_id, customer_id, order_date, order_amount, status, channel) "
        "values (900001, 2, current_date, 50.00, 'completed', 'mobile')",
        "insert into order_items values (900001, 900001, 1, 1, 20.00), (900002, 900001, 2, 1, 30.00)",
        f"update orders set status = 'returned' where order_id in ({a}, {b})",
        f"update order_items set quantity = quantity + 1 where order_item_id = {item_of_b}",
    )
    before = _all_files(lake)
    second = extract(erp_settings, progress=False)
    new = _all_files(lake) - before
    assert {t.table: t.mode for t in second.tables}["orders"] == ExtractMode.INCREMENTAL
    assert _keys(lake, "orders", new) == [a, b, 900001]
    assert _keys(lake, "order_items", new) == sorted([item_of_b, 900001, 900002])
    for table in ("categories", "products", "customers"):
        assert _keys(lake, table, new) == []
    assert second.totals()["rows_unchanged"] > 0  # the lookback read rows again, and left them out

    late.commit()
    late_cur.close()
    late.close()
    before = _all_files(lake)
    extract(erp_settings, progress=False)
    new = _all_files(lake) - before
    # The late rows' updated_at is older than the high-water mark: only the lookback finds them.
    assert _keys(lake, "orders", new) == [c, 900100]
    assert _keys(lake, "order_items", new) == [900100]
    assert extract(erp_settings, progress=False).totals()["rows_landed"] == 0

    # The same database read whole into a fresh lake builds the same marts.
    fresh = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(tmp_path / "fresh")})
    extract(fresh, progress=False)
    for table in KEYS:
        assert _keys(Lake(fresh.lake_dir), table) == _db_keys(erp_db, table)
    for settings in (erp_settings, fresh):
        monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(settings.lake_dir))
        result = run_dbt_build(settings, progress=False)
        assert result.success, result.summary()
    incremental, full = (_snapshot(Lake(s.lake_dir)) for s in (erp_settings, fresh))
    # Every column but `ingested_at`, which says when each lake ingested the rows (docs/incremental.md):
    # the two lakes hold the same rows, ingested at different times.
    columns = "columns(lambda c: c != 'ingested_at')"
    for mart in MARTS:
        left, right = (duckdb.connect(str(path), read_only=True) for path in (incremental, full))
        try:
            rows_left = sorted(left.execute(f"select {columns} from {mart}").fetchall(), key=repr)
            rows_right = sorted(right.execute(f"select {columns} from {mart}").fetchall(), key=repr)
        finally:
            left.close()
            right.close()
        assert rows_left == rows_right, mart
        assert rows_left or mart == "anomalies", f"{mart} is empty: the comparison would prove nothing"
    status = duckdb.connect(str(incremental), read_only=True)
    try:
        assert status.execute(f"select order_status from fct_orders where order_id = {c}").fetchone() == ("returned",)
    finally:
        status.close()


def _snapshot(lake: Lake) -> Path:
    snapshot = current_snapshot_id(lake)
    assert snapshot
    return lake.snapshot_path(snapshot)


def _extract_process(settings: Settings, db: ErpDb, chunk_rows: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SHOPLAKE_LAKE_DIR": str(settings.lake_dir), URL_ENV: db.url,
           "SHOPLAKE_EXTRACT_CHUNK_ROWS": str(chunk_rows)}  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", "extract", "--quiet"], env=env, cwd=REPO_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip


def _kill_after_commits(
    proc: subprocess.Popen[bytes], lake: Lake, table: str, commits: int, epoch: int | None = None
) -> None:
    """kill -9 once `table` has `commits` more ledger records in `epoch` (default: its current one) than now."""
    ledger = lake.ledger_dir(table, current_epoch(lake, table) if epoch is None else epoch)
    start = len(list(ledger.glob("*.json"))) if ledger.is_dir() else 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if ledger.is_dir() and len(list(ledger.glob("*.json"))) >= start + commits:
            break
        assert proc.poll() is None, f"extract ended before it was killed: {proc.stderr.read() if proc.stderr else ''}"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL


def test_kill_9_during_an_extract_then_rerun_loses_and_doubles_nothing(erp_settings: Settings, erp_db: ErpDb) -> None:
    lake = Lake(erp_settings.lake_dir)
    # First extract, killed while it lands order_items (30k rows in chunks of 1,000): a first extract
    # commits a table when all its chunks are written, so order_items has chunks on disk but none committed.
    _kill_after_commits(_extract_process(erp_settings, erp_db, 1_000), lake, "order_items", 3, epoch=1)
    assert _keys(lake, "orders") == _db_keys(erp_db, "orders")  # committed before the kill
    assert _keys(lake, "order_items") == []
    assert list(lake.raw_dir("order_items").rglob("*.parquet"))  # what the killed run wrote, never committed
    extract(erp_settings, progress=False)
    for table in KEYS:
        assert _keys(lake, table) == _db_keys(erp_db, table), table

    # An incremental extract with many changes, killed in the middle: each change lands exactly once.
    changed = {"orders": set(_db_keys(erp_db, "orders", "status = 'completed' and order_id % 3 = 0")),
               "order_items": set(_db_keys(erp_db, "order_items", "order_id % 4 = 0"))}  # fmt: skip
    erp_db.execute(
        "update orders set status = 'returned' where status = 'completed' and order_id % 3 = 0",
        "update order_items set quantity = quantity + 1 where order_id % 4 = 0",
    )
    _kill_after_commits(_extract_process(erp_settings, erp_db, 1_000), lake, "orders", 1)
    extract(erp_settings, progress=False)
    for table in ("orders", "order_items"):
        counts = pl.Series(_keys(lake, table)).value_counts()
        expected = {k: 1 + (k in changed[table]) for k in _db_keys(erp_db, table)}
        assert dict(counts.iter_rows()) == expected, table


def test_a_bad_row_in_the_database_is_quarantined_like_a_csv_row(
    erp_settings: Settings, erp_db: ErpDb, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from pipelines.batch.ingest import ingest_all

    extract(erp_settings, progress=False)
    bad = (
        "insert into orders (order_id, customer_id, order_date, order_amount, status, channel) values "
        "(900001, 3, date '2026-11-02', -5.00, 'completed', 'web'), "
        "(900002, 3, date '2026-11-02', 12.50, 'lost', 'web')"
    )
    erp_db.execute(bad)
    # Only bad rows changed: more than max_quarantine_share (0.5) of what was read breaks the contract,
    # which says the contract is wrong rather than the rows: one line, nothing lands, the mark stays.
    assert main(["extract", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "source erp, orders: 2 of 2 rows (100%) broke the contract" in err, err
    assert "out_of_range:order_amount 1" in err and "extract again" in err
    erp_db.execute(
        "insert into orders (order_id, customer_id, order_date, order_amount, status, channel) values "
        "(900003, 3, date '2026-11-02', 7.25, 'shipped', null)",
        "update orders set status = 'returned' where order_id in (1, 2)",
    )
    report = extract(erp_settings, progress=False)
    lake = Lake(erp_settings.lake_dir)
    quarantined = _rows(lake, "orders", "quarantine").filter(pl.col("order_id") >= 900001).sort("order_id")
    assert quarantined.select("order_id", "_reason").rows() == [
        (900001, "out_of_range:order_amount"), (900002, "not_allowed:order_status"),
    ]  # fmt: skip
    # The value as it was read (a numeric feeding a double contract column is read as float8).
    assert quarantined["order_amount"].to_list() == ["-5.0", "12.5"]
    assert all(name.startswith("erp.orders@") for name in quarantined["_source_file"])
    landed = _rows(lake, "orders").filter(pl.col("order_id") >= 900001)
    assert landed.select("order_id", "sales_channel").rows() == [(900003, "unknown")]  # imputed, as from a CSV
    assert _keys(lake, "orders").count(900001) == 1  # the failed extract landed nothing
    orders = next(t for t in report.tables if t.table == "orders")
    assert orders.reasons == {"out_of_range:order_amount": 1, "not_allowed:order_status": 1}

    # The same rows as a CSV export get the same reasons.
    csv_lake = Lake(tmp_path / "csv").ensure()
    (csv_lake.landing_dir("orders")).mkdir(parents=True)
    (csv_lake.landing_dir("orders") / "orders.csv").write_text(
        "ORDER_ID,CUSTOMER_ID,ORDER_DATE,ORDER_AMOUNT,STATUS,CHANNEL\n"
        "900001,3,2026-11-02,-5.00,completed,web\n900002,3,2026-11-02,12.50,lost,web\n900003,3,2026-11-02,7.25,shipped,\n"
    )
    csv = ingest_all(Settings.from_env({"SHOPLAKE_LAKE_DIR": str(csv_lake.root)}), progress=False)
    assert csv.files[0].reasons == orders.reasons


@pytest.mark.parametrize("case", ["wrong_password", "refused", "unknown_host", "unknown_database"])
def test_connection_errors_are_one_line_without_the_secret(
    case: str, erp_settings: Settings, erp_db: ErpDb, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    secret = "Wr0ng@pass:wo/rd"
    port = erp_db.server.state.port
    url = {
        "wrong_password": f"postgresql://shoplake:{secret}@127.0.0.1:{port}/{erp_db.name}",
        "refused": f"postgresql://shoplake:{secret}@127.0.0.1:{free_port()}/erp",
        "unknown_host": f"postgresql://shoplake:{secret}@no-such-host.invalid:5432/erp",
        "unknown_database": erp_db.server.url("no_such_db"),
    }[case]
    expected = {"wrong_password": "password authentication failed", "refused": "Connection refused",
                "unknown_host": "no-such-host.invalid", "unknown_database": "does not exist"}[case]  # fmt: skip
    monkeypatch.setenv(URL_ENV, url)
    started = time.monotonic()
    assert main(["extract", "--quiet"]) == 2
    out, err = capsys.readouterr()
    assert time.monotonic() - started < 30
    assert err.count("\n") == 1 and err.startswith("shoplake extract: error: source erp (postgresql://"), err
    assert expected in err, err
    for leak in (secret, "Wr0ng", "pass:wo", erp_db.server.password):
        assert leak not in err and leak not in out
    assert not list(Lake(erp_settings.lake_dir).ledger_root.glob("*/*.json"))  # nothing landed
