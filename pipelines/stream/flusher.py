"""The stream writer's background flusher: one batch written while the next is polled."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Flusher(Generic[T]):
    """Flushes batches on one background thread, in order, while the main thread keeps polling.

    Parsing and Parquet encoding release the GIL, so consuming and writing overlap. A batch is
    handed over only when the previous one is done, so at most two batches (one being filled,
    one being flushed) plus the client's prefetch queue are in memory.
    """

    def __init__(self, flush: Callable[[T], None]) -> None:
        self._flush = flush
        self._queue: queue.Queue[T | None] = queue.Queue(maxsize=1)
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

    def submit(self, batch: T) -> None:
        self.wait()  # one batch in flight at a time
        self._queue.put(batch)

    def close(self) -> None:
        """Wait until every submitted batch is flushed (or failed)."""
        self._queue.put(None)
        self._thread.join()
        self.check()
