"""Crash soak: kill -9 the stream writer --kills times at random moments while events flow.

Each round starts `shoplake stream --forever`, lets it run 0.8-3 s, and SIGKILLs it; a producer
keeps sending meanwhile. A final `--until-caught-up` run drains the rest; then every produced
event must be in the lake exactly once. Last stdout line: JSON.

    python bench/crash_soak.py [--kills 100] [--rate 2000] [--local-s3 | --lake-uri s3://bucket/prefix]

With `--local-s3` the lake's data zones are on a local S3-compatible server (moto) the soak starts;
with `--lake-uri` on the given store (credentials from the environment).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import subprocess
import sys
import threading
import time

from _common import REPO_ROOT, bench_env, emit
from _s3 import local_s3

from pipelines.stream.config import WriterConfig
from pipelines.stream.simulator import Catalog, SimulationResult, kafka_sender, simulate_clicks
from pipelines.stream.writer import run_stream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--rate", type=float, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lake-uri", default=None, help="the lake's data zones on this object store")
    parser.add_argument("--local-s3", action="store_true", help="on a local S3 server (moto) started here")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    with contextlib.ExitStack() as stack:
        uri = stack.enter_context(local_s3()) if args.local_s3 else args.lake_uri
        soak(args, rng, t0, uri)


def soak(args: argparse.Namespace, rng: random.Random, t0: float, uri: str | None) -> None:
    with bench_env(3, uri) as env:
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
                "lake": "object store" if uri else "local",
                "seconds": round(time.monotonic() - t0, 1),
            }
        )


if __name__ == "__main__":
    main()
