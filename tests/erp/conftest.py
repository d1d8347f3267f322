"""A real PostgreSQL for the extract tests: one server per session on loopback, one fresh database per test.

The server is the one `shoplake erp-sim start` runs (Debian's postgresql package, `.ci/system-deps`
installs it), started through `pipelines/generate/erp_sim.py` with its state in a lake of its own.
Each test gets a new database loaded with the generator's tables at a tiny scale.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pipelines.generate import erp_sim
from pipelines.lake import Lake
from pipelines.settings import Settings

SCALE = 0.01
SEED = 11
URL_ENV = erp_sim.URL_ENV


@dataclass
class ErpDb:
    """One test's ERP database on the session's server."""

    server: erp_sim.SimServer
    name: str

    @property
    def url(self) -> str:
        return self.server.url(self.name)

    def connect(self, *, autocommit: bool = True) -> Any:
        import adbc_driver_postgresql.dbapi as adbc

        return adbc.connect(self.url, autocommit=autocommit)

    def execute(self, *statements: str) -> None:
        with self.connect() as conn, conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)

    def query(self, sql: str) -> pl.DataFrame:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(sql)
            frame = pl.from_arrow(cur.fetch_arrow_table())
        assert isinstance(frame, pl.DataFrame)
        return frame


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[erp_sim.SimServer]:
    root = tmp_path_factory.mktemp("erp-server") / "lake"
    settings = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(root)})
    server, started = erp_sim.start_server(settings)
    assert started
    try:
        yield server
    finally:
        erp_sim.stop(settings)


@pytest.fixture(scope="session")
def erp_frames() -> dict[str, pl.DataFrame]:
    """The generator's tables as the simulator loads them (built once; `updated_at` in the past)."""
    return erp_sim.erp_tables(SCALE, SEED, now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))


@pytest.fixture
def erp_db(pg_server: erp_sim.SimServer, erp_frames: dict[str, pl.DataFrame]) -> Iterator[ErpDb]:
    name = f"t_{uuid.uuid4().hex[:10]}"
    admin = ErpDb(pg_server, "postgres")
    admin.execute(f"CREATE DATABASE {name}")
    db = ErpDb(pg_server, name)
    erp_sim.create_tables(db.url)
    erp_sim.load_tables(db.url, erp_frames)
    try:
        yield db
    finally:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def erp_settings(tmp_path: Path, erp_db: ErpDb, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A fresh lake whose shipped `erp` source reads this test's database (the URL in the environment)."""
    root = tmp_path / "lake"
    Lake(root).ensure()
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(root))
    monkeypatch.setenv(URL_ENV, erp_db.url)
    return Settings.from_env({"SHOPLAKE_LAKE_DIR": str(root)})
