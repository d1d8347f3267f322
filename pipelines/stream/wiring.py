"""The one place that wires the clickstream: settings -> broker -> topic -> writer configuration.

`shoplake stream`, the `ingest_clickstream` flow and `shoplake demo` all call `run_clickstream`
(or `writer_config`), so the broker they use, the topic they create, the offsets' log name and the
event contract (key types from the customers and products contracts) cannot drift apart.
"""

from __future__ import annotations

from ..batch.contract import load_contracts
from ..errors import ShopLakeError
from ..lake import Lake
from ..settings import Settings
from .broker import bootstrap_servers, ensure_topic, incarnation, running_broker
from .config import Mode, WriterConfig, WriterStats
from .contract import EventContract
from .writer import run_stream


def log_name(settings: Settings) -> str:
    """Topic name for a configured broker; topic plus incarnation for the local in-memory broker."""
    if settings.kafka_bootstrap_servers:
        return settings.clickstream_topic
    state = running_broker(Lake.of(settings))
    return settings.clickstream_topic if state is None else f"{settings.clickstream_topic}~{incarnation(state)}"


def clickstream_bootstrap(settings: Settings) -> str:
    """The broker to use (configured, else the running local one), with the clickstream topic created on it."""
    bootstrap = bootstrap_servers(settings)
    ensure_topic(bootstrap, settings.clickstream_topic, settings.clickstream_partitions)
    return bootstrap


def event_contract(settings: Settings) -> EventContract:
    """The event contract for the batch contracts in use: customer_id and product_id are typed as the
    customers and products contracts declare their keys, so events join the dimensions they name."""
    try:
        return EventContract.for_contracts(load_contracts())
    except ValueError as exc:
        raise ShopLakeError(f"clickstream event contract: {exc}") from None


def writer_config(settings: Settings) -> WriterConfig:
    """Resolve the broker, create the topic when missing, and configure the writer from settings."""
    return WriterConfig.from_settings(
        settings, clickstream_bootstrap(settings), log_name(settings), event_contract(settings)
    )


def run_clickstream(settings: Settings, mode: Mode) -> WriterStats:
    """Land the clickstream in the settings' lake: bounded (`until-caught-up`) or `forever`."""
    return run_stream(Lake.of(settings), writer_config(settings), mode)
