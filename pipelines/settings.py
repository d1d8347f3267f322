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
    "SHOPLAKE_ALERT_WEBHOOK_URL": (
        "",
        "Slack-compatible incoming webhook for alerts; empty = alerts go to the alert log only.",
    ),
    "SHOPLAKE_ALERT_DEDUP_HOURS": ("24", "An alert with the same key is not re-sent within this many hours."),
}


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with `Settings.from_env()` so tests can pass their own env."""

    lake_dir: Path
    dbt_target: str = "dev"
    demo_scale: float = 0.05
    alert_webhook_url: str = ""
    alert_dedup_hours: float = 24.0

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
        )


def get_settings() -> Settings:
    """Settings for the current process environment."""
    return Settings.from_env()
