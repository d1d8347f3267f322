"""Foreign-shaped shops written from scratch: exports, the contracts that read them, and what the marts
must say, computed with polars from the export files alone (never from the lake or the warehouse).

A `Shop` is configured like a real one: string customer numbers and SKUs or integer ids, order lines
numbered 1..n inside each order (a composite key) or globally, order times with their UTC offset
(`+01:00` in winter, `+02:00` in summer) or plain dates, and its own canonical order statuses with
those that earn revenue.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import yaml

BERLIN = "Europe/Berlin"


@dataclass(frozen=True)
class ShopSpec:
    name: str
    string_keys: bool = True
    per_order_lines: bool = True  # order_item_id counts 1..n inside each order: key [order_id, order_item_id]
    order_timestamps: bool = True  # order_date as an instant with its offset, else a plain date
    statuses: tuple[str, ...] = ("completed", "shipped", "picked_up", "cancelled", "returned")
    revenue_statuses: tuple[str, ...] = ("completed", "shipped", "picked_up")
    declare_revenue_values: bool = True  # write `revenue_values:` into the contract (else dbt's default)
    # Status words as the ERP exports them -> canonical status (`map:` in the contract); empty: canonical.
    status_words: tuple[tuple[str, str], ...] = ()
    orders: int = 260
    seed: int = 12


@dataclass
class Shop:
    spec: ShopSpec
    exports: Path
    contracts: Path
    files: dict[str, Path] = field(default_factory=dict)  # table -> export file


# Export column names as the shop's ERP writes them -> contract column names.
HEADERS = {
    "categories": {"Warengruppe": "category_id", "Bezeichnung": "category_name"},
    "customers": {"Kundennummer": "customer_id", "Name": "customer_name", "E-Mail": "email",
                  "Registriert": "signup_date", "Land": "country", "Kanal": "acquisition_channel"},
    "products": {"Artikelnummer": "product_id", "Artikel": "product_name", "Warengruppe": "category_id",
                 "Preis": "price"},
    "orders": {"Bestellnummer": "order_id", "Kundennummer": "customer_id", "Bestellt": "order_date",
               "Betrag": "order_amount", "Status": "order_status", "Vertriebskanal": "sales_channel"},
    "order_items": {"Bestellnummer": "order_id", "Pos": "order_item_id", "Artikelnummer": "product_id",
                    "Menge": "quantity", "Einzelpreis": "price"},
}  # fmt: skip
CATEGORY_NAMES = ["Garten", "Werkzeug", "Pflanzen", "Deko", "Saisonware"]  # the last sells nothing


def _key(spec: ShopSpec, prefix: str, number: int) -> str | int:
    return f"{prefix}-{number}" if spec.string_keys else number


def _order_times(rng: random.Random, n: int) -> list[dt.datetime]:
    """Local Berlin times in winter and summer, with orders planted just after and before local midnight
    (00:30 local is the previous day in UTC; 23:30 local is the same day in both)."""
    zone = ZoneInfo(BERLIN)
    planted = [
        dt.datetime(2025, 3, 2, 0, 30), dt.datetime(2025, 3, 1, 23, 30), dt.datetime(2025, 7, 15, 0, 15),
        dt.datetime(2025, 7, 14, 23, 45), dt.datetime(2025, 3, 30, 0, 30), dt.datetime(2025, 3, 31, 1, 0),
    ]  # fmt: skip
    out = [t.replace(tzinfo=zone) for t in planted]
    start = dt.date(2025, 2, 1)
    while len(out) < n:
        day = start + dt.timedelta(days=rng.randrange(0, 180))
        minute = rng.randrange(0, 24 * 60)
        out.append(dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=zone))
    return out


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def write_shop(root: Path, spec: ShopSpec) -> Shop:
    """Write the shop's exports (CSV) and its contracts (YAML) under `root`."""
    rng = random.Random(spec.seed)
    shop = Shop(spec, root / "exports", root / "contracts")
    shop.exports.mkdir(parents=True)
    shop.contracts.mkdir(parents=True)

    categories = [(_key(spec, "WG", 10 * (i + 1)), name) for i, name in enumerate(CATEGORY_NAMES)]
    products = []
    for i in range(24):
        category = categories[i % 4][0]
        products.append((_key(spec, "GH", 3001 + i), f"Artikel {i + 1}", category, rng.randrange(199, 12_999)))
    customers = []
    for i in range(30):
        cid = _key(spec, "K", 10_001 + i)
        signup = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(0, 365))
        customers.append((cid, f"Kunde {i + 1}", f"kunde{i + 1}@example.de", signup.isoformat(),
                          rng.choice(["DE", "AT", "CH"]), rng.choice(["web", "markt"])))  # fmt: skip
    known = [c[0] for c in customers]
    stranger = _key(spec, "K", 99_999)  # orders name a customer the CRM export lacks: an inferred member

    orders, items = [], []
    line_no = 0
    for i, when in enumerate(_order_times(rng, spec.orders)):
        oid = _key(spec, "B-2025", 1 + i)
        customer = stranger if i % 50 == 7 else rng.choice(known)
        status = spec.statuses[0] if i < 6 else rng.choice(spec.statuses)
        total = 0
        for pos in range(1, rng.randrange(1, 5) + 1):
            line_no += 1
            sku, _, _, list_cents = rng.choice(products)
            quantity = rng.randrange(1, 6)
            price = list_cents - rng.choice([0, 0, 50, 100])
            total += quantity * price
            items.append((oid, pos if spec.per_order_lines else line_no, sku, quantity, _money(price)))
        stamp = when.isoformat(timespec="seconds") if spec.order_timestamps else when.date().isoformat()
        exported = next((word for word, canonical in spec.status_words if canonical == status), status)
        orders.append((oid, customer, stamp, _money(total), exported, rng.choice(["Webshop", "Filiale"])))

    rows = {
        "categories": categories,
        "customers": customers,
        "products": [(p, n, c, _money(cents)) for p, n, c, cents in products],
        "orders": orders,
        "order_items": items,
    }
    for table, data in rows.items():
        path = shop.exports / f"{spec.name}_{table}.csv"
        frame = pl.DataFrame([list(r) for r in data], schema=list(HEADERS[table]), orient="row")
        frame.write_csv(path)
        shop.files[table] = path
    _write_contracts(shop)
    return shop


