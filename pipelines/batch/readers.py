"""Reading one landed export into text columns with each row's physical line: file-level checks first.

The fast path is polars' CSV reader (all columns as text). The row index is the physical line
unless a quoted value spans lines, which can only happen when the file contains a quote character
(noted for free while the file is hashed); then the embedded line breaks are counted and the line
numbers shifted. Files polars refuses as a whole because of one row (a row with more fields than
the header, a quote left open by a cut) are read again by Python's csv module, which keeps going:
that row is then quarantined (`too_many_fields`, `truncated_row`) with its line, the rest lands.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .contract import Contract

OTHER_DELIMITERS = (";", "\t", "|")
SAMPLE_BYTES = 64 * 1024
LINE = "_line"  # physical line of the row's first character (the header is line 1)
TOO_MANY = "_too_many_fields"  # the row has more fields than the header (only after the fallback read)


class FileRejected(Exception):
    """The whole file cannot be read as its contract says; nothing of it lands."""


@dataclass(frozen=True)
class ExportFacts:
    """What one pass over the file's bytes tells, besides its hash (hashing reads every byte anyway)."""

    sha256: str
    size: int
    has_quote: bool  # a `"` anywhere: a value may span lines
    ends_with_newline: bool


def hash_export(path: Path) -> ExportFacts:
    digest = hashlib.sha256()
    size, has_quote, last = 0, False, b""
    with open(path, "rb") as fh:
        while chunk := fh.read(4 * 1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
            has_quote = has_quote or b'"' in chunk  # memchr: ~free next to SHA-256
            last = chunk[-1:]
    return ExportFacts(digest.hexdigest(), size, has_quote, last in (b"\n", b"\r"))


def sha256_file(path: Path) -> str:
    return hash_export(path).sha256


@dataclass
class Parsed:
    """An export as text columns (named as in the file) plus `_line` and, after a fallback read, `_too_many_fields`."""

    frame: pl.DataFrame
    truncated_last: bool = False  # the file does not end with a line break: its last row may be cut
    warnings: list[str] = field(default_factory=list)


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode(data: bytes, contract: Contract) -> str:
    """The file's text; an invalid byte is reported with its offset and line, wherever it is."""
    try:
        return data.decode(contract.encoding)
    except UnicodeDecodeError as exc:
        raise FileRejected(
            f"not valid {contract.encoding}: byte 0x{data[exc.start]:02x} at offset {exc.start:,} "
            f"(line {_line_of(data, exc.start):,}); re-export as {contract.encoding} or set `encoding:` "
            f"in the {contract.table} contract"
        ) from None


def check_header(path: Path, contract: Contract, facts: ExportFacts) -> list[str]:
    """The header's column names; raise FileRejected for an empty file, a wrong delimiter or missing columns."""
    if facts.size == 0:
        raise FileRejected("empty file (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    head_text = decode(head[: head.rfind(b"\n") + 1] or head, contract)
    header_line = head_text.splitlines()[0] if head_text.strip() else ""
    if not header_line.strip():
        raise FileRejected("empty file (no header line)")
    header = next(csv.reader([header_line], delimiter=contract.delimiter))
    if len(header) == 1:
        for other in OTHER_DELIMITERS:
            if other in header_line:
                shown = "\\t" if other == "\t" else other
                raise FileRejected(
                    f"wrong delimiter: header is {shown!r}-separated but the {contract.table} contract says "
                    f"{contract.delimiter!r}"
                )
    missing = [c.source for c in contract.columns if c.required and c.source not in header]
    if missing:
        raise FileRejected(f"missing required column(s) {', '.join(missing)} (header has: {', '.join(header)})")
    return header


def read_export(path: Path, contract: Contract, facts: ExportFacts) -> Parsed:
    """Check the header, then read every row as text with its physical line."""
    check_header(path, contract, facts)
    utf8 = contract.encoding.lower().replace("-", "").replace("_", "") == "utf8"
    source: Path | io.StringIO = path if utf8 else io.StringIO(decode(path.read_bytes(), contract))
    try:
        frame = pl.read_csv(
            source, separator=contract.delimiter, infer_schema=False, row_index_name=LINE, row_index_offset=2
        )
    except pl.exceptions.ComputeError as exc:
        message = str(exc).splitlines()[0]
        if "utf-8" in message.lower() or "utf8" in message.lower():
            decode(path.read_bytes(), contract)  # raises with the offending byte's offset and line
            raise FileRejected(f"not valid {contract.encoding} ({message})") from None
        if "more fields" in message or "could not parse" in message:
            # One bad row (too many fields, a quote left open at the end) fails the whole fast read.
            frame = read_rows_leniently(decode(path.read_bytes(), contract), contract)
        else:
            raise FileRejected(f"unreadable CSV: {message}") from None
    else:  # `_line` stays polars' UInt32 row index here (cast once, when the lineage columns are made)
        if facts.has_quote:
            frame = _shift_for_embedded_newlines(frame)
    truncated = not facts.ends_with_newline and frame.height > 0
    parsed = Parsed(frame=frame, truncated_last=truncated)
    if truncated:
        parsed.warnings.append(
            f"{path.name} does not end with a line break, so its last row (line {frame[LINE][-1]:,}) may be cut "
            "short; it is quarantined as truncated_row"
        )
    return parsed


def _shift_for_embedded_newlines(frame: pl.DataFrame) -> pl.DataFrame:
    """Physical lines when quoted values span lines: each row starts after the breaks inside earlier rows."""
    text = [c for c, t in frame.schema.items() if c != LINE and t == pl.String]
    header_breaks = sum(c.count("\n") for c in frame.columns)
    if not text:
        return frame
    if not frame.select(pl.any_horizontal(pl.col(text).str.contains("\n", literal=True).any())).item():
        return frame if not header_breaks else frame.with_columns(pl.col(LINE).cast(pl.Int64) + header_breaks)
    breaks = pl.sum_horizontal(pl.col(text).str.count_matches("\n", literal=True).fill_null(0)).cast(pl.Int64)
    return frame.with_columns((pl.col(LINE).cast(pl.Int64) + header_breaks + breaks.cum_sum() - breaks).alias(LINE))


def read_rows_leniently(text: str, contract: Contract) -> pl.DataFrame:
    """Every row with Python's csv module: rows with extra fields are flagged, not fatal.

    Slower than polars (about 1 s per million rows), so only used when polars refuses the file. It
    produces the same frame polars would (a blank line is a row of nulls, empty fields are null),
    plus the `_too_many_fields` flag and lines counted by the csv module itself.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=contract.delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise FileRejected("empty file (no header line)") from None
    width = len(header)
    columns: list[list[str | None]] = [[] for _ in range(width)]
    lines: list[int] = []
    too_many: list[bool] = []
    start = reader.line_num + 1
    for record in reader:
        lines.append(start)
        start = reader.line_num + 1
        too_many.append(len(record) > width)
        for i, values in enumerate(columns):
            values.append(record[i] or None if i < len(record) else None)
    frame = pl.DataFrame(
        {LINE: pl.Series(lines, dtype=pl.Int64), **{name: pl.Series(col, dtype=pl.String)
                                                   for name, col in zip(header, columns, strict=True)}},
    )  # fmt: skip
    return frame.with_columns(pl.Series(TOO_MANY, too_many, dtype=pl.Boolean))


def read_extract(path: Path) -> Parsed:
    """A frame landed through the API (Parquet): typed columns as given, `_line` = row number from 1."""
    frame = pl.read_parquet(path).with_row_index(LINE, offset=1).with_columns(pl.col(LINE).cast(pl.Int64))
    return Parsed(frame=frame)
