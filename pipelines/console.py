"""Tables for people, drawn by rich, returned as plain text.

Reports return text (the CLI prints it, Prefect logs it, a flow's failure message quotes its first
line), so tables are rendered without colour or control codes and read the same in a terminal,
a pipe or a log file.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

WIDTH = 140  # wide enough that detail columns rarely wrap in logs


def table(*columns: str, right: Sequence[str] = ()) -> Table:
    """A borderless table with a header rule; columns named in `right` are right-aligned (numbers).

    Headings go on their own line before the table (`render("heading", table)`): a rich title wraps
    at the table's width.
    """
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in columns:
        t.add_column(name, justify="right" if name in right else "left", overflow="fold")
    return t


def render(*items: Any, width: int = WIDTH) -> str:
    """`items` (tables or strings) as plain text, one after the other, trailing spaces removed.

    Tables fit `width`; a string is never wrapped, so a message with a long path stays on one line
    for whoever greps a log for it.
    """
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, highlight=False, emoji=False, markup=False)
    for item in items:
        console.print(item, soft_wrap=isinstance(item, str))
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def number(value: int | None) -> str:
    """Thousands separators; `-` for unknown."""
    return "-" if value is None else f"{value:,}"
