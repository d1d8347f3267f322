"""`shoplake extract`: read a database's tables into the lake through the same contract-checked ingest.

Per source, one connection and one snapshot (REPEATABLE READ where the database has it) serve all
its tables, read in the contracts' reference order, so order lines never arrive before their orders.
Rows stream from the database in Arrow batches and are landed in chunks of `chunk_rows` rows, each
chunk validated, quarantined and committed by its own ledger record (`landing_frames`), so memory
is that of one chunk whatever the table's size.

- Incremental (a cursor, and rows of it already landed): rows whose cursor is >= the high-water
  mark minus the lookback, in cursor order, minus those the lake already holds (see `cursor.py`).
  Each committed chunk carries its cursor range, and chunks come in cursor order, so after a crash
  the next run starts from what was committed: nothing is skipped, and what is read again is left
  out because it is already landed, so nothing is doubled.
- First extract: the same read without a lower bound.
- Full refresh (`--full-refresh`, or a table without a cursor): the whole table into a new ledger
  epoch that replaces what this source landed before (rows deleted in the database disappear);
  committed in one step at the end, so a crash changes nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import io
import os
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import polars as pl
import pyarrow as pa
from rich.console import Console
from rich.table import Table as RichTable
from tqdm import tqdm

from .. import locks
from ..batch.contract import Contract, contracts_for
from ..batch.ingest import FileStatus, landing_frames
from ..errors import ShopLakeError
from ..lake import Lake
from ..settings import Settings
from .config import SourceConfig, Table, load_sources, sources_dir
from .cursor import HighWater, already_landed, chunk_info, cursor_kind, encode, high_water
from .reader import Read, Relation, Source

T = TypeVar("T")


class ExtractMode(enum.StrEnum):
    FIRST = "first"  # no high-water mark yet: every row, committed at the end (like a full refresh)
    INCREMENTAL = "incremental"  # rows from the mark minus the lookback, in cursor order, committed per chunk
    FULL_REFRESH = "full refresh"  # every row, replacing what this source landed before


@dataclass
class TableExtract:
    """What one table's extract did."""

    source: str
    table: str  # the contract the rows feed
    relation: str
    mode: ExtractMode
    rows_read: int = 0
    rows_unchanged: int = 0  # re-read inside the lookback, already in the lake
    rows_landed: int = 0
    rows_quarantined: int = 0
    commits: int = 0  # ledger records written (one per landed chunk)
    reasons: dict[str, int] = field(default_factory=dict)
    high_water_before: Any = None
    high_water_after: Any = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return self.rows_landed + self.rows_quarantined


@dataclass
class ExtractReport:
    tables: list[TableExtract] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        return {
            "rows_read": sum(t.rows_read for t in self.tables),
            "rows_unchanged": sum(t.rows_unchanged for t in self.tables),
            "rows_landed": sum(t.rows_landed for t in self.tables),
            "rows_quarantined": sum(t.rows_quarantined for t in self.tables),
            "commits": sum(t.commits for t in self.tables),
        }

    def table(self) -> RichTable:
        table = RichTable(show_edge=False, pad_edge=False, header_style="bold")
        for name in ("source.table", "mode", "read", "unchanged", "landed", "quarant.", "commits", "high-water mark"):
            table.add_column(name, justify="left" if name in ("source.table", "mode", "high-water mark") else "right",
                             no_wrap=True)  # fmt: skip
        for t in self.tables:
            table.add_row(
                f"{t.source}.{t.table}", str(t.mode), f"{t.rows_read:,}", f"{t.rows_unchanged:,}",
                f"{t.rows_landed:,}", f"{t.rows_quarantined:,}", f"{t.commits:,}",
                "" if t.high_water_after is None else str(t.high_water_after),
            )  # fmt: skip
        return table

    def details(self) -> list[str]:
        lines = []
        for t in self.tables:
            name = f"{t.source}.{t.table}"
            lines += [f"{name}: quarantined {n:,} {reason}" for reason, n in sorted(t.reasons.items())]
            lines += [f"{name}: {note}" for note in t.notes]
        return lines

    def print(self, console: Console | None = None) -> None:
        if console is None:
            console = Console(highlight=False)
            if not console.is_terminal:  # a pipe or a log: no terminal width to fit, keep the marks whole
                console = Console(highlight=False, width=140)
        if self.tables:
            console.print(self.table())
        for line in self.details():
            console.print(line, markup=False, soft_wrap=True)

    def render(self, width: int = 140) -> str:
        buffer = io.StringIO()
        self.print(Console(file=buffer, width=width, color_system=None, highlight=False, force_terminal=False))
        return buffer.getvalue().rstrip("\n")


