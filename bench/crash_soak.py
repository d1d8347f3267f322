"""Crash soak: kill -9 the stream writer --kills times at random moments while events flow.

Each round starts `shoplake stream --forever`, lets it run 0.8-3 s, and SIGKILLs it; a producer
keeps sending meanwhile. A final `--until-caught-up` run drains the rest; then every produced
event must be in the lake exactly once. Last stdout line: JSON.

    python bench/crash_soak.py [--kills 100] [--rate 2000]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import threading
import time

from _common import REPO_ROOT, bench_env, emit

from pipelines.stream.config import WriterConfig
from pipelines.stream.simulator import Catalog, SimulationResult, kafka_sender, simulate_clicks
from pipelines.stream.writer import run_stream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--rate", type=float, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    with bench_env(3) as env:
        produced: list[SimulationResult] = []

        def produce() -> None:
            send, close = kafka_sender(env.bootstrap, env.topic)
            duration = args.kills * 1.9  # roughly the time the kill rounds take
            catalog = Catalog.synthetic(2_000, 300)
            produced.append(simulate_clicks(send, catalog, rate=args.rate, duration_s=duration))
            close()

        producer = threading.Thread(target=produce)
        producer.start()
        child_env = env.child_env(SHOPLAKE_STREAM_FLUSH_SECONDS="0.2", SHOPLAKE_STREAM_COMPACT_FILES="8")
        kills = doubled_seen = 0
        while kills < args.kills or producer.is_alive():
            proc = subprocess.Popen(
                [sys.executable, "-m", "pipelines.cli", "stream", "--forever"],
                cwd=REPO_ROOT,
                env=child_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rng.uniform(0.8, 3.0))
            proc.kill()
            proc.wait()
            kills += 1
            rows, distinct = env.counts()
            doubled_seen += rows != distinct
        producer.join()
        final = run_stream(env.lake, WriterConfig(env.bootstrap, env.topic), "until-caught-up")
        rows, distinct = env.counts()
        total = produced[0].events
        emit(
            {
                "kills": kills,
                "produced": total,
                "rows": rows,
                "distinct": distinct,
                "lost": total - distinct,
                "doubled": rows - distinct,
                "doubles_seen_between_kills": doubled_seen,
                "drained_by_final_run": final.events,
                "ok": rows == distinct == total and doubled_seen == 0,
                "seconds": round(time.monotonic() - t0, 1),
            }
        )


if __name__ == "__main__":
    main()
