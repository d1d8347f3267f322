"""Batch ingest: landed exports -> contract checks -> raw Parquet + quarantine, committed by the ledger.

Each source file is identified by its SHA-256. Its outputs are written under names unique to this
attempt and its ledger record, written last, lists them: that record is the commit (see
`commit.py`). A re-run skips files the ledger holds; a crashed run's outputs are never listed,
never read, and removed by the next run before it writes anything.

What does not land is said, and fails the run (exit 1, a red flow run): files no contract takes
(in `landing/` itself, in a folder no contract names, or not matching the folder's `file_pattern`)
are listed with the folder and pattern that would take them; a file whose share of quarantined rows
is above `max_quarantine_share` (contract, else `SHOPLAKE_MAX_QUARANTINE_SHARE`) is `failed` and
lands nothing, so after fixing the contract the next run takes it; a file ingest crashes on is
`failed` with the error and the run goes on. If writing fails (a full disk), the run stops and
raises `IngestAborted`, which carries the report (files not committed are marked failed).

Which row wins between source files (staging keeps one row per primary key): the newest value of
the contract's `version_column` when it declares one, else the most recently ingested row. Files
are ingested in order of modification time (then name) within a table, and each file's
`_ingested_at` is strictly later than every earlier one's, so that order is recorded in the rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import hashlib
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from tqdm import tqdm

from .. import locks
from ..errors import ShopLakeError
from ..lake import Lake
from ..settings import Settings
from ..storage import list_dirs, list_files, publish_file, temp_path, write_parquet_atomic
from .commit import new_attempt_id, output_stem, recover
from .contract import Contract, contracts_for
from .ledger import (
    LedgerRecord,
    epoch_pointer,
    read_ledger_record,
    read_table_records,
    write_epoch,
    write_ledger_record,
)
from .readers import LINE, ExportFacts, FileRejected, Parsed, hash_export, read_export, read_extract
from .references import ReferenceKeys
from .report import FileResult, FileStatus, IngestReport
from .validate import quarantine_columns, validate
from .writer import OrderedWriter

READ_AHEAD = 2  # exports parsed ahead of validation (each held in memory until validated)
_TICK = dt.timedelta(microseconds=1)

__all__ = ["FileResult", "FileStatus", "FrameLanding", "IngestAborted", "IngestReport", "ingest_all", "land_frame",
           "landing_frames", "reprocess"]  # fmt: skip


class IngestAborted(ShopLakeError):
    """Writing the lake failed (e.g. a full disk): the run stopped. `report` says what did and did not land."""

    def __init__(self, message: str, report: IngestReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class _Export:
    """One export as the reader thread prepared it: hashed and, unless already ingested, parsed."""

    contract: Contract
    path: Path
    facts: ExportFacts
    source_name: str  # what the rows' `_source_file` says
    extract: bool = False  # a frame landed through the API (Parquet), not a CSV export
    extract_info: dict[str, Any] | None = None  # what the ledger record says about a database read
    frame: pl.DataFrame | None = None  # a landed frame still in memory: parsed without reading its file again
    parsed: Parsed | None = None
    rejected: FileRejected | None = None
    crashed: str | None = None  # an unexpected error while reading it (the run goes on without it)
    started: float = field(default_factory=time.monotonic)

    @property
    def sha(self) -> str:
        return self.facts.sha256

    def parse(self) -> _Export:
        try:
            if self.frame is not None:
                frame, self.frame = self.frame, None
                self.parsed = Parsed(
                    frame=frame.with_row_index(LINE, offset=1).with_columns(pl.col(LINE).cast(pl.Int64))
                )
            elif self.extract:
                self.parsed = read_extract(self.path)
            else:
                self.parsed = read_export(self.path, self.contract, self.facts)
        except FileRejected as exc:
            self.rejected = exc
        except Exception as exc:
            self.crashed = _crash_text("reading", exc)
        return self


def _crash_text(doing: str, exc: BaseException) -> str:
    """One line for the report; the traceback goes to stderr, for a bug report."""
    traceback.print_exception(exc, file=sys.stderr)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"ingest crashed while {doing} this file ({type(exc).__name__}: {first}); nothing of it landed"


def _known(facts: ExportFacts) -> Future[ExportFacts]:
    done: Future[ExportFacts] = Future()
    done.set_result(facts)
    return done


def batch_tables(lake: Lake, contracts: dict[str, Contract]) -> list[str]:
    """Tables whose raw/ and quarantine/ folders batch ingest owns (contracts and ledgers alike)."""
    return sorted({*contracts, *lake.ledger_tables()})


def _landing_exports(lake: Lake, contract: Contract) -> list[Path]:
    """A table's exports, oldest modification first (then by name): later files win between equal keys."""
    files = [f for f in list_files(lake.landing_dir(contract.table)) if _takes(contract, f.path.name)]
    return [f.path for f in sorted(files, key=lambda f: (f.mtime_ns, f.path.name))]


