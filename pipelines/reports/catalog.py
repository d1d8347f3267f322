"""The report catalogue: `reports/*.sql`, each with a header comment that describes it.

Header format (leading `--` comment lines, before any SQL):

    -- title: Revenue by month and category
    -- answers: How much did each category earn per month, and what share of the month is that?
    -- requires: product_category_sales
    -- param: start_date date = 2000-01-01 | first sales day included
    -- param: category string = null | only this category name (null = all)

`requires` names the marts the report reads (checked before it runs, so a missing mart gives a
clear message); `param` lines declare `:name` placeholders with a type (string, int, float, date)
and a default (`null` binds SQL NULL). Other comment lines are free text for the reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ShopLakeError
from ..settings import REPO_ROOT
from .params import PARAM_TYPES, ParamSpec, placeholders

REPORTS_DIR = REPO_ROOT / "reports"
_KEY_LINE = re.compile(r"^--\s*(title|answers|requires|param):\s*(.*)$")
_PARAM = re.compile(r"^([A-Za-z_]\w*)\s+(\w+)\s*=\s*([^|]*?)\s*(?:\|\s*(.*))?$")


@dataclass(frozen=True)
class Report:
    name: str
    path: Path
    title: str
    answers: str
    sql: str
    requires: tuple[str, ...] = ()
    params: tuple[ParamSpec, ...] = field(default_factory=tuple)

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)


def parse_report(path: Path) -> Report:
    """Read one report file and its header; raise ShopLakeError naming the file if the header is wrong."""
    sql = path.read_text(encoding="utf-8")
    fields: dict[str, list[str]] = {"title": [], "answers": [], "requires": [], "param": []}
    for line in sql.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            break  # the header ends at the first SQL line
        match = _KEY_LINE.match(stripped)
        if match:
            fields[match.group(1)].append(match.group(2).strip())
    where = f"report {path.stem} ({path.name})"
    if not fields["title"] or not fields["answers"]:
        raise ShopLakeError(f"{where}: header needs `-- title:` and `-- answers:` lines")
    params = []
    for text in fields["param"]:
        match = _PARAM.match(text)
        if not match or match.group(2) not in PARAM_TYPES:
            raise ShopLakeError(f"{where}: bad param line {text!r}; expected `name type = default | description`")
        default = match.group(3)
        params.append(
            ParamSpec(
                name=match.group(1),
                type=match.group(2),
                default=None if default.lower() in ("", "null") else default,
                description=match.group(4) or "",
            )
        )
    declared = {p.name for p in params}
    used = set(placeholders(sql))
    if used != declared:
        raise ShopLakeError(f"{where}: placeholders {sorted(used)} do not match declared params {sorted(declared)}")
    requires = tuple(r.strip() for text in fields["requires"] for r in text.split(",") if r.strip())
    return Report(
        name=path.stem,
        path=path,
        title=fields["title"][0],
        answers=" ".join(fields["answers"]),
        sql=sql,
        requires=requires,
        params=tuple(params),
    )


def report_paths(directory: Path = REPORTS_DIR, names: list[str] | None = None) -> list[Path]:
    """The report files in `directory` (all, or the named ones in the order given).

    Files are parsed one by one by the runner, so one bad header fails only its own report.
    """
    available = {p.stem: p for p in sorted(directory.glob("*.sql"))}
    if not available:
        raise ShopLakeError(f"no reports (*.sql) in {directory}")
    if names:
        unknown = [n for n in names if n not in available]
        if unknown:
            raise ShopLakeError(f"unknown report(s) {', '.join(unknown)}; available: {', '.join(available)}")
        return [available[n] for n in names]
    return list(available.values())