# -- which database columns become which frame columns -------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The database columns to read and the names they get in the landed frame (the contract's `source:`)."""

    select: list[str]
    rename: dict[str, str]
    cursor: str | None  # the cursor's database column
    cursor_field: str | None  # its name in the frame
    keys: list[str]  # the primary key's names in the frame
    casts: dict[str, str] = field(default_factory=dict)  # database column -> type the server converts it to


def plan_columns(source: str, spec: Table, contract: Contract, db_types: dict[str, str]) -> Plan:
    """Map database columns onto the contract: `columns:` first, then by `source:` name, then by column name
    (case-insensitive); the cursor and soft-delete columns come along. Unmapped columns are not read.

    `db_types` (column -> type, where the driver tells it): a PostgreSQL `numeric` feeding a `double`
    contract column is converted to `float8` by the server, which is cheaper than sending it as text.
    """
    where = f"source {source}, {spec.contract} ({spec.what})"
    db_columns = list(db_types)
    by_lower = {c.lower(): c for c in db_columns}

    def find(name: str, what: str) -> str:
        found = name if name in db_columns else by_lower.get(name.lower())
        if found is None:
            raise ShopLakeError(f"{where}: no database column {name!r} ({what}); it has: {', '.join(db_columns)}")
        return found

    targets: dict[str, str] = {}  # database column -> contract column name
    for db, name in spec.columns.items():
        targets[find(db, f"mapped to {name} under columns:")] = name
    for column in contract.columns:
        if column.name in targets.values():
            continue
        match = by_lower.get(column.source.lower()) or by_lower.get(column.name.lower())
        if match is not None and match not in targets:
            targets[match] = column.name
    if spec.soft_delete:
        assert contract.deleted_column is not None  # checked when the source was loaded
        targets[find(spec.soft_delete, "soft_delete")] = contract.deleted_column
    missing = [c for c in contract.columns if c.required and c.name not in targets.values()]
    if missing:
        named = ", ".join(f"{c.name} (source {c.source})" for c in missing)
        raise ShopLakeError(
            f"{where}: no database column for required contract column(s) {named}; "
            f"map them under `columns:` (it has: {', '.join(db_columns)})"
        )
    rename = {db: contract.column(name).source for db, name in targets.items()}
    cursor = find(spec.cursor.column, "cursor") if spec.cursor else None
    select = [c for c in db_columns if c in rename or c == cursor]
    keys = [contract.column(k).source for k in contract.primary_key]
    casts = {db: "float8" for db, name in targets.items()
             if contract.column(name).type == "double" and db_types.get(db) == "numeric"}  # fmt: skip
    return Plan(select, rename, cursor, rename.get(cursor, cursor) if cursor else None, keys, casts)


# -- chunks ------------------------------------------------------------------------------------


