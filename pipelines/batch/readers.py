"""Reading one landed export into columns with each row's physical line: file-level checks first.

What a file is comes from its bytes, not its name: the first bytes (kept while the file is hashed)
tell a gzip stream, a zip/xlsx workbook, Parquet or UTF-16 text apart from plain text, so a file of
another kind is rejected with what it is and how to declare it, never as "not valid utf-8".

- csv (plain or gzip-compressed): polars' CSV reader, every column as text. The row index is the
  physical line unless a quoted value spans lines, which can only happen when the file contains a
  quote character (noted for free while the file is hashed); then the embedded line breaks are
  counted and the line numbers shifted. Files polars refuses as a whole because of one row (a row
  with more fields than the header, a quote left open by a cut) are read again by Python's csv
  module, which keeps going: that row is then quarantined (`too_many_fields`, `truncated_row`) with
  its line, the rest lands. A UTF-8 byte-order mark (Excel's "CSV UTF-8") is skipped unasked.
- xlsx: one sheet through fastexcel (calamine); cells keep their types (numbers, dates, booleans),
  text columns of the contract are read as text. `_line` is the sheet's row number.
- parquet: typed columns as stored; `_line` is the row number from 1.
- jsonl: one JSON object per line (plain or gzip); `_line` is the physical line. A line that is not
  a JSON object is quarantined as `invalid_json`, the rest lands.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
import logging
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..storage import local_file, open_file, read_file
from .contract import Contract

OTHER_DELIMITERS = (";", "\t", "|", ",")
SAMPLE_BYTES = 64 * 1024
LINE = "_line"  # physical line of the row's first character (the header is line 1)
TOO_MANY = "_too_many_fields"  # the row has more fields than the header (only after the fallback read)
INVALID_JSON = "_invalid_json"  # the line is not a JSON object (only after the fallback read of a jsonl file)
UTF8_BOM = b"\xef\xbb\xbf"


class FileRejected(Exception):
    """The whole file cannot be read as its contract says; nothing of it lands."""


@dataclass(frozen=True)
class ExportFacts:
    """What one pass over the file's bytes tells, besides its hash (hashing reads every byte anyway)."""

    sha256: str
    size: int
    has_quote: bool  # a `"` anywhere: a value may span lines
    ends_with_newline: bool
    head: bytes = b""  # the first bytes: what kind of file this is, the header line


def hash_export(path: Path) -> ExportFacts:
    digest = hashlib.sha256()
    size, has_quote, last, head = 0, False, b"", b""
    with open_file(path) as fh:
        while chunk := fh.read(4 * 1024 * 1024):
            digest.update(chunk)
            if not head:
                head = chunk[:SAMPLE_BYTES]
            size += len(chunk)
            has_quote = has_quote or b'"' in chunk  # memchr: ~free next to SHA-256
            last = chunk[-1:]
    return ExportFacts(digest.hexdigest(), size, has_quote, last in (b"\n", b"\r"), head)


def sha256_file(path: Path) -> str:
    return hash_export(path).sha256


def _facts_of(data: bytes) -> ExportFacts:
    """Facts of bytes already in memory (a decompressed file); the hash stays the landed file's."""
    return ExportFacts("", len(data), b'"' in data, data[-1:] in (b"\n", b"\r"), data[:SAMPLE_BYTES])


@dataclass
class Parsed:
    """An export as columns (named as in the file) plus `_line` and, after a fallback read, a row-shape flag."""

    frame: pl.DataFrame
    truncated_last: bool = False  # the file does not end with a line break: its last row may be cut
    warnings: list[str] = field(default_factory=list)


# -- what kind of file ------------------------------------------------------------------------

_KINDS = {
    "gzip": "a gzip-compressed file",
    "xlsx": "an Excel workbook (.xlsx)",
    "xls": "a legacy Excel workbook (.xls)",
    "zip": "a zip archive",
    "parquet": "a Parquet file",
    "pdf": "a PDF document",
    "bzip2": "a bzip2-compressed file",
    "xz": "an xz-compressed file",
    "zstd": "a zstd-compressed file",
    "7z": "a 7-Zip archive",
    "utf-16": "UTF-16 text (it starts with a UTF-16 byte-order mark)",
    "utf-32": "UTF-32 text (it starts with a UTF-32 byte-order mark)",
    "text": "text",
}


