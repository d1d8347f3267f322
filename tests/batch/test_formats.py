"""A shop's own files by configuration (issue 12): every input format and parsing option of a contract.

Each test writes a small foreign-shaped export and a contract for it, ingests, and checks the typed
raw rows and the quarantine reasons exactly; the rejection tests check what the message says.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import textwrap
from pathlib import Path

import polars as pl
import pytest

from pipelines.batch.ledger import read_ledger
from pipelines.catalog import committed_files, read_committed
from pipelines.lake import Lake

from .conftest import ingest, land

UTC = dt.timezone.utc


def contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, name: str = "things") -> Path:
    """Write one contract (YAML) into a fresh contracts folder and make ingest use it."""
    folder = tmp_path / "contracts"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yml").write_text(textwrap.dedent(text), encoding="utf-8")
    monkeypatch.setenv("SHOPLAKE_CONTRACTS_DIR", str(folder))
    monkeypatch.setenv("SHOPLAKE_MAX_QUARANTINE_SHARE", "1")  # the share rule is tested in test_honest_exit
    return folder


def quarantine(lake: Lake, table: str = "things") -> pl.DataFrame:
    files = committed_files(lake, table, "quarantine")
    return pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame()


def raw(lake: Lake, table: str = "things") -> pl.DataFrame:
    return read_committed(lake, table).sort("_source_line")


THINGS = """\
table: things
file_pattern: "things*"
primary_key: [id]
columns:
  - {name: id, source: ID, type: bigint, required: true}
  - {name: label, source: LABEL, type: string}
"""
THINGS_CSV = "ID,LABEL\n1,Äpfel\n2,Birnen\n"


# -- inputs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["things.csv.gz", "things.csv"])
def test_a_gzip_csv_lands_like_the_plain_file_whatever_its_name(lake: Lake, tmp_path, monkeypatch, name) -> None:
    contract(tmp_path, monkeypatch, THINGS)
    land(lake, "things", name, gzip.compress(THINGS_CSV.encode()))
    (result,) = ingest(lake).files
    assert (result.status, result.rows_landed) == ("landed", 2)
    assert raw(lake).select("id", "label", "_source_line").rows() == [(1, "Äpfel", 2), (2, "Birnen", 3)]


def test_a_utf8_bom_is_skipped_without_being_asked(lake: Lake, tmp_path, monkeypatch) -> None:
    """Excel's "CSV UTF-8": the BOM must not become part of the first header name (`ID` is required)."""
    contract(tmp_path, monkeypatch, THINGS)
    land(lake, "things", "things.csv", b"\xef\xbb\xbf" + THINGS_CSV.encode())
    (result,) = ingest(lake).files
    assert (result.status, result.rows_landed, result.warnings) == ("landed", 2, [])
    assert raw(lake)["id"].to_list() == [1, 2]


def test_a_bom_means_utf8_even_when_the_contract_says_cp1252(lake: Lake, tmp_path, monkeypatch) -> None:
    contract(tmp_path, monkeypatch, THINGS + "encoding: cp1252\n")
    land(lake, "things", "things.csv", b"\xef\xbb\xbf" + THINGS_CSV.encode())
    (result,) = ingest(lake).files
    assert raw(lake)["label"].to_list() == ["Äpfel", "Birnen"]  # not "Ã„pfel"
    assert "UTF-8 byte-order mark" in result.warnings[0]


def test_a_cp1252_semicolon_export_with_crlf(lake: Lake, tmp_path, monkeypatch) -> None:
    contract(tmp_path, monkeypatch, THINGS + 'delimiter: ";"\nencoding: cp1252\n')
    land(lake, "things", "things.csv", "ID;LABEL\r\n1;Größe „XL“\r\n2;Café\r\n".encode("cp1252"))
    ingest(lake)
    assert raw(lake)["label"].to_list() == ["Größe „XL“", "Café"]


def test_cp1252_bytes_under_a_utf8_contract_say_what_to_set(lake: Lake, tmp_path, monkeypatch) -> None:
    contract(tmp_path, monkeypatch, THINGS)
    land(lake, "things", "things.csv", "ID,LABEL\n1,Größe\n".encode("cp1252"))
    (result,) = ingest(lake).files
    assert result.status == "rejected"
    assert "not valid utf-8" in result.error and "encoding: cp1252" in result.error


