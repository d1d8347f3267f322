"""Broker -> committed Parquet throughput of the stream writer vs raw confluent-kafka consumption.

Produces a backlog, times a poll-and-discard consumer over it (with the writer's client settings,
and with librdkafka's defaults), then the real writer in a child process, which reports its own
peak RSS. Last stdout line: one JSON object.

    python bench/stream_throughput.py [--events 2000000] [--partitions 4]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _common import REPO_ROOT, BenchEnv, bench_env, emit, peak_rss_mb


def produce(env: BenchEnv, events: int) -> float:
    from pipelines.stream.simulator import Catalog, kafka_sender, simulate_clicks

    send, close = kafka_sender(env.bootstrap, env.topic)
    result = simulate_clicks(send, Catalog.synthetic(10_000, 1_000), events=events, seed=1)
    close()
    return result.events_per_s


def raw_consume(env: BenchEnv, events: int, settings: dict[str, object]) -> float:
    """Poll and discard; events/s from the first message."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({**settings, "bootstrap.servers": env.bootstrap, "group.id": "bench-raw"})
    parts = consumer.list_topics(env.topic, timeout=10).topics[env.topic].partitions
    consumer.assign([TopicPartition(env.topic, p, OFFSET_BEGINNING) for p in parts])
    seen, first = 0, 0.0
    while seen < events:
        msgs = consumer.consume(10_000, timeout=5.0)
        if not msgs:
            raise RuntimeError(f"raw consumer stalled at {seen} of {events}")
        first = first or time.perf_counter()
        for msg in msgs:
            msg.value()
        seen += len(msgs)
    elapsed = time.perf_counter() - first
    consumer.close()
    return seen / elapsed


def writer_settings(env: BenchEnv) -> dict[str, object]:
    from pipelines.stream.config import WriterConfig
    from pipelines.stream.consumer import consumer_config

    return consumer_config(WriterConfig(env.bootstrap, env.topic))


def child_writer() -> None:
    """What `shoplake stream --until-caught-up` does: tune this process, then run the writer wired from settings."""
    from pipelines.settings import get_settings
    from pipelines.stream.runtime import tune_for_stream_writer
    from pipelines.stream.wiring import run_clickstream

    tune_for_stream_writer()
    stats = run_clickstream(get_settings(), "until-caught-up")
    summary = {
        "events": stats.events,
        "active_seconds": stats.active_seconds,
        "flushes": stats.flushes,
        "commits": stats.commits,
        "files": stats.files,
        "compacted_files": stats.compacted_files,
        "peak_rss_mb": peak_rss_mb(),
    }
    print(json.dumps(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--flush-events", type=int, default=None, help="writer size bound (default: setting)")
    parser.add_argument("--child-writer", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_writer:
        child_writer()
        return
    with bench_env(args.partitions) as env:
        produce_rate = produce(env, args.events)
        print(f"produced {args.events:,} events at {produce_rate:,.0f}/s", file=sys.stderr)
        # The baseline is the same client with the writer's settings; librdkafka's defaults are
        # reported too (they back off 1 s whenever the prefetch queue fills).
        raw_rate = raw_consume(env, args.events, writer_settings(env))
        raw_default_rate = raw_consume(env, args.events, {})
        print(f"raw consume: {raw_rate:,.0f} events/s ({raw_default_rate:,.0f} with defaults)", file=sys.stderr)
        flush_env = {"SHOPLAKE_STREAM_FLUSH_EVENTS": str(args.flush_events)} if args.flush_events else {}
        proc = subprocess.run(
            [sys.executable, __file__, "--child-writer"],
            env=env.child_env(**flush_env),
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        child = json.loads(proc.stdout.strip().splitlines()[-1])
        rows, distinct = env.counts()
        assert rows == distinct == child["events"] == args.events, (rows, distinct, child)
        rate = child["events"] / child["active_seconds"]
        emit(
            {
                "events": child["events"],
                "events_per_s": round(rate),
                "raw_events_per_s": round(raw_rate),
                "raw_default_events_per_s": round(raw_default_rate),
                "ratio": round(rate / raw_rate, 3),
                "ratio_vs_default_raw": round(rate / raw_default_rate, 3),
                "peak_rss_mb": round(child["peak_rss_mb"], 1),
                "flushes": child["flushes"],
                "commits": child["commits"],
                "files": child["files"],
                "compacted_files": child["compacted_files"],
                "partitions": args.partitions,
            }
        )


if __name__ == "__main__":
    main()