def sniff(head: bytes) -> str:
    """The kind of file the first bytes show: one of `_KINDS` ("text" when nothing else matches)."""
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "xlsx" if b"xl/" in head or b"[Content_Types].xml" in head else "zip"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "xls"
    if head.startswith(b"\xff\xfe\x00\x00") or head.startswith(b"\x00\x00\xfe\xff"):
        return "utf-32"
    if head.startswith(b"\xff\xfe") or head.startswith(b"\xfe\xff"):
        return "utf-16"
    for magic, kind in ((b"%PDF", "pdf"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
                        (b"\x28\xb5\x2f\xfd", "zstd"), (b"7z\xbc\xaf\x27\x1c", "7z")):  # fmt: skip
        if head.startswith(magic):
            return kind
    return "text"


def describe(kind: str) -> str:
    return _KINDS.get(kind, kind)


def _declare(kind: str, contract: Contract) -> str:
    """How to take a file of `kind` in (or what to do with it), for a rejection message."""
    where = f"the {contract.table} contract"
    if kind == "xlsx":
        return f"declare `format: xlsx` (and `sheet:` unless it is the first sheet) in {where}"
    if kind == "parquet":
        return f"declare `format: parquet` in {where}"
    if kind in ("utf-16", "utf-32"):
        return f"set `encoding: {kind}` in {where}, or save it as UTF-8"
    if kind == "xls":
        return "save it as .xlsx or CSV (the legacy .xls format is not read)"
    if kind in ("zip", "7z"):
        return "unpack it and land the files inside"
    if kind in ("bzip2", "xz", "zstd"):
        return "decompress it, or compress it with gzip (read without being asked)"
    if kind == "text":
        return f"declare `format: csv` (or `jsonl`) in {where}"
    return "export the data as CSV, xlsx, Parquet or JSON Lines"


def _reject_kind(kind: str, contract: Contract) -> FileRejected:
    return FileRejected(f"this file is {describe(kind)}, not {contract.format}: {_declare(kind, contract)}")


def _gunzip(path: Path) -> bytes:
    try:
        return gzip.decompress(read_file(path))
    except (OSError, EOFError, zlib.error) as exc:
        raise FileRejected(f"damaged or cut-short gzip file ({exc})") from None


# -- csv ----------------------------------------------------------------------------------------


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("-", "").replace("_", "") in ("utf8", "utf8sig")


def decode(data: bytes, contract: Contract, encoding: str | None = None) -> str:
    """The file's text; an invalid byte is reported with its offset and line, wherever it is."""
    encoding = encoding or contract.encoding
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        hint = ""
        if _is_utf8(encoding):
            try:
                data[max(0, exc.start - 200) : exc.start + 200].decode("cp1252")
                hint = " (it reads as cp1252/latin-1, common for Windows exports: set `encoding: cp1252`)"
            except UnicodeDecodeError:
                pass
        raise FileRejected(
            f"not valid {encoding}: byte 0x{data[exc.start]:02x} at offset {exc.start:,} "
            f"(line {_line_of(data, exc.start):,}){hint}; re-export as {encoding} or set `encoding:` "
            f"in the {contract.table} contract"
        ) from None


def _text_encoding(head: bytes, contract: Contract, warnings: list[str]) -> str:
    """The encoding to read a text file with: the contract's, except that a UTF-8 BOM means UTF-8."""
    kind = sniff(head)
    if kind in ("utf-16", "utf-32"):
        if contract.encoding.lower().replace("_", "-").startswith(kind):
            return contract.encoding
        raise _reject_kind(kind, contract)
    if head.startswith(UTF8_BOM):
        if not _is_utf8(contract.encoding):
            warnings.append(
                f"the file starts with a UTF-8 byte-order mark: read as UTF-8 although the contract says "
                f"{contract.encoding}"
            )
        return "utf-8-sig"
    return contract.encoding


def check_header(head: bytes, contract: Contract, size: int, encoding: str) -> list[str]:
    """The header's column names; raise FileRejected for an empty file, a wrong delimiter or missing columns."""
    if size == 0:
        raise FileRejected("empty file (0 bytes)")
    try:  # incrementally: a character cut by the end of the head is not an error
        head_text = codecs.getincrementaldecoder(encoding)().decode(head, final=size <= len(head))
    except UnicodeDecodeError:
        decode(head, contract, encoding)  # raises with the offending byte's offset and line
        raise
    head_text = head_text.lstrip("\ufeff")
    header_line = head_text.splitlines()[0] if head_text.strip() else ""
    if not header_line.strip():
        raise FileRejected("empty file (no header line)")
    header = next(csv.reader([header_line], delimiter=contract.delimiter))
    if len(header) == 1 and len(contract.columns) > 1:
        for other in OTHER_DELIMITERS:
            if other != contract.delimiter and other in header_line:
                shown = "\\t" if other == "\t" else other
                raise FileRejected(
                    f"wrong delimiter: header is {shown!r}-separated but the {contract.table} contract says "
                    f"{contract.delimiter!r}"
                )
    if not contract.header:
        header = [f"column_{i + 1}" for i in range(len(header))]
    _check_required(header, contract, "header has")
    return header


def _check_required(columns: list[str], contract: Contract, what: str) -> None:
    missing = [c.source for c in contract.columns if c.required and c.source not in columns]
    if missing:
        shown = ", ".join(columns[:40]) + (" ..." if len(columns) > 40 else "")
        raise FileRejected(f"missing required column(s) {', '.join(missing)} ({what}: {shown})")


def _read_csv(path: Path, contract: Contract, facts: ExportFacts) -> Parsed:
    warnings: list[str] = []
    kind = sniff(facts.head)
    data: bytes | None = None
    if kind == "gzip":
        data = _gunzip(path)
        facts = _facts_of(data)
        kind = sniff(facts.head)
        if kind == "gzip":
            raise FileRejected("a gzip file inside a gzip file: decompress it once")
    if kind not in ("text", "utf-16", "utf-32"):
        raise _reject_kind(kind, contract)
    encoding = _text_encoding(facts.head, contract, warnings)
    check_header(facts.head, contract, facts.size, encoding)
    offset = 2 if contract.header else 1
    if _is_utf8(encoding):  # polars reads UTF-8 itself (and skips a BOM)
        if data is None and facts.head.startswith(UTF8_BOM) and not contract.header:
            data = read_file(path)
        if data is not None and data.startswith(UTF8_BOM) and not contract.header:
            data = data[len(UTF8_BOM) :]
        text: str | None = None
    else:
        text = decode(data if data is not None else read_file(path), contract, encoding)
    try:
        with local_file(path) as local:
            source: Path | io.BytesIO | io.StringIO = (
                io.StringIO(text) if text is not None else io.BytesIO(data) if data is not None else local
            )
            frame = pl.read_csv(
                source, separator=contract.delimiter, infer_schema=False, has_header=contract.header,
                row_index_name=LINE, row_index_offset=offset,
            )  # fmt: skip
    except pl.exceptions.ComputeError as exc:
        message = str(exc).splitlines()[0]
        whole = lambda: data if data is not None else read_file(path)  # noqa: E731
        if "utf-8" in message.lower() or "utf8" in message.lower():
            decode(whole(), contract, encoding)  # raises with the offending byte's offset and line
            raise FileRejected(f"not valid {contract.encoding} ({message})") from None
        if "more fields" in message or "could not parse" in message:
            # One bad row (too many fields, a quote left open at the end) fails the whole fast read.
            frame = read_rows_leniently(text if text is not None else decode(whole(), contract, encoding), contract)
        else:
            raise FileRejected(f"unreadable CSV: {message}") from None
    else:  # `_line` stays polars' UInt32 row index here (cast once, when the lineage columns are made)
        if facts.has_quote:
            frame = _shift_for_embedded_newlines(frame, contract.header)
    if not contract.header:  # polars names them from column_0 when it adds a row index: number them from 1
        frame = frame.rename({c: f"column_{i}" for i, c in enumerate(frame.columns) if c not in (LINE, TOO_MANY)})
    if any(c.startswith("\ufeff") for c in frame.columns):  # a BOM polars left on the first name
        frame = frame.rename({c: c.lstrip("\ufeff") for c in frame.columns})
    ends_with_newline = facts.ends_with_newline if text is None else text.endswith(("\n", "\r"))
    truncated = not ends_with_newline and frame.height > 0
    parsed = Parsed(frame=frame, truncated_last=truncated, warnings=warnings)
    if truncated:
        parsed.warnings.append(
            f"{path.name} does not end with a line break, so its last row (line {frame[LINE][-1]:,}) may be cut "
            "short; it is quarantined as truncated_row"
        )
    return parsed


def _shift_for_embedded_newlines(frame: pl.DataFrame, header: bool = True) -> pl.DataFrame:
    """Physical lines when quoted values span lines: each row starts after the breaks inside earlier rows."""
    text = [c for c, t in frame.schema.items() if c != LINE and t == pl.String]
    header_breaks = sum(c.count("\n") for c in frame.columns) if header else 0
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
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=contract.delimiter)
    try:
        first = next(reader)
    except StopIteration:
        raise FileRejected("empty file (no header line)") from None
    header = first if contract.header else [f"column_{i + 1}" for i in range(len(first))]
    width = len(header)
    columns: list[list[str | None]] = [[] for _ in range(width)]
    lines: list[int] = []
    too_many: list[bool] = []
    records = reader if contract.header else _prepend(first, reader)
    start = reader.line_num + 1 if contract.header else 1
    for record in records:
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


