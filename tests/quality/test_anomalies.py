"""The anomalies mart on a real build: its flags are the generator's labelled anomalies.

Recall at scale is measured by bench/anomaly_eval.py; the baseline arithmetic and the quiet cases
(seasonal rises, quiet categories, volatile categories) are dbt unit tests in the mart's YAML.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.warehouse.query import run_query


def test_flags_are_labelled_anomalies(quality_lake: Path) -> None:
    columns, rows = run_query(
        Settings(lake_dir=quality_lake),
        "select sales_date, category_id, direction from anomalies where is_anomaly order by 1, 2",
    )
    flagged = pl.DataFrame(rows, schema=columns, orient="row").with_columns(pl.col("category_id").cast(pl.Int64))
    truth = pl.read_csv(Lake(quality_lake).ground_truth_dir / "anomalies.csv", try_parse_dates=True).select(
        pl.col("anomaly_date").alias("sales_date"), "category_id", pl.col("kind").alias("direction")
    )
    assert flagged.height > 0, "the injected spikes should stand out"
    assert flagged.join(truth, on=["sales_date", "category_id", "direction"], how="anti").is_empty()


def test_clean_days_are_quiet(quality_lake: Path) -> None:
    """Away from the labelled days nothing is flagged, though every scored day has a baseline."""
    _, rows = run_query(
        Settings(lake_dir=quality_lake),
        "select count(*), count(*) filter (where is_anomaly), min(baseline_days) from anomalies",
    )
    scored, flagged, min_baseline = rows[0]
    truth = pl.read_csv(Lake(quality_lake).ground_truth_dir / "anomalies.csv")
    assert scored > 12 * 600 and min_baseline >= 6
    assert flagged <= truth.height
