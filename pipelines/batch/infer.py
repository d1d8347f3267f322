"""`shoplake contract infer FILE [--table T]`: a draft contract YAML read from a sample of an export.

What a new user should not have to work out by hand, read from the file itself: its kind (CSV, gzip,
xlsx, Parquet, JSON Lines), the text encoding (UTF-8, or cp1252/latin-1 from Windows), the
delimiter, whether there is a header, and per column a snake_case `name` (`source:` keeps the
export's header), the type, date and timestamp formats, the decimal and thousands separators,
boolean words, whether it was always filled (`required`), low-cardinality value lists (`allowed`),
and a candidate primary key, composite when no single column is unique (order number + line number).

Every guess is checked with the parsers ingest uses (`validate.py`), so a draft ingests the sampled
rows as they are. With `--table` naming a shipped table (orders, customers, ...), the columns are
matched to that contract's canonical names by name (in several languages) and type, and the draft
says which canonical columns the file lacks; status words are mapped onto the canonical statuses
where the word is known.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import gzip
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import ShopLakeError
from ..settings import Settings
from ..storage import local_file, open_file, read_file
from .contract import CONTRACTS_DIR, Column, Contract, load_contracts, parse_contract, read_yaml
from .readers import SAMPLE_BYTES, UTF8_BOM, describe, sniff
from .validate import EMAIL_PATTERN, number_text, timestamp_from_text

SAMPLE_LIMIT = 16 * 1024 * 1024  # bytes of a text file read for the sample
DELIMITERS = (",", ";", "\t", "|")
DATE_FORMATS = (
    "%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%Y/%m/%d", "%d-%m-%Y", "%m-%d-%Y", "%Y.%m.%d",
    "%d.%m.%y", "%d/%m/%y", "%m/%d/%y", "%d-%b-%Y", "%d %b %Y", "%b %d, %Y",
)  # fmt: skip
TIMESTAMP_FORMATS = tuple(
    f"{d}{sep}{t}{z}"
    for d in ("%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%Y/%m/%d", "%d-%m-%Y", "%d.%m.%y", "%m/%d/%y")
    for sep in (" ", ", ")
    for t in ("%H:%M:%S", "%H:%M", "%I:%M:%S %p", "%I:%M %p")
    for z in ("", " %z", "%z", " %:z", "%:z")
)
# (decimal, thousands) pairs a number column may be written in, most common first.
NUMBER_STYLES: tuple[tuple[str, str | None], ...] = (
    (".", None), (",", None), (",", "."), (".", ","), (",", " "), (".", " "), (".", "'"), (",", "\u00a0"),
    (".", "\u00a0"), (",", "\u202f"),
)  # fmt: skip
BOOLEAN_WORDS = (
    ("true", "false"), ("yes", "no"), ("y", "n"), ("ja", "nein"), ("j", "n"), ("wahr", "falsch"), ("oui", "non"),
    ("si", "no"), ("sí", "no"), ("t", "f"), ("x", "-"), ("waar", "onwaar"), ("vrai", "faux"), ("ja", "nee"),
    ("ja", "nej"), ("sim", "não"), ("sim", "nao"), ("tak", "nie"), ("ano", "ne"), ("igen", "nem"), ("kyllä", "ei"),
)  # fmt: skip
KEY_WORDS = re.compile(
    r"(^|_)(id|ids|nr|no|num|number|nummer|key|code|sku|ean|gtin|ref|artikelnummer|bestellnummer|"
    r"kundennummer|auftragsnummer|belegnummer|numero|nummer)($|_)|(nummer|nr|id)$"
)
LINE_WORDS = re.compile(r"(^|_)(pos|position|positions?nummer|line|line_?no|line_?number|zeile|lfd|lfd_nr|seq|item_?no|"
                        r"item_?number|posicion|ligne|regel|order_item_id|order_line)($|_)")  # fmt: skip
MONEY_WORDS = re.compile(r"price|preis|amount|betrag|total|summe|cost|kosten|revenue|umsatz|wert|value|prix|montant|"
                         r"precio|importe|net|brutto|netto|eur|usd")  # fmt: skip
MAX_ALLOWED = 12  # a text column with at most this many distinct values gets an `allowed:` hint
# A type fits a column when this share of its sampled values reads as it (the rest: typos, wrong
# rows, which ingest then quarantines); below MIN_VALUES values, every one must read.
FIT_SHARE = 0.97
MIN_VALUES = 20

# Canonical column -> names (snake_case, several languages) exports use for it.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "category_id": ("category_id", "category", "categoryid", "cat_id", "category_no", "category_code", "warengruppe",
                    "warengruppe_nr", "warengruppen_nr", "warengruppennummer", "kategorie", "kategorie_id",
                    "kategorie_nr", "produktgruppe", "artikelgruppe", "product_group", "categorie", "categoria",
                    "group_id", "wg_nr"),
    "category_name": ("category_name", "name", "bezeichnung", "warengruppe_name", "warengruppenname",
                      "kategorie_name", "kategoriename", "title", "label", "beschreibung", "description", "nom",
                      "nombre", "naam"),
    "customer_id": ("customer_id", "customer", "customer_no", "customer_number", "cust_id", "client_id", "kunde",
                    "kunden_nr", "kundennummer", "kundennr", "kunden_id", "debitor", "debitor_nr", "debitorennummer",
                    "client", "numero_client", "cliente", "id_cliente", "klant_nr", "klantnummer", "account_id"),
    "customer_name": ("customer_name", "name", "full_name", "kundenname", "kunde_name", "nom", "nombre", "naam",
                      "company", "firma", "firmenname", "name_1"),
    "email": ("email", "e_mail", "mail", "email_address", "e_mail_adresse", "emailadresse", "e_mail_address",
              "courriel", "correo", "correo_electronico"),
    "signup_date": ("signup_date", "signup", "registered", "registered_at", "registration_date", "created",
                    "created_at", "created_on", "registriert_am", "registriert", "registrierungsdatum",
                    "anmeldedatum", "angelegt_am", "erstellt_am", "kunde_seit", "customer_since", "since",
                    "date_inscription", "fecha_alta", "fecha_registro", "aangemaakt_op"),
    "country": ("country", "land", "country_code", "laenderkennzeichen", "pays", "pais", "staat", "nation"),
    "acquisition_channel": ("acquisition_channel", "channel", "source", "kanal", "akquisekanal", "herkunft",
                            "marketing_channel", "quelle", "canal", "kanaal", "werbekanal"),
    "order_id": ("order_id", "order", "order_no", "order_number", "ordernumber", "bestellung", "bestellnummer",
                 "bestell_nr", "bestellnr", "auftrag", "auftragsnummer", "auftrags_nr", "auftragsnr", "beleg_nr",
                 "belegnummer", "belegnr", "commande", "numero_commande", "pedido", "numero_pedido", "order_ref",
                 "bestelling", "bestelnummer"),
    "order_date": ("order_date", "date", "ordered_at", "order_datetime", "bestelldatum", "auftragsdatum",
                   "belegdatum", "datum", "date_commande", "fecha", "fecha_pedido", "order_time", "bestellzeitpunkt",
                   "besteldatum"),
    "order_amount": ("order_amount", "amount", "total", "order_total", "total_amount", "grand_total", "betrag",
                     "gesamtbetrag", "summe", "gesamtsumme", "bestellwert", "auftragswert", "brutto",
                     "betrag_brutto", "montant", "montant_total", "importe", "importe_total", "totaal", "bedrag",
                     "value"),
    "order_status": ("order_status", "status", "state", "bestellstatus", "auftragsstatus", "statut", "estado"),
    "sales_channel": ("sales_channel", "channel", "kanal", "vertriebskanal", "verkaufskanal", "shop", "canal",
                      "platform", "plattform", "kanaal", "vertriebsweg"),
    "product_id": ("product_id", "product", "sku", "article", "article_no", "article_number", "artikel",
                   "artikelnummer", "artikel_nr", "artikelnr", "art_nr", "item_id", "produkt", "produkt_id",
                   "produktnummer", "produkt_nr", "material", "materialnummer", "ean", "produit", "reference",
                   "producto", "referencia", "artikelnummer_sku"),
    "product_name": ("product_name", "name", "title", "bezeichnung", "artikelbezeichnung", "produktname",
                     "artikelname", "produktbezeichnung", "description", "beschreibung", "nom", "nombre",
                     "designation", "omschrijving"),
    "price": ("price", "unit_price", "preis", "einzelpreis", "vk_preis", "verkaufspreis", "stueckpreis",
              "listenpreis", "prix", "prix_unitaire", "precio", "precio_unitario", "net_price", "preis_netto",
              "price_eur", "preis_eur", "stuckpreis", "prijs"),
    "quantity": ("quantity", "qty", "menge", "anzahl", "stueck", "stuck", "stk", "count", "quantite", "cantidad",
                 "units", "aantal"),
    "order_item_id": ("order_item_id", "item_id", "line_id", "line", "line_no", "line_number", "position", "pos",
                      "pos_nr", "positionsnummer", "zeile", "lfd_nr", "order_line", "posicion", "ligne", "regel",
                      "positie"),
}  # fmt: skip
# Canonical order status -> words exports use for it (compared lower-case, without accents).
STATUS_WORDS: dict[str, tuple[str, ...]] = {
    "completed": ("completed", "complete", "done", "finished", "closed", "delivered", "paid", "fulfilled",
                  "abgeschlossen", "erledigt", "geliefert", "zugestellt", "bezahlt", "fertig", "termine", "livre",
                  "completado", "entregado", "pagado", "voltooid", "geleverd", "afgerond", "ok"),
    "shipped": ("shipped", "sent", "dispatched", "in_transit", "in transit", "versandt", "versendet", "verschickt",
                "unterwegs", "im versand", "expedie", "envoye", "enviado", "verzonden", "onderweg"),
    "cancelled": ("cancelled", "canceled", "void", "voided", "storniert", "storno", "abgebrochen", "annulliert",
                  "annule", "cancelado", "anulado", "geannuleerd"),
    "returned": ("returned", "refunded", "return", "retour", "retoure", "retourniert", "zurueckgesendet",
                 "zurueckgeschickt", "erstattet", "rueckgabe", "devuelto", "retourne", "rembourse", "geretourneerd"),
}  # fmt: skip


# -- reading a sample ---------------------------------------------------------------------------


@dataclass
class Sample:
    """The first rows of an export and how they were read."""

    format: str
    frame: pl.DataFrame  # columns as in the file: text for csv, typed for the others
    encoding: str = "utf-8"
    delimiter: str = ","
    header: bool = True
    sheet: str | None = None
    notes: list[str] = field(default_factory=list)


def _detect_encoding(data: bytes) -> tuple[str, str]:
    """(encoding for the contract, encoding to decode the sample with)."""
    if data.startswith(UTF8_BOM):
        return "utf-8", "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", "utf-16"
    try:
        data.decode("utf-8")
        return "utf-8", "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3:  # a character cut by the sample's end
            try:
                data[: exc.start].decode("utf-8")
                return "utf-8", "utf-8"
            except UnicodeDecodeError:
                pass
    try:
        data.decode("cp1252")
        return "cp1252", "cp1252"
    except UnicodeDecodeError:
        return "latin-1", "latin-1"


def _detect_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the same number (> 1) of fields most consistently."""
    lines = text.splitlines()[:200]
    best, best_score = ",", (0.0, 0)
    for delimiter in DELIMITERS:
        counts = [len(r) for r in csv.reader(lines, delimiter=delimiter) if r]
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        if mode < 2:
            continue
        score = (counts.count(mode) / len(counts), mode)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _read_text_sample(path: Path, rows: int, notes: list[str]) -> Sample:
    with open_file(path) as fh:
        head = fh.read(SAMPLE_BYTES)
    compressed = sniff(head) == "gzip"
    if compressed:
        with open_file(path) as fh, gzip.GzipFile(fileobj=fh) as gz:
            data = gz.read(SAMPLE_LIMIT)
        notes.append("gzip-compressed: read without being asked")
    else:
        data = read_file(path, SAMPLE_LIMIT)
    kind = sniff(data[:SAMPLE_BYTES])
    if kind not in ("text", "utf-16"):
        raise ShopLakeError(f"{path.name} is {describe(kind)}: not read by ShopLake")
    if len(data) == SAMPLE_LIMIT:  # cut: keep whole lines only
        data = data[: data.rfind(b"\n") + 1] or data
    encoding, codec = _detect_encoding(data)
    text = data.decode(codec, errors="replace").lstrip("\ufeff")
    if data.startswith(UTF8_BOM):
        notes.append("UTF-8 with a byte-order mark (Excel's CSV UTF-8): handled without being asked")
    first = next((line for line in text.splitlines() if line.strip()), "")
    if first.lstrip().startswith("{"):
        lines = [line for line in text.splitlines() if line.strip()][:rows]
        try:
            frame = pl.read_ndjson(io.BytesIO("\n".join(lines).encode("utf-8")), infer_schema_length=None)
        except Exception as exc:
            first_line = str(exc).splitlines()[0]
            raise ShopLakeError(f"{path.name}: JSON Lines that polars cannot read ({first_line})") from None
        return Sample("jsonl", frame, encoding=encoding, notes=notes)
    delimiter = _detect_delimiter(text)
    frame = pl.read_csv(
        io.StringIO(text), separator=delimiter, infer_schema=False, has_header=False, n_rows=rows + 1,
        truncate_ragged_lines=True,
    )  # fmt: skip
    header = _has_header(frame)
    if header:
        names = _unique_headers([v if v is not None else "" for v in frame.row(0)])
        frame = frame.slice(1).rename(dict(zip(frame.columns, names, strict=True)))
    else:
        frame = frame.rename({c: f"column_{i + 1}" for i, c in enumerate(frame.columns)})
        notes.append("no header line: the columns are named column_1, column_2, ...")
    return Sample("csv", frame, encoding=encoding, delimiter=delimiter, header=header, notes=notes)


