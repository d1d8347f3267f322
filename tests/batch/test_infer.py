"""`shoplake contract infer`: drafts from foreign-shaped exports that ingest the sampled rows as they are.

Each case writes an export the way some shop's system would (German semicolon cp1252, US, ISO,
Excel, JSON Lines, Parquet, gzip, BOM, no header), infers a draft, checks what the draft says,
then ingests the file with the draft unchanged and checks the typed rows.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from pathlib import Path

import polars as pl
import pytest

from pipelines.batch.contract import CONTRACTS_DIR, Contract, parse_contract, read_yaml
from pipelines.batch.infer import file_pattern, infer_contract, snake
from pipelines.catalog import read_committed
from pipelines.cli import main
from pipelines.lake import Lake
from pipelines.settings import Settings

from .conftest import ingest, land

UTC = dt.timezone.utc


def draft(tmp_path: Path, name: str, data: bytes, table: str | None = None) -> tuple[str, Contract, Path]:
    path = tmp_path / "exports" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    text = infer_contract(Settings(lake_dir=tmp_path / "lake"), path, table=table)
    return text, parse_contract(read_yaml(text), Path("draft.yml")), path


def round_trip(lake: Lake, tmp_path: Path, monkeypatch, contract: Contract, text: str, path: Path) -> pl.DataFrame:
    """Ingest the export with the draft as its contract: every row lands."""
    folder = tmp_path / "contracts"
    folder.mkdir(exist_ok=True)
    (folder / f"{contract.table}.yml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("SHOPLAKE_CONTRACTS_DIR", str(folder))
    land(lake, contract.table, path.name, path.read_bytes())
    report = ingest(lake)
    (result,) = [f for f in report.files if f.table == contract.table]
    assert (result.status, result.rows_quarantined, result.reasons) == ("landed", 0, {}), report.render()
    return read_committed(lake, contract.table).sort("_source_line")


def columns(contract: Contract) -> dict[str, tuple]:
    return {c.name: (c.source, c.type, c.format, c.required) for c in contract.columns}


GERMAN = (
    "Bestell-Nr.;Pos;Kunden-Nr.;Bestelldatum;Betrag;Menge;Status;Geschenk\r\n"
    "10001;1;K-001;31.01.2025;1.234,56;1;ABGESCHLOSSEN;ja\r\n"
    "10001;2;K-001;31.01.2025;12,50;3;ABGESCHLOSSEN;nein\r\n"
    "10002;1;K-002;01.02.2025;99,00;1.200;VERSANDT;nein\r\n"
    "10003;1;K-003;14.02.2025;0,99;2;STORNIERT;ja\r\n"
    "10003;2;K-003;14.02.2025;5,00;1;ABGESCHLOSSEN;nein\r\n"
    "10003;3;K-003;14.02.2025;17,25;4;VERSANDT;ja\r\n"
    "10004;1;K-004;28.02.2025;2.000,00;1;ABGESCHLOSSEN;nein\r\n"
    "10005;1;K-005;03.03.2025;3,10;2;Größe prüfen;nein\r\n"
)


def test_a_german_semicolon_cp1252_export(lake: Lake, tmp_path, monkeypatch) -> None:
    text, contract, path = draft(tmp_path, "Bestellpositionen_2025-03.csv", GERMAN.encode("cp1252"))
    assert (contract.delimiter, contract.encoding, contract.decimal, contract.thousands) == (";", "cp1252", ",", ".")
    assert contract.file_pattern == "Bestellpositionen_*.csv" and contract.table == "bestellpositionen"
    assert columns(contract) == {
        "bestell_nr": ("Bestell-Nr.", "bigint", None, True),
        "pos": ("Pos", "bigint", None, True),
        "kunden_nr": ("Kunden-Nr.", "string", None, True),
        "bestelldatum": ("Bestelldatum", "date", "%d.%m.%Y", True),
        "betrag": ("Betrag", "double", None, True),
        "menge": ("Menge", "bigint", None, True),
        "status": ("Status", "string", None, True),
        "geschenk": ("Geschenk", "boolean", None, True),
    }
    assert contract.primary_key == ("bestell_nr", "pos")  # order number + line number
    assert contract.column("geschenk").true_values == ("ja",) and contract.column("geschenk").false_values == ("nein",)
    assert contract.column("status").allowed is None  # 4 values in 8 rows: too few repeats for a rule
    rows = round_trip(lake, tmp_path, monkeypatch, contract, text, path)
    assert rows.select("bestell_nr", "pos", "bestelldatum", "betrag", "menge", "geschenk").row(0) == (
        10001, 1, dt.date(2025, 1, 31), 1234.56, 1, True,
    )  # fmt: skip
    assert rows["menge"].to_list() == [1, 3, 1200, 2, 1, 4, 1, 2]
    assert rows["status"][-1] == "Größe prüfen"


US = (
    "Order ID,Order Date,Ship Time,Customer,Amount,Gift Wrap,Region\n"
    '1001,03/14/2025,3/14/2025 2:05 PM,C-77,"1,234.50",Yes,West\n'
    "1002,03/15/2025,3/15/2025 9:10 AM,C-78,19.99,No,East\n"
    "1003,12/01/2025,12/1/2025 11:59 PM,C-79,5.00,No,West\n"
    '1004,01/13/2025,1/13/2025 12:00 PM,C-80,"12,000.00",Yes,East\n'
)


def test_a_us_export(lake: Lake, tmp_path, monkeypatch) -> None:
    text, contract, path = draft(tmp_path, "orders.csv", US.encode())
    assert (contract.delimiter, contract.decimal, contract.thousands) == (",", ".", ",")
    assert columns(contract)["order_date"] == ("Order Date", "date", "%m/%d/%Y", True)
    assert columns(contract)["ship_time"][1:3] == ("timestamp", "%m/%d/%Y %I:%M %p")
    assert contract.primary_key == ("order_id",)
    rows = round_trip(lake, tmp_path, monkeypatch, contract, text, path)
    assert rows.select("order_date", "ship_time", "amount", "gift_wrap").rows() == [
        (dt.date(2025, 3, 14), dt.datetime(2025, 3, 14, 14, 5, tzinfo=UTC), 1234.5, True),
        (dt.date(2025, 3, 15), dt.datetime(2025, 3, 15, 9, 10, tzinfo=UTC), 19.99, False),
        (dt.date(2025, 12, 1), dt.datetime(2025, 12, 1, 23, 59, tzinfo=UTC), 5.0, False),
        (dt.date(2025, 1, 13), dt.datetime(2025, 1, 13, 12, 0, tzinfo=UTC), 12000.0, True),
    ]


def test_an_iso_utf8_export_with_offsets_a_bom_gzip_and_leading_zeros(lake: Lake, tmp_path, monkeypatch) -> None:
    lines = ["sku,created,updated_at,weight_kg,email"]
    lines += [f"{i:05d},2025-0{i % 9 + 1}-1{i % 10},2025-03-30T0{i % 4}:30:00{'+01:00' if i % 2 else 'Z'},"
              f"{i}.25,user{i}@example.com" for i in range(1, 40)]  # fmt: skip
    data = gzip.compress(b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n")
    text, contract, path = draft(tmp_path, "items_20250301.csv.gz", data)
    assert contract.file_pattern == "items_*.csv.gz" and contract.encoding == "utf-8"
    assert columns(contract) == {
        "sku": ("sku", "string", None, True),  # 00001: leading zeros stay
        "created": ("created", "date", None, True),
        "updated_at": ("updated_at", "timestamp", None, True),
        "weight_kg": ("weight_kg", "double", None, True),
        "email": ("email", "string", "email", True),
    }
    assert contract.primary_key == ("sku",)
    assert "gzip-compressed" in text and "byte-order mark" in text
    rows = round_trip(lake, tmp_path, monkeypatch, contract, text, path)
    assert rows["sku"][0] == "00001" and rows["updated_at"][0] == dt.datetime(2025, 3, 30, 0, 30, tzinfo=UTC)
    assert rows["updated_at"][1] == dt.datetime(2025, 3, 30, 2, 30, tzinfo=UTC)


def test_an_xlsx_workbook_picks_the_table_sheet(lake: Lake, tmp_path, monkeypatch) -> None:
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    workbook.add_worksheet("Hinweise").write(0, 0, "Stand: Mai")
    sheet = workbook.add_worksheet("Artikel")
    date = workbook.add_format({"num_format": "dd.mm.yyyy"})
    sheet.write_row(0, 0, ["Artikelnummer", "Bezeichnung", "Warengruppe", "VK-Preis", "Gelistet seit"])
    for i in range(1, 6):
        sheet.write_row(i, 0, [f"GH-{1000 + i}", f"Artikel {i}", 10 * i, 2.5 * i])
        sheet.write_datetime(i, 4, dt.datetime(2024, i, 1), date)
    workbook.close()
    text, contract, path = draft(tmp_path, "Artikel.xlsx", buffer.getvalue(), table="products")
    assert (contract.format, contract.sheet, contract.table) == ("xlsx", "Artikel", "products")
    assert columns(contract) == {
        "product_id": ("Artikelnummer", "string", None, True),
        "product_name": ("Bezeichnung", "string", None, True),
        "category_id": ("Warengruppe", "bigint", None, True),
        "price": ("VK-Preis", "double", None, True),
        "gelistet_seit": ("Gelistet seit", "date", None, True),
    }
    assert contract.primary_key == ("product_id",) and contract.references[0].table == "categories"
    assert "workbook sheets: Hinweise, Artikel (read: Artikel" in text
    # products reference categories: the shipped categories contract and its keys come first.
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "categories.yml").write_text((CONTRACTS_DIR / "categories.yml").read_text())
    land(lake, "categories", "categories.csv", "CATEGORY_ID,CATEGORY_NAME\n" + "".join(
        f"{10 * i},C{i}\n" for i in range(1, 6)))  # fmt: skip
    rows = round_trip(lake, tmp_path, monkeypatch, contract, text, path)
    assert rows.select("product_id", "category_id", "price", "gelistet_seit").row(1) == (
        "GH-1002", 20, 5.0, dt.date(2024, 2, 1))  # fmt: skip


def test_json_lines_and_parquet(lake: Lake, tmp_path, monkeypatch) -> None:
    records = [{"event_id": f"e{i}", "ts": f"2025-05-0{i}T10:00:00+02:00", "value": i * 1.5, "ok": i % 2 == 0,
                "meta": {"k": i}} for i in range(1, 8)]  # fmt: skip
    text, contract, path = draft(tmp_path, "events.jsonl", "\n".join(json.dumps(r) for r in records).encode())
    assert contract.format == "jsonl" and contract.primary_key == ("event_id",)
    assert {c.name: c.type for c in contract.columns} == {
        "event_id": "string", "ts": "timestamp", "value": "double", "ok": "boolean", "meta": "string",
    }  # fmt: skip
    rows = round_trip(lake, tmp_path, monkeypatch, contract, text, path)
    assert rows.select("ts", "value", "ok").row(0) == (dt.datetime(2025, 5, 1, 8, tzinfo=UTC), 1.5, False)

    frame = pl.DataFrame({"id": [1, 2, 3], "at": [dt.datetime(2025, 1, 1, 9)] * 3, "amount": [1.0, 2.5, 3.0]})
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    text, contract, path = draft(tmp_path, "amounts.parquet", buffer.getvalue())
    assert contract.format == "parquet" and {c.name: c.type for c in contract.columns} == {
        "id": "bigint", "at": "timestamp", "amount": "double",
    }  # fmt: skip


def test_a_headerless_file(tmp_path) -> None:
    data = "".join(f"{i};Artikel {i};{i},50;0{i}.01.2025\n" for i in range(1, 9)).encode()
    text, contract, _ = draft(tmp_path, "dump.txt", data)
    assert not contract.header and "header: false" in text
    assert [(c.source, c.type) for c in contract.columns] == [
        ("column_1", "bigint"), ("column_2", "string"), ("column_3", "double"), ("column_4", "date"),
    ]  # fmt: skip


def test_table_maps_a_foreign_export_onto_the_canonical_orders(tmp_path) -> None:
    data = (
        "Bestellnummer;Kundennummer;Belegdatum;Gesamtbetrag;Status\n"
        + "".join(f"B-{i};K-{i % 3};0{i}.03.2025;{i}0,50;{s}\n"
                  for i, s in zip(range(1, 9), ["ABGESCHLOSSEN", "Versandt", "STORNIERT", "Retoure", "IN PRÜFUNG",
                                                "ABGESCHLOSSEN", "ABGESCHLOSSEN", "VERSANDT"], strict=True))
    ).encode("cp1252")  # fmt: skip
    text, contract, _ = draft(tmp_path, "Auftraege.csv", data, table="orders")
    assert {c.name: (c.source, c.type) for c in contract.columns} == {
        "order_id": ("Bestellnummer", "string"),
        "customer_id": ("Kundennummer", "string"),
        "order_date": ("Belegdatum", "date"),
        "order_amount": ("Gesamtbetrag", "double"),
        "order_status": ("Status", "string"),
        "sales_channel": ("sales_channel", "string"),  # not in the file: the default for every row
    }
    status = contract.column("order_status")
    assert status.map == {"ABGESCHLOSSEN": "completed", "Versandt": "shipped", "STORNIERT": "cancelled",
                          "Retoure": "returned", "VERSANDT": "shipped"}  # fmt: skip
    assert status.allowed == ("completed", "shipped", "cancelled", "returned")
    assert "not mapped (quarantined as unmapped until you add them to map): IN PRÜFUNG" in text
    assert contract.partition_by is not None and contract.partition_by.column == "order_date"
    assert contract.column("sales_channel").default == "unknown"


def test_table_says_which_canonical_columns_are_missing(tmp_path) -> None:
    data = b"Kundennummer,Name\nK-1,Ann\nK-2,Bob\nK-3,Cy\n"
    text, contract, _ = draft(tmp_path, "kunden.csv", data, table="customers")
    assert "# MISSING from this file, needed by the customers marts: email, signup_date" in text
    assert [c.name for c in contract.columns] == ["customer_id", "customer_name", "country", "acquisition_channel"]


@pytest.mark.parametrize(
    ("header", "name"),
    [("Bestell-Nr.", "bestell_nr"), ("OrderDate", "order_date"), ("Größe (cm)", "groesse_cm"), ("E-Mail", "e_mail"),
     ("Preis €", "preis_eur"), ("# of items", "no_of_items"), ("2nd Address", "c_2nd_address"), ("Café", "cafe")],
)  # fmt: skip
def test_snake_case_names(header: str, name: str) -> None:
    assert snake(header) == name


@pytest.mark.parametrize(
    ("name", "pattern"),
    [("Bestellungen_2025-06.csv", "Bestellungen_*.csv"), ("orders.csv", "orders*.csv"),
     ("export-20250601-0200.CSV.GZ", "export-*.CSV.GZ"), ("Artikel.xlsx", "Artikel*.xlsx")],
)  # fmt: skip
def test_file_patterns_take_later_exports_too(name: str, pattern: str) -> None:
    assert file_pattern(Path(name)) == pattern


def test_the_cli_prints_the_draft_and_can_write_it(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(tmp_path / "lake"))
    path = tmp_path / "Warengruppen.csv"
    path.write_bytes("WG-Nr;Bezeichnung\n10;Gartengeräte\n20;Pflanzen\n".encode("cp1252"))
    assert main(["contract", "infer", str(path), "--table", "categories"]) == 0
    out = capsys.readouterr().out
    assert "table: categories" in out and "- {name: category_id, source: WG-Nr, type: bigint" in out
    assert main(["contract", "infer", str(path), "-o", str(tmp_path / "c.yml")]) == 0
    assert "encoding: cp1252" in (tmp_path / "c.yml").read_text()
    assert main(["contract", "infer", str(tmp_path / "missing.csv")]) == 2


FOREIGN = {
    # French: latin-1, ";", dd/mm/yyyy, space thousands and decimal comma, oui/non
    "commandes.csv": (
        "N° commande;Date;Montant TTC;Payé\r\nFR-1;31/01/2025;1 234,50;oui\r\nFR-2;02/02/2025;99,90;non\r\n"
        "FR-3;15/03/2025;12 000,00;oui\r\n",
        "latin-1",
        {"date": "%d/%m/%Y"},
        ("FR-1", dt.date(2025, 1, 31), 1234.5, True),
    ),
    # Swiss, Excel "Unicode text": UTF-16 with tabs, apostrophe thousands, dd.mm.yyyy HH:MM:SS
    "artikel.txt": (
        "Artikel\tPreis CHF\tZeit\r\nCH-1\t3'158.10\t09.09.2025 09:35:00\r\nCH-2\t12.00\t10.09.2025 17:00:05\r\n",
        "utf-16",
        {"zeit": "%d.%m.%Y %H:%M:%S"},
        ("CH-1", 3158.1, dt.datetime(2025, 9, 9, 9, 35, tzinfo=UTC)),
    ),
    # Dutch: d-m-yyyy without padding, decimal comma, ja/nee
    "klanten.csv": (
        "Klantnummer;Datum;Bedrag;Actief\n1001;3-2-2025;595,93;ja\n1002;14-11-2025;7,00;nee\n",
        "utf-8",
        {"datum": "%d-%m-%Y"},
        (1001, dt.date(2025, 2, 3), 595.93, True),
    ),
    # pipe-separated, ISO timestamps without seconds or offset, Y/N
    "dump.psv": (
        "id|ts|amount|flag\n1|2025-07-11 17:30|0.30|Y\n2|2025-07-12 08:05|12.00|N\n",
        "utf-8",
        {"ts": None},
        (1, dt.datetime(2025, 7, 11, 17, 30, tzinfo=UTC), 0.3, True),
    ),
}


@pytest.mark.parametrize("name", sorted(FOREIGN))
def test_other_countries_exports_round_trip(lake: Lake, tmp_path, monkeypatch, name: str) -> None:
    text_data, encoding, formats, first_row = FOREIGN[name]
    text, contract, path = draft(tmp_path, name, text_data.encode(encoding))
    assert {c: contract.column(c).format for c in formats} == formats
    rows = round_trip(lake, tmp_path, monkeypatch, contract, text, path)
    assert rows.drop("_source_line", "_source_file", "_ingested_at").row(0) == first_row
