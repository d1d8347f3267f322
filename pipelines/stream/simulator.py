"""Clickstream simulator: realistic sessions over the generated customers and products.

Sessions are generated a chunk at a time with numpy (funnel stages drawn per session, events
expanded with `repeat`) and serialised by polars, so a single core produces >100k events/s.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import polars as pl

from ..errors import ShopLakeError
from .contract import CHANNELS, DEVICES

# Funnel: P(stage | previous stage). Calibrated to typical e-commerce rates (~3% session conversion).
P_SEARCH = 0.35
P_PRODUCT_VIEW = 0.70
P_ADD_TO_CART = 0.22
P_REMOVE_FROM_CART = 0.12
P_CHECKOUT = 0.45
P_PURCHASE = 0.55
P_LOGGED_IN_AT_START = 0.30
P_LOGS_IN_LATER = 0.25  # of anonymous sessions that reach the cart
DEVICE_WEIGHTS = (0.45, 0.35, 0.12, 0.08)
CHANNEL_WEIGHTS = (0.30, 0.30, 0.12, 0.12, 0.10, 0.06)
REFERRERS = {
    "organic_search": "https://www.google.com/",
    "paid_search": "https://www.google.com/aclk",
    "social": "https://www.instagram.com/",
    "referral": "https://www.example-blog.com/best-buys",
}
# Stage order inside a session: the events of one session are emitted in this order.
STAGES = (
    "page_view",
    "search",
    "product_view",
    "add_to_cart",
    "remove_from_cart",
    "checkout_start",
    "purchase",
)
_AVG_EVENTS_PER_SESSION = 5.0


@dataclass(frozen=True)
class Catalog:
    """Ids as the lake holds them: integers, or strings where the contracts declare string keys."""

    customer_ids: np.ndarray
    product_ids: np.ndarray
    product_weights: np.ndarray  # popularity (Zipf), sums to 1
    product_categories: np.ndarray

    @classmethod
    def synthetic(cls, customers: int, products: int, categories: int = 20) -> Catalog:
        ids = np.arange(1, products + 1)
        return cls(
            customer_ids=np.arange(1, customers + 1),
            product_ids=ids,
            product_weights=_zipf(products),
            product_categories=(ids % categories) + 1,
        )


def _pick(ids: np.ndarray, index: np.ndarray, present: np.ndarray) -> pl.Series:
    """`ids[index]` where `present`, else null, for integer and string ids alike."""
    picked = pl.Series(ids).gather(np.where(present, index, 0))
    return pl.DataFrame({"id": picked, "present": present}).select(pl.when("present").then("id")).to_series()


def _zipf(n: int, s: float = 1.1) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


def _as_strings(ids: np.ndarray, like: pl.DataFrame, column: str) -> np.ndarray:
    """Synthetic integer ids as text when the lake's (empty) table types the key as a string."""
    return ids.astype(str).astype(object) if like.schema.get(column) == pl.String else ids


def catalog_from(
    customers: pl.DataFrame, products: pl.DataFrame, *, customers_n: int = 10_000, products_n: int = 1_000
) -> Catalog:
    """Customers (customer_id) and products (product_id, category_id) as landed; the given counts when empty
    (with ids of the key types the empty tables have)."""
    if customers.is_empty() or products.is_empty():
        synthetic = Catalog.synthetic(customers_n, products_n)
        return Catalog(
            customer_ids=_as_strings(synthetic.customer_ids, customers, "customer_id"),
            product_ids=_as_strings(synthetic.product_ids, products, "product_id"),
            product_weights=synthetic.product_weights,
            product_categories=_as_strings(synthetic.product_categories, products, "category_id"),
        )
    rng = np.random.default_rng(7)
    product_ids = products["product_id"].to_numpy()
    order = rng.permutation(len(product_ids))  # which products are popular is arbitrary but fixed
    return Catalog(
        customer_ids=customers["customer_id"].unique().sort().to_numpy(),
        product_ids=product_ids[order],
        product_weights=_zipf(len(product_ids)),
        product_categories=products["category_id"].to_numpy()[order],
    )