def _unique_headers(names: list[str]) -> list[str]:
    """Header names as polars reads them (a repeated name gets `_duplicated_<n>`)."""
    out: list[str] = []
    for name in names:
        candidate, n = name, 0
        while candidate in out:
            candidate = f"{name}_duplicated_{n}"
            n += 1
        out.append(candidate)
    return out


def _has_header(frame: pl.DataFrame) -> bool:
    """No header when a first-row cell reads as the number or date its column holds below it."""
    if frame.height < 2:
        return True
    body = frame.slice(1)
    for name in frame.columns:
        first = frame[name][0]
        values = body[name].drop_nulls()
        if first is None or values.len() == 0:
            continue
        guess = _guess_text(values.str.strip_chars(), ".", name="")
        if guess.type in ("bigint", "double", "date", "timestamp"):
            probe = _guess_text(pl.Series([first.strip()]), ".", name="")
            if probe.type == guess.type or (probe.type == "bigint" and guess.type == "double"):
                return False
    return True


def read_sample(path: Path, *, sheet: str | None = None, rows: int = 100_000) -> Sample:
    """The first `rows` rows of an export, read by what its bytes are (not its name)."""
    if not path.is_file():
        raise ShopLakeError(f"{path} is not a file")
    with open_file(path) as fh:
        head = fh.read(SAMPLE_BYTES)
    if not head:
        raise ShopLakeError(f"{path.name} is empty")
    kind = sniff(head)
    notes: list[str] = []
    if kind == "xlsx":
        import fastexcel

        workbook = fastexcel.read_excel(read_file(path))
        sheets = list(workbook.sheet_names)
        if sheet is not None and sheet not in sheets:
            raise ShopLakeError(f"{path.name} has no sheet {sheet!r} (it has: {', '.join(sheets)})")
        frames = {}
        for name in [sheet] if sheet is not None else sheets:
            frame = workbook.load_sheet(name, n_rows=rows, schema_sample_rows=None).to_polars()
            frames[name] = frame.filter(pl.any_horizontal(pl.all().is_not_null())) if frame.width else frame
        # Without --sheet: the sheet holding the biggest table (not a cover or info sheet).
        chosen = sheet if sheet is not None else max(sheets, key=lambda n: frames[n].height * frames[n].width)
        if len(sheets) > 1:
            notes.append(f"workbook sheets: {', '.join(sheets)} (read: {chosen}; pick another with --sheet)")
        return Sample("xlsx", frames[chosen], sheet=chosen if chosen != sheets[0] else None, notes=notes)
    if kind == "parquet":
        with local_file(path) as local:
            return Sample("parquet", pl.read_parquet(local, n_rows=rows), notes=notes)
    if kind in ("text", "gzip", "utf-16"):
        return _read_text_sample(path, rows, notes)
    raise ShopLakeError(f"{path.name} is {describe(kind)}: export it as CSV, xlsx, Parquet or JSON Lines")