def test_utf16_text_lands_when_declared_and_is_named_when_not(lake: Lake, tmp_path, monkeypatch) -> None:
    data = "ID\tLABEL\r\n1\tÄpfel\r\n".encode("utf-16")  # Excel's "Unicode text": UTF-16 with BOM, tabs
    folder = contract(tmp_path, monkeypatch, THINGS)
    land(lake, "things", "things.txt", data)
    (result,) = ingest(lake).files
    assert result.status == "rejected" and "UTF-16" in result.error and "encoding: utf-16" in result.error
    (folder / "things.yml").write_text(THINGS + 'delimiter: "\\t"\nencoding: utf-16\n')
    (result,) = ingest(lake).files
    assert result.status == "landed" and raw(lake)["label"].to_list() == ["Äpfel"]


def test_a_file_without_header_names_columns_by_position(lake: Lake, tmp_path, monkeypatch) -> None:
    contract(tmp_path, monkeypatch, """\
        table: things
        file_pattern: "things*"
        header: false
        primary_key: [id]
        columns:
          - {name: id, source: column_1, type: bigint, required: true}
          - {name: label, source: column_2, type: string}
        """)  # fmt: skip
    land(lake, "things", "things.csv", "1,Äpfel\nx,Birnen\n3,Kiwi\n")
    ingest(lake)
    assert raw(lake).select("id", "label", "_source_line").rows() == [(1, "Äpfel", 1), (3, "Kiwi", 3)]
    assert quarantine(lake).select("id", "_reason", "_source_line").rows() == [("x", "invalid_bigint:id", 2)]


def _xlsx(path: Path) -> Path:
    import xlsxwriter

    workbook = xlsxwriter.Workbook(path)
    workbook.add_worksheet("Deckblatt").write(0, 0, "Artikelstamm")
    sheet = workbook.add_worksheet("Artikel")
    date = workbook.add_format({"num_format": "dd.mm.yyyy"})
    sheet.write_row(0, 0, ["SKU", "Name", "Preis", "Seit", "Menge", "Aktiv", "Rabatt"])
    sheet.write_row(1, 0, ["A-1", " Spaten ", 24.9, None, 3, True, "5,5"])
    sheet.write_datetime(1, 3, dt.datetime(2025, 1, 31), date)
    sheet.write_row(2, 0, [1234, "Schere", 17.5, None, 2.5, False, "0"])  # a numeric SKU cell; 2.5 pieces
    sheet.write_datetime(2, 3, dt.datetime(2025, 2, 1, 12, 30), date)  # a time of day in a date column
    # row 4 (index 3) left empty, as spreadsheets have
    sheet.write_row(4, 0, ["00123", "Rechen", 12.99, None, 1, False, "1.000,25"])
    sheet.write_datetime(4, 3, dt.datetime(2025, 2, 3), date)
    workbook.close()
    return path


XLSX_CONTRACT = """\
table: things
file_pattern: "*.xlsx"
format: xlsx
sheet: Artikel
decimal: ","
thousands: "."
primary_key: [sku]
columns:
  - {name: sku, source: SKU, type: string, required: true}
  - {name: name, source: Name, type: string}
  - {name: price, source: Preis, type: double}
  - {name: since, source: Seit, type: date}
  - {name: quantity, source: Menge, type: bigint}
  - {name: active, source: Aktiv, type: boolean}
  - {name: discount, source: Rabatt, type: double}
"""


def test_an_xlsx_sheet_lands_typed_with_its_row_numbers(lake: Lake, tmp_path, monkeypatch) -> None:
    """Number and date cells keep their type; a text column is read with the contract's separators."""
    contract(tmp_path, monkeypatch, XLSX_CONTRACT)
    lake.landing_dir("things").mkdir(parents=True)
    _xlsx(lake.landing_dir("things") / "artikel.xlsx")
    (result,) = ingest(lake).files
    assert (result.status, result.rows_in) == ("landed", 3)  # the empty row is not a record
    rows = raw(lake).select("sku", "name", "price", "since", "quantity", "active", "discount", "_source_line").rows()
    assert rows == [
        ("A-1", "Spaten", 24.9, dt.date(2025, 1, 31), 3, True, 5.5, 2),
        ("00123", "Rechen", 12.99, dt.date(2025, 2, 3), 1, False, 1000.25, 5),
    ]
    # Nothing is rounded or cut: noon is not a date (and 2.5 pieces would not be a bigint).
    assert quarantine(lake).select("sku", "_reason", "_source_line").rows() == [("1234", "invalid_date:since", 3)]
    assert quarantine(lake)["since"].str.starts_with("2025-02-01 12:30:00").to_list() == [True]


