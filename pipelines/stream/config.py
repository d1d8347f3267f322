"""What the stream writer is told (`WriterConfig`) and what it reports (`WriterStats`, `StopReason`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..lake import CLICKSTREAM_TABLE
from ..settings import Settings
from ..status import Status
from .contract import SHIPPED, EventContract

Mode = Literal["until-caught-up", "forever"]


class StopReason(Status):
    CAUGHT_UP = "caught up"  # until-caught-up: past the end offsets seen at start
    SIGNAL = "signal"  # SIGTERM/SIGINT: the open micro-batch was committed first
    ERROR = "error"  # an exception ended the run (raised to the caller)

    @classmethod
    def failed(cls) -> frozenset[StopReason]:
        return frozenset({cls.ERROR})


@dataclass
class WriterConfig:
    bootstrap: str
    topic: str
    flush_seconds: float = 1.0
    flush_events: int = 30_000
    # Behind a backlog (more waiting than one micro-batch), files grow across micro-batches until
    # SMALL_FILE_BYTES or this age, so catching up writes files that need no compaction.
    backlog_commit_seconds: float = 10.0
    compact_files: int = 32
    group_id: str = "shoplake-stream-writer"
    table: str = CLICKSTREAM_TABLE
    # The name this topic's offsets are recorded under in the lake (file names, checkpoint,
    # `source_log`): the topic itself on a durable broker. The local broker keeps its log in
    # memory, so its offsets restart at zero on every start; its name carries the incarnation.
    log_name: str = ""
    # The event contract: customer_id/product_id typed as the batch contracts' keys (wiring.py).
    events: EventContract = SHIPPED

    def __post_init__(self) -> None:
        self.log_name = self.log_name or self.topic

    @classmethod
    def from_settings(
        cls, settings: Settings, bootstrap: str, log_name: str = "", events: EventContract = SHIPPED
    ) -> WriterConfig:
        """Bounds from settings; where to connect and the event contract come from `stream/wiring.py`."""
        return cls(
            bootstrap=bootstrap,
            topic=settings.clickstream_topic,
            flush_seconds=settings.stream_flush_seconds,
            flush_events=settings.stream_flush_events,
            backlog_commit_seconds=settings.stream_backlog_commit_seconds,
            compact_files=settings.stream_compact_files,
            log_name=log_name,
            events=events,
        )


@dataclass
class WriterStats:
    events: int = 0
    dead_letters: int = 0
    flushes: int = 0  # micro-batches written
    commits: int = 0  # checkpoints written: files published
    files: int = 0
    compacted_files: int = 0
    seconds: float = 0.0
    active_seconds: float = 0.0  # first message received -> last flush committed
    stopped_by: StopReason | None = None
    started_offsets: dict[int, int] = field(default_factory=dict)

    def summary(self) -> str:
        rate = self.events / self.seconds if self.seconds else 0.0
        return (
            f"wrote {self.events:,} events ({self.dead_letters:,} dead-lettered) in {self.flushes} flushes, "
            f"{self.commits} commits, "
            f"{self.files} files, {self.seconds:.1f}s ({rate:,.0f} events/s); stopped: {self.stopped_by}"
        )

    def render(self) -> str:
        """The run as a table, for people (`shoplake stream`)."""
        from ..console import render, table  # rich is only needed once the run is over

        rate = self.events / self.seconds if self.seconds else 0.0
        facts = table("stream run", "", right=("",))
        for name, value in (
            ("events landed", f"{self.events:,}"), ("dead-lettered", f"{self.dead_letters:,}"),
            ("micro-batches", f"{self.flushes:,}"), ("commits", f"{self.commits:,}"), ("files", f"{self.files:,}"),
            ("files compacted away", f"{self.compacted_files:,}"), ("seconds", f"{self.seconds:.1f}"),
            ("events/s", f"{rate:,.0f}"), ("stopped", str(self.stopped_by or "-")),
        ):  # fmt: skip
            facts.add_row(name, value)
        return render(facts)
