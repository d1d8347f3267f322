"""The lake's data zones on a real S3-compatible server: ingest -> dbt -> marts equal to a local lake's,
quality results on the store modelled by dbt, crash recovery of batch ingest, and Python readers
(catalog, references, volume, simulator)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import duckdb
import polars as pl
import pytest

from pipelines import storage
from pipelines.batch.ingest import ingest_all
from pipelines.catalog import committed_files, read_committed
from pipelines.generate.batch import REFERENCE_END_DATE, build_dataset, write_exports
from pipelines.lake import Lake
from pipelines.settings import REPO_ROOT, Settings
from pipelines.warehouse.serving import current_snapshot_id

from ..conftest import SEED, TINY_SCALE, BuiltLake, _seed_clickstream
from .conftest import child_env

# Columns that record when something ran, and the click simulator's random ids (uuid4 per run): they
# differ between any two builds, whatever the lake.
RUN_TIME_COLUMNS = ("_ingested_at", "ingested_at", "loaded_at", "_loaded_at", "built_at", "generated_at",
                    "session_id", "event_id")  # fmt: skip


def mart_rows(lake: Lake) -> dict[str, list[tuple]]:
    """Every base table of the lake's published snapshot, sorted, without run-time columns."""
    snapshot = lake.snapshot_path(current_snapshot_id(lake) or "")
    out = {}
    with duckdb.connect(str(snapshot), read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main' "
            "and table_type = 'BASE TABLE' and table_name not like '\\_%' escape '\\' order by 1"
        ).fetchall()]  # fmt: skip
        for table in tables:
            columns = [r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_schema = 'main' and table_name = ? "
                "order by ordinal_position", [table]).fetchall() if r[0] not in RUN_TIME_COLUMNS]  # fmt: skip
            cols = ", ".join(f'"{c}"' for c in columns)
            out[table] = con.execute(f"select {cols} from main.{table} order by all").fetchall()
    return out


@pytest.mark.slow
def test_ingest_transform_and_marts_equal_a_local_lake(s3_settings: Settings, built_lake: BuiltLake) -> None:
    from pipelines.warehouse.dbt import run_dbt_build

    lake = Lake.of(s3_settings)
    write_exports(build_dataset(TINY_SCALE, SEED, REFERENCE_END_DATE), lake, scale=TINY_SCALE, seed=SEED)
    assert not (lake.root / "landing").exists() and storage.list_files(lake.landing_dir("orders"))
    report = ingest_all(s3_settings, progress=False)
    assert not report.failed_files
    _seed_clickstream(lake)
    # Nothing of the data zones on local disk: only state (locks, services), warehouse and serving.
    assert not any((lake.root / zone).exists() for zone in ("raw", "quarantine", "ledger", "landing"))
    assert all(str(p).startswith(lake.uri or "-") for p in committed_files(lake, "orders"))
    result = run_dbt_build(s3_settings, progress=False)
    assert result.success, result.summary()
    s3_marts, local_marts = mart_rows(lake), mart_rows(built_lake.lake)
    assert set(s3_marts) == set(local_marts) and {"fct_orders", "fct_order_items", "dim_customers"} <= set(s3_marts)
    assert sum(len(rows) for rows in s3_marts.values()) > 1000
    for table, rows in local_marts.items():
        assert s3_marts[table] == rows, f"{table} differs between the S3 lake and the local one"

    # A quality run's results go to the store too, and dbt (the warehouse's only writer) models them from there.
    from pipelines.quality.checks import run_quality
    from pipelines.results import DQ_RESULTS, result_files

    report = run_quality(s3_settings)
    (written,) = result_files(lake, DQ_RESULTS)
    assert str(written).startswith(f"{lake.uri}/results/{DQ_RESULTS}/") and not (lake.root / "results").exists()
    snapshot = lake.snapshot_path(current_snapshot_id(lake) or "")
    with duckdb.connect(str(snapshot), read_only=True) as con:
        run_ids = {r[0] for r in con.execute(f"select distinct run_id from main.{DQ_RESULTS}").fetchall()}
    assert run_ids == {report.run_id}


