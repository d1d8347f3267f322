"""The stream writer against the real local broker: exactly once, dead letters, signals, crashes."""

from __future__ import annotations

import gc
import itertools
import re
import signal
import threading
import time

import duckdb
import pyarrow as pa

from pipelines.catalog import committed_files
from pipelines.lake import CLICKSTREAM_TABLE
from pipelines.settings import Settings
from pipelines.stream.checkpoint import load_checkpoint, read_checkpoint
from pipelines.stream.compaction import stream_files
from pipelines.stream.config import StopReason
from pipelines.stream.wiring import run_clickstream
from pipelines.stream.writer import run_stream

from ..helpers import kill_writers_while_producing
from .conftest import StreamCase


def test_empty_events_table_is_readable_before_any_event(case: StreamCase) -> None:
    # dbt's source view (pipelines/warehouse/lake_sources.py): typed and empty, with no placeholder file.
    from pipelines.warehouse.lake_sources import create_views

    with duckdb.connect() as con:
        create_views(con, case.lake)
        rel = con.sql(f"select * from raw.{CLICKSTREAM_TABLE}")
        assert rel.fetchall() == []
        assert {"event_id", "event_time", "customer_id", "event_date"} <= set(rel.columns)


def test_until_caught_up_lands_each_event_exactly_once(case: StreamCase) -> None:
    produced = case.produce(events=30_000)
    stats = run_stream(case.lake, case.config(flush_events=4_000), "until-caught-up")
    assert stats.events == produced.events == 30_000
    assert stats.flushes >= 7
    assert case.counts() == (30_000, 30_000)
    # A second run finds nothing new and changes nothing.
    again = run_stream(case.lake, case.config(), "until-caught-up")
    assert again.events == 0
    assert case.counts() == (30_000, 30_000)
    assert sum(read_checkpoint(case.lake, CLICKSTREAM_TABLE, case.topic).values()) == 30_000
    # Checkpoint removed by hand: the files are trusted, nothing is deleted or read twice.
    case.lake.stream_checkpoint(CLICKSTREAM_TABLE, case.topic).unlink()
    assert run_stream(case.lake, case.config(), "until-caught-up").events == 0
    assert case.counts() == (30_000, 30_000)


def test_behind_a_backlog_files_grow_across_micro_batches(case: StreamCase) -> None:
    """Catching up commits few, large files (no compaction needed) and still lands each event once."""
    produced = case.produce(events=60_000)
    config = case.config(flush_events=2_000, flush_seconds=0.05, backlog_commit_seconds=60, compact_files=8)
    stats = run_stream(case.lake, config, "until-caught-up")
    assert stats.events == produced.events == 60_000
    assert stats.flushes >= 30  # the size bound still cuts micro-batches: memory stays bounded
    assert stats.commits <= stats.flushes // 3, stats  # but they are not each a commit
    assert stats.compacted_files == 0
    files = [f for d in case.lake.stream_partition_dirs(CLICKSTREAM_TABLE) for f in stream_files(d)]
    assert len(files) <= 3 * stats.commits
    spans = [f.file_id.last_offset - f.file_id.first_offset + 1 for f in files]
    assert max(spans) > 4 * config.flush_events
    assert case.counts() == (60_000, 60_000)


def test_wiring_takes_broker_topic_and_bounds_from_settings(case: StreamCase) -> None:
    """The one wiring the CLI, the flow and the demo share: broker, topic and flush bounds from settings."""
    produced = case.produce(events=3_000)
    env = case.env(SHOPLAKE_STREAM_FLUSH_EVENTS="1000", SHOPLAKE_STREAM_COMPACT_FILES="0")
    settings = Settings.from_env({k: v for k, v in env.items() if k.startswith(("SHOPLAKE_", "KAFKA_"))})
    gc_before, pool_before = gc.get_threshold(), pa.default_memory_pool().backend_name
    stats = run_clickstream(settings, "until-caught-up")
    # In-process callers (the flow, the demo) keep their process as it was: only `shoplake stream` tunes it.
    assert (gc.get_threshold(), pa.default_memory_pool().backend_name) == (gc_before, pool_before)
    assert (stats.events, stats.dead_letters, stats.stopped_by) == (produced.events, 0, StopReason.CAUGHT_UP)
    assert produced.events == 3_000
    assert stats.flushes >= 3  # SHOPLAKE_STREAM_FLUSH_EVENTS=1000 bounds each micro-batch
    assert re.search(rf"in {stats.flushes} flushes", stats.summary())
    assert case.counts() == (3_000, 3_000)


def test_bad_messages_go_to_dead_letter_and_good_ones_land(case: StreamCase) -> None:
    produced = case.produce(events=6_000, bad_rate=0.05)
    assert produced.bad > 100
    stats = run_stream(case.lake, case.config(), "until-caught-up")
    dead = case.dead_letters()
    assert stats.dead_letters == len(dead) == produced.bad
    assert case.counts() == (6_000 - produced.bad, 6_000 - produced.bad)
    assert all(reason for _, _, reason in dead)
    kinds = {r.split(":")[0].split(" ")[0] for _, _, r in dead}
    assert kinds >= {"invalid", "unknown", "missing", "event_time"}
    # Every offset is accounted for exactly once: landed or dead-lettered.
    glob = case.lake.raw_glob(CLICKSTREAM_TABLE)
    landed = duckdb.sql(
        f"select source_partition, source_offset from read_parquet('{glob}', hive_partitioning=true)"
    ).fetchall()
    offsets = sorted([(int(p), int(o)) for p, o in landed] + [(p, o) for p, o, _ in dead])
    assert len(offsets) == len(set(offsets)) == 6_000
    ends = read_checkpoint(case.lake, CLICKSTREAM_TABLE, case.topic)
    assert offsets == sorted((p, o) for p, end in ends.items() for o in range(end))


