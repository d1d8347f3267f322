"""Where Prefect lives: its home under the lake, the local server on loopback, the API URL clients use.

Prefect reads its settings when it is imported, so `configure_prefect_env` runs before any
flow module is imported (the CLI imports them lazily).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import ShopLakeError
from ..lake import Lake
from ..settings import Settings

HOST = "127.0.0.1"


def prefect_home(settings: Settings) -> Path:
    return settings.prefect_home or Lake.of(settings).prefect_home


def api_url(settings: Settings) -> str:
    """`PREFECT_API_URL` when set, else the local server that `shoplake ui` starts."""
    return settings.prefect_api_url or f"http://{HOST}:{settings.prefect_port}/api"


def prefect_env(settings: Settings) -> dict[str, str]:
    """Environment for Prefect clients and the server: state under the lake, no phoning home."""
    home = prefect_home(settings)
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url(settings),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
    }


def configure_prefect_env(settings: Settings) -> dict[str, str]:
    """Point this process (and the flow runs it starts) at ShopLake's Prefect; call before importing prefect."""
    env = prefect_env(settings)
    if "prefect" in sys.modules and os.environ.get("PREFECT_API_URL") != env["PREFECT_API_URL"]:
        raise RuntimeError("configure_prefect_env must run before prefect is imported")
    Path(env["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    return env


def server_healthy(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout_s) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def require_server(settings: Settings) -> str:
    url = api_url(settings)
    if not server_healthy(url):
        raise ShopLakeError(
            f"no Prefect server answers at {url}; start one with `shoplake ui` (or set PREFECT_API_URL)"
        )
    return url


def run_server(settings: Settings) -> int:
    """`shoplake ui`: the Prefect server and UI on loopback, in the foreground, state under the lake."""
    url = api_url(settings)
    if server_healthy(url):
        raise ShopLakeError(f"a Prefect server already answers at {url}")
    env = {**os.environ, **prefect_env(settings)}
    Path(env["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(settings.prefect_port)]
    print(f"Prefect UI: http://{HOST}:{settings.prefect_port}  (state in {env['PREFECT_HOME']}; Ctrl+C stops it)")
    proc = subprocess.Popen(cmd, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            return proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()


def wait_for_server(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server_healthy(url):
            return
        time.sleep(0.5)
    raise TimeoutError(f"Prefect server at {url} not healthy after {timeout_s:.0f}s")