def _takes(contract: Contract, name: str) -> bool:
    return not _ignored(name) and fnmatch.fnmatchcase(name, contract.file_pattern)


def _ignored(name: str) -> bool:
    """Hidden files and ShopLake's own folders (`_extracts`, `_ground_truth`) are not exports."""
    return name.startswith((".", "_"))


def unmatched_files(lake: Lake, contracts: dict[str, Contract], tables: list[str] | None = None) -> list[FileResult]:
    """Files in the landing area that no contract takes, each with the folder/pattern that would take it."""
    out: list[FileResult] = []
    takes = ", ".join(f"landing/{t}/{c.file_pattern}" for t, c in contracts.items())

    def hint(name: str, folder: str | None) -> str:
        takers = [t for t, c in contracts.items() if fnmatch.fnmatchcase(name, c.file_pattern) and t != folder]
        if takers:
            return f"the {takers[0]} contract takes it: move it to landing/{takers[0]}/"
        return f"no contract takes this name (contracts take: {takes}); rename it, or write a contract for it"

    if not tables:
        for f in sorted(list_files(lake.landing_root), key=lambda f: f.path.name):
            if not _ignored(f.path.name):
                error = "files in landing/ itself are not read; " + hint(f.path.name, None)
                out.append(FileResult(table="", path=f.path, status=FileStatus.UNMATCHED, error=error))
    for folder in sorted(list_dirs(lake.landing_root), key=lambda p: p.name):
        name = folder.name
        if _ignored(name) or (tables and name not in tables):
            continue
        contract = contracts.get(name)
        for f in sorted(list_files(folder), key=lambda f: f.path.name):
            if _ignored(f.path.name) or (contract is not None and _takes(contract, f.path.name)):
                continue
            if contract is None:
                error = f"no contract has table {name!r}; " + hint(f.path.name, None)
            else:
                error = f"the {name} contract takes {contract.file_pattern!r}, not this name; " + (
                    hint(f.path.name, name) if any(fnmatch.fnmatchcase(f.path.name, c.file_pattern)
                                                   for t, c in contracts.items() if t != name)
                    else "rename the file or change `file_pattern`"
                )  # fmt: skip
            out.append(FileResult(table=name, path=f.path, status=FileStatus.UNMATCHED, error=error))
        for sub in sorted(list_dirs(folder), key=lambda p: p.name):
            if not _ignored(sub.name):
                error = f"files in sub-folders are not read: move them up to landing/{name}/"
                out.append(FileResult(table=name, path=sub, status=FileStatus.UNMATCHED, error=error))
    return out