# -- guessing a column ---------------------------------------------------------------------------


@dataclass
class Guess:
    """What a column looks like: its contract type and the options to read it."""

    type: str
    format: str | None = None
    decimal: str | None = None
    thousands: str | None = None
    true_values: tuple[str, ...] | None = None
    false_values: tuple[str, ...] | None = None
    email: bool = False
    note: str | None = None
    decimal_evidence: str | None = None  # a separator only this reading explains (table-level evidence)


def _all(series: pl.Series, expr: pl.Expr) -> bool:
    """Every value of the (non-null) series is non-null under `expr` (applied to column `v`)."""
    return bool(series.to_frame("v").select(expr.is_not_null().all()).item())


def _fits(ok: pl.Series) -> bool:
    """Whether enough values read (see FIT_SHARE); `ok` is one boolean per value."""
    n = ok.len()
    good = int(ok.fill_null(False).sum())
    return good == n if n < MIN_VALUES else good >= FIT_SHARE * n


def _misfits(values: pl.Series, ok: pl.Series) -> str | None:
    """A note on the sampled values the chosen reading does not read (ingest quarantines them)."""
    bad = values.filter(~ok.fill_null(False))
    if bad.len() == 0:
        return None
    return f"{bad.len()} sampled value(s) do not read so and will be quarantined, e.g. {bad[0]!r}"


