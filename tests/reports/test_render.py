"""Report pages: HTML comes from Jinja2 templates with autoescaping; Markdown escapes its own syntax."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from html.parser import HTMLParser

from pipelines.reports.render import render_index, render_report

EVIL = '<script>alert("x")</script> & "quotes"'


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.hrefs += [v for k, v in attrs if k == "href"]

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Collect:
    parser = _Collect()
    parser.feed(page)
    return parser


def test_report_html_escapes_every_value():
    page = render_report(
        "html", title=EVIL, answers=EVIL, meta={"parameters": EVIL}, columns=["name", EVIL],
        rows=[(EVIL, Decimal("1.50")), (None, dt.date(2025, 1, 2))],
    )  # fmt: skip
    assert "<script>" not in page and "&lt;script&gt;" in page
    parsed = _parse(page)
    assert "script" not in parsed.tags
    assert parsed.tags.count("tr") == 3 and parsed.tags.count("td") == 4
    text = "".join(parsed.text)
    assert text.count(EVIL) == 6  # <title>, <h1>, answers, the parameter, a column name, a cell: all as text
    assert "1.50" in text and "2025-01-02" in text


def test_index_links_reports_and_marks_failures():
    entries = [
        {"title": "Good", "file": "good.html", "status": "ok", "failed": False, "rows": "3", "answers": "a",
         "parameters": "top_n=3"},
        {"title": EVIL, "file": "", "status": f"FAILED: {EVIL}", "failed": True, "rows": "", "answers": EVIL,
         "parameters": ""},
    ]  # fmt: skip
    page = render_index("html", heading="ShopLake reports (dev)", meta={"target": "dev"}, entries=entries)
    parsed = _parse(page)
    assert parsed.hrefs == ["good.html"] and "script" not in parsed.tags
    assert page.count('class="failed"') == 1 and "&lt;script&gt;" in page
    markdown = render_index("md", heading="ShopLake reports (dev)", meta={"target": "dev"}, entries=entries)
    assert "[Good](good.html)" in markdown and "FAILED" in markdown