def test_a_fraction_is_not_a_bigint_in_a_typed_source(lake: Lake, tmp_path, monkeypatch) -> None:
    contract(tmp_path, monkeypatch, XLSX_CONTRACT.replace("type: date}", "type: timestamp}"))
    lake.landing_dir("things").mkdir(parents=True)
    _xlsx(lake.landing_dir("things") / "artikel.xlsx")
    ingest(lake)
    assert quarantine(lake).select("sku", "_reason", "quantity").rows() == [("1234", "invalid_bigint:quantity", "2.5")]


def test_an_xlsx_without_the_named_sheet_is_rejected_with_the_sheets_it_has(lake: Lake, tmp_path, monkeypatch) -> None:
    contract(tmp_path, monkeypatch, XLSX_CONTRACT.replace("sheet: Artikel", "sheet: Produkte"))
    lake.landing_dir("things").mkdir(parents=True)
    _xlsx(lake.landing_dir("things") / "artikel.xlsx")
    (result,) = ingest(lake).files
    assert result.status == "rejected"
    assert result.error == "the workbook has no sheet 'Produkte' (it has: Deckblatt, Artikel); set `sheet:`"


def test_a_parquet_export_lands_typed(lake: Lake, tmp_path, monkeypatch) -> None:
    contract(tmp_path, monkeypatch, """\
        table: things
        file_pattern: "*.parquet"
        format: parquet
        timezone: Europe/Berlin
        primary_key: [id]
        columns:
          - {name: id, source: id, type: bigint, required: true}
          - {name: at, source: at, type: timestamp}
          - {name: amount, source: amount, type: double}
        """)  # fmt: skip
    frame = pl.DataFrame({"id": [1, 2], "at": [dt.datetime(2025, 1, 15, 10), dt.datetime(2025, 7, 15, 10)],
                          "amount": [1.5, 2.0]})  # fmt: skip
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    land(lake, "things", "export.parquet", buffer.getvalue())
    ingest(lake)
    # Naive timestamps are wall-clock times of the contract's zone: winter +01:00, summer +02:00.
    assert raw(lake).select("id", "at", "amount").rows() == [
        (1, dt.datetime(2025, 1, 15, 9, tzinfo=UTC), 1.5), (2, dt.datetime(2025, 7, 15, 8, tzinfo=UTC), 2.0),
    ]  # fmt: skip


def test_json_lines_land_with_physical_lines_and_a_bad_line_is_quarantined(lake: Lake, tmp_path, monkeypatch) -> None:
    contract(tmp_path, monkeypatch, """\
        table: things
        file_pattern: "*.jsonl*"
        format: jsonl
        primary_key: [id]
        columns:
          - {name: id, source: id, type: string, required: true}
          - {name: qty, source: qty, type: bigint}
          - {name: at, source: at, type: timestamp}
          - {name: paid, source: paid, type: boolean}
        """)  # fmt: skip
    lines = [
        {"id": "K-1", "qty": 2, "at": "2025-03-30T01:30:00+01:00", "paid": True},
        None,  # a blank line
        {"id": 7, "qty": "3", "at": "2025-03-30T03:30:00+02:00", "paid": False},  # a number where text is declared
        "{not json",
    ]
    text = "\n".join("" if x is None else x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"
    land(lake, "things", "things.jsonl.gz", gzip.compress(text.encode()))
    (result,) = ingest(lake).files
    assert (result.rows_in, result.rows_landed, result.reasons) == (3, 2, {"invalid_json": 1})
    assert raw(lake).select("id", "qty", "at", "paid", "_source_line").rows() == [
        ("K-1", 2, dt.datetime(2025, 3, 30, 0, 30, tzinfo=UTC), True, 1),
        ("7", 3, dt.datetime(2025, 3, 30, 1, 30, tzinfo=UTC), False, 3),
    ]
    assert quarantine(lake).select("_reason", "_source_line").rows() == [("invalid_json", 4)]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00[Content_Types].xml....xl/workbook.xml", "an Excel workbook (.xlsx), not csv: "
         "declare `format: xlsx`"),
        (b"PAR1\x15\x04\x15", "a Parquet file, not csv: declare `format: parquet`"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "a legacy Excel workbook (.xls), not csv: save it as .xlsx"),
        (b"PK\x03\x04\x14\x00\x00\x00readme.txt", "a zip archive, not csv: unpack it"),
        (gzip.compress(b"PAR1\x15\x04", mtime=0), "a Parquet file, not csv"),
        (b"BZh91AY&SY", "a bzip2-compressed file, not csv"),
    ],
)  # fmt: skip
def test_a_file_of_another_kind_says_what_it_is_and_how_to_declare_it(
    lake: Lake, tmp_path, monkeypatch, data: bytes, says: str
) -> None:
    contract(tmp_path, monkeypatch, THINGS)
    land(lake, "things", "things.csv", data)
    (result,) = ingest(lake).files
    assert result.status == "rejected" and "this file is " + says in result.error
    assert "utf-8" not in result.error


