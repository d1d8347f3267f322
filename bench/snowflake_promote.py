"""Benchmark: `shoplake promote` (PUT + COPY INTO) into the local fakesnow server, then a re-run.

Measures the promotion protocol's own cost against snowsim (fakesnow on DuckDB), NOT Snowflake's
speed: first load, a re-run with nothing new (must load 0 files), `dbt build` on snowsim and on
DuckDB, and `parity` over every mart (must be equal).
Uses SHOPLAKE_LAKE_DIR if set (its raw lake is promoted as is), else a temp lake generated and
ingested at --scale. Last stdout line: {"scale", "files", "rows", "promote_s", "rerun_s", ...}.

    python bench/snowflake_promote.py --scale 0.1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from pipelines.batch.ingest import ingest_all
from pipelines.generate.batch import REFERENCE_END_DATE, generate_exports
from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.warehouse import snowsim
from pipelines.warehouse.dbt import run_dbt_build
from pipelines.warehouse.parity import compare_marts
from pipelines.warehouse.promote import promote


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="generator scale for a temp lake (default 0.1)")
    parser.add_argument("--no-dbt", action="store_true", help="skip dbt build on snowsim (and parity)")
    args = parser.parse_args()

    given = os.environ.get("SHOPLAKE_LAKE_DIR")
    tmp = None if given else tempfile.mkdtemp(prefix="shoplake-bench-promote-")
    root = Path(given or tmp) if given else Path(tmp) / "lake"
    try:
        Lake(root).ensure()
        if not given:
            generate_exports(Settings(lake_dir=root), scale=args.scale, seed=42, end_date=REFERENCE_END_DATE)
            report = ingest_all(Settings(lake_dir=root), progress=False)
            assert not report.failed_files, report.render()
        settings = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(root)})
        fresh_server = snowsim.status(settings).state is None
        snowsim.start(settings)
        try:
            started = time.perf_counter()
            first = promote(settings, "snowsim", build=False, progress=False)
            promote_s = time.perf_counter() - started
            assert first.ok, first.render()
            started = time.perf_counter()
            again = promote(settings, "snowsim", build=False, progress=False)
            rerun_s = time.perf_counter() - started
            assert again.ok and sum(t.loaded_files for t in again.tables) == 0, again.render()
            dbt_s = parity_s = dev_s = None
            if not args.no_dbt:
                started = time.perf_counter()
                result = run_dbt_build(settings, target="snowsim", progress=False, publish=False)
                dbt_s = round(time.perf_counter() - started, 2)
                assert result.success, result.summary()
                started = time.perf_counter()
                result = run_dbt_build(settings, target="dev", progress=False)
                dev_s = round(time.perf_counter() - started, 2)
                assert result.success, result.summary()
                started = time.perf_counter()
                parity = compare_marts(settings, "snowsim")
                parity_s = round(time.perf_counter() - started, 2)
                assert parity.ok, parity.render()
        finally:
            if fresh_server:
                snowsim.stop(settings)
        files = sum(t.lake_files for t in first.tables)
        rows = sum(t.lake_rows for t in first.tables)
        print(first.render(), file=sys.stderr)
        print(json.dumps({
            "bench": "snowflake_promote", "target": "snowsim (fakesnow)", "scale": None if given else args.scale,
            "tables": len(first.tables), "files": files, "rows": rows,
            "files_loaded": sum(t.loaded_files for t in first.tables), "promote_s": round(promote_s, 2),
            "rows_per_s": round(rows / promote_s) if promote_s else None, "rerun_s": round(rerun_s, 2),
            "rerun_files_loaded": sum(t.loaded_files for t in again.tables), "dbt_build_snowsim_s": dbt_s,
            "dbt_build_duckdb_s": dev_s, "parity_s": parity_s,
        }))  # fmt: skip
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