def _number_ok(values: pl.Series, decimal: str, thousands: str | None) -> pl.Series:
    t = re.escape(thousands) if thousands else None
    d = re.escape(decimal)
    grouped = rf"\d{{1,3}}(?:{t}\d{{3}})+|\d+" if t else r"\d+"
    return values.str.contains(rf"^[+-]?(?:{grouped})(?:{d}\d+)?$")


def _number_styles(values: pl.Series) -> list[tuple[str, str | None]]:
    """The (decimal, thousands) styles under which the values are numbers."""
    return [(d, t) for d, t in NUMBER_STYLES if _fits(_number_ok(values, d, t))]


def _date_ok(values: pl.Series, fmt: str) -> pl.Series:
    parsed = values.str.to_date(fmt, strict=False)
    return parsed.dt.year().is_between(1900, 2200)


def _date_formats(values: pl.Series) -> list[str]:
    return [fmt for fmt in DATE_FORMATS if _fits(_date_ok(values, fmt))]


def _timestamp_ok(values: pl.Series, fmt: str | None) -> pl.Series:
    parsed = values.to_frame("v").select(timestamp_from_text(pl.col("v"), fmt, "UTC")).to_series()
    return parsed.dt.year().is_between(1900, 2200)


def _timestamp_format(values: pl.Series) -> tuple[bool, str | None] | None:
    """(ok, format): None when no format reads the values; format None = ISO 8601 (ingest's default)."""
    if not _fits(values.str.contains(r"\d:\d\d")):
        return None
    # ISO 8601 is ingest's default reading; anything else gets its format written out.
    iso = _fits(values.str.contains(r"^\d{4}-\d{2}-\d{2}[T ]\d"))
    for fmt in (None, *TIMESTAMP_FORMATS) if iso else TIMESTAMP_FORMATS:
        if _fits(_timestamp_ok(values, fmt)):
            return True, fmt
    return None


def _guess_text(values: pl.Series, decimal_hint: str, *, name: str) -> Guess:
    """The type of a text column from its non-empty (stripped) values."""
    if values.len() == 0:
        return Guess("string", note="empty in the sample")
    lower = values.str.to_lowercase()
    distinct = set(lower.unique().to_list())
    for yes, no in BOOLEAN_WORDS:
        if distinct <= {yes, no} and len(distinct) == 2 and (yes, no) != ("x", "-"):
            default = (yes, no) == ("true", "false")
            return Guess("boolean", true_values=None if default else (yes,), false_values=None if default else (no,))
    integer = values.str.contains(r"^[+-]?\d+$")
    if bool(integer.all()) or (_fits(integer) and not _fits(_number_ok(values, decimal_hint, None))):
        if bool(values.str.contains(r"^[+-]?0\d").any()):
            return Guess("string", note="digits with leading zeros: kept as text")
        if bool((values.str.len_chars() > 18).any()):
            return Guess("string", note="too long for a bigint: kept as text")
        return Guess("double" if MONEY_WORDS.search(name) else "bigint", note=_misfits(values, integer))
    dates = _date_formats(values)
    if dates:
        # The format that reads the most values; between equals, day first unless the file is US-styled.
        us = decimal_hint == "." and bool(values.str.contains("/", literal=True).any())
        order = {
            f: i for i, f in enumerate(sorted(dates, key=lambda f: (f.startswith("%m") != us, DATE_FORMATS.index(f))))
        }
        fmt = max(dates, key=lambda f: (int(_date_ok(values, f).fill_null(False).sum()), -order[f]))
        notes = [f"also reads as {', '.join(d for d in dates if d != fmt)}: check"] if len(dates) > 1 else []
        notes += [m] if (m := _misfits(values, _date_ok(values, fmt))) else []
        return Guess("date", format=None if fmt == "%Y-%m-%d" else fmt, note="; ".join(notes) or None)
    stamp = _timestamp_format(values)
    if stamp is not None:
        has_offset = bool(values.str.contains(r"(?:[+-]\d\d:?\d\d|Z)$").any())
        notes = ["values carry their UTC offset" if has_offset else "no offset: read in the contract's `timezone`"]
        notes += [m] if (m := _misfits(values, _timestamp_ok(values, stamp[1]))) else []
        return Guess("timestamp", format=stamp[1], note="; ".join(notes))
    styles = _number_styles(values)
    if styles:
        return _number_guess(values, styles, decimal_hint, name)
    email = values.str.contains(EMAIL_PATTERN)
    if _fits(email):
        return Guess("string", email=True, note=_misfits(values, email))
    return Guess("string")


