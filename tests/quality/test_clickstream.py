"""Clickstream drop check over Parquet laid out as the stream writer lands it."""

from __future__ import annotations

import datetime as dt
import shutil

import polars as pl
import pytest

from pipelines.alerts import AlertRouter, read_alert_log
from pipelines.lake import Lake
from pipelines.quality.clickstream import ClickstreamMonitor, ClickstreamParams, check_clickstream
from pipelines.storage import write_parquet_atomic

NOW = dt.datetime(2026, 11, 26, 0, 0, 30, tzinfo=dt.timezone.utc)  # windows straddle midnight
MIX = {"page_view": 50, "product_view": 40, "search": 10, "add_to_cart": 12, "checkout_start": 8, "purchase": 6}


def _events(minutes: int, *, end: dt.datetime = NOW, last_minute_factor: float = 1.0, purchases_last: bool = True):
    """`minutes` of steady traffic before `end`; the newest minute thinned or without purchases."""
    rows = []
    for minute in range(minutes):
        newest = minute == minutes - 1
        for event_type, per_minute in MIX.items():
            n = per_minute
            if newest:
                n = round(per_minute * last_minute_factor)
                if event_type == "purchase" and not purchases_last:
                    n = 0
            for i in range(n):
                offset = dt.timedelta(minutes=minutes - minute, seconds=-(i + 0.5) * 60 / max(n, 1))
                rows.append({"event_type": event_type, "event_time": end - offset})
    df = pl.DataFrame(rows, schema={"event_type": pl.String, "event_time": pl.Datetime("us", "UTC")})
    return df.with_columns(
        pl.format("e{}", pl.int_range(pl.len())).alias("event_id"), pl.lit("s1").alias("session_id"),
        pl.lit(None, pl.Int64).alias("customer_id"), pl.lit(None, pl.Int64).alias("product_id"),
        pl.lit("web").alias("channel"), pl.lit("desktop").alias("device"),
    )  # fmt: skip


def _land(lake: Lake, events: pl.DataFrame) -> None:
    """One file per event_date folder, as the stream writer partitions, committed by its checkpoint."""
    from pipelines.lake import StreamFileId
    from pipelines.stream.checkpoint import write_checkpoint

    name = StreamFileId("events", 0, 0, 1).name
    for (day,), part in events.group_by(pl.col("event_time").dt.date()):
        path = lake.raw_dir("clickstream_events") / f"event_date={day}" / f"{name}.parquet"
        write_parquet_atomic(part, path)
    write_checkpoint(lake, "clickstream_events", "events", {0: 2})


def _by_metric(findings):
    return {f.metric: f for f in findings}


def test_steady_traffic_is_quiet(empty_lake: Lake) -> None:
    _land(empty_lake, _events(12))
    findings = _by_metric(check_clickstream(empty_lake, now=NOW))
    assert findings["events"].judged and not findings["events"].is_drop
    assert findings["conversion"].judged and not findings["conversion"].is_drop
    assert findings["events"].value == sum(MIX.values())


def test_event_drop_fires(empty_lake: Lake) -> None:
    _land(empty_lake, _events(12, last_minute_factor=0.1))
    findings = _by_metric(check_clickstream(empty_lake, now=NOW))
    assert findings["events"].is_drop
    assert findings["events"].ratio < 0.2


def test_conversion_drop_fires_without_event_drop(empty_lake: Lake) -> None:
    _land(empty_lake, _events(12, purchases_last=False))
    findings = _by_metric(check_clickstream(empty_lake, now=NOW))
    assert findings["conversion"].is_drop and not findings["events"].is_drop


def test_quiet_baseline_is_not_judged(empty_lake: Lake) -> None:
    """A trickle of events (a night, a test site) cannot show an outage: no alert."""
    events = _events(12, last_minute_factor=0.0).sample(fraction=0.1, seed=1)
    _land(empty_lake, events)
    findings = _by_metric(check_clickstream(empty_lake, now=NOW))
    assert not findings["events"].judged and not findings["events"].is_drop


def test_no_clickstream_yet_is_quiet(empty_lake: Lake) -> None:
    findings = check_clickstream(empty_lake, now=NOW)
    assert not any(f.is_drop for f in findings)