def test_a_csv_landed_for_an_xlsx_contract_is_named(lake: Lake, tmp_path, monkeypatch) -> None:
    contract(tmp_path, monkeypatch, XLSX_CONTRACT.replace('"*.xlsx"', '"*"'))
    land(lake, "things", "artikel.xlsx", "SKU,Name\nA-1,Spaten\n")
    (result,) = ingest(lake).files
    assert result.error == "this file is text, not xlsx: declare `format: csv` (or `jsonl`) in the things contract"


# -- parsing options ------------------------------------------------------------------------------

GERMAN = """\
table: things
file_pattern: "things*"
delimiter: ";"
decimal: ","
thousands: "."
timezone: Europe/Berlin
primary_key: [id]
columns:
  - {name: id, source: Nr, type: bigint, required: true}
  - {name: day, source: Datum, type: date, format: "%d.%m.%Y"}
  - {name: at, source: Zeit, type: timestamp, format: "%d.%m.%Y %H:%M"}
  - {name: amount, source: Betrag, type: double}
  - {name: pieces, source: Stueck, type: bigint}
  - {name: gift, source: Geschenk, type: boolean, true_values: [ja, j], false_values: [nein, n]}
  - {name: status, source: Status, type: string, default: completed,
     map: {ABGESCHLOSSEN: completed, VERSANDT: shipped, STORNIERT: cancelled, "-": null},
     allowed: [completed, shipped, cancelled, returned]}
"""


def test_german_dates_numbers_booleans_and_status_words(lake: Lake, tmp_path, monkeypatch) -> None:
    contract(tmp_path, monkeypatch, GERMAN)
    land(lake, "things", "things.csv", "\n".join([
        "Nr;Datum;Zeit;Betrag;Stueck;Geschenk;Status",
        "1;31.01.2025;31.01.2025 14:30;1.234,56;1.200;ja;ABGESCHLOSSEN",
        "2;1.7.2025;01.07.2025 08:05;-0,5;7;NEIN;versandt",       # no zero padding; words in other case
        "3;31.02.2025;;;;;",                                       # no such day
        "4;01.02.25;;;;;",                                         # a two-digit year is not %Y
        "5;;;1.5;;;",                                              # a dot-decimal in a comma-decimal file
        "6;;;12,5.0;;;",                                           # not a number in either style
        "7;;;;;vielleicht;",
        "8;;;;;;IN KLÄRUNG",                                       # a status word the map does not know
        "9;;;;;;returned",                                         # already canonical
        "10;;;;;;-",                                               # mapped to no value: the default
        "11;;;;12.34;;",                                           # a broken thousands group
    ]) + "\n")  # fmt: skip
    (result,) = ingest(lake).files
    assert raw(lake).select("id", "day", "at", "amount", "pieces", "gift", "status").rows() == [
        (1, dt.date(2025, 1, 31), dt.datetime(2025, 1, 31, 13, 30, tzinfo=UTC), 1234.56, 1200, True, "completed"),
        (2, dt.date(2025, 7, 1), dt.datetime(2025, 7, 1, 6, 5, tzinfo=UTC), -0.5, 7, False, "shipped"),
        (9, None, None, None, None, None, "returned"),
        (10, None, None, None, None, None, "completed"),
    ]
    assert quarantine(lake).select("id", "_reason").rows() == [
        ("3", "invalid_date:day"), ("4", "invalid_date:day"), ("5", "invalid_double:amount"),
        ("6", "invalid_double:amount"), ("7", "invalid_boolean:gift"), ("8", "unmapped:status"),
        ("11", "invalid_bigint:pieces"),
    ]  # fmt: skip
    assert result.imputed == {"status": 1}  # row 10: mapped to no value, so the default
    assert result.examples["unmapped:status"] == (9, "IN KLÄRUNG")


def test_a_column_overrides_the_tables_separators(lake: Lake, tmp_path, monkeypatch) -> None:
    contract(tmp_path, monkeypatch, """\
        table: things
        file_pattern: "things*"
        delimiter: ";"
        decimal: ","
        thousands: "."
        primary_key: [id]
        columns:
          - {name: id, source: Nr, type: bigint, required: true}
          - {name: eur, source: EUR, type: double}
          - {name: usd, source: USD, type: double, decimal: ".", thousands: ","}
          - {name: plain, source: Plain, type: double, thousands: ""}
        """)  # fmt: skip
    land(lake, "things", "things.csv", "Nr;EUR;USD;Plain\n1;1.234,5;1,234.5;1234,5\n2;2,0;2.0;1.234,5\n")
    ingest(lake)
    assert raw(lake).select("id", "eur", "usd", "plain").rows() == [(1, 1234.5, 1234.5, 1234.5)]
    assert quarantine(lake).select("id", "_reason").rows() == [("2", "invalid_double:plain")]


