"""Real-time clickstream check: a sudden drop in events or in funnel conversion.

Over the clickstream Parquet the stream writer lands (`raw/clickstream_events/event_date=*/`),
the newest window (ending now minus the writer's flush lag) is compared with the windows just
before it: events against the baseline median count, conversion (purchases per product view)
against the pooled baseline rate. A drop is flagged only when the baseline is busy enough to
judge (a quiet night is not an outage). Windows slide with the clock, so a monitor polling every
second or two flags a drop as soon as the landed events make the window fall below the line.

Windows are by `event_time` (the library default) or by `ingested_at` (`REALTIME`, what
`shoplake watch-clickstream` uses): events arrive late (apps that batch, like the simulator, send
a session's earlier events with its last one), so by event time the newest seconds are always
under-filled and only long, lagging windows are fair; by arrival every window is complete once
the writer has flushed it, so a 10 s window alerts within seconds, and a stalled writer shows as
a drop too.
"""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import polars as pl

from .. import storage
from ..alerts import Alert, AlertRouter, Outcome, Severity
from ..catalog import committed_stream_objects
from ..lake import Lake

TABLE = "clickstream_events"
TIME_COLUMNS = ("event_time", "ingested_at")
# An event landing now was read from the day folder of its event_time; by arrival, look this far back.
_ARRIVAL_LOOKBACK = dt.timedelta(hours=1)
_READ_ATTEMPTS = 3


@dataclass(frozen=True)
class ClickstreamParams:
    window_s: float = 60.0
    baseline_windows: int = 10
    drop_ratio: float = 0.5  # flag when the window is below this share of its baseline
    min_baseline_events: float = 30.0  # per window; below this a rate is too noisy to judge
    min_expected_purchases: float = 5.0  # the conversion check needs this many expected purchases
    lateness_s: float = 0.0  # windows end this long before `now` (the writer's flush lag)
    # event_time: when it happened (late events under-fill the newest window);
    # ingested_at: when the writer landed it (what "traffic arriving now" means).
    time_column: str = "event_time"

    def __post_init__(self) -> None:
        if self.time_column not in TIME_COLUMNS:
            raise ValueError(f"time_column must be one of {TIME_COLUMNS}, got {self.time_column!r}")


# Meets the 10 s alert target on bench/alert_latency.py: arrival windows short enough that a drop
# fills most of one within seconds, long enough (~10 writer flushes) that flush timing is not a drop.
REALTIME = ClickstreamParams(window_s=10.0, baseline_windows=12, lateness_s=1.0, time_column="ingested_at")


@dataclass(frozen=True)
class ClickstreamFinding:
    metric: str  # events | conversion
    window_start: dt.datetime
    window_end: dt.datetime
    value: float
    baseline: float
    judged: bool  # the baseline was busy enough to judge
    is_drop: bool

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")

    def describe(self) -> str:
        what = "events" if self.metric == "events" else "purchases per product view"
        return (
            f"{what} in {self.window_start:%H:%M:%S}-{self.window_end:%H:%M:%S} UTC: {self.value:,.3g} vs "
            f"baseline {self.baseline:,.3g} ({self.ratio:.0%})"
        )


def load_events(lake: Lake, start: dt.datetime, end: dt.datetime, time_column: str = "event_time") -> pl.DataFrame:
    """event_type and `at` (= `time_column`) of events with `at` in [start, end), reading only the
    day folders involved (by arrival, also those of events up to an hour late)."""
    if time_column not in TIME_COLUMNS:
        raise ValueError(f"time_column must be one of {TIME_COLUMNS}, got {time_column!r}")
    first = (start - _ARRIVAL_LOOKBACK if time_column == "ingested_at" else start).date()
    days = {first + dt.timedelta(days=i) for i in range((end.date() - first).days + 1)}
    empty = pl.DataFrame(schema={"event_type": pl.String, "at": pl.Datetime("us", "UTC")})
    for attempt in itertools.count(1):
        folders = {lake.stream_partition_dir(TABLE, day.isoformat()) for day in days}
        files = [str(f.path) for f in committed_stream_objects(lake, TABLE, folders)]
        if not files:
            return empty
        try:
            with storage.connect_duckdb(lake.uri) as con:
                con.execute("set TimeZone = 'UTC'")
                table = con.sql(
                    f"select event_type, {time_column} as at from read_parquet($files, union_by_name = true) "
                    f"where {time_column} >= $start and {time_column} < $end",
                    params={"files": files, "start": start, "end": end},
                ).to_arrow_table()
        except duckdb.IOException:
            # A file compaction retired was deleted (after its grace period) between our listing
            # and the read: list again (see docs/clickstream.md, compaction protocol).
            if attempt == _READ_ATTEMPTS:
                raise
            continue
        return pl.from_arrow(table).with_columns(pl.col("at").dt.convert_time_zone("UTC"))