class _Run:
    """One ingest attempt: validates exports in order and queues their writes and ledger records."""

    def __init__(
        self, lake: Lake, contracts: dict[str, Contract], *, progress: bool, max_quarantine_share: float = 1.0
    ) -> None:
        self.lake = lake
        self.contracts = contracts
        self.max_quarantine_share = max_quarantine_share
        self.attempt = new_attempt_id()
        self.progress = progress
        self.writer = OrderedWriter()
        self.references = ReferenceKeys(lake, contracts, self.writer, self.attempt)
        # Strictly increasing ingestion times, later than every committed record's: the row-wins order.
        stamps = [r.ingested_datetime for t in contracts for r in read_table_records(lake, t)]
        self._last_ingested_at = max(stamps, default=dt.datetime.min)

    def next_ingested_at(self) -> dt.datetime:
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        self._last_ingested_at = max(now, self._last_ingested_at + _TICK)
        return self._last_ingested_at

    def land(self, export: _Export, *, epoch: int, ingested_at: dt.datetime) -> FileResult:
        """Validate one parsed export, then queue its writes: outputs first, the ledger record last."""
        lake, contract, path, sha = self.lake, export.contract, export.path, export.sha
        parsed, export.parsed = export.parsed, None  # freed once validated
        assert parsed is not None, "land needs a parsed export"
        bar = tqdm(total=4, desc=f"{contract.table}/{export.source_name}", unit="step",
                   disable=None if self.progress else True, leave=False)  # fmt: skip
        bar.update()
        bar.set_postfix_str(f"validating {parsed.frame.height:,} rows")
        checked = validate(parsed.frame, contract, self.references.get, parsed.truncated_last)
        parsed.frame = pl.DataFrame()
        bar.update()
        stem = output_stem(path.name, sha, self.attempt)  # the landed name: safe in a file name
        lineage = [
            pl.col(LINE).cast(pl.Int64).alias("_source_line"),
            pl.lit(export.source_name).alias("_source_file"),
            pl.lit(ingested_at).alias("_ingested_at"),
        ]
        good = checked.good.select(*[c.name for c in contract.columns], *lineage)
        bad = checked.bad.select(*quarantine_columns(contract), "_reason", *lineage)
        reasons = dict(bad.group_by("_reason", maintain_order=True).len().iter_rows())  # in order of first line
        result = FileResult(
            table=contract.table, path=path, status=FileStatus.LANDED, rows_in=good.height + bad.height,
            rows_landed=good.height, rows_quarantined=bad.height, reasons=reasons, imputed=checked.imputed,
            warnings=list(parsed.warnings), examples=checked.examples,
        )  # fmt: skip
        limit = self.max_quarantine_share if contract.max_quarantine_share is None else contract.max_quarantine_share
        if result.quarantined_share > limit:
            # Most rows break the contract: the contract (or the export) is wrong, not the rows. Nothing
            # lands and nothing is recorded, so the next run takes the file again once that is fixed.
            result.status = FileStatus.FAILED
            result.rows_landed = 0
            result.error = (
                f"{bad.height:,} of {result.rows_in:,} rows ({result.quarantined_share:.0%}) broke the contract, "
                f"more than max_quarantine_share {limit:g}: nothing landed; fix the {contract.table} contract "
                "(or the export) and run ingest again"
            )
            bar.close()
            return result
        raw_files = _split_raw(lake, contract, good, stem)
        self.references.add(contract.table, checked.good)
        imputed = checked.imputed
        del checked  # the write job below must not keep the validated frames alive until it runs
        bar.total += len(raw_files)
        source_path = lake.rel(path) if path.is_relative_to(lake.root) else str(path)

        def write() -> None:
            outputs = []
            for file, frame in raw_files:
                bar.set_postfix_str(f"writing {file.parent.name}" if contract.partition_by else "writing")
                outputs.append(lake.rel(write_parquet_atomic(frame, file)))
                bar.update()
            if bad.height:
                outputs.append(lake.rel(write_parquet_atomic(bad, lake.quarantine_file(contract.table, stem))))
            bar.update()
            # The commit point, written after every output is whole: from now on readers see the file.
            write_ledger_record(
                lake,
                LedgerRecord(
                    table=contract.table,
                    source_file=export.source_name,
                    sha256=sha,
                    size_bytes=export.facts.size,
                    rows_in=result.rows_in,
                    rows_landed=result.rows_landed,
                    rows_quarantined=result.rows_quarantined,
                    quarantine_reasons=reasons,
                    imputed=imputed,
                    ingested_at=ingested_at.isoformat() + "Z",
                    duration_s=round(time.monotonic() - export.started, 3),
                    outputs=outputs,
                    attempt=self.attempt,
                    epoch=epoch,
                    source_path=source_path,
                    extract=export.extract_info or {},
                ),
            )
            bar.update()
            bar.close()

        self.writer.submit(contract.table, sha, write)
        return result

    def close(self) -> None:
        self.writer.close()


def _split_raw(lake: Lake, contract: Contract, good: pl.DataFrame, stem: str) -> list[tuple[Path, pl.DataFrame]]:
    """The raw file(s) of one export: one, or one per hive partition value (in order of appearance)."""
    part = contract.partition_by
    if part is None:
        return [(lake.raw_file(contract.table, stem), good)]
    # Formatting only the distinct dates, then mapping: strftime on all 1M order rows cost 0.025 s.
    dates = good[part.column].unique()
    label = pl.col(part.column).replace_strict(dates, dates.dt.strftime(part.format), return_dtype=pl.String)
    keyed = good.with_columns(label.alias("_part"))
    groups = keyed.partition_by("_part", as_dict=True, include_key=False, maintain_order=True)
    return [(lake.raw_file(contract.table, stem, (part.name, value)), frame) for (value,), frame in groups.items()]


