"""`shoplake promote --follow`: continuous promotion, so clicks reach Snowflake within a minute.

A cycle (`follow_cycle`) is one promotion without the full build: every raw and results table is
loaded with the same protocol as `shoplake promote` (`promote.load_tables`: committed files only,
the manifest and COPY load history in one transaction, row-count checks, the source-position key
for compacted stream files), and when rows were loaded, `dbt build` runs on the target for just
the models downstream of the loaded tables' sources (for clicks: `stg_clickstream__events`,
`fct_sessions`, `funnel_daily`, incremental delete+insert; a RAW table the cycle created counts as
loaded, so on a target new to the lake the first cycle builds every model; the first cycle of every
follower builds downstream of every table it follows, so marts a killed follower left unbuilt catch up).
`follow` repeats cycles every
`interval` seconds until SIGTERM/SIGINT (the running cycle finishes first) or `max_cycles`.

Crash safety is the promotion protocol's: a cycle killed anywhere (even by kill -9 in the COPY
transaction) leaves either nothing of a table or the table and its manifest rows together, so the
next cycle (of this or a restarted follower) loads exactly what is missing. A cycle holds the
target's promotion lock (`locks.promotion`), which `shoplake promote` also takes: a nightly promote
waits for the running cycle (not for the follower), and the follower waits for it.
"""

from __future__ import annotations

import datetime as dt
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import cache

import yaml

from .. import locks
from ..console import number, render, table
from ..lake import Lake
from ..settings import Settings
from .dbt import PROJECT_DIR, invoke_dbt
from .promote import PromotionReport, load_tables

DEFAULT_INTERVAL_S = 15.0


@dataclass
class CycleReport:
    """One follow cycle: what was loaded, what was built, how long it took."""

    cycle: int
    started_at: dt.datetime
    promotion: PromotionReport
    select: str | None = None  # the dbt selection built, None when nothing loaded
    built_tables: list[str] = field(default_factory=list)  # the tables whose downstream models were built
    dbt_success: bool | None = None
    dbt_summary: str | None = None
    dbt_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def loaded(self) -> dict[str, int]:
        """Table -> rows loaded this cycle (tables that loaded rows only)."""
        return {t.table: t.loaded_rows for t in self.promotion.tables if t.loaded_rows}

    @property
    def ok(self) -> bool:
        return self.promotion.ok and self.dbt_success is not False

    def line(self) -> str:
        """One log line per cycle: the CLI prints it, the Prefect flow logs it."""
        files = {t.table: t.loaded_files for t in self.promotion.tables}
        loaded = ", ".join(f"{name} {rows:,} rows ({files[name]} files)" for name, rows in self.loaded.items())
        parts = [f"cycle {self.cycle} {self.started_at:%H:%M:%S} UTC: loaded {loaded or 'nothing new'}"]
        # e.g. a compacted stream file whose rows were in RAW already (only its new rows were inserted)
        parts += [f"{t.table}: {t.message}" for t in self.promotion.tables
                  if t.message and t.loaded_files and not t.status.is_failed]  # fmt: skip
        if self.select is not None:
            state = "ok" if self.dbt_success else "FAILED"
            parts.append(f"dbt build {state} in {self.dbt_seconds:.1f}s ({self.select})")
        problems = [f"{t.table} {t.status}: {t.message}" for t in self.promotion.tables if t.status.is_failed]
        if problems:
            parts.append("; ".join(problems))
        if self.dbt_success is False and self.dbt_summary:
            parts.append(self.dbt_summary.strip().splitlines()[0])
        parts.append(f"{self.seconds:.1f}s")
        return "; ".join(parts)


@dataclass
class FollowReport:
    target: str
    cycles: list[CycleReport] = field(default_factory=list)

    def render(self) -> str:
        rows = table("table", "cycles loading", "rows loaded", right=("cycles loading", "rows loaded"))
        per_table: dict[str, list[int]] = {}
        for c in self.cycles:
            for name, rows_loaded in c.loaded.items():
                per_table.setdefault(name, []).append(rows_loaded)
        for name, loads in sorted(per_table.items()):
            rows.add_row(name, number(len(loads)), number(sum(loads)))
        failed = sum(not c.ok for c in self.cycles)
        builds = sum(c.select is not None for c in self.cycles)
        return render(
            f"followed {self.target}: {len(self.cycles)} cycle(s), {builds} dbt build(s), {failed} failed cycle(s)",
            rows,
        )


@cache
def source_of_tables() -> dict[str, str]:
    """Raw table -> the dbt source that declares it (`transforms/models/**/_*__sources.yml`)."""
    out: dict[str, str] = {}
    for path in sorted((PROJECT_DIR / "models").rglob("*sources.yml")):
        for source in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("sources", []):
            for t in source.get("tables", []):
                out.setdefault(t["name"], source["name"])
    return out