_CRASH_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import pipelines.batch.ingest as ingest

    after, written = int(sys.argv[1]), 0
    real = ingest.write_parquet_atomic

    def write(df, path):
        global written
        if written >= after:
            os.kill(os.getpid(), signal.SIGKILL)
        written += 1
        return real(df, path)

    ingest.write_parquet_atomic = write
    from pipelines.settings import Settings
    ingest.ingest_all(Settings.from_env(), progress=False)
    """
)


def test_a_killed_ingest_leaves_nothing_visible_and_the_next_one_cleans_up(s3_settings: Settings) -> None:
    lake = Lake.of(s3_settings)
    header = "ORDER_ID,CUSTOMER_ID,ORDER_DATE,ORDER_AMOUNT,STATUS,CHANNEL\n"
    customers = "CUSTOMER_ID,NAME,EMAIL,SIGNUP_DATE,COUNTRY\n1,Ann,ann@example.com,2024-01-01,DE\n"
    storage.write_text_atomic(lake.landing_dir("customers") / "customers.csv", customers)
    rows = "".join(f"{i},1,2025-0{1 + i % 6}-0{1 + i % 8},{i}.5,completed,web\n" for i in range(1, 40))
    storage.write_text_atomic(lake.landing_dir("orders") / "orders.csv", header + rows)
    proc = subprocess.run([sys.executable, "-c", _CRASH_CHILD, "3"], cwd=REPO_ROOT, env=child_env(lake),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == -9, proc.stderr[-2000:]
    on_store = [f.path for f in storage.list_files(lake.raw_dir("orders"), recursive=True)]
    assert on_store, "the killed attempt wrote some partition files"
    assert committed_files(lake, "orders") == []  # written, but no ledger record lists them
    assert read_committed(lake, "orders").height == 0
    report = ingest_all(s3_settings, progress=False)
    assert report.removed_leftovers == len(on_store)
    orders = read_committed(lake, "orders")
    assert orders.height == 39 and orders["order_id"].n_unique() == 39
    listed = {str(p) for p in committed_files(lake, "orders")}
    assert {str(f.path) for f in storage.list_files(lake.raw_dir("orders"), recursive=True)} == listed
    again = ingest_all(s3_settings, progress=False)
    assert {f.status for f in again.files} == {"skipped"}
    assert read_committed(lake, "customers", ["customer_id"])["customer_id"].to_list() == [1]


def test_python_readers_work_on_the_store(s3_settings: Settings) -> None:
    from pipelines.catalog import load_click_catalog
    from pipelines.quality.volume import daily_counts

    lake = Lake.of(s3_settings)
    write_exports(build_dataset(0.003, SEED, REFERENCE_END_DATE), lake, scale=0.003, seed=SEED)
    assert not ingest_all(s3_settings, progress=False).failed_files
    catalog = load_click_catalog(lake)
    assert len(catalog.customer_ids) > 0 and len(catalog.product_ids) > 0
    counts = daily_counts(lake, "orders")
    assert sum(counts.values()) == read_committed(lake, "orders").height > 0
    assert isinstance(read_committed(lake, "products", ["product_id"]), pl.DataFrame)
    # The clickstream readers: the dashboard's live panel and the drop monitor read committed files.
    import datetime as dt

    from pipelines.dashboard.live import clickstream_live
    from pipelines.quality.clickstream import load_events

    _seed_clickstream(lake)
    events = read_committed(lake, "clickstream_events", ["event_id", "event_time"])
    assert events.height == events["event_id"].n_unique() > 0
    live = clickstream_live(s3_settings, window_minutes=24 * 60)  # through the reader sandbox, on the bucket
    assert live is not None and live.window_events > 0 and live.files_read > 0
    start, end = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc), dt.datetime(2025, 6, 4, tzinfo=dt.timezone.utc)
    assert load_events(lake, start, end).height == events.height


def test_extract_landing_and_cursors_on_the_store(s3_settings: Settings) -> None:
    """`shoplake extract`'s landing (frames kept under landing/<table>/_extracts/, one ledger record per
    chunk carrying its cursor range) and its cursor reads (high-water mark, lookback) on the bucket."""
    import datetime as dt

    from pipelines.batch.ingest import FileStatus, landing_frames
    from pipelines.batch.ledger import current_epoch
    from pipelines.extract.cursor import already_landed, chunk_info, high_water

    lake = Lake.of(s3_settings)
    at = dt.datetime(2025, 6, 1, 12, 0)
    chunks = [
        pl.DataFrame({"CATEGORY_ID": [1, 2], "CATEGORY_NAME": ["Books", "Toys"], "updated_at": [at, at]}),
        pl.DataFrame({"CATEGORY_ID": [3], "CATEGORY_NAME": ["Garden"], "updated_at": [at + dt.timedelta(hours=1)]}),
    ]

    def land(frames: list[pl.DataFrame], **kwargs) -> list[str]:
        with landing_frames(s3_settings, "categories", **kwargs) as landing:
            return [
                landing.land(f, source_name=f"erp.categories#{i}",
                             extract=chunk_info(f, "updated_at", "timestamp", source="erp", cursor="updated_at")).status
                for i, f in enumerate(frames)
            ]  # fmt: skip

    assert land(chunks) == [FileStatus.LANDED, FileStatus.LANDED]
    kept = storage.list_files(lake.extracts_dir("categories"))
    assert len(kept) == 2 and all(str(f.path).startswith(lake.uri or "-") for f in kept)
    assert not (lake.root / "landing").exists() and not (lake.root / "ledger").exists()
    mark = high_water(lake, "categories", "erp", "updated_at")
    assert mark is not None and mark.value == at + dt.timedelta(hours=1)
    seen = already_landed(lake, mark, ["CATEGORY_ID"], at + dt.timedelta(minutes=30))
    assert seen["CATEGORY_ID"].to_list() == [3]
    assert land(chunks[:1]) == [FileStatus.SKIPPED]  # the same rows again: committed before
    assert land(chunks[1:], replace=lambda _record: True) == [FileStatus.LANDED]  # a full refresh: a new epoch
    assert current_epoch(lake, "categories") == 1
    assert sorted(read_committed(lake, "categories")["category_id"].to_list()) == [3]
