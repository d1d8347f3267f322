"""Report results as Markdown, CSV or HTML files, and the index page that links them.

Every value is escaped for its format (Markdown pipes, HTML entities), so data that looks like
markup or SQL shows as text.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import html
import io
from typing import Any

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


def html_table(columns: list[str], rows: list[tuple]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(cell(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def csv_text(columns: list[str], rows: list[tuple]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[cell(v) for v in row] for row in rows])
    return buf.getvalue()


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem}"
    "table{border-collapse:collapse;font-size:.9rem}td,th{border:1px solid #ccc;padding:.25rem .5rem}"
    "th{background:#f3f3f3;text-align:left}.failed{color:#b00020}"
)


def html_page(title: str, body: str) -> str:
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


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
        items = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in meta.items())
        body = f"<h1>{html.escape(title)}</h1>\n<p>{html.escape(answers)}</p>\n<ul>{items}</ul>\n"
        return html_page(title, body + html_table(columns, rows))
    raise ValueError(f"unknown format {fmt!r}")


def render_index(fmt: str, *, heading: str, meta: dict[str, str], entries: list[dict[str, str]]) -> str:
    """The index page (Markdown for md/csv runs, HTML for html runs): one line per report, failures included."""
    columns = ["report", "status", "rows", "answers", "parameters"]
    if fmt == "html":
        items = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in meta.items())
        rows = []
        for e in entries:
            name = html.escape(e["title"])
            link = f'<a href="{html.escape(e["file"])}">{name}</a>' if e.get("file") else name
            status = html.escape(e["status"])
            css = ' class="failed"' if e["status"] != "ok" else ""
            rows.append(
                f"<tr><td>{link}</td><td{css}>{status}</td><td>{html.escape(e['rows'])}</td>"
                f"<td>{html.escape(e['answers'])}</td><td>{html.escape(e['parameters'])}</td></tr>"
            )
        head = "".join(f"<th>{c}</th>" for c in columns)
        table = f"<table><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
        return html_page(heading, f"<h1>{html.escape(heading)}</h1>\n<ul>{items}</ul>\n{table}")
    lines = [f"# {heading}", ""] + [f"- {k}: {_md_cell(v)}" for k, v in meta.items()] + [""]
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for e in entries:
        name = f"[{_md_cell(e['title'])}]({e['file']})" if e.get("file") else _md_cell(e["title"])
        values = [name, _md_cell(e["status"]), e["rows"], _md_cell(e["answers"]), _md_cell(e["parameters"])]
        lines.append("| " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"