def test_sigterm_flushes_and_exits_zero(case: StreamCase) -> None:
    proc = case.spawn_writer("--forever", SHOPLAKE_STREAM_FLUSH_SECONDS="120")
    assert proc.stderr is not None
    assert b"consuming" in proc.stderr.readline()
    case.produce(events=3_000)
    time.sleep(1.5)  # consumed into the in-memory batch, not flushed (time bound is 120 s)
    assert case.counts() == (0, 0)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert case.counts() == (3_000, 3_000)


def test_kill_9_at_random_moments_loses_and_doubles_nothing(case: StreamCase) -> None:
    kills, total = kill_writers_while_producing(
        case, rate=2_500, duration_s=18.0, seed=3, min_kills=20, pause=(0.4, 1.6), rng_seed=20
    )
    final = run_stream(case.lake, case.config(), "until-caught-up")
    assert kills >= 20
    assert case.counts() == (total, total)
    assert final.events < total  # the killed writers did most of the work
    leftovers = [p for d in case.lake.stream_partition_dirs(CLICKSTREAM_TABLE) for p in d.iterdir()]
    assert not [p for p in leftovers if p.name.startswith(".")]


def test_compaction_never_shows_a_reader_an_event_twice_or_loses_one(case: StreamCase) -> None:
    produced = case.produce(events=20_000)
    stop = threading.Event()
    seen: list[tuple[int, int]] = []
    errors: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.append(case.counts())
            except duckdb.Error as exc:  # a file listed just before a swap: retryable, never wrong
                errors.append(str(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    # Every micro-batch committed, as when keeping up with live traffic: many small files.
    config = case.config(flush_events=250, compact_files=8, backlog_commit_seconds=0)
    stats = run_stream(case.lake, config, "until-caught-up")
    stop.set()
    thread.join()
    assert stats.compacted_files > 40
    assert len(seen) > 20
    assert all(rows == distinct for rows, distinct in seen), "a reader saw an event twice"
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(seen)), "a reader lost events"
    assert case.counts() == (produced.events, produced.events)
    # Readers read few files now; the merged-away ones are retired (deleted after the grace period).
    assert len(committed_files(case.lake, CLICKSTREAM_TABLE)) < stats.files / 4
    retired = load_checkpoint(case.lake, CLICKSTREAM_TABLE, case.topic).retired_files
    on_disk = [f for d in case.lake.stream_partition_dirs(CLICKSTREAM_TABLE) for f in stream_files(d)]
    assert len(retired) >= stats.compacted_files
    assert {f"{f.path.parent.name}/{f.path.name}" for f in on_disk} >= retired


def test_wiring_types_the_event_keys_as_the_batch_contracts_do(case: StreamCase, tmp_path, monkeypatch) -> None:
    """A shop with string customer numbers and SKUs (its contracts say so): the writer wired from settings
    lands them as strings, and events with integer ids are dead letters that say why."""
    import polars as pl
    import yaml

    from pipelines.batch.contract import CONTRACTS_DIR
    from pipelines.catalog import read_committed
    from pipelines.stream.simulator import Catalog, catalog_from, kafka_sender, simulate_clicks

    string_keys = {("customers", "customer_id"), ("orders", "customer_id"), ("products", "product_id"),
                   ("order_items", "product_id")}  # fmt: skip
    for path in CONTRACTS_DIR.glob("*.yml"):
        raw = yaml.safe_load(path.read_text())
        for column in raw["columns"]:
            if (raw["table"], column["name"]) in string_keys:
                column["type"] = "string"
        (tmp_path / path.name).write_text(yaml.safe_dump(raw))
    monkeypatch.setattr("pipelines.batch.contract.CONTRACTS_DIR", tmp_path)

    customers = pl.DataFrame({"customer_id": [f"K-{i}" for i in range(1, 200)]})
    products = pl.DataFrame({"product_id": [f"GH-{i}" for i in range(1, 40)], "category_id": [1] * 39})
    send, close = kafka_sender(case.bootstrap, case.topic)
    good = simulate_clicks(send, catalog_from(customers, products), events=3_000, seed=1)
    integers = simulate_clicks(send, Catalog.synthetic(50, 10), events=500, seed=2)
    close()
    env = case.env(SHOPLAKE_STREAM_COMPACT_FILES="0")
    settings = Settings.from_env({k: v for k, v in env.items() if k.startswith(("SHOPLAKE_", "KAFKA_"))})
    stats = run_clickstream(settings, "until-caught-up")

    landed = read_committed(case.lake, CLICKSTREAM_TABLE)
    assert landed.schema["customer_id"] == pl.String and landed.schema["product_id"] == pl.String
    assert set(landed["product_id"].drop_nulls()) <= {f"GH-{i}" for i in range(1, 40)}
    dead = case.dead_letters()
    assert dead and {reason for _, _, reason in dead} <= {"customer_id must be a string", "product_id must be a string"}
    assert stats.events + stats.dead_letters == good.events + integers.events == 3_500
    assert stats.events >= good.events
