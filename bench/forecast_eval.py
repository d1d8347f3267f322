"""Rolling-origin backtest of the sales forecast against a seasonal-naive baseline.

Fresh exports in a temporary lake (or SHOPLAKE_LAKE_DIR if it already holds a snapshot) ->
ingest -> dbt build -> origins every 7 days, 14-day forecasts covering the last 8 weeks. MAPE of
the model and of seasonal-naive (same weekday, last observed week) over category-days with
revenue > 0; coverage of the model's 80% interval. Seed 101 was not used to choose the model
(that was seed 1).

    python bench/forecast_eval.py [--scale 0.05] [--seed 101]

Prints one JSON object as the last stdout line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from pipelines.analytics.forecast import MODEL_NAME, backtest, load_daily_revenue
from pipelines.batch.ingest import ingest_all
from pipelines.generate.batch import REFERENCE_END_DATE, generate_exports
from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.warehouse.dbt import run_dbt_build
from pipelines.warehouse.serving import current_snapshot_id


def build_lake(lake_dir: Path, scale: float, seed: int) -> None:
    generate_exports(Settings(lake_dir=lake_dir), scale=scale, seed=seed, end_date=REFERENCE_END_DATE)
    with contextlib.redirect_stdout(sys.stderr):
        ingest_all(Settings(lake_dir=lake_dir), progress=False)
        result = run_dbt_build(Settings(lake_dir=lake_dir), target="dev", progress=False)
    if not result.success:
        raise SystemExit(f"dbt build failed:\n{result.summary()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=Settings.from_env().demo_scale)
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--weeks", type=int, default=8)
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="shoplake-forecast-eval-") as tmp:
        lake_dir = Path(os.environ.get("SHOPLAKE_LAKE_DIR") or tmp)
        reused = current_snapshot_id(Lake(lake_dir)) is not None
        if not reused:
            lake_dir = Path(tmp)
            build_lake(lake_dir, args.scale, args.seed)
        built_s = time.monotonic() - started
        stats = backtest(load_daily_revenue(Lake(lake_dir)), weeks=args.weeks)
    improvement = 1 - stats["mape_model"] / stats["mape_baseline"] if stats["mape_baseline"] else 0.0
    print(
        json.dumps(
            {
                "bench": "forecast_eval",
                "scale": args.scale,
                "seed": args.seed,
                "reused_lake": reused,
                "model": MODEL_NAME,
                **stats,
                "mape_reduction": round(improvement, 4),
                "build_seconds": round(built_s, 1),
                "seconds": round(time.monotonic() - started, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
