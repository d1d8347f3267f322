"""`shoplake snowsim`: a local Snowflake stand-in (fakesnow on DuckDB) for people without an account.

The server runs detached on loopback; its pid and port live in the lake's state dir
(`Lake.snowsim_state_file`) so `promote`, `parity` and dbt's `snowsim` target find it. It keeps
everything in memory (fakesnow's server ignores `--db_path`), so `stop` discards the promoted data;
promote again after a start.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from ..errors import ShopLakeError
from ..lake import Lake, write_json_atomic

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SnowsimState:
    pid: int
    port: int
    log: str


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def read_state(lake: Lake) -> SnowsimState | None:
    """The recorded server if its process is still alive, else None."""
    try:
        raw = json.loads(lake.snowsim_state_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    state = SnowsimState(pid=int(raw["pid"]), port=int(raw["port"]), log=str(raw.get("log", "")))
    return state if _pid_alive(state.pid) else None


def running_port(lake: Lake) -> int:
    """Port of the running server, or a one-line error telling the user to start it."""
    state = read_state(lake)
    if state is None or not _port_open(state.port):
        raise ShopLakeError(f"no snowsim server is running for lake {lake.root}; run `shoplake snowsim start`")
    return state.port


def start(lake: Lake, port: int = 0) -> SnowsimState:
    """Start fakesnow on loopback (idempotent: an already running server is returned as is)."""
    lake.ensure()
    existing = read_state(lake)
    if existing is not None:
        return existing
    port = port or free_port()
    if _port_open(port):
        raise ShopLakeError(f"port {port} on {HOST} is already in use; set SHOPLAKE_SNOWSIM_PORT to a free port or 0")
    log = lake.snowsim_log_file
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fakesnow", "-s", "--host", HOST, "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the CLI process and Ctrl-C in its terminal
            cwd=lake.state_dir,
        )
    state = SnowsimState(pid=proc.pid, port=port, log=str(log))
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _port_open(port):
        if proc.poll() is not None:
            raise ShopLakeError(f"snowsim exited during start (code {proc.returncode}); see {log}")
        if time.monotonic() > deadline:
            proc.terminate()
            raise ShopLakeError(f"snowsim did not listen on {HOST}:{port} within {START_TIMEOUT_S:.0f}s; see {log}")
        time.sleep(0.1)
    write_json_atomic(lake.snowsim_state_file, {"pid": state.pid, "port": state.port, "log": state.log})
    return state


def stop(lake: Lake, timeout_s: float = 10.0) -> bool:
    """Stop the recorded server; False when none was running."""
    state = read_state(lake)
    lake.snowsim_state_file.unlink(missing_ok=True)
    if state is None:
        return False
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _pid_alive(state.pid):
        if time.monotonic() > deadline:
            os.kill(state.pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    return True


def status(lake: Lake) -> str:
    state = read_state(lake)
    if state is None:
        return "snowsim: not running"
    listening = "listening" if _port_open(state.port) else "NOT listening"
    return f"snowsim: running (pid {state.pid}) on {HOST}:{state.port}, {listening}; log {state.log}"
