"""A next day of new orders plus late corrections, as new export files: what an incremental build is for.

`write_changes` reads the lake's committed orders and order lines (the winning version of each key)
and writes `orders-changes-<tag>.csv` and `order_items-changes-<tag>.csv` into the landing area, in
the export columns of the shipped contracts, so `shoplake ingest` lands them as one more batch:

- new orders (`share` of the existing count) dated the day after the newest order, each a copy of
  an existing order's customer, channel and lines under new ids;
- corrections of old orders (`corrections` of them, spread over the whole history): a status change
  on every one, the date moved by a day on some, one line's quantity changed on some, and one line
  moved to another old order on some (its old order keeps fewer lines), and the only line of one
  single-line order moved too (that order is left without lines).

The benchmark `bench/incremental_build.py` and the incremental tests use it; the same seed and lake
give the same files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from ..catalog import read_committed
from ..lake import Lake
from ..settings import Settings
from ..storage import write_text_atomic

ORDER_EXPORT = {"order_id": "ORDER_ID", "customer_id": "CUSTOMER_ID", "order_date": "ORDER_DATE",
                "order_amount": "ORDER_AMOUNT", "order_status": "STATUS", "sales_channel": "CHANNEL"}  # fmt: skip
ITEM_EXPORT = {"order_item_id": "ORDER_ITEM_ID", "order_id": "ORDER_ID", "product_id": "PRODUCT_ID",
               "quantity": "QUANTITY", "price": "PRICE"}  # fmt: skip
NEXT_STATUS = {"completed": "returned", "shipped": "completed", "cancelled": "completed", "returned": "completed"}


@dataclass
class Changes:
    new_orders: int
    new_items: int
    corrected_orders: list[int]  # every corrected order (status changed)
    redated_orders: list[int]  # ... of which the date moved by a day
    changed_items: list[int]  # order_item_id of lines whose quantity changed
    moved_items: list[tuple[int, int, int]]  # (order_item_id, from order, to order)

    @property
    def order_rows(self) -> int:
        return self.new_orders + len(self.corrected_orders)

    @property
    def item_rows(self) -> int:
        return self.new_items + len(self.changed_items) + len(self.moved_items)


def _latest(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """The winning row per key, as staging picks it without a version column (newest ingestion)."""
    return frame.sort(["_ingested_at", "_source_line"]).unique(key, keep="last", maintain_order=True)


def write_changes(
    settings: Settings, *, share: float = 0.01, corrections: int = 100, seed: int = 16, tag: str = "1"
) -> Changes:
    """Write one batch of new orders and corrections into the landing area (see the module doc)."""
    lake = Lake.of(settings)
    rng = np.random.default_rng(seed)
    orders = _latest(read_committed(lake, "orders"), "order_id").sort("order_id")
    items = _latest(read_committed(lake, "order_items"), "order_item_id").sort("order_item_id")
    if orders.is_empty() or items.is_empty():
        raise ValueError("write_changes needs committed orders and order lines; ingest first")

    # New orders: copies of sampled orders (with their lines) the day after the newest order.
    n_new = max(1, round(orders.height * share))
    templates = orders.sample(n_new, seed=int(rng.integers(1 << 31)))
    first_id = int(orders["order_id"].max()) + 1
    next_day = orders["order_date"].max() + dt.timedelta(days=1)
    id_map = pl.DataFrame({"order_id": templates["order_id"], "new_id": np.arange(first_id, first_id + n_new)})
    new_orders = templates.join(id_map, on="order_id").with_columns(
        pl.col("new_id").alias("order_id"), pl.lit(next_day).alias("order_date")
    )
    new_items = items.join(id_map, on="order_id", how="inner").sort("order_item_id")
    first_item = int(items["order_item_id"].max()) + 1
    new_items = new_items.with_columns(
        pl.col("new_id").alias("order_id"),
        pl.Series("order_item_id", np.arange(first_item, first_item + new_items.height)),
    )

    # Corrections of old orders spread over the history (never among the new ones).
    with_lines = orders.join(items.group_by("order_id").len(), on="order_id").filter(pl.col("len") >= 2)
    picked = with_lines.sample(min(corrections, with_lines.height), seed=int(rng.integers(1 << 31)))
    corrected = picked.with_columns(pl.col("order_status").replace_strict(NEXT_STATUS, default="completed"))
    ids = corrected["order_id"].to_list()
    redated = ids[::3]
    corrected = corrected.with_columns(
        pl.when(pl.col("order_id").is_in(redated))
        .then(pl.col("order_date") + dt.timedelta(days=1))
        .otherwise(pl.col("order_date"))
        .alias("order_date")
    )
    lines = items.filter(pl.col("order_id").is_in(ids)).unique("order_id", keep="first", maintain_order=True)
    changed = lines.filter(pl.col("order_id").is_in(ids[1::3])).with_columns(pl.col("quantity") + 1)
    to_move = lines.filter(pl.col("order_id").is_in(ids[2::3]))
    targets = ids[::3][: to_move.height]  # redated orders: never one of the orders losing a line
    # ... and the only line of one single-line order, which is left with none.
    single = orders.join(items.group_by("order_id").len(), on="order_id").filter(pl.col("len") == 1)
    single = single.filter(~pl.col("order_id").is_in(ids)).head(1 if ids else 0)
    to_move = pl.concat([to_move, items.join(single.select("order_id"), on="order_id")])
    targets = targets + ids[:1] * single.height
    moved = to_move.with_columns(pl.Series("order_id", targets, dtype=to_move["order_id"].dtype))

    order_rows = pl.concat([new_orders.select(list(ORDER_EXPORT)), corrected.select(list(ORDER_EXPORT))])
    item_rows = pl.concat(
        [new_items.select(list(ITEM_EXPORT)), changed.select(list(ITEM_EXPORT)), moved.select(list(ITEM_EXPORT))]
    )
    write_text_atomic(
        lake.landing_dir("orders") / f"orders-changes-{tag}.csv", order_rows.rename(ORDER_EXPORT).write_csv()
    )
    write_text_atomic(
        lake.landing_dir("order_items") / f"order_items-changes-{tag}.csv", item_rows.rename(ITEM_EXPORT).write_csv()
    )
    return Changes(
        new_orders=n_new,
        new_items=new_items.height,
        corrected_orders=ids,
        redated_orders=redated,
        changed_items=changed["order_item_id"].to_list(),
        moved_items=list(zip(moved["order_item_id"].to_list(), to_move["order_id"].to_list(), targets, strict=True)),
    )