def build_selection(tables: list[str]) -> str | None:
    """The dbt selection for what a cycle loaded: every model downstream of those tables' sources."""
    sources = source_of_tables()
    parts = sorted({f"source:{sources[t]}.{t}+" for t in tables if t in sources})
    return " ".join(parts) or None


def follow_cycle(
    settings: Settings,
    target: str,
    *,
    cycle: int = 1,
    build: bool = True,
    rebuild: Iterable[str] = (),
    tables: list[str] | None = None,
) -> CycleReport:
    """Load what the lake committed since the last cycle, then build the models downstream of it (and of
    `rebuild`: tables whose build failed in an earlier cycle)."""
    started, clock = dt.datetime.now(dt.timezone.utc), time.monotonic()
    holder = f"shoplake promote --follow (cycle {cycle})"
    with locks.hold(Lake.of(settings), locks.promotion(target), command=holder):
        promotion = load_tables(settings, target, tables=tables, progress=False)
        report = CycleReport(cycle=cycle, started_at=started, promotion=promotion)
        # A refused or failed table loaded nothing; a mismatch (e.g. a file compacted away between
        # listing and loading) loaded real rows, which the next cycle completes: build those too.
        # A table created this cycle (a target new to the lake, or a results table made empty) has models
        # that were never built: build them too, as `promote` would.
        changed = [t.table for t in promotion.tables
                   if (t.loaded_rows or t.created) and t.status not in ("refused", "failed")]  # fmt: skip
        # `rebuild` only for tables with a RAW table (a follower starts owing every table; one the lake has
        # no files of yet, e.g. clicks before the stream's first commit, has none for its models to read).
        known = {t.table for t in promotion.tables if t.lake_files or t.snowflake_rows is not None}
        report.built_tables = sorted({*changed, *(set(rebuild) & known)}) if build else []
        report.select = build_selection(report.built_tables) if report.built_tables else None
        if report.select is not None:
            built = time.monotonic()
            result = invoke_dbt(
                settings, ["build", "--select", report.select], target=target, progress=False, command=holder
            )
            report.dbt_success, report.dbt_summary = result.success, result.summary()
            report.dbt_seconds = time.monotonic() - built
    report.seconds = time.monotonic() - clock
    return report


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT set `stop` (the running cycle finishes); only the main thread can install handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in saved:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def follow(
    settings: Settings,
    target: str,
    *,
    interval: float = DEFAULT_INTERVAL_S,
    build: bool = True,
    max_cycles: int | None = None,
    stop: threading.Event | None = None,
    log: Callable[[str], None] = _say,
    warn: Callable[[str], None] | None = None,
    handle_signals: bool = True,
    tables: list[str] | None = None,
) -> FollowReport:
    """Run cycles every `interval` seconds (start to start) until stopped.

    The first cycle's errors propagate (a wrong setting or a stopped snowsim should fail at once);
    later ones are logged (`warn`, default `log`) and retried next cycle (a follower outlives a network
    blip). `handle_signals=False` leaves SIGTERM to the caller (Prefect cancels a run with it).
    """
    warn = warn or log
    from snowflake.connector import errors as sf_errors

    from ..errors import ShopLakeError

    stop = stop or threading.Event()
    report = FollowReport(target=target)
    log(f"following the lake into {target} every {interval:g}s (SIGTERM/Ctrl-C stops after the running cycle)")
    with _stop_on_signals(stop) if handle_signals else nullcontext():
        n = 0
        # Tables whose downstream build is owed: built by the next cycle. A follower starts owing all of
        # them, since one killed during dbt (kill -9, a lost machine) left its marts unbuilt and kept no
        # note of it; the incremental models make that first build cheap.
        unbuilt: set[str] = set(tables) if tables is not None else set(source_of_tables())
        while not stop.is_set() and (max_cycles is None or n < max_cycles):
            n += 1
            began = time.monotonic()
            try:
                cycle = follow_cycle(settings, target, cycle=n, build=build, rebuild=sorted(unbuilt), tables=tables)
            except (ShopLakeError, sf_errors.Error) as exc:
                if n == 1:
                    raise
                warn(f"cycle {n}: error, retrying next cycle: {str(exc).strip().splitlines()[0]}")
            else:
                report.cycles.append(cycle)
                unbuilt = set(cycle.built_tables) if cycle.dbt_success is False else set()
                (log if cycle.ok else warn)(cycle.line())
            if max_cycles is not None and n >= max_cycles:
                break
            stop.wait(max(0.0, interval - (time.monotonic() - began)))
    return report
