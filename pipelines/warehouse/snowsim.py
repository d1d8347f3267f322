"""`shoplake snowsim`: a local Snowflake stand-in (fakesnow on DuckDB) for people without an account.

The server is a daemon of `pipelines/services.py` on loopback; its pid and port live in the lake's
state dir so `promote`, `parity` and dbt's `snowsim` target find it. It keeps everything in memory
(fakesnow's server ignores `--db_path`), so `stop` discards the promoted data; promote again after
a start.
"""

from __future__ import annotations

import sys

from .. import services
from ..errors import ShopLakeError
from ..lake import Lake
from ..services import HOST, ServiceSpec, ServiceState, ServiceStatus, free_port
from ..settings import Settings

__all__ = ["HOST", "free_port", "running_port", "start", "status", "stop"]

NAME = "snowsim"


def _command(lake: Lake, port: int) -> list[str]:
    """fakesnow's own server; for a lake on an object store, the launcher that lets it read the bucket."""
    if lake.uri:
        return [sys.executable, "-m", "pipelines.warehouse.snowsim_s3", HOST, str(port), lake.uri]
    return [sys.executable, "-m", "fakesnow", "-s", "--host", HOST, "-p", str(port)]


def _spec(lake: Lake) -> ServiceSpec:
    return ServiceSpec(
        NAME,
        lambda port: _command(lake, port),
        start_timeout_s=30.0,
        cwd=lake.state_dir,
        port_setting="SHOPLAKE_SNOWSIM_PORT",
    )


def running_port(lake: Lake) -> int:
    """Port of the running server, or a one-line error telling the user to start it."""
    state = services.running(lake, NAME)
    if state is None or not services.port_open(state.port):
        raise ShopLakeError(f"no snowsim server is running for lake {lake.root}; run `shoplake snowsim start`")
    return state.port


def start(settings: Settings) -> ServiceState:
    """Start fakesnow on loopback (idempotent: an already running server is returned as is)."""
    lake = Lake.of(settings)
    state, _ = services.start(lake, _spec(lake), port=settings.snowsim_port)
    return state


def stop(settings: Settings) -> bool:
    """Stop the recorded server (never another process); False when none was running."""
    return services.stop(Lake.of(settings), NAME) is not None


def status(settings: Settings) -> ServiceStatus:
    return services.status(Lake.of(settings), NAME)
