"""The stream writer's consumer: manual assignment at the lake's offsets, the poll loop, commits.

Protocol (see docs/clickstream.md):
1. On start, take the writer lock, read the checkpoint (next offset per partition) from the lake,
   delete files of commits that never reached the checkpoint, and assign partitions at those
   offsets (manual assignment: no consumer-group join).
2. Each micro-batch (the size bound keeps memory flat) is appended as row groups to hidden
   temporary files, one per partition and event date (a `Segment`).
3. A commit puts the segment's files in place whole (a rename locally, one PUT on an object store),
   named `<topic>__p<partition>__<first>-<last>`, then replaces the checkpoint (the commit point),
   then commits offsets to the broker for lag. It happens every flush interval while the writer
   keeps up; behind a backlog, files grow across micro-batches until they are no longer small or
   `backlog_commit_seconds` passes.
4. Compaction merges small committed files into new files that the next checkpoint write commits,
   retiring the small ones in the same write (compaction.py); nothing is renamed or swapped.
A crash before the checkpoint leaves orphans that the next start deletes and rewrites; a crash
after it loses nothing, because the next start resumes from the checkpoint, not the broker.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from ..errors import ShopLakeError
from ..lake import Lake
from ..storage import LakePath
from .checkpoint import Checkpoint, expire_retired, recover, save_checkpoint, writer_lock
from .compaction import SMALL_FILE_BYTES, committed_in, compact_partition
from .config import Mode, StopReason, WriterConfig, WriterStats
from .flusher import Flusher
from .segment import Segment

_POLL_BATCH = 10_000
_IDLE_POLL_S = 1.0  # an empty poll this long, past the start's end offsets, means caught up
_MAX_BATCH_BYTES = 24 << 20


@dataclass
class PolledBatch:
    """Polled messages as columns: the client's Message objects are dropped as soon as they are read.

    Holding 50k Message objects per batch kept them alive for Python's cyclic GC to scan again and
    again, and each carries its own copy of the topic name.
    """

    values: list[bytes | None] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    partitions: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    nbytes: int = 0
    started: float = 0.0  # monotonic time of the first message
    commit: bool = False  # after appending, publish the open files and write the checkpoint

    def __len__(self) -> int:
        return len(self.offsets)

    def extend(self, msgs: list[Message]) -> None:
        if errors := [e for m in msgs if (e := m.error()) is not None]:
            if fatal := [e for e in errors if e.code() != KafkaError._PARTITION_EOF]:
                raise ShopLakeError(f"broker error: {fatal[0]}")
            msgs = [m for m in msgs if m.error() is None]
        if not msgs:
            return
        if not self.offsets:
            self.started = time.monotonic()
        values = [m.value() for m in msgs]
        self.values += values
        self.keys += [m.key() for m in msgs]
        self.partitions += [m.partition() for m in msgs]
        self.offsets += [m.offset() for m in msgs]
        self.nbytes += sum(map(len, filter(None, values)))


def consumer_config(config: WriterConfig) -> dict[str, Any]:
    """librdkafka settings of the writer's consumer (the throughput benchmark's raw consumer uses them too).

    Measured on a 2M-event backlog of the local broker: librdkafka's default 1 s back-off after its
    prefetch queue fills capped consumption at ~156k events/s; 5 ms lifts it to ~1.2M. The small
    fetch and queue sizes keep the client's prefetch at ~45 MB at that rate.
    """
    return {
        "bootstrap.servers": config.bootstrap,
        "group.id": config.group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        "fetch.wait.max.ms": 100,  # an idle topic answers fast: freshness
        "fetch.queue.backoff.ms": 5,
        # bounded prefetch: memory stays flat whatever the backlog
        "queued.min.messages": 10_000,
        "queued.max.messages.kbytes": 4096,
        "fetch.max.bytes": 1 << 20,
        "max.partition.fetch.bytes": 256 << 10,
    }


def _backlog(consumer: Consumer) -> int:
    """Messages known to be waiting past our position, from the client's cached high watermarks.

    No broker round trip. The local broker's watermark can lag the real end, which only makes
    this smaller, so the writer errs towards committing on time.
    """
    backlog = 0
    for tp in consumer.position(consumer.assignment()):
        _low, high = consumer.get_watermark_offsets(tp, cached=True)
        if tp.offset >= 0 and high >= 0:
            backlog += max(0, high - tp.offset)
    return backlog


class StreamWriter:
    """Consumes the topic by manual assignment and lands micro-batches exactly once."""

    def __init__(self, lake: Lake, config: WriterConfig) -> None:
        self.lake = lake
        self.config = config
        self.stats = WriterStats()
        self.next_offsets: dict[int, int] = {}
        self.checkpoint: Checkpoint | None = None
        self.stop_requested = False
        self._dirty_dirs: set[LakePath] = set()
        self._first_message_at = 0.0
        self._segment: Segment | None = None  # files of flushed, not yet committed micro-batches

    def run(self, mode: Mode) -> WriterStats:
        cfg = self.config
        self.lake.ensure()
        t0 = time.perf_counter()
        try:
            with writer_lock(self.lake, cfg.table, cfg.log_name):
                self.checkpoint = recover(self.lake, cfg.table, cfg.log_name)
                self.next_offsets = self.checkpoint.next_offsets
                self.stats.started_offsets = dict(self.next_offsets)
                consumer = Consumer(consumer_config(cfg))
                try:
                    self._consume(consumer, mode)
                finally:
                    consumer.close()
        except BaseException:
            self.stats.stopped_by = StopReason.ERROR
            raise
        finally:
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
        flusher = Flusher[PolledBatch](lambda batch: self._flush(batch, consumer))
        try:
            self._poll_loop(consumer, mode, targets, flusher)
        finally:
            flusher.close()

    def _poll_loop(
        self, consumer: Consumer, mode: Mode, targets: dict[int, int], flusher: Flusher[PolledBatch]
    ) -> None:
        cfg = self.config
        batch = PolledBatch()
        pending_since = 0.0  # arrival of the oldest message not yet due for commit
        while True:
            flusher.check()
            timeout = _IDLE_POLL_S if mode == "until-caught-up" else 0.2
            if pending_since:
                timeout = max(0.0, min(timeout, pending_since + cfg.flush_seconds - time.monotonic()))
            msgs = consumer.consume(min(_POLL_BATCH, cfg.flush_events - len(batch)), timeout=timeout)
            batch.extend(msgs)
            self._first_message_at = self._first_message_at or batch.started
            pending_since = pending_since or batch.started
            full = len(batch) >= cfg.flush_events or batch.nbytes >= _MAX_BATCH_BYTES
            idle = mode == "until-caught-up" and not msgs
            due = bool(pending_since) and time.monotonic() - pending_since >= cfg.flush_seconds
            # Behind a backlog, files grow across micro-batches instead of being committed each
            # time bound: fewer, larger files that need no compaction, at the same memory.
            batch.commit = idle or self.stop_requested or (due and _backlog(consumer) < cfg.flush_events)
            if full or (batch.commit and pending_since):
                flusher.submit(batch)
                pending_since = 0.0 if batch.commit else pending_since
                batch = PolledBatch()
            if idle:
                flusher.wait()  # every batch polled so far is committed to the checkpoint
                if all(self.next_offsets.get(p, 0) >= t for p, t in targets.items()):
                    self.stats.stopped_by = StopReason.CAUGHT_UP
                    return
            if self.stop_requested:
                self.stats.stopped_by = StopReason.SIGNAL
                return

    def _flush(self, batch: PolledBatch, consumer: Consumer) -> None:
        """Append a micro-batch to the open segment; commit it when asked or when it is big or old enough."""
        cfg = self.config
        if self._segment is None:
            self._segment = Segment(self.lake, cfg.table, cfg.log_name, cfg.events)
        segment = self._segment
        if batch:
            segment.append(batch.values, batch.partitions, batch.offsets, batch.keys.__getitem__)
            self.stats.flushes += 1
        big = segment.largest_file_bytes >= SMALL_FILE_BYTES
        old = time.monotonic() - segment.opened_at >= cfg.backlog_commit_seconds
        if segment and (batch.commit or big or old):
            self._commit(segment, consumer)
            self._segment = None

    def _commit(self, segment: Segment, consumer: Consumer) -> None:
        cfg = self.config
        written = segment.publish()
        self._dirty_dirs |= written.dirs
        for p, o in written.next_offsets.items():
            self.next_offsets[p] = max(self.next_offsets.get(p, 0), o)
        assert self.checkpoint is not None and self.checkpoint.next_offsets is self.next_offsets
        save_checkpoint(self.lake, cfg.table, self.checkpoint)  # the commit point
        try:  # lag for broker tools only; the lake's checkpoint is the truth
            consumer.commit(
                offsets=[TopicPartition(cfg.topic, p, o) for p, o in self.next_offsets.items()],
                asynchronous=True,
            )
        except Exception as exc:
            print(f"stream: offset commit to broker failed (harmless): {exc}", file=sys.stderr)
        self.stats.events += written.events
        self.stats.dead_letters += written.dead_letters
        self.stats.commits += 1
        self.stats.files += written.files
        if cfg.compact_files > 0:
            self._maybe_compact()
        self.stats.active_seconds = time.monotonic() - self._first_message_at

    def _maybe_compact(self) -> None:
        """Merge small files of the date folders that received many; one checkpoint write commits
        every merge of this round and retires the merged files (and forgets retirements past grace)."""
        cfg, checkpoint = self.config, self.checkpoint
        assert checkpoint is not None
        merged = 0
        for part_dir in list(self._dirty_dirs):
            files = committed_in(self.lake, cfg.table, part_dir, checkpoint)
            if sum(1 for f in files if f.size < SMALL_FILE_BYTES) >= cfg.compact_files:
                merged += compact_partition(self.lake, part_dir, checkpoint, cfg.table)
                self._dirty_dirs.discard(part_dir)
        expired = expire_retired(self.lake, cfg.table, checkpoint)
        if merged or expired:
            save_checkpoint(self.lake, cfg.table, checkpoint)  # commits the merges
            self.stats.compacted_files += merged
