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
    # Snowflake (`--target prod`); every value comes from the environment, never from a tracked file.
    "SNOWFLAKE_ACCOUNT": ("", "Snowflake account identifier (e.g. `xy12345.eu-west-1`); required for `prod`."),
    "SNOWFLAKE_USER": ("", "Snowflake login name; required for `prod`."),
    "SNOWFLAKE_PASSWORD": ("", "Password for SNOWFLAKE_USER (or use SNOWFLAKE_PRIVATE_KEY_PATH)."),
    "SNOWFLAKE_PRIVATE_KEY_PATH": ("", "Path to an unencrypted PKCS#8 private key for key-pair auth."),
    "SNOWFLAKE_ROLE": ("", "Role to use (empty: the user's default role)."),
    "SNOWFLAKE_WAREHOUSE": ("", "Virtual warehouse that runs promotion and dbt; required for `prod`."),
    "SNOWFLAKE_DATABASE": ("", "Database holding the RAW schema and the dbt models; required for `prod`."),
    "SNOWFLAKE_SCHEMA": ("ANALYTICS", "Schema dbt builds models into on Snowflake (raw tables live in RAW)."),
    "SNOWFLAKE_HOST": ("", "Optional host override (proxies, emulators); default `<account>.snowflakecomputing.com`."),
    "SNOWFLAKE_PORT": ("", "Optional port override (default 443)."),
    "SNOWFLAKE_PROTOCOL": ("", "Optional protocol override, `https` (default) or `http`."),
    "SNOWFLAKE_LOGIN_TIMEOUT": ("30", "Seconds to keep retrying a Snowflake login before giving up."),
    "SHOPLAKE_SNOWSIM_PORT": ("0", "Loopback port for `shoplake snowsim start` (0 = any free port)."),
}


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with `Settings.from_env()` so tests can pass their own env."""

    lake_dir: Path
    dbt_target: str = "dev"
    demo_scale: float = 0.05
    # Raw SNOWFLAKE_* values; resolved and validated per target in pipelines/warehouse/snowflake.py.
    snowflake: dict[str, str] = field(default_factory=dict, repr=False)
    snowsim_port: int = 0

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
            snowflake={name: get(name) for name in ENV_VARS if name.startswith("SNOWFLAKE_")},
            snowsim_port=int(get("SHOPLAKE_SNOWSIM_PORT")),
        )


def get_settings() -> Settings:
    """Settings for the current process environment."""
    return Settings.from_env()
