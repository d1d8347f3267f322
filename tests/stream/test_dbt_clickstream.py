"""dbt clickstream models on a lake of stream files: dedupe, sessions, funnel, lookback, reruns."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.stream.segment import land_messages
from pipelines.stream.simulator import Catalog, SessionGenerator, encode
from pipelines.warehouse.dbt import invoke_dbt

SELECT = "stg_clickstream__events+"
TOPIC = "clickstream.events"


def _build(settings: Settings) -> None:
    result = invoke_dbt(settings, ["build", "--select", SELECT], progress=False)
    assert result.success, result.summary()


def _query(lake: Lake, sql: str) -> list[tuple]:
    with duckdb.connect(str(lake.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.slow
def test_clickstream_models_dedupe_sessionise_and_honour_the_lookback(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake").ensure()
    settings = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(lake.root)})

    _build(settings)  # no event yet: the zero-row file keeps every model buildable
    assert _query(lake, "select count(*) from fct_sessions") == [(0,)]

    gen = SessionGenerator(Catalog.synthetic(300, 50), seed=11)
    old = gen.chunk(500, datetime(2025, 3, 7, 12, 0, tzinfo=timezone.utc))
    df = pl.concat([old, gen.chunk(3_000, datetime(2025, 3, 10, 12, 0, tzinfo=timezone.utc))])
    payloads, _ = encode(df)
    land_messages(lake, payloads, TOPIC, partition=0)
    land_messages(lake, payloads[:500], TOPIC, partition=1)  # an upstream resend: same ids again
    _build(settings)

    sessions = df.get_column("session_id").n_unique()
    assert _query(lake, "select count(*), count(distinct event_id) from stg_clickstream__events") == [
        (df.height, df.height)
    ]
    assert _query(lake, "select count(*) from fct_sessions") == [(sessions,)]
    assert _query(lake, "select sum(session_count) from funnel_daily") == [(sessions,)]
    purchases = df.filter(pl.col("event_type") == "purchase").get_column("session_id").n_unique()
    assert _query(lake, "select count(*) from fct_sessions where is_converted") == [(purchases,)]

    snapshot = "select * from fct_sessions order by session_id"
    funnel = "select * from funnel_daily order by event_date, channel"
    before = (_query(lake, snapshot), _query(lake, funnel))
    _build(settings)  # nothing new: nothing changes
    assert (_query(lake, snapshot), _query(lake, funnel)) == before

    # The next day arrives, then late purchases: one for a session a day back (inside the 2-day
    # lookback: counted), one for a session 4 days back (outside: counted on a full refresh).
    newer = gen.chunk(500, datetime(2025, 3, 11, 12, 0, tzinfo=timezone.utc))
    land_messages(lake, encode(newer)[0], TOPIC, partition=0)
    sessions += newer.get_column("session_id").n_unique()
    purchases += newer.filter(pl.col("event_type") == "purchase").get_column("session_id").n_unique()
    pick = (
        "select session_id, started_at from fct_sessions where not is_converted and customer_id is null"
        " and session_date = '{}' order by session_id limit 1"
    )
    late = []
    for day in ("2025-03-10", "2025-03-07"):
        ((session_id, started_at),) = _query(lake, pick.format(day))
        late.append(session_id)
        when = started_at.strftime("%Y-%m-%dT%H:%M:%S")
        land_messages(lake, [_purchase(f"late-{day}", session_id, when)], TOPIC, partition=2)
    _build(settings)
    converted = "select session_id, is_converted, customer_id from fct_sessions where session_id in ('{}', '{}')"
    assert sorted(_query(lake, converted.format(*late))) == sorted([(late[0], True, 7), (late[1], False, None)])
    assert _query(lake, "select count(*) from fct_sessions") == [(sessions,)]
    assert _query(lake, "select sum(purchases) from funnel_daily") == [(purchases + 1,)]

    result = invoke_dbt(settings, ["build", "--select", SELECT, "--full-refresh"], progress=False)
    assert result.success, result.summary()
    assert _query(lake, "select sum(purchases) from funnel_daily") == [(purchases + 2,)]


def _purchase(event_id: str, session_id: str, when: str) -> bytes:
    return (
        f'{{"event_id":"{event_id}","event_type":"purchase","event_time":"{when}.5+00:00",'
        f'"session_id":"{session_id}","anonymous_id":"late","customer_id":7,"order_id":"o-{event_id}"}}'
    ).encode()
