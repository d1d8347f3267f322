"""Report results as Markdown, CSV or HTML files, and the index page that links them.

Every value is escaped for its format, so data that looks like markup or SQL shows as text: HTML
comes from Jinja2 templates (`templates/*.html.j2`) with autoescaping on, Markdown escapes pipes.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
from functools import cache
from typing import Any

import jinja2

FORMATS = ("md", "csv", "html")


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, decimal.Decimal):
        return f"{value:f}"
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e15 else str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def _md_cell(value: Any) -> str:
    return cell(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: list[str], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(_md_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def csv_text(columns: list[str], rows: list[tuple]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[cell(v) for v in row] for row in rows])
    return buf.getvalue()


@cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pipelines.reports", "templates"),
        autoescape=True,  # every template is HTML: escape every value
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cell"] = cell
    return env


def _html(template: str, **context: Any) -> str:
    return _templates().get_template(template).render(**context)


def render_report(
    fmt: str, *, title: str, answers: str, meta: dict[str, str], columns: list[str], rows: list[tuple]
) -> str:
    """One report's file content; `meta` (target, parameters, generated at) heads md and html."""
    if fmt == "csv":
        return csv_text(columns, rows)
    if fmt == "md":
        head = [f"# {title}", "", answers, ""]
        head += [f"- {k}: {_md_cell(v)}" for k, v in meta.items()]
        return "\n".join([*head, "", markdown_table(columns, rows), ""])
    if fmt == "html":
        return _html("report.html.j2", title=title, answers=answers, meta=meta, columns=columns, rows=rows)
    raise ValueError(f"unknown format {fmt!r}")


def render_index(fmt: str, *, heading: str, meta: dict[str, str], entries: list[dict[str, Any]]) -> str:
    """The index page (Markdown for md/csv runs, HTML for html runs): one line per report, failures included.

    Each entry: title, file (empty when there is none), status, failed (bool), rows, answers, parameters.
    """
    columns = ["report", "status", "rows", "answers", "parameters"]
    if fmt == "html":
        return _html("index.html.j2", title=heading, meta=meta, columns=columns, entries=entries)
    lines = [f"# {heading}", ""] + [f"- {k}: {_md_cell(v)}" for k, v in meta.items()] + [""]
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for e in entries:
        name = f"[{_md_cell(e['title'])}]({e['file']})" if e.get("file") else _md_cell(e["title"])
        values = [name, _md_cell(e["status"]), e["rows"], _md_cell(e["answers"]), _md_cell(e["parameters"])]
        lines.append("| " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"
