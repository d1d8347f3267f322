"""Snowflake freshness: time from produce to the event being visible in a Snowflake (snowsim) query.

Everything on 127.0.0.1, started and stopped here: the local broker, a temp lake with a tiny batch
history (generate + ingest at --scale, so the marts build), snowsim (fakesnow), a real
`shoplake stream --forever` and a real `shoplake promote --follow --target snowsim --interval N`
(which loads each new committed file into RAW and builds the clickstream marts incrementally).
The simulator produces at --rate events/s for --duration s, each with a unique event id and its
produce time; a poller queries `RAW.CLICKSTREAM_EVENTS` every --poll s. Latency = first poll that
sees the id - produce time. `doubled` = ids seen more than once, `lost` = ids never seen (after
waiting for the follower to catch up). Last stdout line: JSON.

    python bench/snowflake_freshness.py [--rate 300] [--duration 120] [--interval 10]
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from _common import REPO_ROOT, bench_env, emit, latencies, quantile, timed
from snowflake.connector.errors import ProgrammingError

from pipelines.batch.ingest import ingest_all
from pipelines.catalog import load_click_catalog
from pipelines.generate.batch import REFERENCE_END_DATE, generate_exports
from pipelines.lake import CLICKSTREAM_TABLE
from pipelines.settings import Settings
from pipelines.stream.simulator import kafka_sender, simulate_clicks
from pipelines.warehouse import snowsim
from pipelines.warehouse.snowflake import connect, resolve_target

CYCLE = re.compile(r"^cycle (\d+) .*?; (?:dbt build (ok|FAILED) in ([0-9.]+)s .*; )?([0-9.]+)s$")


def _wait_for_line(log: Path, pattern: str, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while pattern not in (log.read_text(errors="replace") if log.exists() else ""):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"no {pattern!r} from {proc.args}: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=300.0, help="events per second (default 300)")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of producing (default 120)")
    parser.add_argument("--interval", type=float, default=10.0, help="follower cycle interval, s (default 10)")
    parser.add_argument("--poll", type=float, default=1.0, help="Snowflake poll interval, s (default 1)")
    parser.add_argument("--scale", type=float, default=0.01, help="batch history scale (default 0.01)")
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()

    with bench_env(args.partitions) as env:
        settings = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(env.lake.root)})
        generate_exports(settings, scale=args.scale, seed=42, end_date=REFERENCE_END_DATE)
        assert not ingest_all(settings, progress=False).failed_files
        snowsim.start(settings)
        logs = env.lake.root / "bench-logs"
        logs.mkdir()
        procs: list[subprocess.Popen] = []
        try:
            cmd = [sys.executable, "-m", "pipelines.cli"]
            with open(logs / "stream.log", "wb") as out:
                writer = subprocess.Popen([*cmd, "stream", "--forever"], cwd=REPO_ROOT, env=env.child_env(),
                                          stderr=out, stdout=out)  # fmt: skip
            procs.append(writer)
            _wait_for_line(logs / "stream.log", "consuming", writer, 60)
            follow_cmd = [*cmd, "promote", "--follow", "--target", "snowsim", "--interval", str(args.interval)]
            with open(logs / "follow.log", "wb") as out:
                follower = subprocess.Popen(follow_cmd, cwd=REPO_ROOT, env=env.child_env(), stderr=out, stdout=out)
            procs.append(follower)
            _wait_for_line(logs / "follow.log", "cycle 1 ", follower, 300)  # the first cycle builds everything once

            seen: dict[str, float] = {}
            copies: dict[str, int] = {}
            send, close = kafka_sender(env.bootstrap, env.topic)
            timed_send, sent = timed(send)

            def produce() -> None:
                simulate_clicks(timed_send, load_click_catalog(env.lake), rate=args.rate, duration_s=args.duration)
                close()

            producer = threading.Thread(target=produce)
            started = time.monotonic()
            producer.start()
            con = connect(resolve_target(settings, "snowsim"))
            cur = con.cursor()
            table = f"RAW.{CLICKSTREAM_TABLE.upper()}"
            deadline = None
            while True:
                time.sleep(args.poll)
                try:
                    cur.execute(f"select event_id, count(*) from {table} group by 1")
                    rows = cur.fetchall()
                except ProgrammingError:  # the table does not exist before the first clicks load
                    rows = []
                now = time.monotonic()
                for event_id, n in rows:
                    seen.setdefault(str(event_id), now)
                    copies[str(event_id)] = int(n)
                if deadline is None and not producer.is_alive():
                    deadline = now + 3 * args.interval + 120  # time for the last files to be committed and loaded
                if deadline is not None and (set(sent) <= set(seen) or now > deadline):
                    break
            producer.join()
            con.close()
            elapsed = time.monotonic() - started
        finally:
            for proc in reversed(procs):
                proc.send_signal(signal.SIGTERM)
            for proc in reversed(procs):
                try:
                    proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    proc.kill()
            snowsim.stop(settings)

        follow_log = (logs / "follow.log").read_text(errors="replace").splitlines()
        cycles = [m for line in follow_log if (m := CYCLE.match(line))]
        # cycles that met compacted files (merged by the stream writer) holding rows RAW had already
        compacted = sum(1 for line in follow_log if CYCLE.match(line) and "rewritten (compacted) files" in line)
        builds = [float(m[3]) for m in cycles if m[2]]
        lat = latencies(sent, seen)
        if not lat:
            raise SystemExit(f"no event became visible; follower log: {(logs / 'follow.log').read_text()[-3000:]}")

        def q(p: float) -> float:
            return quantile(lat, p)

        emit(
            {
                "bench": "snowflake_freshness",
                "target": "snowsim (fakesnow)",
                "rate": args.rate,
                "duration_s": args.duration,
                "interval_s": args.interval,
                "events": len(sent),
                "visible": len(lat),
                "p50_s": q(0.50),
                "p95_s": q(0.95),
                "p99_s": q(0.99),
                "max_s": round(lat[-1], 2),
                "doubled": sum(1 for k in sent if copies.get(k, 0) > 1),
                "lost": sum(1 for k in sent if k not in seen),
                "extra_ids": len(set(seen) - set(sent)),
                "cycles": len(cycles),
                "cycles_with_compacted_files": compacted,
                "failed_builds": sum(1 for m in cycles if m[2] == "FAILED"),
                # the first failed cycle's line (names the failing node), so a failure can be read after the run
                "first_failed_cycle": next((m[0][-600:] for m in cycles if m[2] == "FAILED"), None),
                "cycle_p50_s": sorted(float(m[4]) for m in cycles)[len(cycles) // 2] if cycles else None,
                "dbt_build_p50_s": sorted(builds)[len(builds) // 2] if builds else None,
                "elapsed_s": round(elapsed, 1),
                "follower_exit": follower.returncode,
                "writer_exit": writer.returncode,
            }
        )


if __name__ == "__main__":
    main()
