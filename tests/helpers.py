"""Helpers shared by test packages (fixtures live in conftest.py files; these are plain functions)."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.warehouse.serving import current_snapshot_id

if TYPE_CHECKING:
    from pipelines.warehouse.promote import PromotionReport

# Debian's Chromium, driven by Playwright (`playwright install` cannot download here); .ci/system-deps installs it
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def launch_chromium(playwright: Any) -> Any:
    """A headless Chromium browser with the flags this machine and CI need."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until the Streamlit server `proc` answers its health check (fail at once if it exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read() if proc.stdout else ""
            raise RuntimeError(f"dashboard exited with {proc.returncode}: {output}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"dashboard at {url} not healthy after {timeout}s")


def stop_process(proc: subprocess.Popen, timeout_s: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout_s` (a test's server must not outlive it)."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# DuckDB types of the marts -> the Snowflake types dbt-snowflake would create
SNOWFLAKE_TYPES = {"BIGINT": "number(38, 0)", "HUGEINT": "number(38, 0)", "INTEGER": "number(38, 0)",
                   "DOUBLE": "float"}  # fmt: skip


def snowflake_type(duckdb_type: str) -> str:
    return SNOWFLAKE_TYPES.get(duckdb_type, duckdb_type.replace("DECIMAL", "number"))


def copy_marts_to_fakesnow(snapshot: Path, con: Any, tables: Sequence[str] | None = None) -> list[str]:
    """Copy tables of a DuckDB snapshot into the current schema of a fakesnow connection.

    `tables` defaults to every base table of the snapshot's `main` schema (the marts; dbt's stored test
    failures live in main_dbt_test__audit). fakesnow parses every statement as Snowflake SQL, so the
    copy has Snowflake column types and upper-case names, as a dbt build on Snowflake would leave them.
    """
    from fakesnow.pandas_tools import write_pandas

    src = duckdb.connect(str(snapshot), read_only=True)
    try:
        if tables is None:
            tables = [r[0] for r in src.execute(
                "select table_name from information_schema.tables "
                "where table_type = 'BASE TABLE' and table_schema = 'main' order by 1"
            ).fetchall()]  # fmt: skip
        for table in tables:
            columns = src.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'main' and table_name = ? order by ordinal_position",
                [table],
            ).fetchall()
            assert columns, f"{table} is not in {snapshot}"
            ddl = ", ".join(f"{name} {snowflake_type(kind)}" for name, kind in columns)
            con.cursor().execute(f"create table {table} ({ddl})")
            frame = src.execute(f"select * from {table}").df()
            frame.columns = [c.upper() for c in frame.columns]
            write_pandas(con, frame, table.upper())
    finally:
        src.close()
    return list(tables)


def settings_for(lake_dir: Path, **env: str) -> Settings:
    """Settings from an explicit env, so the developer's own SNOWFLAKE_* never leak into a test."""
    return Settings.from_env({"SHOPLAKE_LAKE_DIR": str(lake_dir), **env})


@dataclass
class PromotedLake:
    lake: Lake
    settings: Settings
    promotion: PromotionReport
    port: int


def commit_raw_file(lake: Lake, table: str, path: Path, rows: int | None = None) -> Path:
    """Commit a raw file a test wrote directly (a stand-in for a buggy or older writer): a ledger
    record of its own lists it, so readers of committed files see it as they would a landed export."""
    import datetime as dt
    import hashlib

    import polars as pl

    from pipelines.batch.ledger import LedgerRecord, write_ledger_record

    rows = pl.scan_parquet(path).select(pl.len()).collect().item() if rows is None else rows
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat() + "Z"
    write_ledger_record(lake, LedgerRecord(
        table=table, source_file=path.name, sha256=hashlib.sha256(lake.rel(path).encode()).hexdigest(),
        size_bytes=path.stat().st_size, rows_in=rows, rows_landed=rows, rows_quarantined=0, ingested_at=now,
        duration_s=0.0, outputs=[lake.rel(path)],
    ))  # fmt: skip
    return path


def commit_stream_files(lake: Lake, table: str, topic: str) -> None:
    """Cover every stream file of `topic` under raw/<table>/ with the stream checkpoint (files a test wrote)."""
    from pipelines.lake import StreamFileId
    from pipelines.stream.checkpoint import read_checkpoint, write_checkpoint

    next_offsets = read_checkpoint(lake, table, topic)
    for path in lake.raw_dir(table).glob("*/*.parquet"):
        file_id = StreamFileId.parse(path.stem)
        if file_id is not None and file_id.topic == topic:
            next_offsets[file_id.partition] = max(next_offsets.get(file_id.partition, 0), file_id.last_offset + 1)
    write_checkpoint(lake, table, topic, next_offsets)


def copy_lake(source: Lake, root: Path, *, snapshot: bool, warehouse: bool = False) -> Lake:
    """A lake of our own with the source's raw Parquet and the ledger that commits it (and its published
    DuckDB snapshot; with `warehouse`, also the live DuckDB warehouse and dbt's artifacts, so DuckDB
    builds and tests can go on in the copy)."""
    lake = Lake(root).ensure()
    shutil.copytree(source.root / "raw", lake.root / "raw", dirs_exist_ok=True)
    shutil.copytree(source.ledger_root, lake.ledger_root, dirs_exist_ok=True)
    if warehouse:
        shutil.copytree(source.warehouse_path.parent, lake.warehouse_path.parent, dirs_exist_ok=True)
    if snapshot:
        snapshot_id = current_snapshot_id(source)
        assert snapshot_id, "the session lake has no published DuckDB build"
        shutil.copyfile(source.snapshot_path(snapshot_id), lake.snapshot_path(snapshot_id))
        lake.serving_pointer.write_text(snapshot_id + "\n", encoding="utf-8")
    return lake


def kill_writers_while_producing(
    case: Any, *, rate: int, duration_s: float, seed: int, min_kills: int, pause: tuple[float, float], rng_seed: int
) -> tuple[int, int]:
    """Produce in a thread while `shoplake stream --forever` writers are killed (-9) at random moments.

    After every kill no event may be visible twice. Returns (kills, events produced). `case` is a
    stream test case (local lake or S3) with `produce`, `spawn_writer` and `counts`. When the writer's
    stderr is a pipe, the random pause starts once it says it is consuming, so the kill falls in its
    work and not in its start-up, which takes seconds on a loaded machine.
    """
    import random
    import select
    import threading
    import time

    def wait_until_consuming(proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
        if proc.stderr is None:
            return
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0 and select.select([proc.stderr], [], [], left)[0]:
            line = proc.stderr.readline()
            if not line or b"consuming" in line:
                return

    rng = random.Random(rng_seed)
    produced: dict[str, Any] = {}

    def producer() -> None:
        produced["result"] = case.produce(rate=rate, duration_s=duration_s, seed=seed)

    thread = threading.Thread(target=producer)
    thread.start()
    kills = 0
    env = {"SHOPLAKE_STREAM_FLUSH_SECONDS": "0.2", "SHOPLAKE_STREAM_COMPACT_FILES": "6"}
    while kills < min_kills or thread.is_alive():
        proc = case.spawn_writer("--forever", **env)
        wait_until_consuming(proc)
        time.sleep(rng.uniform(*pause))
        proc.kill()
        proc.wait()
        kills += 1
        rows, distinct = case.counts()
        assert rows == distinct, f"doubled events visible after kill {kills}"
    thread.join()
    return kills, produced["result"].events
