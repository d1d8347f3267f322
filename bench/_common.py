"""Shared plumbing for the stream benchmarks: a lake, a broker, a topic, counts."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from pipelines.lake import CLICKSTREAM_TABLE, Lake  # noqa: E402
from pipelines.settings import Settings  # noqa: E402
from pipelines.stream.broker import ensure_topic, start_broker, stop_broker  # noqa: E402


@dataclass
class BenchEnv:
    lake: Lake
    bootstrap: str
    topic: str

    def child_env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SHOPLAKE_LAKE_DIR=str(self.lake.root),
            SHOPLAKE_LAKE_URI=self.lake.uri or "",
            KAFKA_BOOTSTRAP_SERVERS=self.bootstrap,
            SHOPLAKE_CLICKSTREAM_TOPIC=self.topic,
            PYTHONPATH=str(REPO_ROOT),
        )
        env.update(extra)
        return env

    def counts(self) -> tuple[int, int]:
        """(rows, distinct event ids) over the committed stream files (dbt's `raw` view of them)."""
        from pipelines.storage import connect_duckdb
        from pipelines.warehouse.lake_sources import create_views

        with connect_duckdb(self.lake.uri) as con:
            create_views(con, self.lake)
            sql = f"select count(*), count(distinct event_id) from raw.{CLICKSTREAM_TABLE}"
            ((rows, distinct),) = con.execute(sql).fetchall()
        return int(rows), int(distinct)


@contextmanager
def bench_env(partitions: int, lake_uri: str | None = None) -> Iterator[BenchEnv]:
    """Uses SHOPLAKE_LAKE_DIR / KAFKA_BOOTSTRAP_SERVERS when set, else a temp lake and local broker;
    `lake_uri` (or SHOPLAKE_LAKE_URI) puts the lake's data zones on an object store."""
    topic = f"bench.{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="shoplake-bench-") as tmp:
        uri = lake_uri or os.environ.get("SHOPLAKE_LAKE_URI") or None
        lake = Lake(Path(os.environ.get("SHOPLAKE_LAKE_DIR") or Path(tmp) / "lake"), uri).ensure()
        external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        broker = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(Path(tmp) / "broker")})
        bootstrap = external or start_broker(broker)[0].address
        try:
            ensure_topic(bootstrap, topic, partitions)
            yield BenchEnv(lake=lake, bootstrap=bootstrap, topic=topic)
        finally:
            if not external:
                stop_broker(broker)


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM).

    Not `ru_maxrss`: Linux carries the parent's peak into a child across fork and exec.
    """
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


_ID_START = len(b'{"event_id":"')  # the simulator's events open with their id


def timed(
    send: Callable[[list[bytes], list[bytes]], None],
) -> tuple[Callable[[list[bytes], list[bytes]], None], dict[str, float]]:
    """Wrap a `kafka_sender` send so each event's produce time (monotonic) is kept by its event id: the
    start of the produce -> visible latency the freshness benches measure."""
    sent: dict[str, float] = {}

    def timed_send(payloads: list[bytes], keys: list[bytes]) -> None:
        send(payloads, keys)
        now = time.monotonic()
        for p in payloads:
            sent[p[_ID_START : p.index(b'"', _ID_START)].decode()] = now

    return timed_send, sent


def latencies(sent: dict[str, float], seen: dict[str, float]) -> list[float]:
    """Produce -> first seen, in seconds, of every event seen, sorted."""
    return sorted(seen[k] - t for k, t in sent.items() if k in seen)


def quantile(sorted_values: list[float], p: float, digits: int = 2) -> float:
    """The p-quantile (nearest rank below) of sorted values, rounded."""
    return round(sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))], digits)


def emit(result: dict[str, object]) -> None:
    """The one JSON line a benchmark ends with."""
    print(json.dumps(result, sort_keys=True), flush=True)