def chunks(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Regroup record batches into tables of `rows` rows (the last one shorter)."""
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in batches:
        while batch.num_rows:
            take = min(rows - size, batch.num_rows)
            pending.append(batch.slice(0, take))
            size += take
            batch = batch.slice(take)
            if size == rows:
                yield pa.Table.from_batches(pending)
                pending, size = [], 0
    if size:
        yield pa.Table.from_batches(pending)


def prefetched(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """`items`, produced by a thread up to `depth` ahead: the next chunk streams from the database while
    this one is validated and written (both release the GIL for most of their work)."""
    box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(("done", None))
        except BaseException as exc:  # handed to the consumer, raised there
            box.put(("error", exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:  # a generator: its database cursor is closed here, in its own thread
                close()

    thread = threading.Thread(target=produce, name="shoplake-extract-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = box.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while thread.is_alive():  # let the producer see `stop` (it never blocks for long)
            with contextlib.suppress(queue.Empty):
                box.get(timeout=0.05)
        thread.join()


def _frame(table: pa.Table, plan: Plan) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.rename({db: name for db, name in plan.rename.items() if db in frame.columns})


def _leave_out_landed(frame: pl.DataFrame, landed: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """The frame without rows whose key and cursor value the lake already holds."""
    if landed.is_empty():
        return frame
    on = [*plan.keys, plan.cursor_field]
    casts = [pl.col(c).cast(frame.schema[c]) for c in on]
    return frame.join(landed.select(casts), on=on, how="anti", nulls_equal=False, maintain_order="left")


# -- one table ---------------------------------------------------------------------------------


def _extract_table(
    settings: Settings, db: Source, config: SourceConfig, spec: Table, contract: Contract, *,
    full_refresh: bool, chunk_rows: int, stamp: str, progress: bool,
) -> TableExtract:  # fmt: skip
    lake = Lake(settings.lake_dir)
    started = time.monotonic()
    relation = Relation(table=spec.table, query=spec.query)
    plan = plan_columns(config.source, spec, contract, db.columns(relation))
    mark: HighWater | None = None
    if spec.cursor and not full_refresh:
        mark = high_water(lake, contract.table, config.source, plan.cursor or "")
    # Without a mark, every row is read: into a new epoch committed at the end, in whatever order the
    # database streams them (no sort), and a crash simply leaves nothing to resume from.
    replacing = full_refresh or spec.cursor is None or mark is None
    if full_refresh or spec.cursor is None:
        mode = ExtractMode.FULL_REFRESH
    else:
        mode = ExtractMode.INCREMENTAL if mark else ExtractMode.FIRST
    result = TableExtract(config.source, contract.table, spec.what, mode,
                          high_water_before=mark.value if mark else None)  # fmt: skip
    lower = mark.lower_bound(spec.cursor) if mark and spec.cursor else None
    landed = already_landed(lake, mark, plan.keys, lower) if mark else pl.DataFrame()
    read = Read(relation, plan.select, cursor=plan.cursor, lower=lower, ordered=not replacing, casts=plan.casts)
    base = {"source": config.source, "cursor": plan.cursor, "run": stamp, "mode": str(mode)}
    kind: str | None = mark.kind if mark else None
    top = mark.value if mark else None
    bar = tqdm(desc=f"{config.source}.{contract.table}", unit=" rows", disable=None if progress else True, leave=False)
    with (
        landing_frames(
            settings,
            contract.table,
            command=f"shoplake extract {config.source}.{contract.table}",
            replace=(lambda r: r.extract.get("source") == config.source) if replacing else None,
        ) as landing,
        contextlib.closing(prefetched(_frame(chunk, plan) for chunk in chunks(db.batches(read), chunk_rows))) as frames,
    ):
        for number, frame in enumerate(frames):
            result.rows_read += frame.height
            bar.update(frame.height)
            fresh = _leave_out_landed(frame, landed, plan) if mark else frame
            result.rows_unchanged += frame.height - fresh.height
            del frame
            if fresh.is_empty():
                continue
            info = dict(base)
            if plan.cursor_field:
                kind = kind or cursor_kind(fresh.schema[plan.cursor_field], plan.cursor or "")
                info = chunk_info(fresh, plan.cursor_field, kind, **base)
                chunk_top = fresh[plan.cursor_field].max()
                top = chunk_top if top is None or (chunk_top is not None and chunk_top > top) else top
            landed_file = landing.land(
                fresh, source_name=f"{config.source}.{contract.table}@{stamp}#{number:04d}", extract=info
            )
            if landed_file.status == FileStatus.LANDED:
                result.commits += 1
                result.rows_landed += landed_file.rows_landed
                result.rows_quarantined += landed_file.rows_quarantined
                for reason, n in landed_file.reasons.items():
                    result.reasons[reason] = result.reasons.get(reason, 0) + n
            elif landed_file.status == FileStatus.SKIPPED:  # the very same rows were committed before
                result.rows_unchanged += fresh.height
            elif landed_file.status.is_failure:  # e.g. most rows broke the contract: the contract is likely wrong
                reasons = ", ".join(f"{r} {n:,}" for r, n in sorted(landed_file.reasons.items()))
                error = (landed_file.error or "failed").replace("run ingest again", "extract again")
                raise ShopLakeError(
                    f"source {config.source}, {contract.table}: {error} ({reasons}); the high-water mark stays"
                )
    bar.close()
    result.high_water_after = encode(top, kind) if kind and top is not None else None
    if replacing and spec.cursor is None:
        result.notes.append("no cursor: read whole and replaced on every extract")
    result.seconds = round(time.monotonic() - started, 3)
    return result


# -- public entry point ------------------------------------------------------------------------


def configured_sources(
    settings: Settings, env: Mapping[str, str] | None = None, contracts: dict[str, Contract] | None = None
) -> dict[str, SourceConfig]:
    """Sources declared in YAML whose URL variable is set: the ones an extract (and its deployment) can read."""
    env = os.environ if env is None else env
    sources = load_sources(contracts_for(settings) if contracts is None else contracts, sources_dir(settings))
    return {name: s for name, s in sources.items() if env.get(s.url_env, "").strip()}


def extract(
    settings: Settings,
    *,
    source: str | None = None,
    tables: list[str] | None = None,
    full_refresh: bool = False,
    progress: bool = True,
    wait: bool = True,
    env: Mapping[str, str] | None = None,
) -> ExtractReport:
    """`shoplake extract`: read each configured source's tables into the lake (see the module docstring).

    The connection URL comes from the environment variable the source's YAML names (`env` in tests).
    Holds the ingest lock while it lands; an unreachable or refusing database raises one line.
    """
    env = os.environ if env is None else env
    contracts = contracts_for(settings)
    declared = load_sources(contracts, sources_dir(settings))
    if not declared:
        raise ShopLakeError(
            f"no database source is declared (add a YAML file under {sources_dir(settings)}; see docs/erp.md)"
        )
    if source is not None and source not in declared:
        raise ShopLakeError(f"no source {source!r} (declared: {', '.join(declared)})")
    chosen = [declared[source]] if source else list(declared.values())
    unknown = sorted(set(tables or ()) - {t.contract for s in chosen for t in s.tables})
    if unknown:
        raise ShopLakeError(f"no table {', '.join(unknown)} in source(s) {', '.join(s.source for s in chosen)}")
    lake = Lake(settings.lake_dir).ensure()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report = ExtractReport()
    for config in chosen:
        url = env.get(config.url_env, "").strip()
        if not url:
            raise ShopLakeError(
                f"source {config.source}: environment variable {config.url_env} is not set "
                f"(the connection URL, e.g. postgresql://user:password@host:5432/database; see docs/erp.md)"
            )
        specs = [config.table(t) for t in contracts if t in {s.contract for s in config.tables}]
        specs = [s for s in specs if not tables or s.contract in tables]
        chunk_rows = config.chunk_rows or settings.extract_chunk_rows
        with (
            locks.hold(lake, locks.INGEST, command=f"shoplake extract {config.source}", wait=wait),
            Source(config.source, url, batch_rows=min(chunk_rows, 100_000)) as db,
        ):
            for spec in specs:
                table = _extract_table(
                    settings, db, config, spec, contracts[spec.contract], full_refresh=full_refresh,
                    chunk_rows=chunk_rows, stamp=stamp, progress=progress,
                )  # fmt: skip
                report.tables.append(table)
    return report
