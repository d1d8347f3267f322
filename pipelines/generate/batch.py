"""Synthetic ERP/CRM exports with realistic shape, known dirt and labelled anomalies.

Everything is vectorised with numpy/polars; one `numpy.random.Generator` seeded once makes the
same bytes for the same seed and end date. The history ends yesterday (UTC) unless told otherwise,
so the demo's orders reach up to the clicks it simulates now; tests and benchmarks pin
`REFERENCE_END_DATE` to stay byte-stable. `build_dataset` returns the clean tables and what was
dirtied, so tests can compute expected marts independently of the pipeline.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from .. import storage
from ..errors import ShopLakeError
from ..lake import Lake
from ..settings import Settings
from ..storage import ObjectPath, write_text_atomic

REFERENCE_END_DATE = dt.date(2026, 10, 31)  # what tests and benchmarks pin, so their data never moves
HISTORY_DAYS = 730
DIRTY_RATE = 0.004  # share of rows given each kind of defect
MIN_ANOMALY_LINES = 30  # an anomaly is only injected where a category-day is busy enough to tell
ANOMALY_FIRST_DAY = 70  # ten weeks of history before the first anomaly, for same-weekday baselines
TABLES = ("categories", "products", "customers", "orders", "order_items")

CATEGORY_NAMES = [
    "Electronics", "Home & Kitchen", "Fashion", "Beauty", "Sports & Outdoors", "Toys & Games",
    "Books", "Grocery", "Garden", "Automotive", "Health", "Pet Supplies",
]  # fmt: skip
FIRST_NAMES = np.array([
    "Ana", "Ben", "Chloe", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kira", "Liam",
    "Maya", "Noah", "Olga", "Pavel", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wen", "Yara",
])  # fmt: skip
LAST_NAMES = np.array([
    "Silva", "Müller", "Dubois", "Rossi", "García", "Nowak", "Jensen", "Smith", "Kowalski", "Haddad",
    "Tanaka", "Okafor", "Novak", "Larsen", "Costa", "Weber", "Martin", "Ivanova", "Chen", "Kaur",
])  # fmt: skip
ADJECTIVES = np.array(["Classic", "Smart", "Eco", "Pro", "Mini", "Ultra", "Essential", "Deluxe", "Urban", "Nova"])
NOUNS = np.array(["Kit", "Set", "Pack", "Bundle", "Edition", "Series", "Collection", "Box", "Line", "Model"])
COUNTRIES = (["DE", "FR", "ES", "IT", "NL", "PL", "SE", "GB", "US", "PT"],
             [0.22, 0.16, 0.12, 0.11, 0.08, 0.07, 0.06, 0.08, 0.06, 0.04])  # fmt: skip
ACQ_CHANNELS = (["organic", "paid_search", "social", "email", "referral"], [0.35, 0.25, 0.2, 0.1, 0.1])
SALES_CHANNELS = (["web", "mobile", "marketplace"], [0.5, 0.38, 0.12])
STATUSES = (["completed", "shipped", "cancelled", "returned"], [0.86, 0.06, 0.05, 0.03])


@dataclass
class Dataset:
    """Clean tables (typed), the CSV-ready exports (strings, dirtied) and what was done to them."""

    clean: dict[str, pl.DataFrame]
    exports: dict[str, pl.DataFrame]
    anomalies: pl.DataFrame
    end_date: dt.date  # the last day of order history
    dirty: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # table -> kind -> keys
    imputed: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> column -> rows

    def dirty_keys(self, table: str) -> set[int]:
        """Primary keys whose clean row did not reach the export intact (they will be quarantined)."""
        return {k for kind, keys in self.dirty.get(table, {}).items() if kind != "duplicate_key" for k in keys}


@dataclass
class GenerateResult:
    landing: Path | ObjectPath
    rows: dict[str, int]
    skipped: bool = False
    end_date: dt.date | None = None  # last day of the written history

    def summary(self) -> str:
        if self.skipped:
            return f"exports already present in {self.landing} (use --force to regenerate)"
        parts = ", ".join(f"{t}={n:,}" for t, n in self.rows.items())
        return f"wrote exports to {self.landing} (history up to {self.end_date}): {parts}"


def sizes(scale: float) -> dict[str, int]:
    if scale <= 0:
        raise ShopLakeError(f"--scale must be positive, got {scale}")
    return {
        "customers": max(200, round(100_000 * scale)),
        "products": max(60, round(10_000 * scale)),
        "orders": max(1_000, round(1_000_000 * scale)),
    }


def default_end_date() -> dt.date:
    """Yesterday in UTC: the newest whole day of history, so today's simulated clicks come right after it."""
    return dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)


