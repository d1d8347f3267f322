"""Every setting ShopLake reads, in one place: typed fields read from the environment (and a `.env`).

Each field's environment variable is its `validation_alias`, its default and description are written
once here, and the README's configuration table is checked against them (`ENV_VARS`).
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotenv import load_dotenv
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent

# While `Settings.from_env(env)` builds settings from an explicit mapping, the environment source reads it.
_EXPLICIT_ENV: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar("_EXPLICIT_ENV", default=None)


class _MappingEnvSource(EnvSettingsSource):
    """The environment source over a given mapping instead of `os.environ` (tests pass their own env)."""

    def __init__(self, settings_cls: type[BaseSettings], mapping: Mapping[str, str]) -> None:
        self._mapping = {k: v for k, v in mapping.items() if v != ""}  # empty = unset, as in the environment
        super().__init__(settings_cls, case_sensitive=True, env_ignore_empty=True)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._mapping


def _env(name: str, default: Any, description: str, **kwargs: Any) -> Any:
    """A field read from environment variable `name` (empty = default)."""
    return Field(default, validation_alias=name, description=description, **kwargs)


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
    storage_integration: str = ""  # external stage over the lake's bucket (promotion from an object-store lake)


class Settings(BaseSettings):
    """Resolved settings: `Settings.from_env()` reads the process environment and `./.env`;
    `Settings.from_env(mapping)` reads only that mapping (tests); `Settings(lake_dir=...)` takes fields by name."""

    model_config = SettingsConfigDict(
        env_ignore_empty=True, case_sensitive=True, populate_by_name=True, frozen=True,
        extra="ignore",
    )  # fmt: skip

    lake_dir: Path = _env(
        "SHOPLAKE_LAKE_DIR", "./lake", "Root of the lake: landing, raw Parquet, quarantine, ledger, warehouse."
    )
    lake_uri: str = _env(
        "SHOPLAKE_LAKE_URI", "",
        "Object store for the lake's data zones (`s3://bucket/prefix`; `gs://`, `az://` untested); empty = under "
        "SHOPLAKE_LAKE_DIR. Credentials: the store's standard environment (AWS_*, AWS_ENDPOINT_URL, ...).",
    )  # fmt: skip
    contracts_dir: Path | None = _env(
        "SHOPLAKE_CONTRACTS_DIR", None,
        "Folder of your batch contracts (one YAML file per table); empty = the shipped `pipelines/contracts/`.",
    )  # fmt: skip
    max_quarantine_share: float = _env(
        "SHOPLAKE_MAX_QUARANTINE_SHARE", 0.5,
        "A file with a larger share of quarantined rows fails (lands nothing); a contract's max_quarantine_share wins.",
        ge=0.0, le=1.0,
    )  # fmt: skip
    business_timezone: str = _env(
        "SHOPLAKE_BUSINESS_TIMEZONE", "UTC",
        "IANA time zone whose calendar days the marts count in (an order at 00:30+01:00 is that day in Europe/Berlin).",
    )  # fmt: skip
    dbt_target: str = _env(
        "DBT_TARGET", "dev", "dbt target: `dev` (DuckDB), `prod` (Snowflake) or `snowsim` (local fakesnow)."
    )
    demo_scale: float = _env(
        "SHOPLAKE_DEMO_SCALE", 0.05, "Scale used by `shoplake demo` for fresh exports (1 = 1M orders)."
    )
    alert_webhook_url: str = _env(
        "SHOPLAKE_ALERT_WEBHOOK_URL", "",
        "Slack-compatible incoming webhook for alerts; empty = alerts go to the alert log only.",
    )  # fmt: skip
    alert_dedup_hours: float = _env(
        "SHOPLAKE_ALERT_DEDUP_HOURS", 24.0, "An alert with the same key is not re-sent within this many hours."
    )
    kafka_bootstrap_servers: str = _env(
        "KAFKA_BOOTSTRAP_SERVERS", "",
        "Existing Kafka/Redpanda brokers (host:port,...); unset = local broker (`shoplake broker start`).",
    )  # fmt: skip
    clickstream_topic: str = _env(
        "SHOPLAKE_CLICKSTREAM_TOPIC", "clickstream.events", "Clickstream topic (created when missing)."
    )
    clickstream_partitions: int = _env(
        "SHOPLAKE_CLICKSTREAM_PARTITIONS", 4, "Partitions of the clickstream topic when ShopLake creates it."
    )
    broker_port: int = _env("SHOPLAKE_BROKER_PORT", 0, "Loopback port of the local broker; 0 = pick a free port.")
    stream_flush_seconds: float = _env(
        "SHOPLAKE_STREAM_FLUSH_SECONDS", 1.0,
        "Stream writer time bound: new events are committed (visible) within this many seconds.",
    )  # fmt: skip
    stream_flush_events: int = _env(
        "SHOPLAKE_STREAM_FLUSH_EVENTS", 30_000, "Stream writer micro-batch size bound (bounds its memory)."
    )
    stream_backlog_commit_seconds: float = _env(
        "SHOPLAKE_STREAM_BACKLOG_COMMIT_SECONDS", 10.0,
        "Behind a backlog, files grow across micro-batches and are committed at least this often.",
    )  # fmt: skip
    stream_compact_files: int = _env(
        "SHOPLAKE_STREAM_COMPACT_FILES", 32,
        "Compact a date partition once it holds this many small stream files (0 = never).",
    )  # fmt: skip
    dashboard_port: int = _env(
        "SHOPLAKE_DASHBOARD_PORT", 8501, "Port of `shoplake dashboard` (bound to 127.0.0.1; `--port` overrides)."
    )
    # -- Snowflake (target `prod`); read into `settings.snowflake` -------------------------------------
    snowflake_account: str = _env("SNOWFLAKE_ACCOUNT", "", "Snowflake account identifier (target `prod`).")
    snowflake_user: str = _env("SNOWFLAKE_USER", "", "Snowflake user (target `prod`).")
    snowflake_password: str = _env(
        "SNOWFLAKE_PASSWORD", "", "Snowflake password (secret: environment only).", repr=False
    )
    snowflake_role: str = _env("SNOWFLAKE_ROLE", "", "Snowflake role (optional).")
    snowflake_warehouse: str = _env("SNOWFLAKE_WAREHOUSE", "", "Snowflake virtual warehouse that runs queries.")
    snowflake_database: str = _env("SNOWFLAKE_DATABASE", "", "Snowflake database holding the ShopLake schemas.")
    snowflake_schema: str = _env(
        "SNOWFLAKE_SCHEMA", "ANALYTICS", "Schema of the dbt `prod` target, where the marts live."
    )
    snowflake_host: str = _env("SNOWFLAKE_HOST", "", "Optional host override (proxies, emulators such as fakesnow).")
    snowflake_port: str = _env("SNOWFLAKE_PORT", "", "Optional port override.")
    snowflake_protocol: str = _env(
        "SNOWFLAKE_PROTOCOL", "", "Optional protocol override (`http` for a local emulator)."
    )
    snowflake_private_key_path: str = _env(
        "SNOWFLAKE_PRIVATE_KEY_PATH", "", "Unencrypted PKCS#8 private key for key-pair auth (instead of the password)."
    )
    snowflake_login_timeout: str = _env(
        "SNOWFLAKE_LOGIN_TIMEOUT", "30", "Seconds to keep retrying a Snowflake login before giving up."
    )
    snowflake_storage_integration: str = _env(
        "SNOWFLAKE_STORAGE_INTEGRATION", "",
        "Storage integration of the external stage `promote --target prod` loads from when the lake is on "
        "S3 (docs/object-storage.md).",
    )  # fmt: skip
    snowsim_port: int = _env(
        "SHOPLAKE_SNOWSIM_PORT", 0, "Loopback port for `shoplake snowsim start` (0 = any free port)."
    )
    # -- orchestration (Prefect) -----------------------------------------------------------------------
    prefect_api_url: str = _env(
        "PREFECT_API_URL", "",
        "Prefect API that `shoplake serve` registers deployments with; empty = the local server of `shoplake ui`.",
    )  # fmt: skip
    prefect_home: Path | None = _env(
        "SHOPLAKE_PREFECT_HOME",
        None,
        "Prefect's state (settings, SQLite DB) for `shoplake ui`; empty = `<lake>/state/prefect`.",
    )
    prefect_port: int = _env(
        "SHOPLAKE_PREFECT_PORT", 4200, "Loopback port of the local Prefect server and UI started by `shoplake ui`."
    )
    ingest_cron: str = _env(
        "SHOPLAKE_INGEST_CRON",
        "0 * * * *",
        "Schedule of the `ingest-batch` deployment (cron, UTC); `off` = on demand only.",
    )
    extract_cron: str = _env(
        "SHOPLAKE_EXTRACT_CRON", "0 * * * *",
        "Schedule of the `extract-erp` deployment (cron, UTC; registered only when a database source is "
        "configured); `off` = on demand only.",
    )  # fmt: skip
    extract_chunk_rows: int = _env(
        "SHOPLAKE_EXTRACT_CHUNK_ROWS", 500_000,
        "`shoplake extract` lands a table in chunks of this many rows, one ledger commit each (bounds its memory).",
        gt=0,
    )  # fmt: skip
    erp_sim_port: int = _env(
        "SHOPLAKE_ERP_SIM_PORT", 0, "Loopback port of `shoplake erp-sim start` (0 = any free port)."
    )
    pipeline_cron: str = _env(
        "SHOPLAKE_PIPELINE_CRON", "off", "Schedule of the `pipeline` deployment (cron, UTC); `off` = on demand only."
    )
    clickstream_restart_seconds: int = _env(
        "SHOPLAKE_CLICKSTREAM_RESTART_SECONDS", 60,
        "The continuous clickstream deployment is (re)started this often if it is not running; 0 = no deployment.",
    )  # fmt: skip
    promote_cron: str = _env(
        "SHOPLAKE_PROMOTE_CRON",
        "0 2 * * *",
        "Schedule of the nightly `promote` deployment (cron, UTC); `off` = on demand only.",
    )
    promote_target: str = _env(
        "SHOPLAKE_PROMOTE_TARGET", "",
        "dbt target the nightly `promote` deployment loads (`prod` or `snowsim`); empty = no promote deployment.",
    )  # fmt: skip
    promote_follow_seconds: float = _env(
        "SHOPLAKE_PROMOTE_FOLLOW_SECONDS", 15.0,
        "Cycle interval of the `promote-follow` deployment (continuous promotion, registered with "
        "SHOPLAKE_PROMOTE_TARGET); 0 = no follower deployment.",
        ge=0,
    )  # fmt: skip
    flow_retries: int = _env(
        "SHOPLAKE_FLOW_RETRIES", 3, "Retries of flow steps that touch the network (broker, Snowflake, webhooks)."
    )
    flow_retry_delay_seconds: float = _env(
        "SHOPLAKE_FLOW_RETRY_DELAY_SECONDS", 10.0,
        "First retry delay of those steps; each further retry waits twice as long (exponential backoff).",
    )  # fmt: skip

    @field_validator("lake_uri", mode="after")
    @classmethod
    def _object_store(cls, value: str) -> str:
        from .storage import REMOTE_SCHEMES, is_remote_uri

        value = value.strip().rstrip("/")
        if value and not is_remote_uri(value):
            schemes = ", ".join(f"{s}://" for s in REMOTE_SCHEMES)
            raise ValueError(f"SHOPLAKE_LAKE_URI must name an object store ({schemes}); got {value!r}")
        return value

    @field_validator("lake_dir", "prefect_home", "contracts_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().resolve()

    @field_validator(
        "kafka_bootstrap_servers", "prefect_api_url", "ingest_cron", "pipeline_cron", "promote_cron", "promote_target",
        "extract_cron", mode="after",
    )  # fmt: skip
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("business_timezone", mode="after")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value.strip())
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Berlin)") from None
        return value.strip()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        explicit = _EXPLICIT_ENV.get()
        if explicit is not None:
            return (init_settings, _MappingEnvSource(settings_cls, explicit))
        return (init_settings, env_settings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from the process environment (and `./.env`), or only from `env` when given.

        A `.env` file is loaded into the process environment (without overriding it), because dbt's
        profiles.yml reads its secrets from there too.
        """
        if env is None:
            load_dotenv(Path.cwd() / ".env", override=False)
            return cls()
        token = _EXPLICIT_ENV.set(env)
        try:
            return cls()
        finally:
            _EXPLICIT_ENV.reset(token)

    @property
    def snowflake(self) -> SnowflakeSettings:
        return SnowflakeSettings(
            **{name.removeprefix("snowflake_"): getattr(self, name) for name in type(self).model_fields
               if name.startswith("snowflake_")}
        )  # fmt: skip


def _env_vars() -> dict[str, tuple[str, str]]:
    out = {}
    for info in Settings.model_fields.values():
        default = info.default
        text = "" if default is None else str(default).removeprefix("PosixPath('").removesuffix("')")
        out[str(info.validation_alias)] = (text, info.description or "")
    return out


# env var -> (default, description); the README's configuration table is checked against this.
ENV_VARS: dict[str, tuple[str, str]] = _env_vars()


def get_settings() -> Settings:
    """Settings for the current process environment."""
    return Settings.from_env()
