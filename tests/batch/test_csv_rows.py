"""Per-row problems quarantine the row with its physical line (issue 14, finding 7), and the
fallback reader agrees with polars' fast path wherever both can read a file."""

from __future__ import annotations

import csv
import io
import random

import polars as pl
import pytest

from pipelines.batch.contract import load_contracts
from pipelines.batch.readers import LINE, TOO_MANY, hash_export, read_export, read_rows_leniently
from pipelines.catalog import committed_files, read_committed
from pipelines.lake import Lake

from .conftest import ingest, land

HEADER = "CATEGORY_ID,CATEGORY_NAME\n"


def _quarantine(lake: Lake, table: str) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(p) for p in committed_files(lake, table, "quarantine")])


def test_a_row_with_an_extra_field_is_quarantined_with_its_line_and_the_rest_lands(lake: Lake) -> None:
    land(lake, "categories", "categories.csv", HEADER + "1,Books\n2,Toys,oops\n3,Garden\n")
    (result,) = ingest(lake).files
    assert (result.status, result.rows_in, result.rows_landed, result.reasons) == (
        "landed", 3, 2, {"too_many_fields": 1},
    )  # fmt: skip
    bad = _quarantine(lake, "categories")
    assert bad.select("category_id", "_reason", "_source_line").rows() == [("2", "too_many_fields", 3)]
    assert read_committed(lake, "categories")["category_id"].to_list() == [1, 3]


def test_source_line_is_the_physical_line_after_a_quoted_line_break(lake: Lake) -> None:
    land(lake, "categories", "categories.csv", HEADER + '1,"Books\nand more"\n2,Toys\nx,Broken\n3,"a\r\nb\nc"\n4,Z\n')
    ingest(lake)
    good = read_committed(lake, "categories").sort("_source_line")
    assert good.select("category_id", "_source_line").rows() == [(1, 2), (2, 4), (3, 6), (4, 9)]
    bad = _quarantine(lake, "categories")
    assert bad.select("category_id", "_source_line").rows() == [("x", 5)]


def test_a_cut_inside_the_last_field_of_the_last_line_is_quarantined(lake: Lake) -> None:
    """No line break at the end: the last value may be cut short (here `Gard` of `Garden`)."""
    land(lake, "categories", "categories.csv", HEADER + "1,Books\n2,Toys\n3,Gard")
    (result,) = ingest(lake).files
    assert (result.rows_landed, result.reasons) == (2, {"truncated_row": 1})
    assert "line 4" in result.warnings[0]
    assert _quarantine(lake, "categories").select("category_id", "_source_line").rows() == [("3", 4)]


def test_a_quote_left_open_by_a_cut_quarantines_the_last_row_not_the_file(lake: Lake) -> None:
    land(lake, "categories", "categories.csv", HEADER + '1,Books\n2,Toys\n3,"Gard')
    (result,) = ingest(lake).files
    assert (result.status, result.rows_landed, result.reasons) == ("landed", 2, {"truncated_row": 1})


@pytest.mark.parametrize("at", [10, 200_000])
def test_an_invalid_byte_anywhere_is_reported_with_its_offset_and_line(lake: Lake, at: int) -> None:
    rows = "".join(f"{i},Category {i}\n" for i in range(1, 20_000))
    data = (HEADER + rows).encode()
    cut = data.index(b"\n", at) + 1  # start of a line past `at`
    data = data[:cut] + b"9,Caf\xe9\n" + data[cut:]
    land(lake, "categories", "categories.csv", data)
    (result,) = ingest(lake).files
    offset = cut + len(b"9,Caf")
    line = data[:offset].count(b"\n") + 1
    assert result.status == "rejected"
    assert f"byte 0xe9 at offset {offset:,} (line {line:,})" in result.error


def _random_csv(rng: random.Random, rows: int) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=rng.choice(["\n", "\r\n"]))
    writer.writerow(["CATEGORY_ID", "CATEGORY_NAME"])
    pieces = ["a", "b c", "x,y", 'q"q', "line\nbreak", "two\n\nbreaks", " pad ", "é"]
    for i in range(rows):
        kind = rng.random()
        if kind < 0.05:
            buffer.write(writer.dialect.lineterminator)  # a blank line
        elif kind < 0.1:
            writer.writerow([str(i)])  # a short row
        else:
            writer.writerow([str(i), "".join(rng.choices(pieces, k=rng.randint(1, 3)))])
    return buffer.getvalue()


@pytest.mark.parametrize("seed", range(5))
def test_the_fallback_reader_agrees_with_the_fast_path(lake: Lake, seed: int) -> None:
    contract = load_contracts()["categories"]
    text = _random_csv(random.Random(seed), 300)
    path = land(lake, "categories", "categories.csv", text)
    fast = read_export(path, contract, hash_export(path)).frame
    slow = read_rows_leniently(text, contract)
    assert not slow[TOO_MANY].any()
    assert fast[LINE].to_list() == slow[LINE].to_list()
    # Equal values, except that polars keeps a quoted empty string where csv cannot tell it from none.
    assert fast.drop(LINE).fill_null("").rows() == slow.drop(LINE, TOO_MANY).fill_null("").rows()
    # Physical lines: the line each row starts on, as the csv module counts them.
    starts, reader = [], csv.reader(io.StringIO(text, newline=""))
    next(reader)
    start = reader.line_num + 1
    for _ in reader:
        starts.append(start)
        start = reader.line_num + 1
    assert fast[LINE].to_list() == starts