def _number_guess(values: pl.Series, styles: list[tuple[str, str | None]], hint: str, name: str) -> Guess:
    decimals = {d for d, _ in styles}
    evidence = next(iter(decimals)) if len(decimals) == 1 else None
    ranked = sorted(styles, key=lambda s: (s[0] != hint, s[1] is not None, s[0] != "."))
    decimal, thousands = ranked[0]
    used_thousands = thousands if thousands and bool(values.str.contains(thousands, literal=True).any()) else None
    has_fraction = bool(values.str.contains(re.escape(decimal)).any())
    kind = "double" if has_fraction or MONEY_WORDS.search(name) else "bigint"
    check = values.to_frame("v").select(number_text(pl.col("v"), decimal, used_thousands).cast(pl.Float64))
    ok = check.to_series().is_not_null()
    if not _fits(ok):
        return Guess("string")
    return Guess(kind, decimal=decimal if kind == "double" else None, thousands=used_thousands,
                 decimal_evidence=evidence if has_fraction else None, note=_misfits(values, ok))  # fmt: skip


def guess_column(series: pl.Series, decimal_hint: str) -> Guess:
    """The contract type of one sampled column (text or typed)."""
    dtype = series.dtype
    name = snake(series.name)
    values = series.drop_nulls()
    if dtype == pl.String:
        return _guess_text(values.str.strip_chars().filter(values.str.strip_chars() != ""), decimal_hint, name=name)
    if values.len() == 0 or dtype == pl.Null:
        return Guess("string", note="empty in the sample")
    if dtype.is_integer():
        return Guess("double" if MONEY_WORDS.search(name) else "bigint")
    if dtype.is_float():
        integral = bool((values == values.round(0)).all())
        return Guess("bigint" if integral and not MONEY_WORDS.search(name) else "double")
    if dtype == pl.Boolean:
        return Guess("boolean")
    if dtype == pl.Date:
        return Guess("date")
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None and bool((values.dt.time() == dt.time(0)).all()):
            return Guess("date", note="date cells")
        return Guess("timestamp", note=None if dtype.time_zone else "no offset: read in the contract's `timezone`")
    return Guess("string", note=f"{dtype} values: read as text")


# -- names ---------------------------------------------------------------------------------------

_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "#": " no ",
                           "%": " pct ", "&": " and ", "€": " eur ", "$": " usd "})  # fmt: skip


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.translate(_TRANSLIT))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def snake(header: str) -> str:
    """A header as a canonical snake_case name: `Bestell-Nr.` -> bestell_nr, `OrderDate` -> order_date."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", _fold(header.strip()))
    text = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not text:
        return "column"
    return f"c_{text}" if text[0].isdigit() else text


def file_pattern(path: Path) -> str:
    """A glob for this export and its later siblings: digits (dates, counters) become `*`."""
    name = path.name
    suffixes = "".join(path.suffixes[-2:]) if path.suffix.lower() == ".gz" else path.suffix
    stem = name[: len(name) - len(suffixes)] if suffixes else name
    generic = re.sub(r"[\d]+([-_.][\d]+)*", "*", stem)
    generic = re.sub(r"\*+", "*", generic)
    if "*" not in generic:
        generic += "*"
    return generic + suffixes  # as the file has it: patterns are case-sensitive


# -- the draft -----------------------------------------------------------------------------------


@dataclass
class Draft:
    """One column of the draft contract."""

    source: str
    name: str
    guess: Guess
    required: bool
    example: str | None
    distinct: tuple[str, ...] = ()  # a text column's values, when there are few (for value maps)
    allowed: tuple[str, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # canonical options carried over (default, min, ...)
    comment: list[str] = field(default_factory=list)


def _example(series: pl.Series) -> str | None:
    values = series.drop_nulls()
    if values.dtype == pl.String:
        values = values.filter(values.str.strip_chars() != "")
    if values.len() == 0:
        return None
    first = values[0]
    return str(int(first)) if isinstance(first, float) and first.is_integer() else str(first)


def _filled(series: pl.Series) -> bool:
    if series.dtype == pl.String:
        return bool((series.is_not_null() & (series.str.strip_chars() != "")).all())
    return series.null_count() == 0


def _low_cardinality(series: pl.Series, guess: Guess, name: str) -> tuple[str, ...] | None:
    if guess.type != "string" or guess.email or series.dtype != pl.String or KEY_WORDS.search(name):
        return None
    values = series.drop_nulls().str.strip_chars()
    values = values.filter(values != "")
    counts = values.value_counts()
    if counts.height == 0 or counts.height > MAX_ALLOWED or values.len() < 3 * counts.height:
        return None
    value, count = counts.columns
    return tuple(str(v) for v in counts.sort([count, value], descending=[True, False])[value].to_list())


def _decimal_hint(sample: Sample) -> str:
    """The separator the table's unambiguous number columns use (else: `,` for ;-separated files)."""
    votes: dict[str, int] = {}
    for name in sample.frame.columns:
        series = sample.frame[name]
        if series.dtype != pl.String:
            continue
        values = series.drop_nulls().str.strip_chars()
        values = values.filter(values != "")
        if values.len() == 0 or _date_formats(values.head(200)):
            continue
        styles = _number_styles(values)
        decimals = {d for d, _ in styles}
        has_sep = bool(values.str.contains(r"[.,]").any())
        if len(decimals) == 1 and has_sep:
            (d,) = decimals
            votes[d] = votes.get(d, 0) + 1
    if votes:
        return max(votes, key=lambda d: (votes[d], d == "."))
    return "," if sample.delimiter == ";" else "."


