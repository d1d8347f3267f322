"""`shoplake report`: run SQL reports on a target, write one file per report and an index page.

Each report runs on its own: a bad header, a bad parameter value, a statement that is not one read
(checked with sqlglot before anything runs), a missing mart or a SQL error fails that report (named,
with the reason in one line) and the others still run. Output goes to
`lake/reports/<target>/`, each file written atomically; a failed report's stale file is removed
so the folder never shows an old result as if it were current.
"""

from __future__ import annotations

import datetime as dt
import enum
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from ..errors import ShopLakeError
from ..lake import Lake
from ..settings import Settings
from ..storage import write_text_atomic
from ..warehouse.query import render_table
from ..warehouse.sandbox import check_read_only
from .catalog import REPORTS_DIR, Report, parse_report, report_paths
from .render import FORMATS, render_index, render_report
from .targets import TARGETS, ReportTarget, open_target

Opener = Callable[[Settings, str], AbstractContextManager[ReportTarget]]


class ReportStatus(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"

    @property
    def is_failed(self) -> bool:
        """The one place that says which statuses count as failed."""
        return self is ReportStatus.FAILED


@dataclass
class ReportOutcome:
    name: str
    status: ReportStatus
    title: str = ""
    answers: str = ""
    params: dict[str, str] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    error: str | None = None
    path: Path | None = None
    seconds: float = 0.0


@dataclass
class ReportRun:
    target: str
    fmt: str
    outcomes: list[ReportOutcome]
    index_path: Path

    @property
    def failed(self) -> list[ReportOutcome]:
        return [o for o in self.outcomes if o.status.is_failed]

    def outcome(self, name: str) -> ReportOutcome:
        return next(o for o in self.outcomes if o.name == name)

    def summary(self) -> str:
        """One row per report (status, rows, seconds, file or the reason it failed), then a total line."""
        table = Table(box=box.SIMPLE_HEAD)
        for name, justify in (("status", "left"), ("report", "left"), ("rows", "right"), ("seconds", "right"),
                              ("output or reason", "left")):  # fmt: skip
            table.add_column(name, justify=justify)
        for o in self.outcomes:
            if o.status.is_failed:
                table.add_row("FAILED", o.name, "", "", o.error or "")
            else:
                table.add_row(str(o.status), o.name, str(len(o.rows)), f"{o.seconds:.2f}", str(o.path))
        ok = len(self.outcomes) - len(self.failed)
        total = f"{ok} of {len(self.outcomes)} reports ok on target {self.target}; index: {self.index_path}"
        return render_table(table) + "\n" + total


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _values(report: Report, given: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed values to bind and their display form; given values override the header defaults."""
    values, shown = {}, {}
    for spec in report.params:
        raw = given.get(spec.name, spec.default)
        values[spec.name] = spec.convert(raw)
        shown[spec.name] = "null" if values[spec.name] is None else str(raw)
    return values, shown


def _run_one(target: ReportTarget, report: Report, given: dict[str, str]) -> ReportOutcome:
    outcome = ReportOutcome(name=report.name, status=ReportStatus.FAILED, title=report.title, answers=report.answers)
    started = time.monotonic()
    try:
        values, outcome.params = _values(report, given)
        check_read_only(report.sql, dialect=target.dialect)
        missing = [m for m in report.requires if not target.relation_exists(m)]
        if missing:
            raise ShopLakeError(
                f"needs mart(s) {', '.join(missing)}, not in the {target.name} warehouse "
                "(build it with `shoplake transform`, or the model does not exist yet)"
            )
        outcome.columns, outcome.rows = target.execute(report.sql, values)
        outcome.status = ReportStatus.OK
    except ShopLakeError as exc:  # refused statement, bad parameter, missing mart, the database's error
        outcome.error = str(exc)
    except Exception as exc:  # anything else fails this report only; the run goes on
        outcome.error = f"{type(exc).__name__}: {_first_line(exc)}"
    outcome.seconds = round(time.monotonic() - started, 3)
    return outcome


def run_reports(
    settings: Settings,
    names: list[str] | None = None,
    *,
    target: str = "dev",
    fmt: str = "md",
    params: dict[str, str] | None = None,
    reports_dir: Path = REPORTS_DIR,
    opener: Opener = open_target,
) -> ReportRun:
    """Run the named reports (default: all) on `target` and write them under the lake's reports folder."""
    if fmt not in FORMATS:
        raise ShopLakeError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if target not in TARGETS:
        raise ShopLakeError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    given = dict(params or {})
    parsed: list[Report | ReportOutcome] = []
    for path in report_paths(reports_dir, names):
        try:
            parsed.append(parse_report(path))
        except ShopLakeError as exc:
            parsed.append(ReportOutcome(name=path.stem, status=ReportStatus.FAILED, title=path.stem, error=str(exc)))
    declared = {p.name for r in parsed if isinstance(r, Report) for p in r.params}
    unknown = sorted(set(given) - declared)
    if unknown:
        raise ShopLakeError(
            f"--param {', '.join(unknown)}: no selected report takes it (they take: {', '.join(sorted(declared))})"
        )

    lake = Lake.of(settings)
    out_dir = lake.reports_dir(target)
    generated_at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    outcomes: list[ReportOutcome] = []
    with opener(settings, target) as conn:
        for item in parsed:
            outcome = item if isinstance(item, ReportOutcome) else _run_one(conn, item, given)
            path = lake.report_file(target, outcome.name, fmt)
            if not outcome.status.is_failed:
                meta = {
                    "target": f"{target} ({conn.description})" if conn.description else target,
                    "parameters": ", ".join(f"{k}={v}" for k, v in outcome.params.items()) or "none",
                    "generated at": generated_at,
                    "rows": str(len(outcome.rows)),
                }
                text = render_report(
                    fmt, title=outcome.title, answers=outcome.answers, meta=meta,
                    columns=outcome.columns, rows=outcome.rows,
                )  # fmt: skip
                outcome.path = write_text_atomic(path, text)
            else:
                path.unlink(missing_ok=True)
            outcomes.append(outcome)
        description = conn.description

    index_fmt = "html" if fmt == "html" else "md"
    entries = [
        {
            "title": o.title or o.name,
            "file": o.path.name if o.path else "",
            "status": f"FAILED: {o.error}" if o.status.is_failed else str(o.status),
            "failed": o.status.is_failed,
            "rows": "" if o.status.is_failed else str(len(o.rows)),
            "answers": o.answers,
            "parameters": ", ".join(f"{k}={v}" for k, v in o.params.items()),
        }
        for o in outcomes
    ]
    index = render_index(
        index_fmt,
        heading=f"ShopLake reports ({target})",
        meta={"target": f"{target} ({description})" if description else target, "generated at": generated_at},
        entries=entries,
    )
    index_path = write_text_atomic(out_dir / f"index.{index_fmt}", index)
    return ReportRun(target=target, fmt=fmt, outcomes=outcomes, index_path=index_path)