@dataclass(frozen=True)
class DropWindow:
    """`AT:DURATION:FACTOR`: from AT s for DURATION s, traffic and conversions fall by FACTOR."""

    at_s: float
    duration_s: float
    factor: float

    @classmethod
    def parse(cls, text: str) -> DropWindow:
        try:
            at, duration, factor = (float(x) for x in text.split(":"))
        except ValueError as exc:
            raise ShopLakeError(f"--inject-drop wants AT:DURATION:FACTOR, got {text!r}") from exc
        if factor < 1 or duration <= 0 or at < 0:
            raise ShopLakeError("--inject-drop: need AT >= 0, DURATION > 0, FACTOR >= 1")
        return cls(at, duration, factor)

    def factor_at(self, sim_s: float) -> float:
        return self.factor if self.at_s <= sim_s < self.at_s + self.duration_s else 1.0


@dataclass
class SessionGenerator:
    """Turns a count of sessions into a frame of events (one row per event, in session order)."""

    catalog: Catalog
    seed: int | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    _next_session: int = 0
    _next_event: int = 0
    _next_order: int = 0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        # A visitor pool larger than the customer base: most visitors never buy.
        self.visitors = max(1000, 4 * len(self.catalog.customer_ids))

    def sessions(self, n: int, end_time: datetime, conversion_factor: float = 1.0, span_s: float = 0.0) -> pl.DataFrame:
        """`n` sessions whose last events fall in (end_time - span_s, end_time]."""
        rng, cat = self.rng, self.catalog
        f = 1.0 / conversion_factor
        n_page = 1 + rng.geometric(0.45, n) - 1
        n_search = (rng.random(n) < P_SEARCH) * rng.integers(1, 3, n)
        has_view = rng.random(n) < P_PRODUCT_VIEW
        n_view = has_view * (1 + rng.poisson(1.6, n))
        has_cart = has_view & (rng.random(n) < P_ADD_TO_CART * f)
        n_cart = has_cart * (1 + (rng.random(n) < 0.3))
        n_remove = has_cart * (rng.random(n) < P_REMOVE_FROM_CART)
        has_checkout = has_cart & (rng.random(n) < P_CHECKOUT * f)
        has_purchase = has_checkout & (rng.random(n) < P_PURCHASE * f)
        counts = np.stack([n_page, n_search, n_view, n_cart, n_remove, has_checkout, has_purchase], axis=1)
        counts = counts.astype(np.int64)
        per_session = counts.sum(axis=1)
        total = int(per_session.sum())

        session = np.repeat(np.arange(n), per_session)
        stage = np.repeat(np.tile(np.arange(len(STAGES)), n), counts.ravel())
        starts = np.concatenate(([0], np.cumsum(per_session)[:-1]))
        position = np.arange(total) - np.repeat(starts, per_session)
        remaining = np.repeat(per_session, per_session) - 1 - position

        # Visitors: anonymous ids from a pool; some sessions belong to a known customer from the
        # start, some anonymous visitors log in when they reach the cart (and every buyer has).
        visitor = rng.integers(0, self.visitors, n)
        known = rng.random(n) < P_LOGGED_IN_AT_START
        logs_in_later = ~known & (has_purchase | (has_cart & (rng.random(n) < P_LOGS_IN_LATER)))
        customer = visitor % len(cat.customer_ids)  # index into the catalog's customer ids
        first_cart_stage = STAGES.index("add_to_cart")
        ev_known = np.repeat(known, per_session) | (np.repeat(logs_in_later, per_session) & (stage >= first_cart_stage))

        products = rng.choice(len(cat.product_ids), size=total, p=cat.product_weights)
        is_product_event = np.isin(stage, [2, 3, 4])
        gaps = rng.exponential(25.0, total)  # seconds between a session's events
        offset_s = remaining * 25.0 + gaps * (remaining > 0)
        end_us = int(end_time.timestamp() * 1_000_000) - (rng.random(n) * span_s * 1_000_000).astype(np.int64)
        event_us = end_us[session] - (offset_s * 1_000_000).astype(np.int64)

        device = np.array(DEVICES)[rng.choice(len(DEVICES), n, p=DEVICE_WEIGHTS)]
        channel = np.array(CHANNELS)[rng.choice(len(CHANNELS), n, p=CHANNEL_WEIGHTS)]
        order_seq = np.cumsum(stage == 6) + self._next_order
        self._next_order = int(order_seq[-1]) if total else self._next_order

        df = pl.DataFrame(
            {
                "seq": np.arange(self._next_event, self._next_event + total),
                "session": session + self._next_session,
                "stage": stage.astype(np.int8),
                "position": position,
                "event_us": event_us,
                "visitor": visitor[session],
                "customer_id": _pick(cat.customer_ids, customer[session], ev_known),
                "product_id": _pick(cat.product_ids, products, is_product_event),
                "category_id": pl.Series(cat.product_categories).gather(products),
                "order_seq": order_seq,
                "device": device[session],
                "channel": channel[session],
            }
        )
        self._next_event += total
        self._next_session += n
        run = self.run_id
        stage_name = pl.col("stage").replace_strict(list(range(len(STAGES))), list(STAGES), return_dtype=pl.String)
        page = (
            pl.when(pl.col("stage") == 0)
            .then(pl.when(pl.col("position") == 0).then(pl.lit("/")).otherwise(pl.format("/c/{}", "category_id")))
            .when(pl.col("stage") == 1)
            .then(pl.format("/search?q=category-{}", "category_id"))
            .when(pl.col("stage") == 2)
            .then(pl.format("/p/{}", "product_id"))
            .when(pl.col("stage").is_in([3, 4]))
            .then(pl.lit("/cart"))
            .when(pl.col("stage") == 5)
            .then(pl.lit("/checkout"))
            .otherwise(pl.lit("/checkout/confirmation"))
        )
        referrer = pl.when(pl.col("position") == 0).then(
            pl.col("channel").replace_strict(list(REFERRERS), list(REFERRERS.values()), default=None)
        )
        return df.select(
            pl.format("{}-{}", pl.lit(run), "seq").alias("event_id"),
            stage_name.alias("event_type"),
            pl.from_epoch("event_us", "us").dt.strftime("%Y-%m-%dT%H:%M:%S%.3f+00:00").alias("event_time"),
            pl.format("{}-s{}", pl.lit(run), "session").alias("session_id"),
            pl.format("anon-{}", "visitor").alias("anonymous_id"),
            "customer_id",
            "product_id",
            pl.when(pl.col("stage") == 6).then(pl.format("{}-o{}", pl.lit(run), "order_seq")).alias("order_id"),
            page.alias("page_url"),
            referrer.alias("referrer"),
            "device",
            "channel",
        )

    def chunk(
        self, events: float, end_time: datetime, conversion_factor: float = 1.0, span_s: float = 0.0
    ) -> pl.DataFrame:
        """About `events` events (whole sessions)."""
        n = max(1, round(events / _AVG_EVENTS_PER_SESSION))
        return self.sessions(n, end_time, conversion_factor, span_s)


