"""The stream writer: broker -> micro-batches -> Parquet in the lake, exactly once.

Protocol (see docs/clickstream.md):
1. On start, take the writer lock, read the checkpoint (next offset per partition) from the lake,
   delete files of flushes that never reached the checkpoint, and assign partitions at those
   offsets (manual assignment: no consumer-group join).
2. Each flush writes, per partition, one Parquet file per event date (and one dead-letter file),
   named `<topic>__p<partition>__<first>-<last>` and renamed into place; then the checkpoint
   is replaced atomically (the commit point); then offsets are committed to the broker for lag.
A crash before the checkpoint leaves orphans that the next start deletes and rewrites; a crash
after it loses nothing, because the next start resumes from the checkpoint, not the broker.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from ..errors import ShopLakeError
from ..lake import CLICKSTREAM_TABLE, Lake, StreamFileId, atomic_path, write_json_atomic
from ..settings import Settings
from .broker import running_broker
from .compaction import SMALL_FILE_BYTES, compact_partition, remove_leftovers, stream_files
from .contract import DEADLETTER_COLUMNS, EVENT_COLUMNS, parse_messages

Mode = Literal["until-caught-up", "forever"]
_POLL_BATCH = 10_000
_IDLE_POLL_S = 1.0  # an empty poll this long, past the start's end offsets, means caught up
_MAX_BATCH_BYTES = 24 << 20


class _Flusher:
    """Flushes batches on one background thread, in order, while the main thread keeps polling.

    Parsing and Parquet encoding release the GIL, so consuming and writing overlap. A batch is
    handed over only when the previous one is done, so at most two batches (one being filled,
    one being flushed) plus the client's prefetch queue are in memory.
    """

    def __init__(self, flush: Callable[[list[Message]], None]) -> None:
        self._flush = flush
        self._queue: queue.Queue[list[Message] | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="stream-flusher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._flush(batch)
                except BaseException as exc:  # surfaced on the main thread by check()
                    self._error = exc
            del batch
            self._queue.task_done()

    def check(self) -> None:
        if self._error is not None:
            raise self._error

    def wait(self) -> None:
        """Until every submitted batch is flushed."""
        self._queue.join()
        self.check()

    def submit(self, batch: list[Message]) -> None:
        self.wait()  # one batch in flight at a time
        self._queue.put(batch)

    def close(self) -> None:
        """Wait until every submitted batch is flushed (or failed)."""
        self._queue.put(None)
        self._thread.join()
        self.check()


@dataclass
class WriterConfig:
    bootstrap: str
    topic: str
    flush_seconds: float = 1.0
    flush_events: int = 50_000
    compact_files: int = 32
    group_id: str = "shoplake-stream-writer"
    table: str = CLICKSTREAM_TABLE
    # The name this topic's offsets are recorded under in the lake (file names, checkpoint,
    # `source_log`): the topic itself on a durable broker. The local broker keeps its log in
    # memory, so its offsets restart at zero on every start; its name carries the incarnation.
    log_name: str = ""

    def __post_init__(self) -> None:
        self.log_name = self.log_name or self.topic

    @classmethod
    def from_settings(cls, settings: Settings, bootstrap: str) -> WriterConfig:
        return cls(
            bootstrap=bootstrap,
            topic=settings.clickstream_topic,
            flush_seconds=settings.stream_flush_seconds,
            flush_events=settings.stream_flush_events,
            compact_files=settings.stream_compact_files,
            log_name=log_name(settings),
        )


def log_name(settings: Settings) -> str:
    """Topic name for a configured broker; topic plus incarnation for the local in-memory broker."""
    if settings.kafka_bootstrap_servers:
        return settings.clickstream_topic
    state = running_broker(Lake(settings.lake_dir))
    return settings.clickstream_topic if state is None else f"{settings.clickstream_topic}~{state.incarnation}"


@dataclass
class WriterStats:
    events: int = 0
    dead_letters: int = 0
    flushes: int = 0
    files: int = 0
    compacted_files: int = 0
    seconds: float = 0.0
    active_seconds: float = 0.0  # first message received -> last flush committed
    stopped_by: str = ""
    started_offsets: dict[int, int] = field(default_factory=dict)

    def summary(self) -> str:
        rate = self.events / self.seconds if self.seconds else 0.0
        return (
            f"wrote {self.events:,} events ({self.dead_letters:,} dead-lettered) in {self.flushes} flushes, "
            f"{self.files} files, {self.seconds:.1f}s ({rate:,.0f} events/s); stopped: {self.stopped_by}"
        )


@contextmanager
def writer_lock(lake: Lake, table: str, topic: str) -> Iterator[None]:
    """One writer per topic and lake; the kernel drops the lock when the process dies (kill -9)."""
    path = lake.stream_lock_file(table, topic)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ShopLakeError(f"another stream writer holds {path}") from exc
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield


def read_checkpoint(lake: Lake, table: str, topic: str) -> dict[int, int]:
    path = lake.stream_checkpoint(table, topic)
    if not path.exists():
        return {}
    return {int(k): int(v) for k, v in json.loads(path.read_text(encoding="utf-8"))["next_offsets"].items()}


def recover(lake: Lake, table: str, topic: str) -> dict[int, int]:
    """Resume point from the lake; deletes files of flushes that crashed before their checkpoint."""
    remove_leftovers(lake, table)
    next_offsets = read_checkpoint(lake, table, topic)
    candidates: list[tuple[Path, StreamFileId]] = []
    for part_dir in lake.stream_partition_dirs(table):
        for entry in os.scandir(part_dir):
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                os.unlink(entry.path)  # a write cut short; never visible to readers
        candidates += [(f.path, f.file_id) for f in stream_files(part_dir) if f.file_id.topic == topic]
    dl_dir = lake.deadletter_dir(table)
    if dl_dir.is_dir():
        for path in dl_dir.glob("*.parquet"):
            file_id = StreamFileId.parse(path.stem)
            if file_id is not None and file_id.topic == topic:
                candidates.append((path, file_id))
    checkpoint = lake.stream_checkpoint(table, topic)
    if not checkpoint.exists():
        # A writer records an (empty) checkpoint before its first flush, so files without any
        # checkpoint mean it was removed by hand: trust the files rather than delete the lake.
        for _path, file_id in candidates:
            next_offsets[file_id.partition] = max(next_offsets.get(file_id.partition, 0), file_id.last_offset + 1)
        if candidates:
            print(f"stream: no checkpoint at {checkpoint}; resuming after the files found", file=sys.stderr)
        write_checkpoint(lake, table, topic, next_offsets)
        return next_offsets
    for path, file_id in candidates:
        if file_id.first_offset >= next_offsets.get(file_id.partition, 0):
            path.unlink()
    return next_offsets


def write_checkpoint(lake: Lake, table: str, topic: str, next_offsets: dict[int, int]) -> None:
    """The commit point: replaced atomically, after the files it covers are in place."""
    payload = {"topic": topic, "next_offsets": {str(p): o for p, o in sorted(next_offsets.items())}}
    write_json_atomic(lake.stream_checkpoint(table, topic), payload)


@dataclass
class WrittenBatch:
    events: int
    dead_letters: int
    files: int
    next_offsets: dict[int, int]  # per partition, one past the last offset written
    dirs: set[Path]  # date folders that received a file


def write_messages(
    lake: Lake,
    table: str,
    topic: str,
    *,
    values: list[bytes | None],
    partitions: list[int],
    offsets: list[int],
    keys: Callable[[int], bytes | None] = lambda _row: None,
) -> WrittenBatch:
    """Write one batch of messages as stream files (events by partition and date, dead letters).

    Files only: the caller commits by writing the checkpoint afterwards.
    """
    now = datetime.now(timezone.utc)
    parsed = parse_messages(values)
    rows = parsed.events.get_column("row")
    events = parsed.events.with_columns(
        pl.lit(topic).alias("source_log"),
        pl.Series(partitions, dtype=pl.Int32).gather(rows).alias("source_partition"),
        pl.Series(offsets, dtype=pl.Int64).gather(rows).alias("source_offset"),
        pl.lit(now).dt.cast_time_unit("us").alias("ingested_at"),
    ).select([pl.col(c).cast(t) for c, t in EVENT_COLUMNS.items()])
    span = (
        pl.DataFrame({"p": partitions, "o": offsets}, schema={"p": pl.Int32, "o": pl.Int64})
        .group_by("p")
        .agg(pl.col("o").min().alias("first"), pl.col("o").max().alias("last"))
    )
    ranges = {p: StreamFileId(topic, p, first, last) for p, first, last in span.iter_rows()}
    dirs: set[Path] = set()
    files = 0
    dates = events.get_column("event_time").dt.date().cast(pl.String).alias("event_date")
    for (p, day), part in (
        events.with_columns(dates).partition_by(["source_partition", "event_date"], as_dict=True).items()
    ):
        path = lake.stream_file(table, str(day), ranges[int(p)])
        with atomic_path(path) as tmp:
            pq.write_table(part.drop("event_date").to_arrow(), tmp, compression="snappy")
        dirs.add(path.parent)
        files += 1
    dead: dict[int, dict[str, list[Any]]] = {}
    for row, reason in parsed.rejected:
        cols = dead.setdefault(partitions[row], {c: [] for c in DEADLETTER_COLUMNS})
        for name, value in (
            ("topic", topic),
            ("source_partition", partitions[row]),
            ("source_offset", offsets[row]),
            ("message_key", keys(row)),
            ("payload", values[row]),
            ("reason", reason),
            ("dead_lettered_at", now),
        ):
            cols[name].append(value)
    for p, cols in dead.items():
        with atomic_path(lake.deadletter_file(table, ranges[p])) as tmp:
            pl.DataFrame(cols, schema=DEADLETTER_COLUMNS).write_parquet(tmp, compression="snappy")
        files += 1
    return WrittenBatch(
        events=events.height,
        dead_letters=len(parsed.rejected),
        files=files,
        next_offsets={p: r.last_offset + 1 for p, r in ranges.items()},
        dirs=dirs,
    )


def land_messages(
    lake: Lake, payloads: list[bytes], topic: str, partition: int = 0, table: str = CLICKSTREAM_TABLE
) -> WrittenBatch:
    """Land payloads without a broker, as if read from `topic`/`partition` after the checkpoint.

    For seeding demo and test lakes; a writer on the same topic resumes after these offsets.
    """
    next_offsets = read_checkpoint(lake, table, topic)
    first = next_offsets.get(partition, 0)
    written = write_messages(
        lake,
        table,
        topic,
        values=list(payloads),
        partitions=[partition] * len(payloads),
        offsets=list(range(first, first + len(payloads))),
    )
    next_offsets.update(written.next_offsets)
    write_checkpoint(lake, table, topic, next_offsets)
    return written


class StreamWriter:
    """Consumes the topic by manual assignment and lands micro-batches exactly once."""

    def __init__(self, lake: Lake, config: WriterConfig) -> None:
        self.lake = lake
        self.config = config
        self.stats = WriterStats()
        self.next_offsets: dict[int, int] = {}
        self.stop_requested = False
        self._dirty_dirs: set[Path] = set()
        self._first_message_at = 0.0

    def _consumer(self) -> Consumer:
        return Consumer(
            {
                "bootstrap.servers": self.config.bootstrap,
                "group.id": self.config.group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": False,
                "fetch.wait.max.ms": 100,  # an idle topic answers fast: freshness
                # bounded prefetch: memory stays flat whatever the backlog
                "queued.max.messages.kbytes": 16384,
                "fetch.max.bytes": 4 << 20,
                "max.partition.fetch.bytes": 1 << 20,
            }
        )

    def run(self, mode: Mode) -> WriterStats:
        cfg = self.config
        self.lake.ensure()
        t0 = time.perf_counter()
        with writer_lock(self.lake, cfg.table, cfg.log_name):
            self.next_offsets = recover(self.lake, cfg.table, cfg.log_name)
            self.stats.started_offsets = dict(self.next_offsets)
            consumer = self._consumer()
            try:
                self._consume(consumer, mode)
            finally:
                consumer.close()
        self.stats.seconds = time.perf_counter() - t0
        return self.stats

    def _consume(self, consumer: Consumer, mode: Mode) -> None:
        cfg = self.config
        meta = consumer.list_topics(cfg.topic, timeout=10)
        topic_meta = meta.topics.get(cfg.topic)
        if topic_meta is None or topic_meta.error is not None:
            raise ShopLakeError(f"topic {cfg.topic} not found on {cfg.bootstrap}")
        partitions = sorted(topic_meta.partitions)
        consumer.assign([TopicPartition(cfg.topic, p, self.next_offsets.get(p, OFFSET_BEGINNING)) for p in partitions])
        starts = {p: self.next_offsets.get(p, 0) for p in partitions}
        print(f"stream: consuming {cfg.topic} from lake offsets {starts}", file=sys.stderr, flush=True)
        # The local broker's high watermark can lag the real end, so it is only a floor: we stop
        # once past it *and* a poll comes back empty.
        targets: dict[int, int] = {}
        if mode == "until-caught-up":
            for p in partitions:
                _low, high = consumer.get_watermark_offsets(TopicPartition(cfg.topic, p), timeout=10)
                targets[p] = high
        flusher = _Flusher(lambda batch: self._flush(batch, consumer))
        try:
            self._poll_loop(consumer, mode, targets, flusher)
        finally:
            flusher.close()

    def _poll_loop(self, consumer: Consumer, mode: Mode, targets: dict[int, int], flusher: _Flusher) -> None:
        cfg = self.config
        batch: list[Message] = []
        batch_bytes = 0
        batch_started = 0.0
        while True:
            flusher.check()
            timeout = _IDLE_POLL_S if mode == "until-caught-up" else 0.2
            if batch:
                timeout = max(0.0, min(timeout, batch_started + cfg.flush_seconds - time.monotonic()))
            msgs = consumer.consume(min(_POLL_BATCH, cfg.flush_events - len(batch)), timeout=timeout)
            for msg in msgs:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise ShopLakeError(f"broker error: {err}")
                if not batch:
                    batch_started = time.monotonic()
                    self._first_message_at = self._first_message_at or batch_started
                batch.append(msg)
                batch_bytes += len(msg)
            full = len(batch) >= cfg.flush_events or batch_bytes >= _MAX_BATCH_BYTES
            due = batch and time.monotonic() - batch_started >= cfg.flush_seconds
            idle = mode == "until-caught-up" and not msgs
            if (full or due or idle or self.stop_requested) and batch:
                flusher.submit(batch)
                batch, batch_bytes = [], 0
            if idle:
                flusher.wait()  # every batch polled so far is committed to the checkpoint
                if all(self.next_offsets.get(p, 0) >= t for p, t in targets.items()):
                    self.stats.stopped_by = "caught up"
                    return
            if self.stop_requested:
                self.stats.stopped_by = "signal"
                return

    def _flush(self, batch: list[Message], consumer: Consumer) -> None:
        cfg = self.config
        written = write_messages(
            self.lake,
            cfg.table,
            cfg.log_name,
            values=[m.value() for m in batch],
            partitions=[m.partition() for m in batch],
            offsets=[m.offset() for m in batch],
            keys=lambda row: batch[row].key(),
        )
        self._dirty_dirs |= written.dirs
        for p, o in written.next_offsets.items():
            self.next_offsets[p] = max(self.next_offsets.get(p, 0), o)
        write_checkpoint(self.lake, cfg.table, cfg.log_name, self.next_offsets)  # the commit point
        try:  # lag for broker tools only; the lake's checkpoint is the truth
            consumer.commit(
                offsets=[TopicPartition(cfg.topic, p, o) for p, o in self.next_offsets.items()],
                asynchronous=True,
            )
        except Exception as exc:
            print(f"stream: offset commit to broker failed (harmless): {exc}", file=sys.stderr)
        self.stats.events += written.events
        self.stats.dead_letters += written.dead_letters
        self.stats.flushes += 1
        self.stats.files += written.files
        self.stats.active_seconds = time.monotonic() - self._first_message_at
        if cfg.compact_files > 0:
            self._maybe_compact()

    def _maybe_compact(self) -> None:
        compacted = False
        for part_dir in list(self._dirty_dirs):
            small = sum(1 for f in stream_files(part_dir) if f.size < SMALL_FILE_BYTES)
            if small >= self.config.compact_files:
                self.stats.compacted_files += compact_partition(self.lake, part_dir, self.config.table)
                self._dirty_dirs.discard(part_dir)
                compacted = True
        if compacted:
            remove_leftovers(self.lake, self.config.table)


def _limit_allocator_slack() -> None:
    """Keep freed batch memory from piling up in per-thread malloc arenas and Arrow's pool.

    Measured on an 800k-event backlog: peak RSS 533 MB with the defaults, 457 MB with these two.
    Process-wide, so only the writer's entry point calls it.
    """
    pa.set_memory_pool(pa.system_memory_pool())
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # not glibc (musl): nothing to tune
            ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX = 2 (glibc)


def run_stream(lake: Lake, config: WriterConfig, mode: Mode) -> WriterStats:
    """Run the writer; in `forever` mode SIGTERM/SIGINT end it after a final flush."""
    _limit_allocator_slack()
    writer = StreamWriter(lake, config)

    def request_stop(_signum: int, _frame: object) -> None:
        writer.stop_requested = True

    if threading.current_thread() is not threading.main_thread():  # e.g. a Prefect task thread:
        return writer.run(mode)  # signals can only be handled on the main thread
    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return writer.run(mode)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