def _primary_key(frame: pl.DataFrame, drafts: list[Draft]) -> tuple[list[str], str | None]:
    """A unique, always-filled column (id-like first), else a unique pair (id + line number)."""
    if frame.height < 2:
        return [], "too few rows to tell a key"
    keyable = [d for d in drafts if d.required and d.guess.type in ("bigint", "string") and d.source in frame.columns]

    def unique(columns: list[str]) -> bool:
        return frame.select(pl.struct(columns).n_unique()).item() == frame.height

    def rank(d: Draft) -> tuple[int, int]:
        return (0 if KEY_WORDS.search(d.name) else 1, drafts.index(d))

    singles = [d for d in sorted(keyable, key=rank) if frame[d.source].n_unique() == frame.height]
    if singles and KEY_WORDS.search(singles[0].name):
        return [singles[0].name], None
    # A key-named column with a few repeats (a duplicate row in the export) beats an unrelated unique one.
    for d in sorted(keyable, key=rank):
        repeats = frame.height - frame[d.source].n_unique()
        if KEY_WORDS.search(d.name) and 0 < repeats <= max(1, 0.02 * frame.height):
            return [d.name], f"{repeats} repeated value(s) in the sample: those rows are quarantined as duplicate_key"
    if singles:
        return [singles[0].name], None
    firsts = sorted(keyable, key=rank)[:10]
    lines = sorted(keyable, key=lambda d: (0 if LINE_WORDS.search(d.name) else 1, 0 if d.guess.type == "bigint" else 1,
                                           drafts.index(d)))[:10]  # fmt: skip
    for a in firsts:
        for b in lines:
            if a is not b and unique([a.source, b.source]):
                return [a.name, b.name], "no single column is unique: a composite key (e.g. order + line number)"
    return [], "no unique column or pair in the sample: declare `primary_key` yourself"


def _canonical_score(name: str, source: str, canonical: Column) -> float:
    folded = snake(source)
    if folded == canonical.name or source == canonical.source or name == canonical.name:
        return 1.0
    words = SYNONYMS.get(canonical.name, (canonical.name,))
    if folded in words:
        return 0.95 - 0.01 * words.index(folded) / len(words)
    tokens = folded.split("_")
    for word in words:
        if len(word) > 3 and (word in tokens or folded.startswith(word + "_") or folded.endswith("_" + word)):
            return 0.7
    ratio = max(difflib.SequenceMatcher(None, folded, w).ratio() for w in words)
    return ratio * 0.75 if ratio >= 0.85 else 0.0


def _type_fits(guess: Guess, canonical: Column, is_key: bool) -> tuple[bool, str]:
    """Whether the sampled type can serve the canonical column, and the type to declare."""
    t, want = guess.type, canonical.type
    if t == want:
        return True, want
    if is_key and t in ("bigint", "string") and want in ("bigint", "string"):
        return True, t  # keys may be text (customer numbers, SKUs)
    if want == "double" and t == "bigint":
        return True, "double"
    if want == "string" and t in ("bigint", "boolean"):
        return True, "string"
    if want == "date" and t == "timestamp":
        return True, "timestamp"
    return False, t


def _map_statuses(values: tuple[str, ...], allowed: tuple[str, ...]) -> tuple[dict[str, str], list[str]]:
    """Sampled status words -> canonical statuses where the word is known; the rest stay unmapped."""
    mapping: dict[str, str] = {}
    unknown: list[str] = []
    for value in values:
        if value in allowed:
            continue
        word = _fold(value).strip().lower().replace("-", " ").replace("_", " ")
        target = next((status for status, words in STATUS_WORDS.items()
                       if status in allowed and (word in words or word.replace(" ", "_") in words)), None)  # fmt: skip
        if target is None:
            unknown.append(value)
        else:
            mapping[value] = target
    return mapping, unknown


