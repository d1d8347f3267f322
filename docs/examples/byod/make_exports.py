"""Writes the German-style export set of docs/contracts.md's "bring your own data" walk-through.

A small garden shop's ERP exports as they come: semicolon CSV in cp1252 with CRLF line ends,
`31.01.2025` dates, `1.234,56` amounts, German status words, string customer and order numbers,
order lines numbered 1..n within each order, entry timestamps with +01:00/+02:00 offsets, and
the article list as an Excel workbook. A few rows are wrong on purpose (the walk-through shows
their quarantine reasons). Deterministic: `python docs/examples/byod/make_exports.py` rewrites
the same bytes into docs/examples/byod/exports/.
"""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

OUT = Path(__file__).resolve().parent / "exports"
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
FIRST = ["Jürgen", "Sören", "Björn", "Käthe", "Lütfiye", "Anna", "Max", "Sophie", "Lukas", "Mia", "Jörg", "Grete",
         "Ömer", "Hannah", "Felix", "Zoë", "Ludwig", "Renée", "Paul", "Élodie"]  # fmt: skip
LAST = ["Müller", "Weiß", "Schröder", "Groß", "Köhler", "Schäfer", "Bäcker", "Hoffmann", "Krüger", "Jäger",
        "Fuchs", "Böhm", "Lorenz", "Maaß", "Brückner"]  # fmt: skip
COUNTRIES = ["Deutschland", "Österreich", "Schweiz"]
CHANNELS = ["Suchmaschine", "Newsletter", "Empfehlung", "Direkt"]
STATUSES = ["ABGESCHLOSSEN"] * 6 + ["VERSANDT"] * 2 + ["STORNIERT", "RETOURE"]
SALES = ["Webshop", "Marktplatz", "Filiale"]
CATEGORIES = [(10, "Gartengeräte"), (20, "Pflanzen & Samen"), (30, "Bewässerung"), (40, "Gartenmöbel"),
              (50, "Dünger & Erde")]  # fmt: skip
ARTICLES = [
    ("GH-1001", "Spaten, Eschenstiel", 10, "24.90"), ("GH-1002", "Rosenschere „Profi“", 10, "17.50"),
    ("GH-1003", "Laubrechen 60 cm", 10, "12.99"), ("GH-1004", "Gartenhandschuhe Gr. 9", 10, "6.49"),
    ("GH-2001", "Tomatensamen San Marzano", 20, "2.95"), ("GH-2002", "Lavendel im Topf", 20, "8.90"),
    ("GH-2003", "Apfelbaum Boskoop", 20, "49.00"), ("GH-2004", "Blumenzwiebeln Tulpen (25 Stk.)", 20, "9.99"),
    ("GH-3001", "Gartenschlauch 25 m", 30, "34.95"), ("GH-3002", "Regentonne 300 l", 30, "89.00"),
    ("GH-3003", "Tropfbewässerung Set", 30, "59.90"), ("GH-3004", "Gießkanne 10 l, grün", 30, "14.50"),
    ("GH-4001", "Gartenbank Teak", 40, "1249.00"), ("GH-4002", "Sonnenschirm Ø 3 m", 40, "189.00"),
    ("GH-4003", "Liegestuhl „Sylt“", 40, "129.95"), ("GH-5001", "Bio-Kompost 40 l", 50, "7.99"),
    ("GH-5002", "Rasendünger 10 kg", 50, "29.90"), ("GH-5003", "Hornspäne 2,5 kg", 50, "11.49"),
]  # fmt: skip


def money(value: Decimal) -> str:
    """1234.5 -> '1.234,50' (German grouping and decimal comma)."""
    whole, frac = f"{value.quantize(Decimal('0.01'), ROUND_HALF_UP):.2f}".split(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return ".".join(groups) + "," + frac


def write_csv(name: str, header: list[str], rows: list[list[str]]) -> None:
    def cell(value: str) -> str:
        return f'"{value}"' if ";" in value or '"' in value else value

    lines = [";".join(header)] + [";".join(cell(v) for v in row) for row in rows]
    (OUT / name).write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))


