"""The stream writer's entry point: broker -> micro-batches -> Parquet in the lake, exactly once.

The parts: consumer.py (poll loop and commits), segment.py (files of one commit), checkpoint.py
(commit record, recovery, writer lock), flusher.py (writing while polling), compaction.py. Where
the writer connects and which topic it reads is wired from settings in wiring.py.
"""

from __future__ import annotations

import signal
import threading

from ..lake import Lake
from .config import Mode, WriterConfig, WriterStats
from .consumer import StreamWriter


def run_stream(lake: Lake, config: WriterConfig, mode: Mode) -> WriterStats:
    """Run the writer; in `forever` mode SIGTERM/SIGINT end it after a final flush."""
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