@dataclass(frozen=True)
class _Source:
    """A landed file to ingest, and how (a reprocess pins its hash and its original ingestion time)."""

    contract: Contract
    path: Path
    name: str
    extract: bool = False
    expected_sha: str | None = None
    ingested_at: dt.datetime | None = None
    extract_info: dict[str, Any] | None = None
    frame: pl.DataFrame | None = None  # the frame `path` was written from (still in memory)
    facts: ExportFacts | None = None  # `path`'s hash, when the writer computed it already


def _run_exports(
    run: _Run,
    sources: list[_Source],
    report: IngestReport,
    *,
    epoch_of: Callable[[str], int],
    reprocess: bool = False,
    close: bool = True,
) -> None:
    """Hash, parse, validate and queue each source in order; wait for every write at the end.

    Threads hash all exports and parse up to READ_AHEAD of them ahead of the one being validated
    (hashlib and polars release the GIL), and a writer thread writes them: at scale 1 hashing in
    line took 0.10 s and parsing 0.37 s of the ingest. A reprocess lands every source again (into
    a new epoch) instead of skipping those the ledger holds.
    """
    lake = run.lake
    hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shoplake-sha256")
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shoplake-reader")

    def recorded(export: _Export) -> bool:
        table = export.contract.table
        return not reprocess and read_ledger_record(lake, table, export.sha, epoch_of(table)) is not None

    def load(source: _Source, facts: Future[ExportFacts]) -> _Export:
        export = _Export(source.contract, source.path, facts.result(), source.name, source.extract, source.extract_info,
                         source.frame)  # fmt: skip
        if source.expected_sha and export.sha != source.expected_sha:
            export.rejected = FileRejected("the landed file changed since it was ingested (SHA-256 differs)")
            return export
        return export if recorded(export) else export.parse()  # a recorded one is not parsed, but skipped

    try:
        hashes = [
            _known(source.facts) if source.facts else hasher.submit(hash_export, source.path) for source in sources
        ]
        loads = list(zip(sources, hashes, strict=True))
        ahead = deque(reader.submit(load, *args) for args in loads[: READ_AHEAD + 1])
        for i, source in enumerate(sources):
            export = ahead.popleft().result()
            if i + READ_AHEAD + 1 < len(sources):
                ahead.append(reader.submit(load, *loads[i + READ_AHEAD + 1]))
            table, path = source.contract.table, source.path
            run.writer.wait(table, export.sha)  # an identical file may still be landing
            if export.rejected is None and recorded(export):
                report.files.append(FileResult(table=table, path=path, status=FileStatus.SKIPPED))
                continue
            if export.parsed is None and export.rejected is None:  # its record was there when read ahead
                export.parse()
            if export.rejected is not None:
                report.files.append(
                    FileResult(table=table, path=path, status=FileStatus.REJECTED, error=str(export.rejected))
                )
                continue
            if export.crashed is not None:
                report.files.append(FileResult(table=table, path=path, status=FileStatus.FAILED, error=export.crashed))
                continue
            ingested_at = source.ingested_at or run.next_ingested_at()
            try:
                report.files.append(run.land(export, epoch=epoch_of(table), ingested_at=ingested_at))
            except Exception as exc:
                if run.writer.error is not None:  # writing failed: stop (raised below, with the report)
                    raise
                error = _crash_text("validating", exc)
                report.files.append(FileResult(table=table, path=path, status=FileStatus.FAILED, error=error))
        run.writer.wait()
    finally:
        if close:
            run.close()
        reader.shutdown(cancel_futures=True)
        hasher.shutdown(cancel_futures=True)


# -- public entry points -----------------------------------------------------------------------


def ingest_all(
    settings: Settings, *, tables: list[str] | None = None, progress: bool = True, wait: bool = True
) -> IngestReport:
    """`shoplake ingest`: every new export in the landing area, tables in dependency order.

    Holds the ingest lock (waiting for it unless `wait` is False), and first removes what an
    interrupted ingest left behind.
    """
    lake, contracts = Lake(settings.lake_dir).ensure(), contracts_for(settings)
    unknown = sorted(set(tables or ()) - set(contracts))
    if unknown:
        raise ShopLakeError(f"no contract for table(s) {', '.join(unknown)} (known: {', '.join(contracts)})")
    with locks.hold(lake, locks.INGEST, command="shoplake ingest", wait=wait):
        report = IngestReport()
        report.removed_leftovers = len(recover(lake, batch_tables(lake, contracts)).removed)
        sources = [
            _Source(contract, path, path.name)
            for table, contract in contracts.items()
            if not tables or table in tables
            for path in _landing_exports(lake, contract)
        ]
        epochs = {table: epoch_pointer(lake, table).epoch for table in contracts}
        run = _Run(lake, contracts, progress=progress, max_quarantine_share=settings.max_quarantine_share)
        _run_reported(run, sources, report, epoch_of=epochs.__getitem__)
        report.files += unmatched_files(lake, contracts, tables)
    return report