def test_monitor_raises_one_alert_per_drop_episode(empty_lake: Lake) -> None:
    _land(empty_lake, _events(12, last_minute_factor=0.1))
    monitor = ClickstreamMonitor(empty_lake, AlertRouter(empty_lake), ClickstreamParams())
    first = monitor.poll(now=NOW)
    assert [o.alert.source for o in first] == ["clickstream"] and first[0].alert.severity == "error"
    assert "dropped to" in first[0].alert.title
    assert monitor.poll(now=NOW + dt.timedelta(seconds=2)) == []  # the same drop, still going
    assert len(read_alert_log(empty_lake)) == 1


def test_arrival_windows_ignore_late_event_times(empty_lake: Lake) -> None:
    """By ingested_at, events that happened minutes ago but landed now count as traffic now; a
    window by arrival that receives a tenth of the usual events is a drop."""
    params = ClickstreamParams(window_s=10.0, baseline_windows=12, time_column="ingested_at")
    steady = _events(13, end=NOW - dt.timedelta(seconds=1))
    # Land each minute's events over 10 s of arrival time, 13 windows in a row, late by minutes.
    arrival = NOW - dt.timedelta(seconds=130) + (pl.col("event_time") - pl.col("event_time").min()) / 6
    landed = steady.with_columns(arrival.alias("ingested_at"), (pl.col("event_time") - dt.timedelta(minutes=5)))
    _land(empty_lake, landed)
    quiet = _by_metric(check_clickstream(empty_lake, now=NOW, params=params))
    assert quiet["events"].judged and not quiet["events"].is_drop
    assert quiet["events"].value == pytest.approx(sum(MIX.values()), abs=2)
    assert not quiet["conversion"].is_drop
    by_event_time = _by_metric(check_clickstream(empty_lake, now=NOW, params=ClickstreamParams(window_s=10.0)))
    assert by_event_time["events"].value == 0  # nothing happened in the last 10 s of event time

    thinned = landed.filter(
        (pl.col("ingested_at") < NOW - dt.timedelta(seconds=10)) | (pl.int_range(pl.len()) % 10 == 0)
    )
    shutil.rmtree(empty_lake.raw_dir("clickstream_events"))
    _land(empty_lake, thinned)
    dropped = _by_metric(check_clickstream(empty_lake, now=NOW, params=params))
    assert dropped["events"].is_drop and dropped["events"].ratio < 0.2


def test_time_column_is_checked() -> None:
    with pytest.raises(ValueError, match="time_column"):
        ClickstreamParams(time_column="landed")


def test_a_compaction_between_listing_and_reading_changes_nothing(empty_lake: Lake, monkeypatch) -> None:
    """Compaction may commit merged files right after the check listed the small ones: the small
    files are only retired (deleted after a grace period), so the listed files still read whole."""
    import pipelines.quality.clickstream as clickstream
    from pipelines.catalog import committed_files
    from pipelines.lake import StreamFileId
    from pipelines.stream.checkpoint import load_checkpoint, save_checkpoint, write_checkpoint
    from pipelines.stream.compaction import compact_partition

    events = _events(12).sort("event_time").with_row_index("offset")
    day_dirs = set()
    for (day, _chunk), part in events.group_by(pl.col("event_time").dt.date(), pl.col("offset") // 200):
        first, last = part["offset"].min(), part["offset"].max()
        path = empty_lake.stream_file("clickstream_events", str(day), StreamFileId("t", 0, first, last))
        write_parquet_atomic(part.drop("offset"), path)
        day_dirs.add(path.parent)
    write_checkpoint(empty_lake, "clickstream_events", "t", {0: events.height})
    small_files = len(committed_files(empty_lake, "clickstream_events"))
    real_connect = clickstream.storage.connect_duckdb
    compactions = []

    def connect_after_compaction(*args, **kwargs):
        if not compactions:  # the first read comes after the listing: compact and commit under it
            checkpoint = load_checkpoint(empty_lake, "clickstream_events", "t")
            compactions.extend(compact_partition(empty_lake, d, checkpoint) for d in sorted(day_dirs))
            save_checkpoint(empty_lake, "clickstream_events", checkpoint)
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(clickstream.storage, "connect_duckdb", connect_after_compaction)
    findings = _by_metric(check_clickstream(empty_lake, now=NOW))
    assert sum(compactions) > 0 and len(committed_files(empty_lake, "clickstream_events")) < small_files
    assert findings["events"].judged and not findings["events"].is_drop
    assert findings["events"].value == sum(MIX.values())