def _match_canonical(drafts: list[Draft], canonical: Contract) -> tuple[dict[str, Column], list[str]]:
    """Assign sampled columns to canonical columns (best score first, each used once); notes on the rest."""
    keys = set(canonical.primary_key) | {r.column for r in canonical.references} | {"customer_id", "product_id"}
    scored: list[tuple[float, int, str, Draft, Column, str]] = []
    for i, draft in enumerate(drafts):
        for column in canonical.columns:
            score = _canonical_score(draft.name, draft.source, column)
            fits, declared = _type_fits(draft.guess, column, column.name in keys)
            if score > 0 and fits:
                exact_type = draft.guess.type == column.type or (column.name in keys and draft.guess.type == "string")
                scored.append((score + (0.05 if exact_type else 0.0), -i, column.name, draft, column, declared))
    taken: dict[str, Column] = {}
    used: set[str] = set()
    for _score, _i, _name, draft, column, declared in sorted(scored, key=lambda s: (s[0], s[1]), reverse=True):
        if draft.source in used or column.name in taken:
            continue
        taken[column.name] = column
        used.add(draft.source)
        draft.name = column.name
        if declared != draft.guess.type:
            draft.guess.type = declared
            if declared != "double":
                draft.guess.decimal = None
        if declared == "timestamp" and column.type == "date":
            draft.comment.append(f"a timestamp where the {canonical.table} contract has a date")
        if declared != column.type and column.name in keys:
            draft.comment.append(f"{declared} key (the shipped contract has {column.type})")
        for option in ("default", "min"):
            value = getattr(column, option)
            if value is not None:
                draft.extra[option] = value
        if column.required:
            if not draft.required:
                draft.comment.append("empty in some sampled rows, but the marts need it: those rows are quarantined")
            draft.required = True
        elif not column.required and column.default is not None:
            draft.required = False
        if column.format == "email":
            draft.guess.email = True
        if not column.allowed and draft.allowed:  # the marts take any value here: a list seen is no rule
            draft.comment.append(f"seen: {', '.join(draft.allowed)}")
            draft.allowed = None
        if column.allowed:
            mapping, unknown = _map_statuses(draft.distinct, column.allowed)
            draft.allowed = column.allowed
            if mapping:
                draft.extra["map"] = mapping
            if unknown:
                draft.comment.append(f"not mapped (quarantined as unmapped until you add them to map): "
                                     f"{', '.join(unknown)}")  # fmt: skip
                if "map" not in draft.extra:
                    draft.extra["map"] = {}
    return taken, [d.source for d in drafts if d.source not in used]


def infer_contract(
    settings: Settings, path: Path, *, table: str | None = None, sheet: str | None = None, sample_rows: int = 100_000
) -> str:
    """The draft contract YAML for one export (see the module docstring)."""
    sample = read_sample(path, sheet=sheet, rows=sample_rows)
    frame = sample.frame
    if frame.width == 0:
        raise ShopLakeError(f"{path.name}: no columns found")
    hint = _decimal_hint(sample)
    drafts: list[Draft] = []
    names: set[str] = set()
    for source in frame.columns:
        series = frame[source]
        guess = guess_column(series, hint)
        name = snake(source)
        while name in names:
            name = f"{name}_2"
        names.add(name)
        draft = Draft(source=source, name=name, guess=guess, required=_filled(series), example=_example(series))
        draft.allowed = _low_cardinality(series, guess, name)
        if series.dtype == pl.String:
            values = series.drop_nulls().str.strip_chars().unique(maintain_order=True)
            draft.distinct = tuple(v for v in values.to_list() if v) if values.len() <= 50 else ()
        if guess.note:
            draft.comment.append(guess.note)
        drafts.append(draft)

    canonical = load_contracts(CONTRACTS_DIR).get(table) if table else None
    missing: list[Column] = []
    unmatched: list[str] = []
    if canonical is not None:
        taken, unmatched = _match_canonical(drafts, canonical)
        missing = [c for c in canonical.columns if c.name not in taken]
        _dedupe_names(drafts, {c.name for c in canonical.columns})
    key, key_note = _primary_key(frame, drafts)
    if canonical is not None and not key:
        key = [k for k in canonical.primary_key if any(d.name == k for d in drafts)]
    default_table = snake(file_pattern(path).split(".")[0].replace("*", " "))
    text = _render(path, sample, drafts, table or default_table, hint, key, key_note, canonical, missing, unmatched)
    parse_contract(read_yaml(text), Path(f"{table or 'draft'}.yml"))  # the draft is a valid contract
    return text


def _dedupe_names(drafts: list[Draft], canonical: set[str]) -> None:
    """A column left with its own name must not take a canonical name another column got."""
    seen: set[str] = set()
    for draft in drafts:
        name = draft.name
        while name in seen:
            name = f"{name}_2"
        draft.name = name
        seen.add(name)


# -- YAML ---------------------------------------------------------------------------------------

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "none", "~"}