def main() -> None:
    rng = random.Random(12)
    OUT.mkdir(parents=True, exist_ok=True)
    write_csv("Warengruppen.csv", ["WG-Nr", "Bezeichnung"], [[str(n), label] for n, label in CATEGORIES])

    customers = []
    for i in range(40):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        number = f"K-{10001 + i}"
        signup = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(420))
        mail = f"{first.lower()}.{last.lower()}{i}@example.de".translate(
            str.maketrans({"ü": "ue", "ö": "oe", "ä": "ae", "ß": "ss", "é": "e", "ë": "e"})
        )
        country = "" if i % 9 == 4 else rng.choice(COUNTRIES)
        customers.append([number, f"{first} {last}", mail, signup.strftime("%d.%m.%Y"), country, rng.choice(CHANNELS)])
    customers.append(["K-10041", "Ida Nowak", "ida.nowak(at)example.de", "02.03.2025", "Deutschland", "Direkt"])
    customers.append(["K-10007", "Doppelt Angelegt", "doppelt@example.de", "05.03.2025", "Deutschland", "Direkt"])
    write_csv("Kunden.csv", ["Kundennummer", "Name", "E-Mail", "Registriert am", "Land", "Kanal"], customers)

    orders, lines = [], []
    start = dt.datetime(2025, 3, 1, 8, 0, tzinfo=BERLIN)
    for i in range(120):
        number = f"B-2025-{i + 1:05d}"
        customer = customers[rng.randrange(40)][0]
        # Entry times around the switch to summer time (30.03.2025): offsets +01:00, then +02:00.
        at = (start + dt.timedelta(minutes=rng.randrange(60 * 24 * 60))).astimezone(BERLIN)
        total = Decimal(0)
        for pos in range(1, rng.randint(1, 4) + 1):
            article = rng.choice(ARTICLES)
            qty = rng.choice([1, 1, 1, 2, 3, 5])
            total += qty * Decimal(article[3])
            lines.append([number, str(pos), article[0], str(qty), money(Decimal(article[3]))])
        date = at.strftime("%d.%m.%Y")
        stamp = at.isoformat(timespec="seconds")
        orders.append([number, customer, date, stamp, money(total), rng.choice(STATUSES), rng.choice(SALES)])
    orders[17][5] = "IN KLÄRUNG"  # a status word the contract does not map
    orders[42][2] = "31.02.2025"  # no such day
    lines.append(["B-2025-00003", "9", "GH-9999", "1", "4,99"])  # an article the catalogue does not have
    write_csv("Bestellungen.csv", ["Bestellnummer", "Kundennummer", "Belegdatum", "Erfasst am", "Betrag", "Status",
                                   "Vertriebskanal"], orders)  # fmt: skip
    write_csv("Bestellpositionen.csv", ["Bestellnummer", "Pos", "Artikelnummer", "Menge", "Einzelpreis"], lines)

    import xlsxwriter

    workbook = xlsxwriter.Workbook(OUT / "Artikel.xlsx")
    info = workbook.add_worksheet("Info")
    info.write(0, 0, "Artikelstamm Gartenhaus Müller GmbH, Stand 01.05.2025")
    sheet = workbook.add_worksheet("Artikel")
    euro = workbook.add_format({"num_format": "#,##0.00 €"})
    sheet.write_row(0, 0, ["Artikelnummer", "Bezeichnung", "Warengruppe", "VK-Preis", "Aktiv"])
    for row, (sku, label, group, price) in enumerate(ARTICLES, start=1):
        sheet.write_string(row, 0, sku)
        sheet.write_string(row, 1, label)
        sheet.write_number(row, 2, group)
        sheet.write_number(row, 3, float(price), euro)
        sheet.write_string(row, 4, "ja" if row % 7 else "nein")
    workbook.close()


if __name__ == "__main__":
    main()
