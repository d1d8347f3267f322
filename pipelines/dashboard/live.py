"""The live clickstream panel: recent events read straight from the lake, fresher than any dbt build.

Each refresh lists the stream's committed event files (`pipelines/catalog.py`: those the checkpoint
commits, so never a file compaction retired next to the merged one), keeps those written within
the window (plus a margin), and reads only them through a sandboxed DuckDB connection that may open
those files and nothing else; with the lake on an object store the connection gets the store's
filesystem, and the sandbox still allows only the listed objects.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

from .. import storage
from ..catalog import committed_stream_objects
from ..lake import CLICKSTREAM_TABLE, Lake
from ..settings import Settings
from ..storage import LakePath
from ..warehouse.sandbox import connect_reader
from .backends import Backend

RECENT_FILES_MARGIN = dt.timedelta(minutes=10)  # late files: stream writers flush micro-batches late
FUNNEL_STEPS = {  # step -> the contract's event type; the same steps as the `funnel_daily` mart
    "product view": "product_view",
    "add to cart": "add_to_cart",
    "checkout": "checkout_start",
    "purchase": "purchase",
}
READ_ATTEMPTS = 3  # a retired file may be deleted (after its grace period) before it is read: list again


@dataclass(frozen=True)
class LiveClicks:
    """The newest `window_minutes` of events, ending at the newest event in the lake."""

    newest_event: dt.datetime  # UTC, naive
    window_events: int
    files_read: int
    per_minute: pd.DataFrame  # minute, event_type, events
    funnel: pd.DataFrame  # step, sessions (sessions with at least one event of the step)
    top_pages: pd.DataFrame  # page_url, events
    top_products: pd.DataFrame  # product_id, events


def recent_event_files(lake: Lake, window_minutes: int) -> list[LakePath]:
    """Committed event files written within the window (plus a margin) before the newest one.

    Live panels refresh every few seconds; filtering on modification time keeps each refresh
    proportional to the window, not to the whole clickstream history.
    """
    files = [(f.mtime, f.path) for f in committed_stream_objects(lake, CLICKSTREAM_TABLE)]
    if not files:
        return []
    newest = max(mtime for mtime, _ in files)
    cutoff = newest - (dt.timedelta(minutes=window_minutes) + RECENT_FILES_MARGIN).total_seconds()
    return sorted((path for mtime, path in files if mtime >= cutoff), key=str)


def clickstream_live(settings: Settings, window_minutes: int = 30) -> LiveClicks | None:
    """Events per minute, session funnel, top pages and products; None when no events have landed."""
    lake = Lake.of(settings)
    attempt = 1
    while True:
        files = recent_event_files(lake, window_minutes)
        if not files:
            return None
        try:
            return _read_window(files, int(window_minutes), lake.uri)
        except duckdb.Error:  # a vanished file reads as a forbidden glob (PermissionException), or IOException
            if attempt >= READ_ATTEMPTS or all(storage.exists(f) for f in files):
                raise
            attempt += 1


EVENTS = "read_parquet(?, union_by_name = true)"


def _read_window(files: list[LakePath], window_minutes: int, lake_uri: str | None) -> LiveClicks | None:
    paths = [str(f) for f in files]
    con = storage.register_duckdb(connect_reader(read_paths=files), lake_uri)
    try:
        (newest,) = con.execute(f"select max(event_time) from {EVENTS}", [paths]).fetchone()
        if newest is None:  # only the empty placeholder file so far
            return None
        newest = newest.astimezone(dt.timezone.utc) if newest.tzinfo else newest.replace(tzinfo=dt.timezone.utc)
        # One scan of the window into memory (the bound keeps row-group pruning); the panels aggregate it.
        con.execute(
            "create temp table recent as select timezone('UTC', event_time) as event_time, event_type, "
            f"session_id, page_url, product_id from {EVENTS} where event_time >= ?",
            [paths, newest - dt.timedelta(minutes=window_minutes)],
        )
        per_minute = con.execute(
            "select date_trunc('minute', event_time) as minute, event_type, count(*) as events "
            "from recent group by 1, 2 order by 1, 2"
        ).df()
        counts = ", ".join("count(distinct case when event_type = ? then session_id end)" for _ in FUNNEL_STEPS)
        sessions = con.execute(f"select {counts} from recent", list(FUNNEL_STEPS.values())).fetchone()
        pages = con.execute(
            "select page_url, count(*) as events from recent where page_url is not null "
            "group by 1 order by 2 desc, 1 limit 10"
        ).df()
        products = con.execute(
            "select product_id, count(*) as events from recent where product_id is not null "
            "group by 1 order by 2 desc, 1 limit 10"
        ).df()
    finally:
        con.close()
    return LiveClicks(
        newest_event=newest.replace(tzinfo=None),
        window_events=int(per_minute["events"].sum()) if len(per_minute) else 0,
        files_read=len(files),
        per_minute=per_minute,
        funnel=pd.DataFrame({"step": list(FUNNEL_STEPS), "sessions": [int(n) for n in sessions]}),
        top_pages=pages,
        top_products=products,
    )


# -- over Snowflake ----------------------------------------------------------------------------

RAW_EVENTS = f"RAW.{CLICKSTREAM_TABLE.upper()}"  # what promotion (nightly, --follow) or Snowpipe loads


def clickstream_live_snowflake(backend: Backend, window_minutes: int = 30) -> LiveClicks | None:
    """The same panel over the Snowflake target: `RAW.CLICKSTREAM_EVENTS`, which `shoplake promote --follow`
    keeps about a minute behind the lake (fresher than any mart). Duplicated rows (a Snowpipe-fed table
    after a writer crash) count once, as in `stg_clickstream__events`."""
    from snowflake.connector.errors import ProgrammingError

    try:
        newest_df = backend.query(f"select max(event_time) as newest from {RAW_EVENTS}")
    except ProgrammingError:  # no RAW table yet: no clicks promoted to this target
        return None
    newest = newest_df["newest"].iloc[0] if len(newest_df) else None
    if newest is None or pd.isna(newest):
        return None
    newest = pd.Timestamp(newest)
    newest = newest.tz_convert("UTC") if newest.tzinfo else newest.tz_localize("UTC")
    since = (newest - pd.Timedelta(minutes=window_minutes)).to_pydatetime()
    recent = (
        f"(select event_type, session_id, page_url, product_id, event_time from {RAW_EVENTS} "
        "where event_time >= ? qualify row_number() over (partition by event_id order by event_id) = 1)"
    )
    per_minute = backend.query(
        "select date_trunc('minute', convert_timezone('UTC', event_time))::timestamp_ntz as minute, event_type, "
        f"count(*) as events from {recent} as r group by 1, 2 order by 1, 2",
        [since],
    )
    counts = ", ".join(f"count(distinct case when event_type = ? then session_id end) as s{i}"
                       for i in range(len(FUNNEL_STEPS)))  # fmt: skip
    sessions = backend.query(f"select {counts} from {recent} as r", [*FUNNEL_STEPS.values(), since])
    pages = backend.query(
        f"select page_url, count(*) as events from {recent} as r where page_url is not null "
        "group by 1 order by 2 desc, 1 limit 10",
        [since],
    )
    products = backend.query(
        f"select product_id, count(*) as events from {recent} as r where product_id is not null "
        "group by 1 order by 2 desc, 1 limit 10",
        [since],
    )
    per_minute["minute"] = pd.to_datetime(per_minute["minute"])
    per_minute["events"] = per_minute["events"].astype("int64")
    for frame in (pages, products):
        frame["events"] = frame["events"].astype("int64")
    return LiveClicks(
        newest_event=newest.tz_convert(None).to_pydatetime(),
        window_events=int(per_minute["events"].sum()) if len(per_minute) else 0,
        files_read=0,
        per_minute=per_minute,
        funnel=pd.DataFrame({"step": list(FUNNEL_STEPS), "sessions": [int(n) for n in sessions.iloc[0]]}),
        top_pages=pages,
        top_products=products,
    )
