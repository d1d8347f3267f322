"""Every setting ShopLake reads, in one place, from the environment (and a `.env`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
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
    "SHOPLAKE_ALERT_WEBHOOK_URL": (
        "",
        "Slack-compatible incoming webhook for alerts; empty = alerts go to the alert log only.",
    ),
    "SHOPLAKE_ALERT_DEDUP_HOURS": ("24", "An alert with the same key is not re-sent within this many hours."),
    "KAFKA_BOOTSTRAP_SERVERS": (
        "",
        "Existing Kafka/Redpanda brokers (host:port,...); unset = local broker (`shoplake broker start`).",
    ),
    "SHOPLAKE_CLICKSTREAM_TOPIC": ("clickstream.events", "Clickstream topic (created when missing)."),
    "SHOPLAKE_CLICKSTREAM_PARTITIONS": ("4", "Partitions of the clickstream topic when ShopLake creates it."),
    "SHOPLAKE_BROKER_PORT": ("0", "Loopback port of the local broker; 0 = pick a free port."),
    "SHOPLAKE_STREAM_FLUSH_SECONDS": (
        "1.0",
        "Stream writer time bound: new events are committed (visible) within this many seconds.",
    ),
    "SHOPLAKE_STREAM_FLUSH_EVENTS": ("30000", "Stream writer micro-batch size bound (bounds its memory)."),
    "SHOPLAKE_STREAM_BACKLOG_COMMIT_SECONDS": (
        "10",
        "Behind a backlog, files grow across micro-batches and are committed at least this often.",
    ),
    "SHOPLAKE_STREAM_COMPACT_FILES": (
        "32",
        "Compact a date partition once it holds this many small stream files (0 = never).",
    ),
    "SHOPLAKE_DASHBOARD_PORT": ("8501", "Port of `shoplake dashboard` (bound to 127.0.0.1; `--port` overrides)."),
    "SNOWFLAKE_ACCOUNT": ("", "Snowflake account identifier (target `prod`)."),
    "SNOWFLAKE_USER": ("", "Snowflake user (target `prod`)."),
    "SNOWFLAKE_PASSWORD": ("", "Snowflake password (secret: environment only)."),
    "SNOWFLAKE_ROLE": ("", "Snowflake role (optional)."),
    "SNOWFLAKE_WAREHOUSE": ("", "Snowflake virtual warehouse that runs queries."),
    "SNOWFLAKE_DATABASE": ("", "Snowflake database holding the ShopLake schemas."),
    "SNOWFLAKE_SCHEMA": ("ANALYTICS", "Schema of the dbt `prod` target, where the marts live."),
    "SNOWFLAKE_HOST": ("", "Optional host override (proxies, emulators such as fakesnow)."),
    "SNOWFLAKE_PORT": ("", "Optional port override."),
    "SNOWFLAKE_PROTOCOL": ("", "Optional protocol override (`http` for a local emulator)."),
    "SNOWFLAKE_PRIVATE_KEY_PATH": ("", "Unencrypted PKCS#8 private key for key-pair auth (instead of the password)."),
    "SNOWFLAKE_LOGIN_TIMEOUT": ("30", "Seconds to keep retrying a Snowflake login before giving up."),
    "SHOPLAKE_SNOWSIM_PORT": ("0", "Loopback port for `shoplake snowsim start` (0 = any free port)."),
    # -- orchestration (Prefect) -----------------------------------------------------------------
    "PREFECT_API_URL": (
        "",
        "Prefect API that `shoplake serve` registers deployments with; empty = the local server of `shoplake ui`.",
    ),
    "SHOPLAKE_PREFECT_HOME": (
        "",
        "Prefect's state (settings, SQLite DB) for `shoplake ui`; empty = `<lake>/state/prefect`.",
    ),
    "SHOPLAKE_PREFECT_PORT": ("4200", "Loopback port of the local Prefect server and UI started by `shoplake ui`."),
    "SHOPLAKE_INGEST_CRON": (
        "0 * * * *",
        "Schedule of the `ingest-batch` deployment (cron, UTC); `off` = on demand only.",
    ),
    "SHOPLAKE_PIPELINE_CRON": ("off", "Schedule of the `pipeline` deployment (cron, UTC); `off` = on demand only."),
    "SHOPLAKE_CLICKSTREAM_RESTART_SECONDS": (
        "60",
        "The continuous clickstream deployment is (re)started this often if it is not running; 0 = no deployment.",
    ),
    "SHOPLAKE_PROMOTE_CRON": (
        "0 2 * * *",
        "Schedule of the nightly `promote` deployment (cron, UTC); `off` = on demand only.",
    ),
    "SHOPLAKE_PROMOTE_TARGET": (
        "",
        "dbt target the nightly `promote` deployment loads (`prod` or `snowsim`); empty = no promote deployment.",
    ),
    "SHOPLAKE_FLOW_RETRIES": ("3", "Retries of flow steps that touch the network (broker, Snowflake, webhooks)."),
    "SHOPLAKE_FLOW_RETRY_DELAY_SECONDS": (
        "10",
        "First retry delay of those steps; each further retry waits twice as long (exponential backoff).",
    ),
}


@dataclass(frozen=True)
class SnowflakeSettings:
    """Connection settings for the Snowflake target; the password never leaves the environment."""

    account: str = ""
    user: str = ""
    password: str = field(default="", repr=False)
    role: str = ""
    warehouse: str = ""
    database: str = ""
    schema: str = "ANALYTICS"
    host: str = ""
    port: str = ""
    protocol: str = ""
    private_key_path: str = ""
    login_timeout: str = "30"


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with `Settings.from_env()` so tests can pass their own env."""

    lake_dir: Path
    dbt_target: str = "dev"
    demo_scale: float = 0.05
    alert_webhook_url: str = ""
    alert_dedup_hours: float = 24.0
    kafka_bootstrap_servers: str = ""
    clickstream_topic: str = "clickstream.events"
    clickstream_partitions: int = 4
    broker_port: int = 0
    stream_flush_seconds: float = 1.0
    stream_flush_events: int = 30_000
    stream_backlog_commit_seconds: float = 10.0
    stream_compact_files: int = 32
    dashboard_port: int = 8501
    snowflake: SnowflakeSettings = field(default_factory=SnowflakeSettings)
    snowsim_port: int = 0
    prefect_api_url: str = ""
    prefect_home: Path | None = None
    prefect_port: int = 4200
    ingest_cron: str = "0 * * * *"
    pipeline_cron: str = "off"
    clickstream_restart_seconds: int = 60
    promote_cron: str = "0 2 * * *"
    promote_target: str = ""
    flow_retries: int = 3
    flow_retry_delay_seconds: float = 10.0

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
            alert_webhook_url=env.get("SHOPLAKE_ALERT_WEBHOOK_URL", ""),
            alert_dedup_hours=float(get("SHOPLAKE_ALERT_DEDUP_HOURS")),
            kafka_bootstrap_servers=get("KAFKA_BOOTSTRAP_SERVERS").strip(),
            clickstream_topic=get("SHOPLAKE_CLICKSTREAM_TOPIC"),
            clickstream_partitions=int(get("SHOPLAKE_CLICKSTREAM_PARTITIONS")),
            broker_port=int(get("SHOPLAKE_BROKER_PORT")),
            stream_flush_seconds=float(get("SHOPLAKE_STREAM_FLUSH_SECONDS")),
            stream_flush_events=int(get("SHOPLAKE_STREAM_FLUSH_EVENTS")),
            stream_backlog_commit_seconds=float(get("SHOPLAKE_STREAM_BACKLOG_COMMIT_SECONDS")),
            stream_compact_files=int(get("SHOPLAKE_STREAM_COMPACT_FILES")),
            dashboard_port=int(get("SHOPLAKE_DASHBOARD_PORT")),
            snowflake=SnowflakeSettings(
                **{
                    name.removeprefix("SNOWFLAKE_").lower(): get(name)
                    for name in ENV_VARS
                    if name.startswith("SNOWFLAKE_")
                }
            ),
            snowsim_port=int(get("SHOPLAKE_SNOWSIM_PORT")),
            prefect_api_url=get("PREFECT_API_URL").strip(),
            prefect_home=Path(home).expanduser().resolve() if (home := get("SHOPLAKE_PREFECT_HOME").strip()) else None,
            prefect_port=int(get("SHOPLAKE_PREFECT_PORT")),
            ingest_cron=get("SHOPLAKE_INGEST_CRON").strip(),
            pipeline_cron=get("SHOPLAKE_PIPELINE_CRON").strip(),
            clickstream_restart_seconds=int(get("SHOPLAKE_CLICKSTREAM_RESTART_SECONDS")),
            promote_cron=get("SHOPLAKE_PROMOTE_CRON").strip(),
            promote_target=get("SHOPLAKE_PROMOTE_TARGET").strip(),
            flow_retries=int(get("SHOPLAKE_FLOW_RETRIES")),
            flow_retry_delay_seconds=float(get("SHOPLAKE_FLOW_RETRY_DELAY_SECONDS")),
        )


def get_settings() -> Settings:
    """Settings for the current process environment."""
    return Settings.from_env()
