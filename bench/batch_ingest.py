"""Benchmark: `shoplake ingest` vs DuckDB's own CSV -> partitioned Parquet COPY of the same exports.

Each side runs in its own child process (so peak RSS is its own); the child times only the work.
Last stdout line: {"rows", "ingest_s", "copy_s", "ratio", "peak_rss_mb", ...}.

    python bench/batch_ingest.py --scale 1
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

TABLES = ("categories", "products", "customers", "orders", "order_items")


def child_ingest(lake_dir: Path) -> dict:
    from pipelines.batch.ingest import ingest_all
    from pipelines.settings import Settings

    settings = Settings(lake_dir=lake_dir)
    started = time.perf_counter()
    report = ingest_all(settings, progress=False)
    elapsed = time.perf_counter() - started
    assert not report.failed_files, report.render()
    return {"seconds": elapsed, "rows": sum(f.rows_in for f in report.files)}


def child_copy(lake_dir: Path, out_dir: Path) -> dict:
    import duckdb

    from pipelines.lake import Lake

    lake = Lake(lake_dir)
    con = duckdb.connect()
    started = time.perf_counter()
    rows = 0
    for table in TABLES:
        csv = lake.landing_dir(table) / f"{table}.csv"
        target = out_dir / table
        if table == "orders":  # same partitioning as the lake: by order month
            sql = (f"copy (select *, strftime(try_cast(ORDER_DATE as date), '%Y-%m') as order_month "
                   f"from read_csv('{csv}')) to '{target}' (format parquet, partition_by (order_month))")  # fmt: skip
        else:
            target.mkdir(parents=True, exist_ok=True)
            sql = f"copy (select * from read_csv('{csv}')) to '{target}/data.parquet' (format parquet)"
        rows += con.execute(sql).fetchone()[0]
    return {"seconds": time.perf_counter() - started, "rows": rows}


def run_child(args: list[str]) -> tuple[dict, float]:
    """Run this script as a child; return its JSON and its peak RSS in MB."""
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"child {args[0]} failed with status {status}")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--child", choices=["ingest", "copy"], help=argparse.SUPPRESS)
    parser.add_argument("--lake", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "ingest":
        print(json.dumps(child_ingest(args.lake)))
        return
    if args.child == "copy":
        print(json.dumps(child_copy(args.lake, args.out)))
        return

    env_lake = os.environ.get("SHOPLAKE_LAKE_DIR")
    workdir = Path(tempfile.mkdtemp(prefix="shoplake-bench-"))
    lake_dir = Path(env_lake) if env_lake else workdir / "lake"
    try:
        # Generated in a child too: Linux carries a parent's peak RSS into its forked children.
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "generate", "--scale", str(args.scale), "--seed", str(args.seed)],
            env={**os.environ, "SHOPLAKE_LAKE_DIR": str(lake_dir)}, check=True, stdout=sys.stderr,
        )  # fmt: skip
        print(f"generated in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        copy, copy_rss = run_child(["--child", "copy", "--lake", str(lake_dir), "--out", str(workdir / "copy")])
        ingest, ingest_rss = run_child(["--child", "ingest", "--lake", str(lake_dir)])
        result = {
            "scale": args.scale,
            "rows": ingest["rows"],
            "ingest_s": round(ingest["seconds"], 3),
            "copy_s": round(copy["seconds"], 3),
            "ratio": round(ingest["seconds"] / copy["seconds"], 3),
            "peak_rss_mb": round(ingest_rss, 1),
            "copy_peak_rss_mb": round(copy_rss, 1),
            "copy_rows": copy["rows"],
        }
        print(json.dumps(result))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
