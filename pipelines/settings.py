"""Every setting ShopLake reads, in one place, from the environment (and a `.env`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import load_dotenv

REPO_ROOT = Path(__file__).resolve().parent.parent

# name -> (default, description); the README's configuration table is checked against this.
ENV_VARS: dict[str, tuple[str, str]] = {
    "SHOPLAKE_LAKE_DIR": ("./lake", "Root of the lake: landing, raw Parquet, quarantine, ledger, warehouse."),
    "DBT_TARGET": ("dev", "dbt target: `dev` (DuckDB), `prod` (Snowflake) or `snowsim` (local fakesnow)."),
    "SHOPLAKE_DEMO_SCALE": (
        "0.05",
        "Scale used by `shoplake demo` for fresh exports (1 = 1M orders).",
    ),
    "KAFKA_BOOTSTRAP_SERVERS": (
        "",
        "Existing Kafka/Redpanda brokers (host:port,...); unset = local broker (`shoplake broker start`).",
    ),
    "SHOPLAKE_CLICKSTREAM_TOPIC": ("clickstream.events", "Clickstream topic (created when missing)."),
    "SHOPLAKE_CLICKSTREAM_PARTITIONS": ("4", "Partitions of the clickstream topic when ShopLake creates it."),
    "SHOPLAKE_BROKER_PORT": ("0", "Loopback port of the local broker; 0 = pick a free port."),
    "SHOPLAKE_STREAM_FLUSH_SECONDS": ("1.0", "Stream writer time bound: flush a micro-batch this often."),
    "SHOPLAKE_STREAM_FLUSH_EVENTS": ("50000", "Stream writer size bound: flush at this many events."),
    "SHOPLAKE_STREAM_COMPACT_FILES": (
        "32",
        "Compact a date partition once it holds this many small stream files (0 = never).",
    ),
}


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with `Settings.from_env()` so tests can pass their own env."""

    lake_dir: Path
    dbt_target: str = "dev"
    demo_scale: float = 0.05
    kafka_bootstrap_servers: str = ""
    clickstream_topic: str = "clickstream.events"
    clickstream_partitions: int = 4
    broker_port: int = 0
    stream_flush_seconds: float = 1.0
    stream_flush_events: int = 50_000
    stream_compact_files: int = 32

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        if env is None:
            load_dotenv(Path.cwd() / ".env", override=False)
            env = dict(os.environ)

        def get(name: str) -> str:
            return env.get(name) or ENV_VARS[name][0]

        return cls(
            lake_dir=Path(get("SHOPLAKE_LAKE_DIR")).expanduser().resolve(),
            dbt_target=get("DBT_TARGET"),
            demo_scale=float(get("SHOPLAKE_DEMO_SCALE")),
            kafka_bootstrap_servers=get("KAFKA_BOOTSTRAP_SERVERS").strip(),
            clickstream_topic=get("SHOPLAKE_CLICKSTREAM_TOPIC"),
            clickstream_partitions=int(get("SHOPLAKE_CLICKSTREAM_PARTITIONS")),
            broker_port=int(get("SHOPLAKE_BROKER_PORT")),
            stream_flush_seconds=float(get("SHOPLAKE_STREAM_FLUSH_SECONDS")),
            stream_flush_events=int(get("SHOPLAKE_STREAM_FLUSH_EVENTS")),
            stream_compact_files=int(get("SHOPLAKE_STREAM_COMPACT_FILES")),
        )


def get_settings() -> Settings:
    """Settings for the current process environment."""
    return Settings.from_env()
