"""What one `shoplake ingest` did, per source file: statuses, counts, reasons, and the printed report.

The report is honest about what did not land: a file no contract takes, a file that cannot be read
as its contract says, a file most of whose rows break the contract, a file ingest crashed on. Each
is a failed status, so `shoplake ingest` exits non-zero and a scheduled run shows red.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..status import Status


class FileStatus(Status):
    LANDED = "landed"  # validated and committed (its ledger record is written)
    SKIPPED = "skipped"  # the same bytes are in the ledger already
    REJECTED = "rejected"  # unreadable as its contract says; nothing of it landed
    FAILED = "failed"  # read, but too many rows broke the contract (or ingest crashed on it); nothing landed
    UNMATCHED = "unmatched"  # no contract takes the file (landing root, unknown folder, other name)

    @classmethod
    def failed(cls) -> frozenset[FileStatus]:
        """Statuses that make the run fail (non-zero exit, red flow run)."""
        return _FAILED

    @property
    def is_failure(self) -> bool:
        return self.is_failed


_FAILED = frozenset({FileStatus.REJECTED, FileStatus.FAILED, FileStatus.UNMATCHED})


@dataclass
class FileResult:
    table: str
    path: Path
    status: FileStatus
    rows_in: int = 0
    rows_landed: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    imputed: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    # reason -> (line, source value) of the first quarantined row with that reason
    examples: dict[str, tuple[int, str | None]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """How the report names the file: `<table>/<file>`, or its landing path when no contract took it."""
        if self.status == FileStatus.UNMATCHED:
            return "landing/" + (f"{self.table}/" if self.table else "") + self.path.name
        return f"{self.table}/{self.path.name}"

    @property
    def quarantined_share(self) -> float:
        return self.rows_quarantined / self.rows_in if self.rows_in else 0.0


@dataclass
class IngestReport:
    files: list[FileResult] = field(default_factory=list)
    removed_leftovers: int = 0  # files of crashed attempts removed before this run
    reprocessed: str | None = None  # the table rebuilt by --reprocess, when that was the job
    notes: list[str] = field(default_factory=list)

    @property
    def failed_files(self) -> list[FileResult]:
        return [f for f in self.files if f.status.is_failure]

    def totals(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for f in self.files:
            if f.status == FileStatus.UNMATCHED:
                continue
            t = out.setdefault(f.table, {"files": 0, "rows_in": 0, "landed": 0, "quarantined": 0})
            t["files"] += f.status == FileStatus.LANDED
            t["rows_in"] += f.rows_in
            t["landed"] += f.rows_landed
            t["quarantined"] += f.rows_quarantined
        return out

    def table(self) -> Table:
        table = Table(title=None, show_edge=False, pad_edge=False, header_style="bold")
        table.add_column("file", no_wrap=True)
        table.add_column("status", no_wrap=True)
        for name in ("rows in", "landed", "quarant.", "imputed"):
            table.add_column(name, justify="right", no_wrap=True)
        style = {FileStatus.LANDED: "green", FileStatus.SKIPPED: "dim"}
        for f in self.files:
            table.add_row(
                f.name, f"[{style.get(f.status, 'bold red')}]{f.status}[/]", f"{f.rows_in:,}",
                f"{f.rows_landed:,}", f"{f.rows_quarantined:,}", f"{sum(f.imputed.values()):,}",
            )  # fmt: skip
        return table

    def details(self) -> list[str]:
        """Per-file reasons, warnings and errors: plain lines under the table (never cut by its width)."""
        lines = []
        for f in self.files:
            name = f.name
            for reason, n in sorted(f.reasons.items()):
                example = f.examples.get(reason)
                shown = ""
                if example is not None:
                    line, value = example
                    shown = f" (first: line {line:,}" + (f", {value!r})" if value is not None else ")")
                lines.append(f"{name}: quarantined {n:,} {reason}{shown}")
            lines += [f"{name}: warning: {w}" for w in f.warnings]
            if f.error:
                lines.append(f"{name}: error: {f.error}")
        return lines

    def print(self, console: Console | None = None) -> None:
        """Print the report: a rich table (colours on a terminal, plain text otherwise) and detail lines."""
        console = console or Console(highlight=False)
        if self.reprocessed:
            console.print(f"reprocessed {self.reprocessed} from its landed files (new ledger epoch)")
        if self.removed_leftovers:
            console.print(f"removed {self.removed_leftovers:,} file(s) left by an interrupted ingest")
        if self.files:
            console.print(self.table())
        else:
            console.print("(no exports found in the landing area)")
        for line in [*self.details(), *self.notes]:
            console.print(line, markup=False, soft_wrap=True)

    def render(self, width: int = 120) -> str:
        """The report as plain text (logs, flow artifacts, tests)."""
        buffer = io.StringIO()
        self.print(Console(file=buffer, width=width, color_system=None, highlight=False, force_terminal=False))
        return buffer.getvalue().rstrip("\n")
