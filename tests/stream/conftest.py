"""Fixtures for stream tests: one real local broker per session, one topic and lake per test."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from pipelines.lake import CLICKSTREAM_TABLE, Lake
from pipelines.settings import REPO_ROOT, Settings
from pipelines.stream.broker import ensure_topic, start_broker, stop_broker
from pipelines.stream.config import WriterConfig
from pipelines.stream.simulator import Catalog, SimulationResult, kafka_sender, simulate_clicks

PARTITIONS = 3


@pytest.fixture(scope="session")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Tansu broker on a free loopback port for the whole session."""
    settings = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(tmp_path_factory.mktemp("broker") / "lake")})
    state, _ = start_broker(settings)
    yield state.address
    stop_broker(settings)


@dataclass
class StreamCase:
    lake: Lake
    bootstrap: str
    topic: str

    def config(self, **overrides: object) -> WriterConfig:
        base = {"flush_seconds": 0.3, "flush_events": 20_000, "compact_files": 0}
        base.update(overrides)
        return WriterConfig(bootstrap=self.bootstrap, topic=self.topic, **base)  # type: ignore[arg-type]

    def produce(self, **kwargs: object) -> SimulationResult:
        send, close = kafka_sender(self.bootstrap, self.topic)
        kwargs.setdefault("seed", 1)
        result = simulate_clicks(send, Catalog.synthetic(500, 100), **kwargs)  # type: ignore[arg-type]
        close()
        return result

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SHOPLAKE_LAKE_DIR=str(self.lake.root),
            KAFKA_BOOTSTRAP_SERVERS=self.bootstrap,
            SHOPLAKE_CLICKSTREAM_TOPIC=self.topic,
            SHOPLAKE_CLICKSTREAM_PARTITIONS=str(PARTITIONS),
        )
        env.update(extra)
        return env

    def spawn_writer(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "stream", *args],
            cwd=REPO_ROOT,
            env=self.env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def counts(self) -> tuple[int, int]:
        """(rows, distinct event ids) as a DuckDB reader of the lake sees them (dbt's view of committed files)."""
        from pipelines.warehouse.lake_sources import create_views

        with duckdb.connect() as con:
            create_views(con, self.lake)
            sql = f"select count(*), count(distinct event_id) from raw.{CLICKSTREAM_TABLE}"
            ((rows, distinct),) = con.execute(sql).fetchall()
        return int(rows), int(distinct)

    def dead_letters(self) -> list[tuple[int, int, str]]:
        glob = self.lake.deadletter_glob(CLICKSTREAM_TABLE)
        if not list(Path(self.lake.deadletter_dir(CLICKSTREAM_TABLE)).glob("*.parquet")):
            return []
        sql = f"select source_partition, source_offset, reason from read_parquet('{glob}')"
        return [(int(p), int(o), str(r)) for p, o, r in duckdb.sql(sql).fetchall()]


@pytest.fixture
def case(bootstrap: str, tmp_path: Path) -> StreamCase:
    topic = f"test.{uuid.uuid4().hex[:10]}"
    ensure_topic(bootstrap, topic, PARTITIONS)
    return StreamCase(lake=Lake(tmp_path / "lake").ensure(), bootstrap=bootstrap, topic=topic)