def evaluate(events: pl.DataFrame, end: dt.datetime, params: ClickstreamParams) -> list[ClickstreamFinding]:
    """Findings for the window ending at `end` against the `baseline_windows` before it."""
    width = dt.timedelta(seconds=params.window_s)
    start = end - width
    window_us = int(params.window_s * 1e6)
    back = (pl.lit(end) - pl.col("at")).dt.total_microseconds() // window_us  # 0 = newest window
    bins = (
        events.with_columns(back.alias("back"))
        .filter(pl.col("back").is_between(0, params.baseline_windows))
        .group_by("back")
        .agg(
            pl.len().alias("events"),
            (pl.col("event_type") == "product_view").sum().alias("views"),
            (pl.col("event_type") == "purchase").sum().alias("purchases"),
        )
    )  # fmt: skip
    per = {row["back"]: row for row in bins.iter_rows(named=True)}
    zero = {"events": 0, "views": 0, "purchases": 0}
    current = per.get(0, zero)
    baseline = [per.get(b, zero) for b in range(1, params.baseline_windows + 1)]

    base_events = statistics.median(b["events"] for b in baseline)
    judged = base_events >= params.min_baseline_events
    events_finding = ClickstreamFinding(
        "events", start, end, float(current["events"]), float(base_events), judged,
        judged and current["events"] < params.drop_ratio * base_events,
    )  # fmt: skip

    base_views = sum(b["views"] for b in baseline)
    base_rate = sum(b["purchases"] for b in baseline) / base_views if base_views else 0.0
    rate = current["purchases"] / current["views"] if current["views"] else 0.0
    judged_rate = base_rate * current["views"] >= params.min_expected_purchases
    conversion_finding = ClickstreamFinding(
        "conversion", start, end, rate, base_rate, judged_rate, judged_rate and rate < params.drop_ratio * base_rate
    )
    return [events_finding, conversion_finding]


def check_clickstream(
    lake: Lake, *, now: dt.datetime | None = None, params: ClickstreamParams | None = None
) -> list[ClickstreamFinding]:
    """Evaluate the newest window of the lake's clickstream."""
    params = params or ClickstreamParams()
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:  # naive times in ShopLake are UTC
        now = now.replace(tzinfo=dt.timezone.utc)
    end = now - dt.timedelta(seconds=params.lateness_s)
    start = end - dt.timedelta(seconds=params.window_s * (params.baseline_windows + 1))
    return evaluate(load_events(lake, start, end, params.time_column), end, params)


def drop_alert(finding: ClickstreamFinding, episode_start: dt.datetime) -> Alert:
    return Alert(
        key=f"clickstream:{finding.metric}:{episode_start:%Y-%m-%dT%H:%M:%S}",
        severity=Severity.ERROR if finding.metric == "events" else Severity.WARN,
        source="clickstream",
        title=f"clickstream {finding.metric} dropped to {finding.ratio:.0%} of baseline",
        detail=finding.describe()
        + "\nCheck the site and apps (errors, checkout), the tracking tags and the stream writer's lag.",
        context={"metric": finding.metric, "window_start": finding.window_start.isoformat(),
                 "window_end": finding.window_end.isoformat(), "value": finding.value,
                 "baseline": finding.baseline},
    )  # fmt: skip


class ClickstreamMonitor:
    """Poll the lake; raise one alert per drop episode (a drop that persists is not re-raised)."""

    def __init__(self, lake: Lake, router: AlertRouter, params: ClickstreamParams | None = None) -> None:
        self.lake = lake
        self.router = router
        self.params = params or ClickstreamParams()
        self.episodes: dict[str, dt.datetime | None] = {"events": None, "conversion": None}

    def poll(self, now: dt.datetime | None = None) -> list[Outcome]:
        alerts = []
        for finding in check_clickstream(self.lake, now=now, params=self.params):
            if not finding.is_drop:
                if finding.judged:  # a judged, healthy window ends the episode
                    self.episodes[finding.metric] = None
                continue
            if self.episodes[finding.metric] is None:
                self.episodes[finding.metric] = finding.window_end
                alerts.append(drop_alert(finding, finding.window_end))
        return self.router.emit(alerts) if alerts else []

    def run(
        self, *, poll_s: float = 2.0, stop: Callable[[], bool] = lambda: False, on_alert: Callable | None = None
    ) -> None:
        while not stop():
            started = time.monotonic()
            for outcome in self.poll():
                if on_alert is not None:
                    on_alert(outcome)
            time.sleep(max(0.0, poll_s - (time.monotonic() - started)))
