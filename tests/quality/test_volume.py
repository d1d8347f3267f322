"""Per-source daily volume band: a short or doubled load is flagged, an ordinary day is not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from pipelines.lake import Lake
from pipelines.quality.volume import check_volume, volume_band
from pipelines.storage import write_parquet_atomic

from ..helpers import commit_raw_file

TODAY = dt.date(2026, 10, 31)  # a Saturday
WEEKDAY = [0.9, 0.9, 0.95, 1.0, 1.1, 1.2, 1.05]


def _counts(today_rows: int | None = None, weeks: int = 10) -> dict[dt.date, int]:
    counts = {}
    for back in range(weeks * 7):
        day = TODAY - dt.timedelta(days=back)
        counts[day] = round(200 * WEEKDAY[day.weekday()]) + (back * 7) % 11  # weekly shape plus jitter
    if today_rows is not None:
        counts[TODAY] = today_rows
    return counts


def _land_orders(lake: Lake, counts: dict[dt.date, int]) -> None:
    days = [day for day, n in counts.items() for _ in range(n)]
    df = pl.DataFrame({"order_id": range(1, len(days) + 1), "order_date": days})
    df = df.with_columns(pl.lit(dt.datetime(2026, 11, 1)).alias("_ingested_at"))
    commit_raw_file(lake, "orders", write_parquet_atomic(df, lake.raw_file("orders", "orders-test")))


def test_band_follows_the_weekday() -> None:
    expected, low, high, n = volume_band(_counts(), TODAY)
    assert n == 8
    assert abs(expected - 240) <= 11  # Saturday level, not the weekly mean
    assert low < 240 < high


def test_ordinary_day_is_inside_the_band(empty_lake: Lake) -> None:
    _land_orders(empty_lake, _counts())
    (result,) = check_volume(empty_lake, sources=("orders",))
    assert (result.source, result.day, result.status) == ("orders", TODAY, "pass")


def test_short_load_fires(empty_lake: Lake) -> None:
    _land_orders(empty_lake, _counts(today_rows=60))
    (result,) = check_volume(empty_lake, sources=("orders",))
    assert result.status == "warn" and result.rows == 60 and result.low > 60
    assert "60 rows on 2026-10-31" in result.detail


def test_doubled_load_fires(empty_lake: Lake) -> None:
    _land_orders(empty_lake, _counts(today_rows=480))
    (result,) = check_volume(empty_lake, sources=("orders",))
    assert result.status == "warn" and result.high < 480


def test_missing_day_fires_when_asked_for(empty_lake: Lake) -> None:
    counts = _counts()
    del counts[TODAY]
    _land_orders(empty_lake, counts)
    (result,) = check_volume(empty_lake, as_of=TODAY, sources=("orders",))
    assert result.status == "warn" and result.rows == 0


def test_too_little_history_is_skipped(empty_lake: Lake) -> None:
    _land_orders(empty_lake, _counts(weeks=2))
    (result,) = check_volume(empty_lake, sources=("orders",))
    assert result.status == "skip"


def test_generated_lake_is_quiet(quality_lake: Path) -> None:
    results = check_volume(Lake(quality_lake))
    assert {r.source for r in results} >= {"orders", "order_items"}
    assert all(r.status in ("pass", "skip") for r in results), [r.detail for r in results]
