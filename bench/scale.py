"""Benchmark: the README's scale row. Ingest, full build, incremental build and dashboard latency at --scale.

    python bench/scale.py --scale 10 [--dir /path/with/space] [--keep]

Every step runs as its own process, the way people run it, so each has its own wall time and peak
RSS (`os.wait4`'s rusage of that child): `shoplake generate` (not a target, reported), `shoplake
ingest`, `shoplake transform --full-refresh` (every model, data test and unit test, then the snapshot
publish), `pipelines.generate.changes.write_changes` (1 % new orders with their lines and 1,000
corrected old orders) and `shoplake ingest` of them, `shoplake transform` (incremental, with its
publish), and `bench/dashboard_queries.py --no-browser` on the published snapshot (its `max_p95_ms`).
The target is each step within 10 minutes. The lake is a temporary folder (under --dir) deleted at
the end unless --keep. Last stdout line: one JSON object with `<step>_s` and `<step>_peak_rss_mb`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 600
END_DATE = "2026-10-31"  # generate.batch.REFERENCE_END_DATE: the same bytes every run
CHANGES = (
    "from pipelines.generate.changes import write_changes; from pipelines.settings import Settings; "
    "c = write_changes(Settings.from_env(), share=0.01, corrections=1000); "
    "print(c.new_orders, c.new_items, len(c.corrected_orders))"
)


def emit(result: dict[str, object]) -> None:
    """The one JSON line the benchmark ends with (bench/_common.py's, without importing the pipelines:
    this parent stays small, and Linux counts a forked parent's RSS into the child's peak)."""
    print(json.dumps(result, sort_keys=True), flush=True)


def step(name: str, argv: list[str], env: dict[str, str], out: dict[str, object]) -> str:
    """Run one step as a child process; record its wall seconds and peak RSS; return its stdout."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as stdout:
        proc = subprocess.Popen(argv, env=env, stdout=stdout, stderr=subprocess.DEVNULL, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        text = stdout.read().decode("utf-8", "replace")
    out[f"{name}_s"] = round(time.perf_counter() - started, 1)
    out[f"{name}_peak_rss_mb"] = round(usage.ru_maxrss / 1024)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed with exit code {proc.returncode}:\n{text[-3000:]}")
    print(f"{name}: {out[f'{name}_s']} s, peak RSS {out[f'{name}_peak_rss_mb']} MB", file=sys.stderr, flush=True)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=10.0, help="generator scale (10 = 10M orders, ~30M lines)")
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary lake goes (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the lake (its path is printed)")
    parser.add_argument("--repeats", type=int, default=30, help="dashboard query repeats (default 30)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="shoplake-bench-scale-", dir=args.dir))
    lake = tmp / "lake"
    env = {**os.environ, "SHOPLAKE_LAKE_DIR": str(lake), "DBT_TARGET": "dev", "PYTHONPATH": str(REPO)}
    env.pop("SHOPLAKE_LAKE_URI", None)
    bin_dir = Path(sys.executable).parent
    shoplake = str(bin_dir / "shoplake")
    out: dict[str, object] = {"bench": "scale", "scale": args.scale, "target_s": TARGET_S}
    try:
        step("generate", [shoplake, "generate", "--scale", str(args.scale), "--end-date", END_DATE], env, out)
        step("ingest", [shoplake, "ingest", "--quiet"], env, out)
        step("full_build", [shoplake, "transform", "--full-refresh"], env, out)
        counts = step("write_changes", [sys.executable, "-c", CHANGES], env, out).split()
        out["new_orders"], out["new_items"], out["corrected_orders"] = (int(n) for n in counts[-3:])
        step("ingest_changes", [shoplake, "ingest", "--quiet"], env, out)
        step("incremental_build", [shoplake, "transform"], env, out)
        dash = step(
            "dashboard",
            [sys.executable, str(REPO / "bench" / "dashboard_queries.py"), "--scale", str(args.scale),
             "--no-browser", "--repeats", str(args.repeats)],
            env, out,
        )  # fmt: skip
        timings = json.loads(dash.strip().splitlines()[-1])
        out["dashboard_max_p95_ms"] = timings["max_p95_ms"]
        out["dashboard_slowest_query"] = timings["slowest_query"]
        out["fct_order_items_rows"] = int(
            subprocess.run(
                [shoplake, "sql", "select count(*) as n from fct_order_items", "--format", "csv"],
                env=env, capture_output=True, text=True, check=True,
            ).stdout.split()[-1]
        )  # fmt: skip
        out["warehouse_mb"] = round((lake / "warehouse" / "shoplake.duckdb").stat().st_size / 2**20)
        out["incremental_ratio"] = round(float(out["incremental_build_s"]) / float(out["full_build_s"]), 3)
        steps = ("ingest", "full_build", "incremental_build", "dashboard")
        out["all_within_target"] = all(float(out[f"{s}_s"]) <= TARGET_S for s in steps)
        out["load_average_1m"] = round(os.getloadavg()[0], 2)
        if args.keep:
            out["lake"] = str(lake)
        emit(out)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