def encode(df: pl.DataFrame) -> tuple[list[bytes], list[bytes]]:
    """JSON payloads and session keys, one per event."""
    payloads = df.write_ndjson().encode().splitlines()
    return payloads, [s.encode() for s in df["session_id"].to_list()]


_BAD_KINDS = ("truncated", "not_json", "unknown_type", "missing_event_id", "naive_time")


def corrupt(payload: bytes, kind: str) -> bytes:
    """A malformed variant of a good payload (for `--bad-rate`)."""
    if kind == "truncated":
        return payload[: len(payload) // 2]
    if kind == "not_json":
        return b"<html>502 Bad Gateway</html>"
    if kind == "unknown_type":
        return payload.replace(b'"event_type":"', b'"event_type":"teleport_', 1)
    if kind == "missing_event_id":
        return payload.replace(b'"event_id":', b'"event_uid":', 1)
    return payload.replace(b'+00:00"', b'"', 1)  # naive_time


@dataclass
class SimulationResult:
    events: int = 0
    bad: int = 0
    seconds: float = 0.0

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        return (
            f"produced {self.events:,} messages ({self.bad:,} malformed) in {self.seconds:.1f}s "
            f"= {self.events_per_s:,.0f}/s"
        )


def iter_chunks(
    gen: SessionGenerator,
    *,
    events: int | None,
    rate: float | None,
    duration_s: float | None,
    drop: DropWindow | None,
    chunk_events: int = 20_000,
) -> Iterator[tuple[pl.DataFrame, float]]:
    """Yield (events, seconds to wait before sending) following the requested pacing.

    Real-time (`rate` without `events`): event times are wall-clock, paced at `rate`.
    Backlog (`events`): sent as fast as possible; with `rate`, event times are spread as if they
    had arrived at that rate, ending now (so an injected drop shows in the event times).
    """
    start_wall = time.monotonic()
    if events is None:
        if rate is None or duration_s is None:
            raise ShopLakeError("give --events N, or --rate R with --duration D")
        tick = 0.1
        sent_s = 0.0
        while sent_s < duration_s:
            factor = drop.factor_at(sent_s) if drop else 1.0
            df = gen.chunk(rate * tick / factor, datetime.now(timezone.utc), factor, span_s=tick)
            sent_s += tick
            yield df, max(0.0, start_wall + sent_s - time.monotonic())
        return
    if rate:  # keep each chunk short in simulated time, so a drop window is resolved finely
        chunk_events = min(chunk_events, max(200, int(rate * 2)))
    sim_start = datetime.now(timezone.utc).timestamp() - (events / rate if rate else 0.0)
    sim_t = sim_start
    produced = 0
    while produced < events:
        factor = drop.factor_at(sim_t - sim_start) if drop else 1.0
        want = min(chunk_events, events - produced)
        span = want * factor / rate if rate else 0.0
        df = gen.chunk(want, datetime.fromtimestamp(sim_t + span, timezone.utc), factor, span_s=span)
        df = df.head(events - produced)
        produced += df.height
        sim_t += df.height * factor / rate if rate else 0.0
        yield df, 0.0


def simulate_clicks(
    send: Callable[[list[bytes], list[bytes]], None],
    catalog: Catalog,
    *,
    events: int | None = None,
    rate: float | None = None,
    duration_s: float | None = None,
    bad_rate: float = 0.0,
    drop: DropWindow | None = None,
    seed: int | None = None,
) -> SimulationResult:
    """Generate and hand batches of (payloads, keys) to `send`; returns counts."""
    gen = SessionGenerator(catalog, seed=seed)
    bad_rng = random.Random(seed)
    result = SimulationResult()
    t0 = time.perf_counter()
    for df, wait_s in iter_chunks(gen, events=events, rate=rate, duration_s=duration_s, drop=drop):
        if wait_s:
            time.sleep(wait_s)
        payloads, keys = encode(df)
        if bad_rate > 0:
            n_bad = np.random.default_rng(bad_rng.getrandbits(32)).binomial(len(payloads), bad_rate)
            for i in bad_rng.sample(range(len(payloads)), n_bad):
                payloads[i] = corrupt(payloads[i], bad_rng.choice(_BAD_KINDS))
            result.bad += n_bad
        send(payloads, keys)
        result.events += len(payloads)
    result.seconds = time.perf_counter() - t0
    return result


def kafka_sender(bootstrap: str, topic: str) -> tuple[Callable[[list[bytes], list[bytes]], None], Callable[[], None]]:
    """A batch `send` for `simulate_clicks` and a `close` that flushes (raises on delivery errors)."""
    from confluent_kafka import Producer

    errors: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 500_000,
            "enable.idempotence": False,
            # Brokers close idle connections; librdkafka reconnects by itself, so its info-level
            # "Disconnected" lines are noise for the person watching.
            "log.connection.close": False,
        }
    )
    produce = producer.produce

    def send(payloads: list[bytes], keys: list[bytes]) -> None:
        for value, key in zip(payloads, keys, strict=True):
            try:
                produce(topic, value, key, on_delivery=on_delivery)
            except BufferError:
                producer.poll(0.05)
                produce(topic, value, key, on_delivery=on_delivery)
        producer.poll(0)

    def close() -> None:
        remaining = producer.flush(60)
        if remaining or errors:
            raise ShopLakeError(f"{remaining} messages undelivered; errors: {errors[:3]}")

    return send, close
