"""Reports rendered for terminals, pipes and logs alike."""

from __future__ import annotations

from pipelines.console import render, table


def test_a_long_message_stays_on_one_line_and_tables_fit_the_width() -> None:
    message = "orders: lake file /" + "deep/" * 40 + "broken.parquet is not readable Parquet"
    rows = table("table", "detail")
    rows.add_row("orders", "x " * 120)
    lines = render("heading:", rows, message, width=80).splitlines()
    assert message in lines  # whole, on its own line
    assert all(len(line) <= 80 for line in lines if line != message)
