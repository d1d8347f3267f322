"""One manager for the local daemons ShopLake starts on loopback (the Kafka broker, snowsim, ...).

A daemon's state lives in the lake (`state/<name>.json`: pid, port, binary, argv, started_at) and its
output in `state/<name>.log`. `start` is idempotent and waits until the daemon is ready; `stop` and
`running` trust a recorded pid only while `/proc/<pid>/cmdline` is still the command we started,
so a pid reused by someone else's process is never signalled. Where there is no /proc (macOS) a
live pid is trusted.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ShopLakeError
from .lake import Lake
from .storage import write_json_atomic

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServiceState:
    name: str
    pid: int
    port: int
    binary: str  # the executable, argv[0]
    started_at: float  # time.time() at start
    argv: tuple[str, ...] = ()
    log: str = ""

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"


@dataclass(frozen=True)
class ServiceSpec:
    """How to run one daemon: `command(port)` is its argv; `ready(port)` says when it serves."""

    name: str
    command: Callable[[int], Sequence[str]]
    start_timeout_s: float = 30.0
    ready: Callable[[int], bool] = field(default=lambda port: port_open(port))
    cwd: Path | None = None
    env: dict[str, str] | None = None
    port_setting: str = ""  # the environment variable that picks its port, named in errors
    user: str | None = None  # run as this system user (a daemon that refuses root, e.g. PostgreSQL, when we are root)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _cmdline(pid: int) -> list[str] | None:
    """The process's argv from /proc, [] for a zombie, None where /proc is unavailable or the pid is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return [] if Path("/proc/self").exists() else None
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_ours(state: ServiceState) -> bool:
    """The recorded pid is alive and still runs the command we started (checked against /proc)."""
    cmdline = _cmdline(state.pid)
    if cmdline is None:  # no /proc: a live pid is the best we can know
        return _pid_alive(state.pid)
    return bool(state.argv) and tuple(cmdline) == state.argv


def read_state(lake: Lake, name: str) -> ServiceState | None:
    """The recorded state, whether or not its process still runs."""
    try:
        raw = json.loads(lake.service_state_file(name).read_text(encoding="utf-8"))
        raw["argv"] = tuple(raw.get("argv", ()))
        return ServiceState(**raw)
    except (OSError, ValueError, TypeError):
        return None


def running(lake: Lake, name: str) -> ServiceState | None:
    """The daemon recorded in this lake, if it still runs."""
    state = read_state(lake, name)
    return state if state is not None and is_ours(state) else None


def _reap(pid: int) -> None:
    """Collect our own exited child so it does not linger as a zombie (no-op for other processes)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def start(lake: Lake, spec: ServiceSpec, port: int = 0) -> tuple[ServiceState, bool]:
    """Start the daemon unless it already runs; returns (state, started_now) once it is ready."""
    lake.ensure()
    state = running(lake, spec.name)
    if state is not None:
        return state, False
    port = port or free_port()
    if port_open(port):
        hint = f"; set {spec.port_setting} to a free port (0 = any)" if spec.port_setting else ""
        raise ShopLakeError(f"port {port} on {HOST} is already in use{hint}")
    argv = tuple(str(a) for a in spec.command(port))
    log = lake.service_log_file(spec.name)
    as_user: dict[str, Any] = {}
    if spec.user is not None:
        as_user = {"user": spec.user, "group": pwd.getpwnam(spec.user).pw_gid, "extra_groups": []}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the CLI process and Ctrl-C in its terminal
            cwd=spec.cwd,
            env=spec.env,
            **as_user,
        )
    state = ServiceState(spec.name, proc.pid, port, argv[0], time.time(), argv, str(log))
    deadline = time.monotonic() + spec.start_timeout_s
    while not spec.ready(port):
        if proc.poll() is not None:
            raise ShopLakeError(f"{spec.name} exited during start (code {proc.returncode}); see {log}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise ShopLakeError(
                f"{spec.name} was not ready on {HOST}:{port} within {spec.start_timeout_s:.0f}s; see {log}"
            )
        time.sleep(0.05)
    write_json_atomic(lake.service_state_file(spec.name), {**asdict(state), "argv": list(argv)})
    return state, True


def stop(lake: Lake, name: str, timeout_s: float = 10.0) -> ServiceState | None:
    """Stop the daemon this lake started (SIGTERM, then SIGKILL); never another process. Returns what stopped."""
    state = running(lake, name)
    lake.service_state_file(name).unlink(missing_ok=True)
    if state is None:
        return None
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while is_ours(state):
        _reap(state.pid)
        if time.monotonic() > deadline:
            os.kill(state.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    _reap(state.pid)
    return state


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: ServiceState | None
    answering: bool

    def describe(self) -> str:
        if self.state is None:
            return f"{self.name}: not running"
        answer = "answering" if self.answering else "NOT answering"
        return f"{self.name}: running, pid {self.state.pid}, {self.state.address} ({answer}); log {self.state.log}"


def status(lake: Lake, name: str) -> ServiceStatus:
    state = running(lake, name)
    return ServiceStatus(name, state, state is not None and port_open(state.port))
