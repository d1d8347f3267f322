"""Benchmark: `shoplake extract` from PostgreSQL vs exporting the same tables with `COPY ... TO` + `shoplake ingest`.

The database is `shoplake erp-sim` loaded at `--scale` (1 = 1M orders, ~3M order lines). Both sides
are the CLI in a child process, timed from start to exit (peak RSS from wait4, its own):

- baseline: psql's `\\copy (SELECT ... ) TO file CSV HEADER` of every table (columns named as the
  contracts' `source:`), then `shoplake ingest` of those files into a fresh lake;
- extract: `shoplake extract` of the same tables into another fresh lake (first extract);
- incremental: `shoplake erp-sim mutate` (new orders, status changes, a late commit), then
  `shoplake extract` again; and a `--full-refresh` for reference.

Last stdout line: {"rows", "extract_s", "rows_per_s", "peak_rss_mb", "incremental_s", "baseline_s", ...}.

    flock /tmp/shoplake-bench.lock python bench/erp_extract.py --scale 1
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

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from pipelines.batch.contract import load_contracts  # noqa: E402
from pipelines.catalog import committed_files  # noqa: E402
from pipelines.generate import erp_sim  # noqa: E402
from pipelines.lake import Lake  # noqa: E402
from pipelines.settings import Settings  # noqa: E402

TABLES = ("categories", "products", "customers", "orders", "order_items")


def run_child(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run `shoplake <args>` as a child, reaped with wait4: (wall seconds, its own peak RSS in MB, stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", *args], env=env, cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"shoplake {' '.join(args)} failed ({proc.returncode}): {err.strip()[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, out


def committed_rows(lake_dir: Path) -> int:
    import polars as pl

    lake = Lake(lake_dir)
    files = [p for t in TABLES for zone in ("raw", "quarantine") for p in committed_files(lake, t, zone)]  # type: ignore[arg-type]
    return sum(pl.scan_parquet(f).select(pl.len()).collect().item() for f in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--orders", type=int, default=1000, help="new orders before the incremental extract")
    parser.add_argument("--updates", type=int, default=1000, help="status changes before the incremental extract")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="shoplake-bench-erp-"))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPLAKE_")}
    server_env = {**base_env, "SHOPLAKE_LAKE_DIR": str(workdir / "server")}
    server_settings = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(workdir / "server")})
    try:
        t0 = time.perf_counter()
        run_child(["erp-sim", "start", "--scale", str(args.scale), "--seed", str(args.seed)], server_env)
        server = erp_sim.require(server_settings)
        print(f"erp-sim loaded in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        url = server.url()
        db_rows = {t: int(_psql(server, f"select count(*) from {t}").strip()) for t in TABLES}

        # Baseline: COPY ... TO CSV files (psql \copy, client side), then `shoplake ingest`.
        baseline_lake = Lake(workdir / "baseline").ensure()
        contracts = load_contracts()
        copy_started = time.perf_counter()
        for table in TABLES:
            target = baseline_lake.landing_dir(table) / f"{table}.csv"
            target.parent.mkdir(parents=True, exist_ok=True)
            columns = ", ".join(f'{c.source.lower()} AS "{c.source}"' for c in contracts[table].columns)
            _psql(server, f"\\copy (SELECT {columns} FROM {table}) TO '{target}' WITH (FORMAT csv, HEADER)")
        copy_s = time.perf_counter() - copy_started
        ingest_env = {**base_env, "SHOPLAKE_LAKE_DIR": str(baseline_lake.root)}
        ingest_s, ingest_rss, _ = run_child(["ingest", "--quiet"], ingest_env)

        # Extract: the same tables straight from the database.
        extract_env = {**base_env, "SHOPLAKE_LAKE_DIR": str(workdir / "extract"), erp_sim.URL_ENV: url}
        extract_s, extract_rss, report = run_child(["extract", "--quiet"], extract_env)
        print(report, file=sys.stderr)
        landed = committed_rows(workdir / "extract")
        assert landed == sum(db_rows.values()), f"{landed} rows in the lake, {sum(db_rows.values())} in the database"
        assert committed_rows(baseline_lake.root) == landed

        # Incremental: changes as an ERP makes them, then the next extract.
        mutate = ["erp-sim", "mutate", "--orders", str(args.orders), "--updates", str(args.updates), "--seed", "1"]
        run_child(mutate, server_env)
        incremental_s, incremental_rss, report = run_child(["extract", "--quiet"], extract_env)
        print(report, file=sys.stderr)
        incremental_rows = committed_rows(workdir / "extract") - landed
        refresh_s, refresh_rss, _ = run_child(["extract", "--quiet", "--full-refresh"], extract_env)

        rows = sum(db_rows.values())
        baseline_s = copy_s + ingest_s
        result = {
            "scale": args.scale,
            "rows": rows,
            "extract_s": round(extract_s, 3),
            "rows_per_s": round(rows / extract_s),
            "peak_rss_mb": round(extract_rss, 1),
            "incremental_s": round(incremental_s, 3),
            "incremental_rows": incremental_rows,
            "incremental_peak_rss_mb": round(incremental_rss, 1),
            "baseline_s": round(baseline_s, 3),
            "baseline_copy_s": round(copy_s, 3),
            "baseline_ingest_s": round(ingest_s, 3),
            "baseline_ingest_peak_rss_mb": round(ingest_rss, 1),
            "ratio": round(extract_s / baseline_s, 3),
            "full_refresh_s": round(refresh_s, 3),
            "full_refresh_peak_rss_mb": round(refresh_rss, 1),
            "load_avg": [round(x, 2) for x in os.getloadavg()],
        }
        print(json.dumps(result))
    finally:
        erp_sim.stop(server_settings)
        shutil.rmtree(workdir, ignore_errors=True)


def _psql(server: erp_sim.SimServer, command: str) -> str:
    psql = [str(erp_sim.pg_bindir() / "psql"), "-h", "127.0.0.1", "-p", str(server.state.port), "-U", "shoplake",
            "-d", erp_sim.DATABASE, "-v", "ON_ERROR_STOP=1", "-qAtc", command]  # fmt: skip
    env = {**os.environ, "PGPASSWORD": server.password}
    return subprocess.run(psql, env=env, check=True, capture_output=True, text=True).stdout


if __name__ == "__main__":
    main()
