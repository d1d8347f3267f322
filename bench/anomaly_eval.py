"""Score the `anomalies` mart against the generator's labelled anomalies.

For each seed: fresh exports in a temporary lake -> ingest -> dbt build ->
compare flagged category-days with `landing/_ground_truth/anomalies.csv`. A flag counts as a true
positive only with the right category, day and direction (spike/drop). Precision, recall and F1
are micro-averaged over the seeds. The thresholds were chosen on seeds 1-3; the default seeds
(101-103) were never looked at while tuning.

    python bench/anomaly_eval.py [--scale 0.05] [--seeds 101,102,103]

Prints one JSON object as the last stdout line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from pipelines.batch.ingest import ingest_all
from pipelines.generate.batch import REFERENCE_END_DATE, generate_exports
from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.warehouse.dbt import run_dbt_build
from pipelines.warehouse.query import run_query


def evaluate_seed(lake_dir: Path, scale: float, seed: int) -> dict:
    """Build one lake and count true positives, false positives and misses."""
    settings = Settings(lake_dir=lake_dir)
    generate_exports(settings, scale=scale, seed=seed, end_date=REFERENCE_END_DATE)
    with contextlib.redirect_stdout(sys.stderr):
        ingest_all(settings, progress=False)
        result = run_dbt_build(settings, target="dev", progress=False)
    if not result.success:
        raise SystemExit(f"dbt build failed for seed {seed}:\n{result.summary()}")
    columns, rows = run_query(
        settings, "select sales_date, category_id, direction from anomalies where is_anomaly order by 1, 2"
    )
    flagged = pl.DataFrame(rows, schema=columns, orient="row").with_columns(pl.col("category_id").cast(pl.Int64))
    truth = pl.read_csv(Lake(lake_dir).ground_truth_dir / "anomalies.csv", try_parse_dates=True).rename(
        {"anomaly_date": "sales_date", "kind": "direction"}
    )
    hits = flagged.join(
        truth.select("sales_date", "category_id", "direction"), on=["sales_date", "category_id", "direction"]
    )
    return {"seed": seed, "truth": truth.height, "flagged": flagged.height, "true_positives": hits.height}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=Settings.from_env().demo_scale)
    parser.add_argument("--seeds", default="101,102,103", help="comma-separated seeds (not the tuning seeds 1-3)")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    started = time.monotonic()
    per_seed = []
    for seed in seeds:
        with tempfile.TemporaryDirectory(prefix="shoplake-anomaly-eval-") as tmp:
            per_seed.append(evaluate_seed(Path(tmp), args.scale, seed))
        print(json.dumps(per_seed[-1]), file=sys.stderr)
    tp = sum(s["true_positives"] for s in per_seed)
    flagged = sum(s["flagged"] for s in per_seed)
    truth = sum(s["truth"] for s in per_seed)
    precision = tp / flagged if flagged else 0.0
    recall = tp / truth if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    print(
        json.dumps(
            {
                "bench": "anomaly_eval",
                "scale": args.scale,
                "seeds": seeds,
                "precision": round(precision, 4),
                "recall": round(recall, 4),
                "f1": round(f1, 4),
                "true_positives": tp,
                "flagged": flagged,
                "labelled": truth,
                "seconds": round(time.monotonic() - started, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
