"""Broker -> committed Parquet throughput of the stream writer vs raw confluent-kafka consumption.

Produces a backlog, times a poll-and-discard consumer over it, then the real writer (in a child
process, so its peak RSS is measured alone). Last stdout line: one JSON object.

    python bench/stream_throughput.py [--events 2000000] [--partitions 4]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from _common import REPO_ROOT, BenchEnv, bench_env, emit


def produce(env: BenchEnv, events: int) -> float:
    from pipelines.stream.simulator import Catalog, kafka_sender, simulate_clicks

    send, close = kafka_sender(env.bootstrap, env.topic)
    result = simulate_clicks(send, Catalog.synthetic(10_000, 1_000), events=events, seed=1)
    close()
    return result.events_per_s


def raw_consume(env: BenchEnv, events: int) -> float:
    """Poll and discard with confluent-kafka's defaults; events/s from the first message."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": env.bootstrap, "group.id": "bench-raw"})
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


def child_writer() -> None:
    from pipelines.lake import Lake
    from pipelines.settings import get_settings
    from pipelines.stream.writer import WriterConfig, run_stream

    settings = get_settings()
    cfg = WriterConfig.from_settings(settings, settings.kafka_bootstrap_servers)
    stats = run_stream(Lake(settings.lake_dir), cfg, "until-caught-up")
    summary = {"events": stats.events, "active_seconds": stats.active_seconds, "flushes": stats.flushes}
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
        raw_rate = raw_consume(env, args.events)
        print(f"raw consume: {raw_rate:,.0f} events/s", file=sys.stderr)
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
        peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        rows, distinct = env.counts()
        assert rows == distinct == child["events"] == args.events, (rows, distinct, child)
        rate = child["events"] / child["active_seconds"]
        emit(
            {
                "events": child["events"],
                "events_per_s": round(rate),
                "raw_events_per_s": round(raw_rate),
                "ratio": round(rate / raw_rate, 3),
                "peak_rss_mb": round(peak_rss_mb, 1),
                "flushes": child["flushes"],
                "partitions": args.partitions,
            }
        )


if __name__ == "__main__":
    main()