def _prepend(first: list[str], rest: object):  # type: ignore[no-untyped-def]
    yield first
    yield from rest  # type: ignore[misc]


# -- xlsx, parquet, jsonl -----------------------------------------------------------------------

_XLSX_DTYPE = {"string": "string"}  # text columns as text (a SKU 00123 or 1234 stays as written)


def _read_xlsx(path: Path, contract: Contract, facts: ExportFacts) -> Parsed:
    kind = sniff(facts.head)
    if kind != "xlsx":
        raise _reject_kind(kind, contract)
    import fastexcel

    logging.getLogger("fastexcel").setLevel(logging.ERROR)  # "could not determine dtype" for empty columns
    try:
        workbook = fastexcel.read_excel(read_file(path))
    except Exception as exc:  # fastexcel raises its own error types
        raise FileRejected(f"unreadable xlsx workbook ({str(exc).splitlines()[0]})") from None
    sheets = list(workbook.sheet_names)
    sheet = contract.sheet if contract.sheet is not None else (sheets[0] if sheets else None)
    if sheet not in sheets:
        raise FileRejected(f"the workbook has no sheet {sheet!r} (it has: {', '.join(sheets)}); set `sheet:`")
    try:
        names = [str(c) for c in workbook.load_sheet(sheet, n_rows=0).to_polars().columns]
    except Exception as exc:
        raise FileRejected(f"sheet {sheet!r}: no header row ({str(exc).splitlines()[0]})") from None
    _check_required(names, contract, f"sheet {sheet!r} has")
    dtypes = {c.source: _XLSX_DTYPE[c.type] for c in contract.columns if c.source in names and c.type in _XLSX_DTYPE}
    try:
        frame = workbook.load_sheet(sheet, dtypes=dtypes or None, schema_sample_rows=None).to_polars()
    except Exception as exc:
        raise FileRejected(f"sheet {sheet!r}: unreadable ({str(exc).splitlines()[0]})") from None
    frame = frame.with_row_index(LINE, offset=2).with_columns(pl.col(LINE).cast(pl.Int64))
    # Rows with no value at all (spacing, formatted but empty rows at the end) are not records.
    values = [c for c in frame.columns if c != LINE]
    if values:
        frame = frame.filter(pl.any_horizontal(pl.col(values).is_not_null()))
    return Parsed(frame=frame)


