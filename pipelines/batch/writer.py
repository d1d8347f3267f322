"""Background writes for batch ingest: one thread that runs each file's write job, in order.

Writing a file's Parquet overlaps reading and validating the next export (polars releases the GIL
while it parses, computes and writes). Whoever reads the lake waits first for the pending jobs
it depends on, so it sees what a sequential ingest would have written by then.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class OrderedWriter:
    """Run write jobs one after another in a thread; stop writing after the first failure.

    A job is keyed by the table and the SHA-256 of the source file it lands, so callers wait for
    just the writes they read. After a failed job, later jobs are skipped (nothing lands after a
    failed file, as in a sequential run) and the error is raised by the next `submit` or `wait`.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shoplake-writer")
        self._pending: dict[tuple[str, str], Future[None]] = {}
        self._error: BaseException | None = None

    def submit(self, table: str, sha: str, job: Callable[[], None]) -> None:
        self._raise_error()
        self._pending[(table, sha)] = self._pool.submit(self._run, job)

    def wait(self, table: str | None = None, sha: str | None = None) -> None:
        """Block until the pending jobs of `table` (and `sha`; default all) are done; raise a job's error."""
        for key in [k for k in self._pending if table in (None, k[0]) and sha in (None, k[1])]:
            self._pending.pop(key).result()
        self._raise_error()

    @property
    def error(self) -> BaseException | None:
        """The first failed job's error (after it, nothing more is written)."""
        return self._error

    def close(self) -> None:
        """Finish the queued jobs (they belong to files already validated) and stop the thread."""
        self._pool.shutdown(wait=True)

    def _run(self, job: Callable[[], None]) -> None:
        if self._error is not None:
            return
        try:
            job()
        except BaseException as exc:
            self._error = exc
            raise

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error