def _day_weights(days: np.ndarray, end_date: dt.date) -> np.ndarray:
    """Weekly and yearly seasonality, a gentle growth trend and a holiday peak."""
    dates = np.datetime64(end_date) - np.timedelta64(HISTORY_DAYS - 1, "D") + days.astype("timedelta64[D]")
    weekday = (dates.astype("datetime64[D]").view("int64") - 4) % 7  # 0 = Monday
    weekly = np.array([0.92, 0.9, 0.93, 0.97, 1.08, 1.17, 1.03])[weekday]
    day_of_year = (dates - dates.astype("datetime64[Y]")).astype(int)
    yearly = 1.0 + 0.18 * np.cos(2 * np.pi * (day_of_year - 350) / 365.25)
    holiday = 1.0 + 0.5 * np.exp(-(((day_of_year - 330) / 9.0) ** 2))
    trend = 1.0 + 0.35 * days / HISTORY_DAYS
    return weekly * yearly * holiday * trend


def build_dataset(scale: float, seed: int, end_date: dt.date | None = None) -> Dataset:
    """All tables in memory: clean, then the dirtied string exports; history ends on `end_date` (default yesterday)."""
    end_date = default_end_date() if end_date is None else end_date
    rng = np.random.default_rng(seed)
    n = sizes(scale)
    start = end_date - dt.timedelta(days=HISTORY_DAYS - 1)

    categories = pl.DataFrame({
        "category_id": np.arange(1, len(CATEGORY_NAMES) + 1, dtype=np.int64),
        "category_name": CATEGORY_NAMES,
    })  # fmt: skip
    cat_weights = rng.dirichlet(np.full(len(CATEGORY_NAMES), 4.0))

    # Products: category mix, log-normal prices per category, Zipf-like popularity.
    n_prod = n["products"]
    prod_ids = np.arange(1, n_prod + 1, dtype=np.int64)
    prod_cat = rng.choice(len(CATEGORY_NAMES), size=n_prod, p=cat_weights) + 1
    cat_price_level = rng.uniform(8, 80, size=len(CATEGORY_NAMES) + 1)
    prod_price = np.round(cat_price_level[prod_cat] * rng.lognormal(0, 0.5, size=n_prod)) + 0.99
    popularity = 1.0 / np.power(rng.permutation(n_prod) + 1, 1.1)
    popularity /= popularity.sum()
    prod_name = np.char.add(
        np.char.add(np.char.add(ADJECTIVES[rng.integers(0, len(ADJECTIVES), n_prod)], " "),
                    NOUNS[rng.integers(0, len(NOUNS), n_prod)]),
        np.char.add(" ", prod_ids.astype(str)),
    )  # fmt: skip
    products = pl.DataFrame(
        {"product_id": prod_ids, "product_name": prod_name, "category_id": prod_cat.astype(np.int64),
         "price": prod_price}
    )  # fmt: skip

    # Customers: Pareto spend propensity gives repeat buyers and a long tail.
    n_cust = n["customers"]
    cust_ids = np.arange(1, n_cust + 1, dtype=np.int64)
    propensity = rng.pareto(2.2, size=n_cust) + 0.1
    propensity /= propensity.sum()

    # Orders: days from seasonal weights, customers from propensity.
    n_ord = n["orders"]
    days = np.arange(HISTORY_DAYS)
    day_p = _day_weights(days, end_date)
    order_day = np.sort(rng.choice(HISTORY_DAYS, size=n_ord, p=day_p / day_p.sum()))
    order_cust = rng.choice(n_cust, size=n_ord, p=propensity) + 1
    order_status = rng.choice(STATUSES[0], size=n_ord, p=STATUSES[1])
    order_channel = rng.choice(SALES_CHANNELS[0], size=n_ord, p=SALES_CHANNELS[1])

    # Order items: 1 + Poisson(2) lines per order, products by popularity.
    lines = 1 + rng.poisson(2.0, size=n_ord)
    item_order_idx = np.repeat(np.arange(n_ord), lines)
    n_items = len(item_order_idx)
    item_product = rng.choice(n_prod, size=n_items, p=popularity) + 1
    item_qty = 1 + rng.poisson(0.35, size=n_items)
    discount = rng.choice([1.0, 0.9, 0.8], size=n_items, p=[0.8, 0.15, 0.05])
    item_price = np.round(prod_price[item_product - 1] * discount, 2)
    item_day = order_day[item_order_idx]
    item_cust = order_cust[item_order_idx]
    item_status = order_status[item_order_idx]
    item_channel = order_channel[item_order_idx]
    item_order_key = item_order_idx.astype(np.int64)  # provisional order key, renumbered below

    # Labelled anomalies: category-day spikes (extra single-line orders) and drops (lines removed).
    n_anom = max(8, round(6 + 10 * scale))
    item_cat = prod_cat[item_product - 1]
    anom_cat, anom_day = _anomaly_cells(item_cat, item_day, n_anom, rng)
    anom_kind = np.where(np.arange(n_anom) % 2 == 0, "spike", "drop")
    anom_factor = np.where(anom_kind == "spike", rng.uniform(3.0, 5.0, n_anom), rng.uniform(0.05, 0.2, n_anom))
    anom_factor = np.round(anom_factor, 2)
    keep = np.ones(n_items, dtype=bool)
    extra_idx: list[np.ndarray] = []
    for cat, day, kind, factor in zip(anom_cat, anom_day, anom_kind, anom_factor, strict=True):
        hit = np.flatnonzero((item_cat == cat) & (item_day == day))
        if kind == "drop":
            keep[rng.choice(hit, size=round(len(hit) * (1 - factor)), replace=False)] = False
        elif len(hit):
            extra_idx.append(rng.choice(hit, size=round(len(hit) * (factor - 1)), replace=True))
    extra = np.concatenate(extra_idx) if extra_idx else np.array([], dtype=np.int64)
    n_extra = len(extra)
    # Spike lines become new single-line orders by random customers on the same day.
    item_order_key = np.concatenate([item_order_key[keep], n_ord + np.arange(n_extra)])
    item_product = np.concatenate([item_product[keep], item_product[extra]])
    item_qty = np.concatenate([item_qty[keep], item_qty[extra]])
    item_price = np.concatenate([item_price[keep], item_price[extra]])
    item_day = np.concatenate([item_day[keep], item_day[extra]])
    item_cust = np.concatenate([item_cust[keep], rng.choice(n_cust, size=n_extra, p=propensity) + 1])
    item_status = np.concatenate([item_status[keep], np.full(n_extra, "completed")])
    item_channel = np.concatenate([item_channel[keep], rng.choice(SALES_CHANNELS[0], size=n_extra)])

    items = pl.DataFrame({
        "order_key": item_order_key, "product_id": item_product.astype(np.int64),
        "quantity": item_qty.astype(np.int64), "price": item_price, "day": item_day,
        "customer_id": item_cust.astype(np.int64), "order_status": item_status, "sales_channel": item_channel,
    })  # fmt: skip
    # Orders are renumbered by date so ids grow with time, as an ERP's would.
    orders = (
        items.group_by("order_key")
        .agg(
            pl.col("day").first(), pl.col("customer_id").first(), pl.col("order_status").first(),
            pl.col("sales_channel").first(),
            (pl.col("quantity") * pl.col("price")).sum().round(2).alias("order_amount"),
        )
        .sort("day", "order_key")
        .with_row_index("order_id", offset=1)
        .with_columns(pl.col("order_id").cast(pl.Int64), (pl.lit(start) + pl.duration(days="day")).alias("order_date"))
    )  # fmt: skip
    items = (
        items.join(orders.select("order_key", "order_id", "day"), on="order_key")
        .sort("order_id", "product_id", "order_key")
        .with_row_index("order_item_id", offset=1)
        .with_columns(pl.col("order_item_id").cast(pl.Int64))
        .select("order_item_id", "order_id", "product_id", "quantity", "price")
    )
    orders = orders.select("order_id", "customer_id", "order_date", "order_amount", "order_status", "sales_channel")

    # Customers sign up before their first order.
    first_order = orders.group_by("customer_id").agg(pl.col("order_date").min().alias("first_order"))
    lead = rng.integers(0, 400, size=n_cust)
    customers = (
        pl.DataFrame({"customer_id": cust_ids, "lead": lead})
        .join(first_order, on="customer_id", how="left")
        .with_columns(
            pl.coalesce(pl.col("first_order"), pl.lit(end_date)).alias("anchor"),
        )
        .with_columns((pl.col("anchor") - pl.duration(days="lead")).alias("signup_date"))
    )
    first = FIRST_NAMES[rng.integers(0, len(FIRST_NAMES), n_cust)]
    last = LAST_NAMES[rng.integers(0, len(LAST_NAMES), n_cust)]
    customers = pl.DataFrame({
        "customer_id": cust_ids,
        "customer_name": np.char.add(np.char.add(first, " "), last),
        "email": np.char.add(np.char.add(np.char.lower(first), "."), np.char.add(cust_ids.astype(str), "@example.com")),
        "signup_date": customers["signup_date"],
        "country": rng.choice(COUNTRIES[0], size=n_cust, p=COUNTRIES[1]),
        "acquisition_channel": rng.choice(ACQ_CHANNELS[0], size=n_cust, p=ACQ_CHANNELS[1]),
    })  # fmt: skip

    anomalies = pl.DataFrame({
        "category_id": anom_cat.astype(np.int64),
        "category_name": [CATEGORY_NAMES[c - 1] for c in anom_cat],
        "anomaly_date": [start + dt.timedelta(days=int(d)) for d in anom_day],
        "kind": anom_kind, "factor": anom_factor,
    }).sort("anomaly_date", "category_id")  # fmt: skip

    clean = {"categories": categories, "products": products, "customers": customers, "orders": orders,
             "order_items": items}  # fmt: skip
    dataset = Dataset(clean=clean, exports={}, anomalies=anomalies, end_date=end_date)
    _dirty_exports(dataset, rng)
    return dataset


