"""The stream writer with the lake on a real S3-compatible server: exactly once through kill -9s, and
compaction committed by the checkpoint (no rename, no folder swap)."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import duckdb
import pytest

from pipelines import storage
from pipelines.catalog import committed_files
from pipelines.lake import CLICKSTREAM_TABLE, Lake
from pipelines.settings import REPO_ROOT
from pipelines.stream import checkpoint as checkpoints
from pipelines.stream.broker import ensure_topic
from pipelines.stream.writer import run_stream

from ..helpers import kill_writers_while_producing
from ..stream.conftest import PARTITIONS, StreamCase, bootstrap  # noqa: F401 - the session broker fixture
from .conftest import child_env


class S3StreamCase(StreamCase):
    def counts(self) -> tuple[int, int]:
        """(rows, distinct event ids) as dbt's view of the committed files reads them from the bucket."""
        from pipelines.warehouse.lake_sources import create_views

        with storage.connect_duckdb(self.lake.uri) as con:
            create_views(con, self.lake)
            sql = f"select count(*), count(distinct event_id) from raw.{CLICKSTREAM_TABLE}"
            ((rows, distinct),) = con.execute(sql).fetchall()
        return int(rows), int(distinct)

    def spawn_writer(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "stream", *args], cwd=REPO_ROOT,
            env=child_env(self.lake, KAFKA_BOOTSTRAP_SERVERS=self.bootstrap, SHOPLAKE_CLICKSTREAM_TOPIC=self.topic,
                          SHOPLAKE_CLICKSTREAM_PARTITIONS=str(PARTITIONS), **env),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,  # the kill helper waits for "consuming"
        )  # fmt: skip


@pytest.fixture
def case(bootstrap: str, s3_lake: Lake) -> Iterator[S3StreamCase]:  # noqa: F811
    topic = f"test.{uuid.uuid4().hex[:10]}"
    ensure_topic(bootstrap, topic, PARTITIONS)
    yield S3StreamCase(lake=s3_lake, bootstrap=bootstrap, topic=topic)


def test_kill_9_of_the_writer_on_s3_loses_and_doubles_nothing(case: S3StreamCase) -> None:
    _kills, total = kill_writers_while_producing(
        case, rate=2_000, duration_s=12.0, seed=5, min_kills=8, pause=(1.2, 2.8), rng_seed=16
    )
    final = run_stream(case.lake, case.config(), "until-caught-up")
    assert case.counts() == (total, total)
    assert final.events < total  # the killed writers did most of the work
    # Nothing on local disk but state: the spool of files being built is emptied on restart.
    assert not (case.lake.root / "raw").exists()
    assert not list((case.lake.spool_dir(CLICKSTREAM_TABLE)).glob("*"))
    # Every stream object in the bucket is committed or retired by compaction (kept for the grace period).
    cp = checkpoints.load_checkpoint(case.lake, CLICKSTREAM_TABLE, case.topic)
    listed = {f.rel for f in checkpoints.list_stream_files(case.lake, CLICKSTREAM_TABLE)}
    committed = {
        str(p).split(f"/raw/{CLICKSTREAM_TABLE}/", 1)[1] for p in committed_files(case.lake, CLICKSTREAM_TABLE)
    }
    assert listed == committed | (cp.retired_files & listed)


def test_compaction_on_s3_never_shows_a_reader_an_event_twice_or_loses_one(case: S3StreamCase) -> None:
    produced = case.produce(events=8_000)
    stop = threading.Event()
    seen: list[tuple[int, int]] = []
    errors: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.append(case.counts())
            except duckdb.Error as exc:
                errors.append(str(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    config = case.config(flush_events=250, compact_files=6, backlog_commit_seconds=0)
    stats = run_stream(case.lake, config, "until-caught-up")
    stop.set()
    thread.join()
    assert stats.compacted_files > 10
    assert len(seen) > 5 and not errors
    assert all(rows == distinct for rows, distinct in seen), "a reader saw an event twice"
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(seen)), "a reader lost events"
    assert case.counts() == (produced.events, produced.events)
    assert len(committed_files(case.lake, CLICKSTREAM_TABLE)) < stats.files / 3
    # Past the grace period the retired files are deleted and forgotten; readers see the same rows.
    cp = checkpoints.load_checkpoint(case.lake, CLICKSTREAM_TABLE, case.topic)
    retired = {str(case.lake.raw_dir(CLICKSTREAM_TABLE) / f) for f in cp.retired_files}
    assert retired and retired <= {
        str(f.path) for f in storage.list_files(case.lake.raw_dir(CLICKSTREAM_TABLE), recursive=True)
    }
    assert checkpoints.expire_retired(case.lake, CLICKSTREAM_TABLE, cp, now=time.time() + checkpoints.RETIRED_GRACE_S)
    checkpoints.save_checkpoint(case.lake, CLICKSTREAM_TABLE, cp)
    left = {str(f.path) for f in storage.list_files(case.lake.raw_dir(CLICKSTREAM_TABLE), recursive=True)}
    assert not retired & left
    assert case.counts() == (produced.events, produced.events)


def test_a_merge_its_checkpoint_never_counted_is_invisible_and_removed(case: S3StreamCase) -> None:
    """A crash between writing merged files and the checkpoint: readers never see them, restart deletes them."""
    from pipelines.stream.compaction import compact_partition

    produced = case.produce(events=3_000)
    run_stream(
        case.lake, case.config(flush_events=300, flush_seconds=0.05, backlog_commit_seconds=0), "until-caught-up"
    )
    assert case.counts() == (produced.events, produced.events)
    cp = checkpoints.load_checkpoint(case.lake, CLICKSTREAM_TABLE, case.topic)
    merged = sum(compact_partition(case.lake, d, cp) for d in case.lake.stream_partition_dirs(CLICKSTREAM_TABLE))
    assert merged > 0  # merged files written, checkpoint not saved: the "crash"
    assert case.counts() == (produced.events, produced.events)
    assert run_stream(case.lake, case.config(), "until-caught-up").events == 0  # recovers
    names = [f.file_id for f in checkpoints.list_stream_files(case.lake, CLICKSTREAM_TABLE)]
    assert not [n for n in names if n.generation > 0]
    assert case.counts() == (produced.events, produced.events)


def test_a_second_writer_elsewhere_cannot_commit_over_the_first(case: S3StreamCase) -> None:
    """Locks are local; the checkpoint's conditional write fences a writer on another machine."""
    from pipelines.errors import ShopLakeError

    case.produce(events=500)
    run_stream(case.lake, case.config(), "until-caught-up")
    mine = checkpoints.load_checkpoint(case.lake, CLICKSTREAM_TABLE, case.topic)
    other = checkpoints.load_checkpoint(case.lake, CLICKSTREAM_TABLE, case.topic)
    checkpoints.save_checkpoint(case.lake, CLICKSTREAM_TABLE, other)
    with pytest.raises(ShopLakeError, match="another writer"):
        checkpoints.save_checkpoint(case.lake, CLICKSTREAM_TABLE, mine)