def _read_parquet(path: Path, contract: Contract, facts: ExportFacts) -> Parsed:
    kind = sniff(facts.head)
    if kind != "parquet":
        raise _reject_kind(kind, contract)
    try:
        with local_file(path) as local:
            frame = pl.read_parquet(local)
    except Exception as exc:  # arrow and polars raise several types for a damaged file
        raise FileRejected(f"unreadable Parquet file ({str(exc).splitlines()[0]})") from None
    _check_required(frame.columns, contract, "the file has")
    return Parsed(frame=frame.with_row_index(LINE, offset=1).with_columns(pl.col(LINE).cast(pl.Int64)))


def _read_jsonl(path: Path, contract: Contract, facts: ExportFacts) -> Parsed:
    kind = sniff(facts.head)
    data = _gunzip(path) if kind == "gzip" else read_file(path)
    kind = sniff(data[:SAMPLE_BYTES])
    if kind not in ("text", "utf-16", "utf-32"):
        raise _reject_kind(kind, contract)
    warnings: list[str] = []
    encoding = _text_encoding(data[:SAMPLE_BYTES], contract, warnings)
    if not _is_utf8(encoding) or data.startswith(UTF8_BOM):
        data = decode(data, contract, encoding).lstrip("\ufeff").encode("utf-8")
    if not data.strip():
        raise FileRejected("empty file (no JSON lines)")
    if data.lstrip()[:1] == b"[":
        raise FileRejected("this is a JSON array, not JSON Lines (one object per line): export one object per line")
    # Physical lines of the records (polars skips blank lines).
    lines = [i + 1 for i, line in enumerate(data.split(b"\n")) if line.strip()]
    text_sources = {c.source: pl.String for c in contract.columns if c.type == "string"}
    try:
        frame = pl.read_ndjson(io.BytesIO(data), schema_overrides=text_sources or None, infer_schema_length=None)
    except Exception:  # one bad line fails polars' read: read line by line instead
        frame = _read_json_lines_leniently(data, contract)
        lines = frame[LINE].to_list()
        frame = frame.drop(LINE)
    if frame.height != len(lines):
        raise FileRejected(f"unreadable JSON Lines: {frame.height:,} records on {len(lines):,} non-blank lines")
    _check_required(frame.columns, contract, "the records have")
    frame = frame.with_columns(pl.Series(LINE, lines, dtype=pl.Int64))
    return Parsed(frame=frame, warnings=warnings)