def _run_reported(
    run: _Run,
    sources: list[_Source],
    report: IngestReport,
    *,
    epoch_of: Callable[[str], int],
    reprocess: bool = False,
    close: bool = True,
) -> None:
    """`_run_exports`; if writing fails, mark what was not committed and raise `IngestAborted` with the report."""
    try:
        _run_exports(run, sources, report, epoch_of=epoch_of, reprocess=reprocess, close=close)
    except Exception as exc:
        for f in report.files:
            if f.status == FileStatus.LANDED and not _committed(run.lake, f, epoch_of(f.table)):
                f.status = FileStatus.FAILED
                f.error = "not committed: the run stopped before this file's ledger record was written"
        message = f"ingest stopped: {type(exc).__name__}: {exc}"
        report.notes.append(message)
        raise IngestAborted(message, report) from exc


def _committed(lake: Lake, result: FileResult, epoch: int) -> bool:
    from .readers import sha256_file

    try:
        return read_ledger_record(lake, result.table, sha256_file(result.path), epoch) is not None
    except OSError:
        return False


def land_frame(
    settings: Settings,
    table: str,
    frame: pl.DataFrame,
    *,
    source_name: str,
    progress: bool = False,
    wait: bool = True,
    extract: dict[str, Any] | None = None,
) -> FileResult:
    """Land an in-memory frame (e.g. rows read from a database) exactly as `shoplake ingest` lands a file.

    `frame`'s columns are named like the export's (the contract's `source:` names) and may be text
    or already typed (integers, floats, dates, timestamps: naive ones are taken as UTC). It goes
    through the same contract checks, quarantine, ledger and commit as a CSV export. The frame is
    first kept as Parquet under `landing/<table>/_extracts/` (named by its content hash), so
    `--reprocess` can rebuild from it and landing the same rows twice is skipped. `source_name`
    (e.g. `erp.orders@2025-06-01T02:00`) is what the rows' `_source_file` says; `extract` is kept
    in the ledger record (a database extract's cursor range). Several frames: `landing_frames`.
    """
    with landing_frames(settings, table, progress=progress, wait=wait) as landing:
        return landing.land(frame, source_name=source_name, extract=extract)


class FrameLanding:
    """Lands frames of one table, one ledger record each, in one attempt (see `landing_frames`)."""

    def __init__(
        self, lake: Lake, contracts: dict[str, Contract], table: str, epoch: int, *, progress: bool, max_share: float
    ) -> None:
        self.lake, self.contract, self.epoch = lake, contracts[table], epoch
        self.run = _Run(lake, contracts, progress=progress, max_quarantine_share=max_share)
        self.results: list[FileResult] = []

    def land(self, frame: pl.DataFrame, *, source_name: str, extract: dict[str, Any] | None = None) -> FileResult:
        """Validate and commit one frame (its ledger record is written when this returns)."""
        path, facts = _keep_extract(self.lake, self.contract.table, frame, source_name)
        report = IngestReport()
        source = _Source(self.contract, path, source_name, extract=True, extract_info=extract, frame=frame, facts=facts)
        _run_reported(self.run, [source], report, epoch_of=lambda _t: self.epoch, close=False)
        self.results.append(report.files[0])
        return report.files[0]


@contextmanager
def landing_frames(
    settings: Settings,
    table: str,
    *,
    replace: Callable[[LedgerRecord], bool] | None = None,
    command: str | None = None,
    progress: bool = False,
    wait: bool = True,
) -> Iterator[FrameLanding]:
    """Land several frames of `table` under one hold of the ingest lock, each committed by its own record.

    Memory stays that of one frame however many are landed. With `replace`, the frames go into a
    new ledger epoch instead, together with the current records `replace` says False for (carried
    over unchanged); the epoch pointer, written when the block ends without an error, switches
    readers to it in one step, so the records `replace` selects are dropped from the table then
    (a database's full refresh). An error or a crash before that leaves the table as it was.
    """
    lake, contracts = Lake(settings.lake_dir).ensure(), contracts_for(settings)
    if table not in contracts:
        raise ShopLakeError(f"no contract for table {table!r} (known: {', '.join(contracts)})")
    with locks.hold(lake, locks.INGEST, command=command or f"land_frame {table}", wait=wait):
        recover(lake, batch_tables(lake, contracts))
        epoch = epoch_pointer(lake, table).epoch
        if replace is not None:
            current, epoch = epoch, max(lake.ledger_epochs(table), default=0) + 1
            for record in read_table_records(lake, table, current):
                if not replace(record):
                    write_ledger_record(lake, dataclasses.replace(record, epoch=epoch))
        landing = FrameLanding(
            lake, contracts, table, epoch, progress=progress, max_share=settings.max_quarantine_share
        )
        try:
            yield landing
        except BaseException:
            landing.run.close()  # no write job may still run while leftovers are removed
            if replace is not None:
                recover(lake, [table])  # the unfinished epoch and its files were never committed: gone now
            raise
        landing.run.close()
        if replace is not None:
            write_epoch(lake, table, epoch)  # the commit point: readers switch to the new epoch


