"""`shoplake dashboard`: run the Streamlit app on loopback and say where it is."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

from ..errors import ShopLakeError
from ..settings import REPO_ROOT, Settings

APP_SCRIPT = REPO_ROOT / "app" / "streamlit_app.py"
HOST = "127.0.0.1"  # the dashboard binds to loopback unless told otherwise (DESIGN promise 7)


def dashboard_url(port: int, host: str = HOST) -> str:
    return f"http://{host}:{port}"


def streamlit_command(port: int, host: str = HOST) -> list[str]:
    """The exact Streamlit invocation (tests and the benchmark start the dashboard the same way)."""
    return [
        sys.executable, "-m", "pipelines.dashboard.serve", str(APP_SCRIPT),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--global.developmentMode", "false",
        "--client.toolbarMode", "viewer",
    ]  # fmt: skip


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            raise ShopLakeError(
                f"port {port} on {host} is in use; pass --port N (or set SHOPLAKE_DASHBOARD_PORT)"
            ) from None


def run_dashboard(settings: Settings, port: int | None = None, host: str = HOST) -> int:
    """Start Streamlit in the foreground until Ctrl+C; the app reads the lake given by settings."""
    port = settings.dashboard_port if port is None else port
    if not 0 < port < 65536:
        raise ShopLakeError(f"--port must be between 1 and 65535, got {port}")
    _check_port_free(host, port)
    env = {**os.environ, "SHOPLAKE_LAKE_DIR": str(settings.lake_dir), "DBT_TARGET": settings.dbt_target}
    print(f"ShopLake dashboard: {dashboard_url(port, host)}  (lake {settings.lake_dir}; Ctrl+C to stop)", flush=True)
    proc = subprocess.Popen(streamlit_command(port, host), env=env, cwd=REPO_ROOT)
    # A process manager stops us with SIGTERM: pass it on, or Streamlit outlives us on the port.
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: proc.send_signal(signum))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=10)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