def _read_json_lines_leniently(data: bytes, contract: Contract) -> pl.DataFrame:
    """Each line with the json module: a line that is not a JSON object is flagged `invalid_json`."""
    records: list[dict[str, object]] = []
    lines: list[int] = []
    bad: list[bool] = []
    for i, raw in enumerate(data.split(b"\n")):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        ok = isinstance(value, dict)
        records.append(value if ok else {})  # type: ignore[arg-type]
        lines.append(i + 1)
        bad.append(not ok)
    keys = list(dict.fromkeys(k for r in records for k in r))

    def text(value: object) -> str | None:
        if value is None:
            return None
        return value if isinstance(value, str) else json.dumps(value)

    frame = pl.DataFrame({k: pl.Series([text(r.get(k)) for r in records], dtype=pl.String) for k in keys})
    return frame.with_columns(pl.Series(LINE, lines, dtype=pl.Int64), pl.Series(INVALID_JSON, bad, dtype=pl.Boolean))


_READERS = {"csv": _read_csv, "xlsx": _read_xlsx, "parquet": _read_parquet, "jsonl": _read_jsonl}


def read_export(path: Path, contract: Contract, facts: ExportFacts) -> Parsed:
    """Check the file's kind and header, then read every row with its physical line."""
    if facts.size == 0:
        raise FileRejected("empty file (0 bytes)")
    return _READERS[contract.format](path, contract, facts)


def read_extract(path: Path) -> Parsed:
    """A frame landed through the API (Parquet): typed columns as given, `_line` = row number from 1."""
    with local_file(path) as local:
        frame = pl.read_parquet(local)
    return Parsed(frame=frame.with_row_index(LINE, offset=1).with_columns(pl.col(LINE).cast(pl.Int64)))