def _write_contracts(shop: Shop) -> None:
    spec = shop.spec
    key = "string" if spec.string_keys else "bigint"

    def column(table: str, name: str, type_: str, **extra: object) -> dict:
        source = next(s for s, n in HEADERS[table].items() if n == name)
        return {"name": name, "source": source, "type": type_, "required": True, **extra}

    status = column("orders", "order_status", "string", allowed=list(spec.statuses))
    if spec.status_words:
        status["map"] = dict(spec.status_words)
    if spec.declare_revenue_values:
        status["revenue_values"] = list(spec.revenue_statuses)
    contracts = {
        "categories": {"primary_key": ["category_id"], "columns": [
            column("categories", "category_id", key), column("categories", "category_name", "string")]},
        "customers": {"primary_key": ["customer_id"], "columns": [
            column("customers", "customer_id", key), column("customers", "customer_name", "string"),
            column("customers", "email", "string", format="email"), column("customers", "signup_date", "date"),
            column("customers", "country", "string"), column("customers", "acquisition_channel", "string")]},
        "products": {"primary_key": ["product_id"],
                     "references": [{"column": "category_id", "table": "categories", "key": "category_id"}],
                     "columns": [column("products", "product_id", key), column("products", "product_name", "string"),
                                 column("products", "category_id", key),
                                 column("products", "price", "double", min=0)]},
        "orders": {"primary_key": ["order_id"],
                   "partition_by": {"column": "order_date", "name": "order_month", "format": "%Y-%m"},
                   "columns": [column("orders", "order_id", key), column("orders", "customer_id", key),
                               column("orders", "order_date", "timestamp" if spec.order_timestamps else "date"),
                               column("orders", "order_amount", "double", min=0), status,
                               column("orders", "sales_channel", "string")]},
        "order_items": {"primary_key": ["order_id", "order_item_id"] if spec.per_order_lines else ["order_item_id"],
                        "references": [{"column": "order_id", "table": "orders", "key": "order_id"},
                                       {"column": "product_id", "table": "products", "key": "product_id"}],
                        "columns": [column("order_items", "order_id", key),
                                    column("order_items", "order_item_id", "bigint"),
                                    column("order_items", "product_id", key),
                                    column("order_items", "quantity", "bigint", min=1),
                                    column("order_items", "price", "double", min=0)]},
    }  # fmt: skip
    for table, body in contracts.items():
        document = {"table": table, "file_pattern": f"{spec.name}_{table}*.csv", **body}
        (shop.contracts / f"{table}.yml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


# -- what the marts must say, from the export files ----------------------------------------------


def _read(shop: Shop, table: str) -> pl.DataFrame:
    """An export file with the contract's column names; ids keep the type the CSV reader gives them."""
    key = pl.String if shop.spec.string_keys else pl.Int64
    keys = {"category_id", "customer_id", "product_id", "order_id"}
    frame = pl.read_csv(shop.files[table], infer_schema=False).rename(HEADERS[table])
    return frame.with_columns([pl.col(c).cast(key) for c in frame.columns if c in keys])


def order_lines(shop: Shop, business_timezone: str) -> pl.DataFrame:
    """One row per order line with its order's business date, customer, category and revenue in cents."""
    orders = _read(shop, "orders")
    if shop.spec.status_words:
        words = dict(shop.spec.status_words)
        orders = orders.with_columns(pl.col("order_status").replace_strict(words, default=pl.col("order_status")))
    if shop.spec.order_timestamps:
        day = pl.col("order_date").str.to_datetime("%Y-%m-%dT%H:%M:%S%z").dt.convert_time_zone(business_timezone)
        orders = orders.with_columns(day.dt.date().alias("order_date"))
    else:
        orders = orders.with_columns(pl.col("order_date").str.to_date())
    cents = (pl.col("price").cast(pl.Float64) * 100).round(0).cast(pl.Int64)
    lines = (
        _read(shop, "order_items")
        .with_columns(pl.col("quantity").cast(pl.Int64), (pl.col("quantity").cast(pl.Int64) * cents).alias("cents"))
        .join(orders.select("order_id", "customer_id", "order_date", "order_status"), on="order_id")
        .join(_read(shop, "products").select("product_id", "category_id"), on="product_id")
    )
    is_revenue = pl.col("order_status").is_in(list(shop.spec.revenue_statuses))
    return lines.with_columns(is_revenue.alias("is_revenue"), (pl.col("cents") * is_revenue).alias("revenue_cents"))


def expected_category_sales(shop: Shop, business_timezone: str) -> dict[tuple, tuple[int, int, int]]:
    """(sales_date, category_id) -> (revenue in cents, revenue orders, units): every category on every
    trading day (a day with at least one order line), zero when it sold nothing."""
    lines = order_lines(shop, business_timezone)
    daily = lines.group_by("order_date", "category_id").agg(
        pl.col("revenue_cents").sum(),
        pl.col("order_id").filter(pl.col("is_revenue")).n_unique().alias("orders"),
        pl.col("quantity").filter(pl.col("is_revenue")).sum().alias("units"),
    )
    sold = {(d, c): (r, o, u) for d, c, r, o, u in daily.iter_rows()}
    days = lines["order_date"].unique().to_list()
    categories = _read(shop, "categories")["category_id"].to_list()
    return {(d, c): sold.get((d, c), (0, 0, 0)) for d in days for c in categories}


def expected_top_customers(shop: Shop, business_timezone: str, limit: int = 100) -> list[tuple]:
    """(customer_id, lifetime revenue in cents, revenue orders) for customers with revenue, ranked."""
    lines = order_lines(shop, business_timezone)
    per_order = lines.group_by("order_id", "customer_id", "is_revenue").agg(pl.col("revenue_cents").sum())
    per_customer = per_order.group_by("customer_id").agg(
        pl.col("revenue_cents").sum(), pl.col("is_revenue").sum().alias("orders")
    )
    ranked = per_customer.filter(pl.col("revenue_cents") > 0).sort(
        ["revenue_cents", "customer_id"], descending=[True, False]
    )
    return [tuple(row) for row in ranked.head(limit).select("customer_id", "revenue_cents", "orders").iter_rows()]
