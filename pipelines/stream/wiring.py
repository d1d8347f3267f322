"""The one place that wires the clickstream: settings -> broker -> topic -> writer configuration.

`shoplake stream`, the `ingest_clickstream` flow and `shoplake demo` all call `run_clickstream`
(or `writer_config`), so the broker they use, the topic they create and the offsets' log name
cannot drift apart.
"""

from __future__ import annotations

from ..lake import Lake
from ..settings import Settings
from .broker import bootstrap_servers, ensure_topic, incarnation, running_broker
from .config import Mode, WriterConfig, WriterStats
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


def writer_config(settings: Settings) -> WriterConfig:
    """Resolve the broker, create the topic when missing, and configure the writer from settings."""
    return WriterConfig.from_settings(settings, clickstream_bootstrap(settings), log_name(settings))


def run_clickstream(settings: Settings, mode: Mode) -> WriterStats:
    """Land the clickstream in the settings' lake: bounded (`until-caught-up`) or `forever`."""
    return run_stream(Lake.of(settings), writer_config(settings), mode)