def _keep_extract(lake: Lake, table: str, frame: pl.DataFrame, source_name: str) -> tuple[Path, ExportFacts]:
    """Write the frame once under landing/<table>/_extracts/, named by its content hash (returned with it)."""
    directory = lake.extracts_dir(table)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(directory / f"{_safe(source_name)}.parquet")
    try:
        frame.write_parquet(tmp, compression="snappy", statistics=True)
        data = tmp.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        path = directory / f"{_safe(source_name)}-{digest[:12]}.parquet"
        if not path.exists():  # the same rows landed before: keep the first copy
            publish_file(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path, ExportFacts(sha256=digest, size=len(data), has_quote=False, ends_with_newline=True)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).strip("._") or "extract"


def reprocess(settings: Settings, table: str, *, progress: bool = True, wait: bool = True) -> IngestReport:
    """`shoplake ingest --reprocess TABLE`: rebuild raw and quarantine from the files its ledger names.

    Every landed file the table's ledger lists is read again, in the original ingestion order and
    with its original `_ingested_at` (so which row wins does not change), and validated against
    the contract as it is now. The new outputs and records form the next ledger epoch; the epoch
    pointer, written last, switches readers from the old set to the new one in one step. Nothing
    changes if a landed file is missing or altered, or if one is now rejected.
    """
    lake, contracts = Lake(settings.lake_dir).ensure(), contracts_for(settings)
    if table not in contracts:
        raise ShopLakeError(f"no contract for table {table!r} (known: {', '.join(contracts)})")
    with locks.hold(lake, locks.INGEST, command=f"shoplake ingest --reprocess {table}", wait=wait):
        report = IngestReport(reprocessed=table)
        report.removed_leftovers = len(recover(lake, batch_tables(lake, contracts)).removed)
        records = read_table_records(lake, table)
        if not records:
            raise ShopLakeError(f"cannot reprocess {table}: its ledger lists no ingested files")
        paths = [_landed_path(lake, r) for r in records]
        missing = [f"{p} ({r.source_file})" for r, p in zip(records, paths, strict=True) if not p.is_file()]
        if missing:
            shown = ", ".join(missing[:3]) + (f" (+{len(missing) - 3} more)" if len(missing) > 3 else "")
            raise ShopLakeError(f"cannot reprocess {table}: landed file(s) missing: {shown}; nothing was changed")
        new_epoch = max(lake.ledger_epochs(table), default=0) + 1
        sources = [
            _Source(contracts[table], path, r.source_file, extract=path.parent == lake.extracts_dir(table),
                    expected_sha=r.sha256, ingested_at=r.ingested_datetime, extract_info=r.extract or None)
            for r, path in zip(records, paths, strict=True)
        ]  # fmt: skip
        run = _Run(lake, contracts, progress=progress, max_quarantine_share=settings.max_quarantine_share)
        _run_reported(run, sources, report, epoch_of=lambda _t: new_epoch, reprocess=True)
        if report.failed_files:
            recover(lake, [table])  # the unfinished epoch and its files were never committed: gone now
            names = ", ".join(f.path.name for f in report.failed_files)
            report.notes.append(f"nothing was changed: {table} keeps its current data ({names} did not land again)")
            return report
        write_epoch(lake, table, new_epoch)  # the commit point: readers switch to the new epoch
    return report


def _landed_path(lake: Lake, record: LedgerRecord) -> Path:
    """The landed file a record names (records from before `source_path` name it by landing folder)."""
    if record.source_path:
        return lake.path(record.source_path)
    return lake.landing_dir(record.table) / record.source_file