def scalar(value: Any) -> str:
    """A YAML scalar for a flow mapping: plain when unambiguous, else double-quoted (JSON escapes)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)


def _flow(items: dict[str, Any]) -> str:
    parts = []
    for key, value in items.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{scalar(k)}: {scalar(v)}" for k, v in value.items())
            parts.append(f"{key}: {{{inner}}}")
        elif isinstance(value, list | tuple):
            parts.append(f"{key}: [{', '.join(scalar(v) for v in value)}]")
        else:
            parts.append(f"{key}: {scalar(value)}")
    return "{" + ", ".join(parts) + "}"


def _column_yaml(draft: Draft, table_decimal: str, table_thousands: str | None) -> str:
    g = draft.guess
    items: dict[str, Any] = {"name": draft.name, "source": draft.source, "type": g.type}
    items["required"] = draft.required
    if "default" in draft.extra and not draft.required:
        items["default"] = draft.extra["default"]
    if g.format:
        items["format"] = g.format
    if g.email:
        items["format"] = "email"
    if g.type == "double" and g.decimal and g.decimal != table_decimal:
        items["decimal"] = g.decimal
    own_decimal = g.decimal or table_decimal
    if g.type in ("bigint", "double") and g.thousands and g.thousands != table_thousands:
        items["thousands"] = g.thousands
    elif g.type in ("bigint", "double") and table_thousands and table_thousands == own_decimal:
        items["thousands"] = ""  # the table's thousands separator is this column's decimal separator
    if g.true_values:
        items["true_values"] = list(g.true_values)
        items["false_values"] = list(g.false_values or ())
    if "min" in draft.extra:
        items["min"] = draft.extra["min"]
    if "map" in draft.extra:
        items["map"] = draft.extra["map"]
    if draft.allowed:
        items["allowed"] = list(draft.allowed)
    line = f"  - {_flow(items)}"
    notes = list(draft.comment)
    if draft.example is not None:
        notes.insert(0, f"e.g. {draft.example[:40]}")
    return line + (f"  # {'; '.join(notes)}" if notes else "")


def _render(
    path: Path, sample: Sample, drafts: list[Draft], table: str, hint: str, key: list[str], key_note: str | None,
    canonical: Contract | None, missing: list[Column], unmatched: list[str],
) -> str:  # fmt: skip
    numeric = [d.guess for d in drafts if d.guess.type in ("bigint", "double")]
    doubles = [g for g in numeric if g.type == "double"]
    decimals = [g.decimal for g in doubles if g.decimal]
    decimal = max(set(decimals), key=decimals.count) if decimals else "."
    if not doubles:
        decimal = hint if hint != "." and any(g.thousands for g in numeric) else "."
    thousands_seen = [g.thousands for g in numeric if g.thousands]
    thousands = max(set(thousands_seen), key=thousands_seen.count) if thousands_seen else None
    if thousands == decimal:
        thousands = None
    out = [
        f"# Draft contract for {path.name}, inferred by `shoplake contract infer` from {sample.frame.height:,} rows.",
        "# `source:` is the export's header, `name:` what the lake and dbt call the column: rename freely.",
        "# Save it in your contracts folder (SHOPLAKE_CONTRACTS_DIR) as <table>.yml.",
    ]
    out += [f"# note: {n}" for n in sample.notes]
    out.append(f"table: {scalar(table)}")
    out.append(f"file_pattern: {json.dumps(file_pattern(path), ensure_ascii=False)}")
    out.append(f"format: {sample.format}")
    if sample.sheet:
        out.append(f"sheet: {scalar(sample.sheet)}")
    if sample.format == "csv":
        out.append(f"delimiter: {json.dumps(sample.delimiter)}")
        if not sample.header:
            out.append("header: false")
    if sample.format in ("csv", "jsonl"):
        out.append(f"encoding: {sample.encoding}")
    if numeric and sample.format in ("csv", "jsonl", "xlsx"):
        if decimal != ".":
            out.append(f"decimal: {json.dumps(decimal)}")
        if thousands:
            out.append(f"thousands: {json.dumps(thousands, ensure_ascii=False)}")
    if any(d.guess.type == "timestamp" for d in drafts):
        out.append("timezone: UTC  # time zone of timestamps written without an offset (e.g. Europe/Berlin)")
    if key:
        out.append(f"primary_key: [{', '.join(scalar(k) for k in key)}]" + (f"  # {key_note}" if key_note else ""))
    else:
        fallback = drafts[0].name
        out.append(f"primary_key: [{scalar(fallback)}]  # CHECK: {key_note}")
    names = {d.name: d for d in drafts}
    if canonical is not None:
        part = canonical.partition_by
        if part is not None and part.column in names and names[part.column].guess.type == "date":
            out.append(f"partition_by: {_flow(part.model_dump())}")
        refs = [r for r in canonical.references if r.column in names]
        if refs:
            out.append("references:  # the referenced table's contract must declare the key with the same type")
            out += [f"  - {_flow(r.model_dump())}" for r in refs]
    out.append("columns:")
    out += [_column_yaml(draft, decimal, thousands) for draft in drafts]
    for column in missing:
        if not column.required and column.default is not None:
            items = {"name": column.name, "source": column.name, "type": column.type, "required": False,
                     "default": column.default}  # fmt: skip
            if column.allowed:
                items["allowed"] = list(column.allowed)
            out.append(f"  - {_flow(items)}  # not in this file: every row gets the default")
    required_missing = [c.name for c in missing if c.required or c.default is None]
    if canonical is not None:
        if required_missing:
            needed = ", ".join(required_missing)
            out.append(f"# MISSING from this file, needed by the {canonical.table} marts: {needed}")
        if unmatched:
            shown = ", ".join(names_of(drafts, unmatched))
            out.append(f"# not canonical {canonical.table} columns (they land in raw too; drop what you do not need): "
                       f"{shown}")  # fmt: skip
    return "\n".join(out) + "\n"


def names_of(drafts: list[Draft], sources: list[str]) -> list[str]:
    by_source = {d.source: d.name for d in drafts}
    return [by_source[s] for s in sources]
