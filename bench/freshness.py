"""Freshness: time from produce to the event being visible to a DuckDB query over the lake.

A real `shoplake stream --forever` runs in a child process; the simulator produces at --rate
events/s; a poller reads new Parquet files with DuckDB every 50 ms. Last stdout line: JSON.

    python bench/freshness.py [--rate 5000] [--duration 30]
"""

from __future__ import annotations

import argparse
import glob
import signal
import subprocess
import sys
import threading
import time

import duckdb
from _common import REPO_ROOT, bench_env, emit, latencies, quantile, timed

from pipelines.lake import CLICKSTREAM_TABLE
from pipelines.stream.simulator import Catalog, kafka_sender, simulate_clicks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=5_000)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    with bench_env(args.partitions) as env:
        writer = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "stream", "--forever"],
            cwd=REPO_ROOT,
            env=env.child_env(),
            stderr=subprocess.PIPE,
        )
        assert writer.stderr is not None
        writer.stderr.readline()  # "stream: consuming ..." once partitions are assigned
        send, close = kafka_sender(env.bootstrap, env.topic)
        timed_send, sent = timed(send)

        def produce() -> None:
            catalog = Catalog.synthetic(10_000, 1_000)
            simulate_clicks(timed_send, catalog, rate=args.rate, duration_s=args.duration)
            close()

        producer = threading.Thread(target=produce)
        producer.start()
        visible: dict[str, float] = {}
        read_files: set[str] = set()
        pattern = env.lake.raw_glob(CLICKSTREAM_TABLE)
        con = duckdb.connect()
        deadline = None
        while True:
            if deadline is None and not producer.is_alive():
                deadline = time.monotonic() + 15
            if deadline is not None and (len(visible) >= len(sent) or time.monotonic() > deadline):
                break
            new = sorted(set(glob.glob(pattern, recursive=True)) - read_files)
            if new:
                try:
                    ids = con.execute("select event_id from read_parquet($files)", {"files": new}).fetchall()
                except duckdb.Error:  # a file compacted away between listing and reading: next round
                    continue
                now = time.monotonic()
                for (event_id,) in ids:
                    visible.setdefault(event_id, now)
                read_files.update(new)
            time.sleep(0.05)
        producer.join()
        writer.send_signal(signal.SIGTERM)
        writer.wait(timeout=30)
        lat = latencies(sent, visible)
        if not lat:
            raise SystemExit("no event became visible")

        def q(p: float) -> float:
            return quantile(lat, p, digits=3)

        emit(
            {
                "rate": args.rate,
                "events": len(sent),
                "visible": len(lat),
                "p50_s": q(0.50),
                "p95_s": q(0.95),
                "p99_s": q(0.99),
                "max_s": round(lat[-1], 3),
                "writer_exit": writer.returncode,
            }
        )


if __name__ == "__main__":
    main()
