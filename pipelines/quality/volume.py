"""Per-source, per-day row volume against an expected band.

Each source's rows are counted per day (its business date where it has one, else the day it was
ingested). "Today" is the newest day present unless given. The band is the median of the same
weekday over the previous `weeks` weeks, widened by the larger of the robust spread (MAD) and
Poisson noise, and never narrower than +-`min_relative` of the median: a load that is half
missing or doubled falls outside, an ordinary busy Friday does not.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from dataclasses import dataclass

from .. import storage
from ..catalog import committed_files, tables
from ..lake import Lake
from .status import CheckStatus

# source -> SQL for (day, rows) over its committed raw Parquet files (lists bound as parameters).
DAY_SQL = {
    "orders": "select order_date as day, count(*) as n from read_parquet(?, hive_partitioning = true, "
    "union_by_name = true) group by 1",
    "order_items": "select o.order_date as day, count(*) as n from read_parquet(?, union_by_name = true) as i "
    "join (select distinct order_id, order_date from read_parquet(?, hive_partitioning = true, union_by_name = true)) "
    "as o using (order_id) group by 1",
    "customers": "select cast(signup_date as date) as day, count(*) as n from read_parquet(?, union_by_name = true) "
    "group by 1",
    "products": "select cast(_ingested_at as date) as day, count(*) as n from read_parquet(?, union_by_name = true) "
    "group by 1",
    "categories": "select cast(_ingested_at as date) as day, count(*) as n from read_parquet(?, union_by_name = true) "
    "group by 1",
    "clickstream_events": "select cast(event_time as date) as day, count(*) as n from read_parquet(?, "
    "hive_partitioning = true, union_by_name = true) group by 1",
}


@dataclass(frozen=True)
class VolumeResult:
    source: str
    day: dt.date | None
    rows: int
    expected: float | None
    low: float | None
    high: float | None
    baseline_days: int
    status: CheckStatus  # PASS | WARN (outside the band) | SKIP (no data or not enough history)

    @property
    def detail(self) -> str:
        if self.status == CheckStatus.SKIP:
            return f"not enough history ({self.baseline_days} same-weekday days)" if self.day else "no rows"
        return (
            f"{self.rows:,} rows on {self.day}, expected {self.expected:,.0f} (band {self.low:,.0f}-{self.high:,.0f})"
        )


def volume_band(
    counts: dict[dt.date, int],
    day: dt.date,
    *,
    weeks: int = 8,
    min_weeks: int = 4,
    k: float = 4.0,
    min_relative: float = 0.25,
) -> tuple[float, float, float, int] | None:
    """(expected, low, high, baseline days) for `day` from earlier same weekdays, or None if too little history."""
    history = [counts.get(day - dt.timedelta(days=7 * w), 0) for w in range(1, weeks + 1)]
    history = [n for w, n in enumerate(history, 1) if (day - dt.timedelta(days=7 * w)) >= min(counts, default=day)]
    if len(history) < min_weeks:
        return None
    expected = statistics.median(history)
    mad = statistics.median(abs(n - expected) for n in history)
    spread = max(k * 1.4826 * mad, k * math.sqrt(max(expected, 1.0)), min_relative * expected)
    return expected, max(expected - spread, 0.0), expected + spread, len(history)


def daily_counts(lake: Lake, source: str) -> dict[dt.date, int]:
    """Rows per day for one source's committed raw Parquet (empty when the source has none)."""
    files = [str(p) for p in committed_files(lake, source)]
    if not files:
        return {}
    params: list[list[str]] = [files]
    if source == "order_items":
        orders = [str(p) for p in committed_files(lake, "orders")]
        if not orders:
            return {}
        params.append(orders)
    with storage.connect_duckdb(lake.uri) as con:
        rows = con.execute(DAY_SQL[source], params).fetchall()
    return {day: int(n) for day, n in rows if day is not None}


def check_volume(
    lake: Lake, *, as_of: dt.date | None = None, sources: tuple[str, ...] | None = None
) -> list[VolumeResult]:
    """One result per source: is the latest day's (or `as_of`'s) row count inside its band?"""
    results = []
    known = set(tables(lake))
    for source in sources or tuple(DAY_SQL):
        counts = daily_counts(lake, source) if source in known else {}
        if not counts:
            if source in known:
                results.append(VolumeResult(source, as_of, 0, None, None, None, 0, CheckStatus.SKIP))
            continue
        day = as_of or max(counts)
        rows = counts.get(day, 0)
        band = volume_band(counts, day)
        if band is None:
            results.append(VolumeResult(source, day, rows, None, None, None, 0, CheckStatus.SKIP))
            continue
        expected, low, high, n = band
        status = CheckStatus.PASS if low <= rows <= high else CheckStatus.WARN
        results.append(VolumeResult(source, day, rows, expected, low, high, n, status))
    return results
