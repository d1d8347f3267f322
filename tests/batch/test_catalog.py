"""The catalog of committed files and dbt's `raw.<table>` views: stream files count once their
checkpoint covers them (compacted or not), every table has a typed view even with no file."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone

import duckdb

from pipelines.catalog import committed_files, read_committed, tables
from pipelines.lake import CLICKSTREAM_TABLE, Lake, StreamFileId
from pipelines.stream.checkpoint import load_checkpoint, save_checkpoint
from pipelines.stream.compaction import compact_partition
from pipelines.stream.segment import land_messages
from pipelines.stream.simulator import Catalog, SessionGenerator, encode
from pipelines.warehouse.lake_sources import create_views

TOPIC = "clickstream.events"


def _land_clicks(lake: Lake, batches: int, events: int = 50) -> int:
    sessions = SessionGenerator(Catalog.synthetic(100, 20), seed=3)
    total = 0
    for i in range(batches):
        frame = sessions.chunk(events, datetime(2025, 6, 1, 10 + i, tzinfo=timezone.utc), span_s=600)
        total += land_messages(lake, encode(frame)[0], TOPIC).events
    return total


def _view_count(lake: Lake, table: str = CLICKSTREAM_TABLE) -> int:
    with duckdb.connect() as con:
        create_views(con, lake)
        return con.execute(f"select count(*) from raw.{table}").fetchone()[0]


def test_a_stream_file_beyond_the_checkpoint_is_not_committed(lake: Lake) -> None:
    landed = _land_clicks(lake, 2)
    committed = committed_files(lake, CLICKSTREAM_TABLE)
    assert len(committed) >= 2 and read_committed(lake, CLICKSTREAM_TABLE).height == landed
    # A flush that crashed after publishing its files but before its checkpoint: whole files
    # (stream files are written once, whole) whose first offset the checkpoint does not cover.
    for p, first in ((0, 10_000), (3, 0)):
        ahead = StreamFileId(TOPIC, p, first, first + 49)
        shutil.copyfile(committed[-1], committed[-1].parent / f"{ahead.name}.parquet")
    assert committed_files(lake, CLICKSTREAM_TABLE) == committed
    assert _view_count(lake) == landed


def test_compacted_stream_files_stay_committed(lake: Lake) -> None:
    landed = _land_clicks(lake, 4)
    with duckdb.connect() as con:
        create_views(con, lake)  # views made before the compaction, as by a dbt build in progress
        checkpoint = load_checkpoint(lake, CLICKSTREAM_TABLE, TOPIC)
        for part_dir in lake.stream_partition_dirs(CLICKSTREAM_TABLE):
            compact_partition(lake, part_dir, checkpoint)
        assert read_committed(lake, CLICKSTREAM_TABLE).height == landed  # merged files not counted yet
        save_checkpoint(lake, CLICKSTREAM_TABLE, checkpoint)  # the commit of the compaction
        assert len(committed_files(lake, CLICKSTREAM_TABLE)) == 1
        assert con.execute(f"select count(*) from raw.{CLICKSTREAM_TABLE}").fetchone() == (landed,)
    assert read_committed(lake, CLICKSTREAM_TABLE).height == landed


def test_every_table_has_a_typed_view_before_any_data(lake: Lake) -> None:
    assert tables(lake) == ["categories", "clickstream_events", "customers", "order_items", "orders", "products"]
    assert not (lake.root / "raw" / CLICKSTREAM_TABLE).exists()  # no placeholder file any more
    with duckdb.connect() as con:
        create_views(con, lake)
        for table in tables(lake):
            assert con.execute(f"select count(*) from raw.{table}").fetchone() == (0,)
        types = dict(con.execute(f"select column_name, column_type from (describe raw.{CLICKSTREAM_TABLE})").fetchall())
    assert types["event_time"] == "TIMESTAMP WITH TIME ZONE" and types["event_date"] == "DATE"
    assert types["source_partition"] == "INTEGER"


def test_hive_partition_types_do_not_depend_on_the_values(lake: Lake) -> None:
    _land_clicks(lake, 1)
    with duckdb.connect() as con:
        create_views(con, lake)
        types = dict(con.execute(f"select column_name, column_type from (describe raw.{CLICKSTREAM_TABLE})").fetchall())
    assert types["event_date"] == "DATE"
