"""Promotion protocol: resumable after a kill, idempotent, schema drift handled, clear credential errors."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import polars as pl
import pytest

from pipelines import cli
from pipelines.settings import Settings
from pipelines.storage import write_parquet_atomic
from pipelines.warehouse import snowsim
from pipelines.warehouse.promote import (
    _create_table,
    copy_files,
    count_rows,
    ensure_raw,
    lake_files,
    promote,
    upload,
)
from pipelines.warehouse.snowflake import connect, resolve_target

from ..helpers import commit_raw_file, commit_stream_files

pytestmark = pytest.mark.slow


def raw_rows(lake, table: str) -> int:
    return pl.scan_parquet(str(lake.raw_dir(table) / "**" / "*.parquet")).select(pl.len()).collect().item()


def assert_counts_equal_lake(lake, settings: Settings) -> None:
    con = connect(resolve_target(settings, "snowsim"))
    try:
        cur = con.cursor()
        for table in lake.raw_tables():
            assert count_rows(cur, table) == raw_rows(lake, table), table
    finally:
        con.close()


def test_resume_after_kill_between_put_and_copy_and_between_copy_and_manifest(fresh_snowsim) -> None:
    lake, settings = fresh_snowsim
    con = connect(resolve_target(settings, "snowsim"))
    cur = con.cursor()
    ensure_raw(cur)
    # "killed" after PUT, before COPY
    orders = lake_files(lake, "orders")
    _create_table(cur, "orders", orders)
    upload(cur, "orders", orders)
    # "killed" after COPY committed, before the manifest recorded it
    customers = lake_files(lake, "customers")
    _create_table(cur, "customers", customers)
    upload(cur, "customers", customers)
    copy_files(cur, "customers", [f.rel for f in customers])
    con.close()

    report = promote(settings, "snowsim", build=False, progress=False)
    by_table = {t.table: t for t in report.tables}
    assert report.ok, report.render()
    assert by_table["orders"].uploaded == 0 and by_table["orders"].already_staged == len(orders)
    assert by_table["orders"].loaded_files == len(orders)
    assert by_table["customers"].loaded_files == 0  # Snowflake's load history skipped it
    assert by_table["customers"].skipped_files == len(customers)
    assert_counts_equal_lake(lake, settings)

    again = promote(settings, "snowsim", build=False, progress=False)
    assert sum(t.loaded_files for t in again.tables) == 0
    assert_counts_equal_lake(lake, settings)


def test_promote_process_killed_midway_resumes_without_duplicates(fresh_snowsim) -> None:
    lake, settings = fresh_snowsim
    env = {**os.environ, "SHOPLAKE_LAKE_DIR": str(lake.root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "promote", "--target", "snowsim", "--no-build"],
        env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    # Kill it hard once it is busy with the partitioned orders table (24 files: PUTs, then COPY).
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("orders:"):
            time.sleep(0.1)
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    report = promote(settings, "snowsim", build=False, progress=False)
    assert report.ok, report.render()
    assert any(t.loaded_files for t in report.tables), report.render()  # the kill did interrupt the load
    assert_counts_equal_lake(lake, settings)
    assert sum(t.loaded_files + t.skipped_files for t in report.tables) == sum(t.lake_files for t in report.tables)


def test_new_column_is_refused_or_added_and_never_half_loaded(fresh_snowsim) -> None:
    lake, settings = fresh_snowsim
    first = promote(settings, "snowsim", tables=["categories"], build=False, progress=False)
    assert first.ok, first.render()
    before = raw_rows(lake, "categories")
    # Upstream added a column: a new lake file carries it (an old file keeps the old shape).
    drifted = pl.DataFrame({
        "category_id": [901, 902], "category_name": ["Drones", "Vinyl"], "category_group": ["tech", "music"],
        "_source_line": [2, 3], "_source_file": ["categories_v2.csv"] * 2,
    }).with_columns(pl.lit(None, dtype=pl.Datetime("us")).alias("_ingested_at"))  # fmt: skip
    commit_raw_file(
        lake, "categories", write_parquet_atomic(drifted, lake.raw_file("categories", "categories_v2-0123456789ab"))
    )

    refused = promote(settings, "snowsim", tables=["categories"], on_new_column="refuse", build=False, progress=False)
    t = refused.tables[0]
    assert (t.status, t.loaded_files, t.snowflake_rows) == ("refused", 0, None)
    assert "category_group" in (t.message or "") and not refused.ok
    con = connect(resolve_target(settings, "snowsim"))
    try:
        assert count_rows(con.cursor(), "categories") == before  # nothing of the new file loaded
    finally:
        con.close()

    added = promote(settings, "snowsim", tables=["categories"], build=False, progress=False)
    t = added.tables[0]
    assert added.ok, added.render()
    assert t.added_columns == ["category_group VARCHAR"] and t.loaded_files == 1 and t.loaded_rows == 2
    con = connect(resolve_target(settings, "snowsim"))
    try:
        cur = con.cursor()
        cur.execute("select category_id, category_group from RAW.CATEGORIES where category_group is not null")
        assert sorted(cur.fetchall()) == [(901, "tech"), (902, "music")]
        assert count_rows(cur, "categories") == before + 2
    finally:
        con.close()

    # A type conflict (ids as text) refuses the whole table before anything loads.
    bad = drifted.with_columns(pl.col("category_id").cast(pl.String) + "x")
    commit_raw_file(
        lake, "categories", write_parquet_atomic(bad, lake.raw_file("categories", "categories_v3-ba9876543210"))
    )
    conflict = promote(settings, "snowsim", tables=["categories"], build=False, progress=False)
    assert conflict.tables[0].status == "refused" and "category_id" in (conflict.tables[0].message or "")


def test_table_without_contract_is_created_from_its_parquet(fresh_snowsim) -> None:
    """The clickstream events table (or any new raw table) needs no promotion code of its own."""
    lake, settings = fresh_snowsim
    shutil.rmtree(lake.raw_dir("clickstream_events"))  # only this test's file (the session lake seeds clicks)
    events = pl.DataFrame({
        "event_id": ["e1", "e2", "e3"], "session_id": ["s1", "s1", "s2"], "customer_id": [1, None, 7],
        "event_type": ["page_view", "add_to_cart", "purchase"], "price": [None, 9.5, 20.0],
    }).with_columns(pl.datetime(2025, 3, 1, 12, 0, 0, time_zone="UTC").alias("event_at"))  # fmt: skip
    name = "clicks__p000__000000000000-000000000002"
    write_parquet_atomic(events, lake.raw_file("clickstream_events", name, ("event_date", "2025-03-01")))
    commit_stream_files(lake, "clickstream_events", "clicks")
    report = promote(settings, "snowsim", tables=["clickstream_events"], build=False, progress=False)
    t = report.tables[0]
    assert report.ok and t.created and t.loaded_rows == t.snowflake_rows == 3, report.render()


def _prod_env(lake_root, **overrides: str) -> dict[str, str]:
    env = {
        "SHOPLAKE_LAKE_DIR": str(lake_root), "SNOWFLAKE_ACCOUNT": "acme-test", "SNOWFLAKE_USER": "loader",
        "SNOWFLAKE_PASSWORD": "s3cr3t-DO-NOT-PRINT", "SNOWFLAKE_WAREHOUSE": "LOAD_WH",
        "SNOWFLAKE_DATABASE": "SHOPLAKE", "SNOWFLAKE_LOGIN_TIMEOUT": "5",
    }  # fmt: skip
    env.update(overrides)
    return {k: v for k, v in env.items() if v}


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"SNOWFLAKE_ACCOUNT": ""}, "SNOWFLAKE_ACCOUNT"),
        ({"SNOWFLAKE_PASSWORD": ""}, "SNOWFLAKE_PASSWORD"),
        ({"SNOWFLAKE_WAREHOUSE": ""}, "SNOWFLAKE_WAREHOUSE"),
        ({"SNOWFLAKE_PRIVATE_KEY_PATH": "/nonexistent/key.p8"}, "SNOWFLAKE_PRIVATE_KEY_PATH"),
        ({"SNOWFLAKE_HOST": "127.0.0.1", "SNOWFLAKE_PORT": "PORT", "SNOWFLAKE_PROTOCOL": "http"}, "SNOWFLAKE_HOST"),
    ],
)
def test_bad_settings_give_one_line_error_without_secret(tmp_path, overrides, named) -> None:
    if overrides.get("SNOWFLAKE_PORT") == "PORT":
        overrides = {**overrides, "SNOWFLAKE_PORT": str(snowsim.free_port())}  # nothing listens there
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNOWFLAKE_")}
    env.update(_prod_env(tmp_path, **overrides))
    for key in [k for k, v in overrides.items() if not v]:
        env.pop(key, None)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "promote", "--target", "prod"],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shoplake promote: error:"), proc.stderr
    assert named in lines[0]
    assert "s3cr3t" not in proc.stderr + proc.stdout
    assert time.monotonic() - started < 60


def test_snowsim_not_running_is_a_clear_error(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(tmp_path))
    assert cli.main(["snowsim", "status"]) == 1
    assert "not running" in capsys.readouterr().out
    assert cli.main(["promote", "--target", "snowsim"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "shoplake snowsim start" in err[0]


def test_prod_target_works_through_host_port_protocol_overrides(promoted_lake, monkeypatch) -> None:
    """The `prod` code path (settings, connector, dbt profile) against the emulator via SNOWFLAKE_HOST etc."""
    env = _prod_env(promoted_lake.lake.root, SNOWFLAKE_ACCOUNT="fakesnow", SNOWFLAKE_HOST="127.0.0.1",
                    SNOWFLAKE_PORT=str(promoted_lake.port), SNOWFLAKE_PROTOCOL="http")  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings.from_env(env)
    target = resolve_target(settings, "prod")
    assert "s3cr3t" not in repr(target) and "s3cr3t" not in repr(settings)
    con = connect(target)
    try:
        assert count_rows(con.cursor(), "orders") == raw_rows(promoted_lake.lake, "orders")
    finally:
        con.close()
    from pipelines.warehouse.dbt import invoke_dbt

    result = invoke_dbt(settings, ["run", "--select", "stg_shop__categories"], target="prod", progress=False)
    assert result.success, result.summary()


def test_failure_inside_the_load_transaction_rolls_back_the_copy(fresh_snowsim, monkeypatch) -> None:
    """COPY and the manifest insert commit together: an error between them leaves the table untouched."""
    from pipelines.warehouse import promote as promote_module

    lake, settings = fresh_snowsim
    real_load = promote_module.load_table

    def failing_load(cur, table, rels, **kwargs):
        class Boom(Exception):
            pass

        original = cur.executemany

        def explode(*args, **kwargs):
            raise Boom("simulated crash after COPY, before the manifest insert")

        cur.executemany = explode
        try:
            return real_load(cur, table, rels, **kwargs)
        finally:
            cur.executemany = original

    monkeypatch.setattr(promote_module, "load_table", failing_load)
    with pytest.raises(Exception, match="simulated crash"):
        promote(settings, "snowsim", tables=["products"], build=False, progress=False)
    con = connect(resolve_target(settings, "snowsim"))
    try:
        assert count_rows(con.cursor(), "products") == 0
    finally:
        con.close()
    monkeypatch.setattr(promote_module, "load_table", real_load)
    report = promote(settings, "snowsim", tables=["products"], build=False, progress=False)
    table = report.tables[0]
    assert report.ok and table.loaded_files == 1 and table.snowflake_rows == raw_rows(lake, "products")


def _events(first: int, last: int) -> pl.DataFrame:
    """Clickstream-like rows carrying their source position, as the stream writer lands them."""
    offsets = list(range(first, last + 1))
    frame = pl.DataFrame({
        "event_id": [f"e{o}" for o in offsets], "event_type": ["page_view"] * len(offsets),
        "session_id": [f"s{o // 3}" for o in offsets], "source_log": ["clicks"] * len(offsets),
        "source_partition": [0] * len(offsets), "source_offset": offsets,
    })  # fmt: skip
    return frame.with_columns(
        pl.col("source_partition").cast(pl.Int32),
        pl.datetime(2025, 3, 1, 12, 0, 0, time_zone="UTC").alias("event_time"),
    )


def test_compacted_stream_files_do_not_double_rows(fresh_snowsim) -> None:
    """Compaction rewrites small stream files into one merged file under a new name: its rows that are
    in Snowflake already must not load twice, the new ones must."""
    lake, settings = fresh_snowsim
    shutil.rmtree(lake.raw_dir("clickstream_events"))  # only this test's files (the session lake seeds clicks)
    part = ("event_date", "2025-03-01")
    small = [lake.raw_file("clickstream_events", f"clicks__p000__{a:012d}-{b:012d}", part) for a, b in ((0, 4), (5, 9))]
    write_parquet_atomic(_events(0, 4), small[0])
    write_parquet_atomic(_events(5, 9), small[1])
    commit_stream_files(lake, "clickstream_events", "clicks")
    first = promote(settings, "snowsim", tables=["clickstream_events"], build=False, progress=False)
    assert first.ok and first.tables[0].snowflake_rows == 10, first.render()

    # compaction: the two small files and a newer range become one merged file
    write_parquet_atomic(_events(0, 14), lake.raw_file("clickstream_events", f"clicks__p000__{0:012d}-{14:012d}", part))
    for path in small:
        path.unlink()
    commit_stream_files(lake, "clickstream_events", "clicks")
    second = promote(settings, "snowsim", tables=["clickstream_events"], build=False, progress=False)
    t = second.tables[0]
    assert second.ok, second.render()
    assert (t.loaded_files, t.loaded_rows, t.snowflake_rows, t.lake_rows) == (1, 5, 15, 15)
    con = connect(resolve_target(settings, "snowsim"))
    try:
        cur = con.cursor()
        cur.execute("select count(distinct source_offset), min(source_offset), max(source_offset) "
                    "from RAW.CLICKSTREAM_EVENTS")  # fmt: skip
        assert cur.fetchone() == (15, 0, 14)
    finally:
        con.close()
    assert sum(t.loaded_files for t in promote(settings, "snowsim", build=False, progress=False).tables
               if t.table == "clickstream_events") == 0  # fmt: skip


def test_unreadable_lake_file_fails_its_table_only(fresh_snowsim, monkeypatch, capsys) -> None:
    lake, settings = fresh_snowsim
    bad = lake.raw_dir("categories") / "broken-000000000000.parquet"
    bad.write_bytes(b"not parquet at all")
    commit_raw_file(lake, "categories", bad, rows=0)
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(lake.root))
    rc = cli.main(["promote", "--target", "snowsim", "--table", "categories", "--table", "products"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "broken-000000000000.parquet is not readable Parquet" in out and "dbt build skipped" in out
    report = promote(settings, "snowsim", tables=["products"], build=False, progress=False)
    assert report.ok and report.tables[0].skipped_files == 1  # products loaded in the failed run
    con = connect(resolve_target(settings, "snowsim"))
    try:
        assert count_rows(con.cursor(), "products") == raw_rows(lake, "products")
    finally:
        con.close()


def test_snowsim_restart_starts_clean_and_promotion_reloads_once(fresh_snowsim, monkeypatch, capsys) -> None:
    """snowsim keeps everything in memory: after stop/start the RAW tables, manifest and stage are gone,
    and a promotion loads every file exactly once again."""
    lake, settings = fresh_snowsim
    first = promote(settings, "snowsim", tables=["orders"], build=False, progress=False)
    assert first.ok and first.tables[0].loaded_files > 0
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(lake.root))
    assert cli.main(["snowsim", "stop"]) == 0
    assert cli.main(["snowsim", "status"]) == 1
    assert cli.main(["snowsim", "start"]) == 0
    assert cli.main(["snowsim", "status"]) == 0
    assert "running" in capsys.readouterr().out
    again = promote(settings, "snowsim", tables=["orders"], build=False, progress=False)
    t = again.tables[0]
    assert again.ok, again.render()
    assert t.created and t.loaded_files == t.lake_files and t.snowflake_rows == raw_rows(lake, "orders")