def _anomaly_cells(
    item_cat: np.ndarray, item_day: np.ndarray, n_anom: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Pick distinct (category, day) cells to make anomalous, among cells busy enough to judge.

    A drop to 10% of a category-day with a handful of lines is indistinguishable from an ordinary
    quiet day (Poisson noise), so no detector could be scored fairly on it. Cells need at least
    `MIN_ANOMALY_LINES` lines and enough history before them for a same-weekday baseline; when a
    small scale has too few such cells, the busiest eligible cells are used instead.
    """
    n_cat = len(CATEGORY_NAMES)
    lines = np.bincount((item_cat - 1) * HISTORY_DAYS + item_day, minlength=n_cat * HISTORY_DAYS)
    cell_day = np.arange(n_cat * HISTORY_DAYS) % HISTORY_DAYS
    candidates = np.flatnonzero((lines >= MIN_ANOMALY_LINES) & (cell_day >= ANOMALY_FIRST_DAY))
    if len(candidates) < n_anom:
        late = np.flatnonzero(cell_day >= ANOMALY_FIRST_DAY)
        candidates = late[np.argsort(-lines[late], kind="stable")[:n_anom]]
    cells = rng.choice(candidates, size=min(n_anom, len(candidates)), replace=False)
    return cells // HISTORY_DAYS + 1, cells % HISTORY_DAYS


# -- dirt --------------------------------------------------------------------------------------

# Export column names as the ERP/CRM names them (see pipelines/contracts/*.yml).
EXPORT_COLUMNS = {
    "categories": {"category_id": "CATEGORY_ID", "category_name": "CATEGORY_NAME"},
    "products": {"product_id": "PRODUCT_ID", "product_name": "NAME", "category_id": "CATEGORY_ID", "price": "PRICE"},
    "customers": {"customer_id": "CUSTOMER_ID", "customer_name": "NAME", "email": "EMAIL",
                  "signup_date": "SIGNUP_DATE", "country": "COUNTRY", "acquisition_channel": "CHANNEL"},
    "orders": {"order_id": "ORDER_ID", "customer_id": "CUSTOMER_ID", "order_date": "ORDER_DATE",
               "order_amount": "ORDER_AMOUNT", "order_status": "STATUS", "sales_channel": "CHANNEL"},
    "order_items": {"order_item_id": "ORDER_ITEM_ID", "order_id": "ORDER_ID", "product_id": "PRODUCT_ID",
                    "quantity": "QUANTITY", "price": "PRICE"},
}  # fmt: skip

# kind -> (column to damage, replacement value or None for null); None column = duplicate row.
DEFECTS: dict[str, dict[str, tuple[str | None, str | None]]] = {
    "products": {"missing_required:product_name": ("product_name", None), "invalid_double:price": ("price", "12,50")},
    "customers": {
        "invalid_email": ("email", "not-an-email"),
        "invalid_date:signup_date": ("signup_date", "31/02/2025"),
        "missing_required:customer_name": ("customer_name", None),
        "duplicate_key": (None, None),
    },
    "orders": {
        "invalid_date:order_date": ("order_date", "2025-13-45"),
        "invalid_double:order_amount": ("order_amount", "N/A"),
        "missing_required:customer_id": ("customer_id", None),
        "duplicate_key": (None, None),
    },
    "order_items": {
        "missing_reference:order_id": ("order_id", "999999999"),
        "missing_reference:product_id": ("product_id", "888888888"),
        "invalid_bigint:quantity": ("quantity", "two"),
        "missing_required:price": ("price", None),
        "duplicate_key": (None, None),
    },
}
# Optional columns nulled at the dirt rate; ingest imputes their declared default.
IMPUTE: dict[str, list[str]] = {"customers": ["country", "acquisition_channel"], "orders": ["sales_channel"]}


def _dirty_exports(ds: Dataset, rng: np.random.Generator) -> None:
    for table, df in ds.clean.items():
        pk = next(iter(EXPORT_COLUMNS[table]))
        out = df.with_columns(pl.all().cast(pl.String))
        n_rows = df.height
        per_kind = max(1, round(n_rows * DIRTY_RATE)) if table != "categories" else 0
        kinds = DEFECTS.get(table, {})
        # Distinct victims per kind so each bad row has exactly one reason.
        victims = rng.choice(n_rows, size=min(n_rows, per_kind * (len(kinds) + len(IMPUTE.get(table, [])))),
                             replace=False)  # fmt: skip
        ds.dirty[table] = {}
        offset = 0
        duplicates: pl.DataFrame | None = None
        for kind, (column, value) in kinds.items():
            rows = np.sort(victims[offset : offset + per_kind])
            offset += per_kind
            keys = df[pk].gather(rows).to_list()
            ds.dirty[table][kind] = keys
            if column is None:
                duplicates = out[rows]
                continue
            out = _set_values(out, rows, column, value)
        ds.imputed[table] = {}
        for column in IMPUTE.get(table, []):
            rows = np.sort(victims[offset : offset + per_kind])
            offset += per_kind
            out = _set_values(out, rows, column, None)
            ds.imputed[table][column] = len(rows)
        if duplicates is not None:
            out = pl.concat([out, duplicates])
        ds.exports[table] = out.rename(EXPORT_COLUMNS[table])


def _set_values(df: pl.DataFrame, rows: np.ndarray, column: str, value: str | None) -> pl.DataFrame:
    mask = np.zeros(df.height, dtype=bool)
    mask[rows] = True
    return df.with_columns(
        pl.when(pl.Series(mask)).then(pl.lit(value, dtype=pl.String)).otherwise(pl.col(column)).alias(column)
    )


# -- writing -----------------------------------------------------------------------------------


def exports_exist(lake: Lake) -> bool:
    return any(f.path.name.endswith(".csv") for t in TABLES for f in storage.list_files(lake.landing_dir(t)))


def write_exports(ds: Dataset, lake: Lake, *, scale: float, seed: int) -> dict[str, int]:
    """Write each export as one CSV (atomically) plus the ground-truth files."""
    lake.ensure()
    rows = {}
    for table in TABLES:
        path = lake.landing_dir(table) / f"{table}.csv"
        write_text_atomic(path, ds.exports[table].write_csv())
        rows[table] = ds.exports[table].height
    write_text_atomic(lake.ground_truth_dir / "anomalies.csv", ds.anomalies.write_csv())
    manifest = {"scale": scale, "seed": seed, "end_date": ds.end_date.isoformat(), "rows": rows,
                "dirty": {t: {k: len(v) for k, v in kinds.items()} for t, kinds in ds.dirty.items()},
                "imputed": ds.imputed}  # fmt: skip
    write_text_atomic(lake.ground_truth_dir / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return rows


def generate_exports(
    settings: Settings,
    *,
    scale: float | None = None,
    seed: int = 42,
    end_date: dt.date | None = None,
    force: bool = False,
) -> GenerateResult:
    """`shoplake generate`: build the dataset and write its exports into the settings' landing area.

    `scale` defaults to the demo scale; `end_date` (the last day of history) to yesterday in UTC.
    """
    lake = Lake.of(settings)
    if exports_exist(lake) and not force:
        return GenerateResult(landing=lake.landing_root, rows={}, skipped=True)
    scale = settings.demo_scale if scale is None else scale
    ds = build_dataset(scale, seed, end_date)
    rows = write_exports(ds, lake, scale=scale, seed=seed)
    return GenerateResult(landing=lake.landing_root, rows=rows, end_date=ds.end_date)