@pytest.mark.parametrize(
    ("value", "instant"),
    [
        ("2025-03-30T01:30:00+01:00", dt.datetime(2025, 3, 30, 0, 30, tzinfo=UTC)),
        ("2025-03-30T03:30:00+02:00", dt.datetime(2025, 3, 30, 1, 30, tzinfo=UTC)),
        ("2025-03-30 03:30:00+0200", dt.datetime(2025, 3, 30, 1, 30, tzinfo=UTC)),
        ("2025-03-30T01:30:00Z", dt.datetime(2025, 3, 30, 1, 30, tzinfo=UTC)),
        ("2025-03-30T01:30:00.250-05:00", dt.datetime(2025, 3, 30, 6, 30, 0, 250_000, tzinfo=UTC)),
        ("2025-01-15 10:00:00", dt.datetime(2025, 1, 15, 9, 0, tzinfo=UTC)),  # no offset: Europe/Berlin (+01:00)
        ("2025-07-15T10:00:00", dt.datetime(2025, 7, 15, 8, 0, tzinfo=UTC)),  # no offset, summer (+02:00)
        ("2025-03-30 02:30:00", None),  # that hour does not exist in Berlin (clocks jump 02:00 -> 03:00)
    ],
)
def test_iso_timestamps_keep_their_instant(lake: Lake, tmp_path, monkeypatch, value: str, instant) -> None:
    """With an offset, the offset says the instant; without, the contract's time zone does."""
    contract(tmp_path, monkeypatch, """\
        table: things
        file_pattern: "things*"
        timezone: Europe/Berlin
        primary_key: [id]
        columns:
          - {name: id, source: id, type: bigint, required: true}
          - {name: at, source: at, type: timestamp}
        """)  # fmt: skip
    land(lake, "things", "things.csv", f"id,at\n1,{value}\n2,2025-06-01T00:00:00+00:00\n")
    ingest(lake)
    landed = dict(raw(lake).select("id", "at").rows())
    assert landed.get(1) == instant and landed[2] == dt.datetime(2025, 6, 1, tzinfo=UTC)
    if instant is None:
        assert quarantine(lake)["_reason"].to_list() == ["invalid_timestamp:at"]


def test_trim_reads_padded_numbers_only_when_asked_and_can_keep_text_padding(lake: Lake, tmp_path, monkeypatch) -> None:
    contract(tmp_path, monkeypatch, """\
        table: things
        file_pattern: "things*"
        primary_key: [id]
        columns:
          - {name: id, source: id, type: bigint, required: true, trim: true}
          - {name: n, source: n, type: bigint}
          - {name: code, source: code, type: string, trim: false}
        """)  # fmt: skip
    land(lake, "things", "things.csv", 'id,n,code\n" 1 ",2," A "\n2," 3",B\n')
    ingest(lake)
    assert raw(lake).select("id", "n", "code").rows() == [(1, 2, " A ")]
    assert quarantine(lake).select("id", "_reason").rows() == [("2", "invalid_bigint:n")]


def test_the_default_boolean_words_and_case(lake: Lake, tmp_path, monkeypatch) -> None:
    contract(tmp_path, monkeypatch, THINGS.replace("type: string", "type: boolean"))
    land(lake, "things", "things.csv", "ID,LABEL\n1,TRUE\n2,0\n3,ja\n")
    ingest(lake)
    assert raw(lake).select("id", "label").rows() == [(1, True), (2, False)]
    assert quarantine(lake)["_reason"].to_list() == ["invalid_boolean:label"]


def test_the_ledger_counts_every_row_of_every_format(lake: Lake, tmp_path, monkeypatch) -> None:
    """rows_in = landed + quarantined, also for the xlsx and jsonl readers."""
    contract(tmp_path, monkeypatch, XLSX_CONTRACT)
    lake.landing_dir("things").mkdir(parents=True)
    _xlsx(lake.landing_dir("things") / "artikel.xlsx")
    ingest(lake)
    (record,) = read_ledger(lake)
    assert (record.rows_in, record.rows_landed, record.rows_quarantined) == (3, 2, 1)
