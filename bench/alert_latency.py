"""Alert latency: time from a clickstream drop's first events landing in the lake to the alert.

A real `shoplake stream --forever` and a real `shoplake watch-clickstream` (its default, tuned
parameters) run as child processes on the bench's lake; the simulator produces a steady stream
at --rate events/s, then, --drops times, a drop (the simulator's `--inject-drop` window: traffic
and conversion divided by --factor for --drop-duration s) followed by a steady recovery. Each
phase has its own generator run id, so a poller (DuckDB over new Parquet files every 50 ms) sees
when the first event of a drop phase becomes visible; the alert time is `raised_at` in the alert
log. An alert outside a drop (from its start to 2 windows after it ends) is a false alert.
Last stdout line: JSON.

    python bench/alert_latency.py [--rate 300] [--drops 3] [--seed 1]
"""

from __future__ import annotations

import argparse
import glob
import signal
import statistics
import subprocess
import sys
import threading
import time

import duckdb
from _common import REPO_ROOT, bench_env, emit

from pipelines.alerts import read_alert_log
from pipelines.lake import CLICKSTREAM_TABLE
from pipelines.quality.clickstream import REALTIME
from pipelines.stream.simulator import Catalog, DropWindow, SessionGenerator, encode, iter_chunks, kafka_sender

TARGET_S = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=300.0, help="steady events/s (x --scale)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies --rate")
    parser.add_argument("--drops", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=None, help="steady s before the first drop (default: baseline)")
    parser.add_argument("--steady", type=float, default=30.0, help="steady s after each drop")
    parser.add_argument("--drop-duration", type=float, default=15.0)
    parser.add_argument("--factor", type=float, default=10.0, help="traffic and conversion divided by this")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--partitions", type=int, default=2)
    args = parser.parse_args()
    rate = args.rate * args.scale
    # The monitor judges once its baseline windows are filled: warm up that long plus a margin.
    warmup = args.warmup if args.warmup is not None else REALTIME.window_s * (REALTIME.baseline_windows + 1) + 10
    phases: list[tuple[str, float]] = [("steady", warmup)]
    for _ in range(args.drops):
        phases += [("drop", args.drop_duration), ("steady", args.steady)]

    with bench_env(args.partitions) as env:
        writer = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "stream", "--forever"],
            cwd=REPO_ROOT,
            env=env.child_env(),
            stderr=subprocess.PIPE,
        )
        monitor = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "watch-clickstream"],
            cwd=REPO_ROOT,
            env=env.child_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert writer.stderr is not None and monitor.stdout is not None
            writer.stderr.readline()  # "stream: consuming ..." once partitions are assigned
            monitor.stdout.readline()  # "watching ..."
            result = run_phases(env, phases, rate, args)
        finally:
            for child in (monitor, writer):  # SIGTERM: the writer flushes and exits 0
                child.send_signal(signal.SIGTERM)
            for child in (monitor, writer):
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        result["writer_exit"] = writer.returncode
        emit(result)


def run_phases(env, phases: list[tuple[str, float]], rate: float, args: argparse.Namespace) -> dict[str, object]:
    catalog = Catalog.synthetic(10_000, 1_000)
    send, close = kafka_sender(env.bootstrap, env.topic)
    # Per phase: run id (event_id prefix), kind, wall-clock start and end of producing it.
    spans: list[dict[str, object]] = []
    events_sent = [0]

    def produce() -> None:
        for i, (kind, duration) in enumerate(phases):
            gen = SessionGenerator(catalog, seed=args.seed * 1000 + i)
            drop = DropWindow(0.0, duration, args.factor) if kind == "drop" else None
            span = {"run_id": gen.run_id, "kind": kind, "start": time.time(), "end": None}
            spans.append(span)
            for df, wait_s in iter_chunks(gen, events=None, rate=rate, duration_s=duration, drop=drop):
                if wait_s:
                    time.sleep(wait_s)
                payloads, keys = encode(df)
                send(payloads, keys)
                events_sent[0] += len(payloads)
            span["end"] = time.time()
        close()

    producer = threading.Thread(target=produce, name="producer")
    producer.start()
    first_visible: dict[str, float] = {}  # drop run id -> wall time its first event was visible
    read_files: set[str] = set()
    pattern = env.lake.raw_glob(CLICKSTREAM_TABLE)
    con = duckdb.connect()
    grace_s = 2 * REALTIME.window_s + REALTIME.lateness_s
    end_by = None
    while True:
        if end_by is None and not producer.is_alive():
            end_by = time.time() + 3  # let the last flushes land and the monitor look once more
        if end_by is not None and time.time() > end_by:
            break
        pending = [s["run_id"] for s in list(spans) if s["kind"] == "drop" and s["run_id"] not in first_visible]
        new = sorted(set(glob.glob(pattern, recursive=True)) - read_files)
        if new and pending:
            try:
                rows = con.execute(
                    "select distinct split_part(event_id, '-', 1) from read_parquet($files)", {"files": new}
                ).fetchall()
            except duckdb.Error:  # a file compacted away between listing and reading: next round
                continue
            now = time.time()
            for (run_id,) in rows:
                if run_id in pending:
                    first_visible[run_id] = now
        read_files.update(new)
        time.sleep(0.05)
    producer.join()

    alerts = [
        (a["raised_at"].timestamp(), a["context"]["metric"])
        for a in read_alert_log(env.lake)
        if a["source"] == "clickstream"
    ]
    drops = [s for s in spans if s["kind"] == "drop"]
    latencies: list[float] = []
    per_drop = []
    matched: set[int] = set()
    for s in drops:
        visible = first_visible.get(s["run_id"])
        hits = [
            (i, t, metric)
            for i, (t, metric) in enumerate(alerts)
            if s["start"] <= t <= s["end"] + grace_s  # type: ignore[operator]
        ]
        matched.update(i for i, _, _ in hits)
        first = min((t for _, t, _ in hits), default=None)
        latency = round(first - visible, 3) if first is not None and visible is not None else None
        if latency is not None:
            latencies.append(latency)
        per_drop.append(
            {
                "latency_s": latency,
                "metrics": sorted({m for _, _, m in hits}),
                "visible_after_start_s": round(visible - s["start"], 3) if visible else None,  # type: ignore[operator]
            }
        )
    false_alerts = len(alerts) - len(matched)
    ordered = sorted(latencies)
    return {
        "rate": rate,
        "seed": args.seed,
        "factor": args.factor,
        "events": events_sent[0],
        "drops": len(drops),
        "detected": len(latencies),
        "false_alerts": false_alerts,
        "latency_p50_s": round(statistics.median(ordered), 3) if ordered else None,
        "latency_max_s": ordered[-1] if ordered else None,
        "target_s": TARGET_S,
        "met": bool(ordered) and len(ordered) == len(drops) and ordered[-1] <= TARGET_S and false_alerts == 0,
        "per_drop": per_drop,
        "params": {
            "window_s": REALTIME.window_s,
            "baseline_windows": REALTIME.baseline_windows,
            "lateness_s": REALTIME.lateness_s,
            "time_column": REALTIME.time_column,
        },
    }


if __name__ == "__main__":
    main()
