"""Sales forecast: learns a weekly pattern, gives ordered intervals, reaches readers through dbt's model."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from pipelines.analytics.forecast import LEVELS, backtest, bound_column, forecast_revenue, write_sales_forecast
from pipelines.lake import Lake
from pipelines.results import SALES_FORECAST, SCHEMAS, read_results
from pipelines.settings import Settings
from pipelines.warehouse.dbt import publish_results
from pipelines.warehouse.query import run_query

WEEKLY = np.array([0.8, 0.85, 0.9, 1.0, 1.2, 1.4, 0.85])


def _synthetic(days: int = 140, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = dt.date(2026, 1, 5)  # a Monday
    dates = [start + dt.timedelta(days=i) for i in range(days)]
    rows = []
    for cat, level in ((1, 1000.0), (2, 300.0)):
        noise = rng.lognormal(0, 0.15, days)
        revenue = level * WEEKLY[[d.weekday() for d in dates]] * noise
        rows += [(d, cat, f"cat{cat}", float(r)) for d, r in zip(dates, revenue, strict=True)]
    return pl.DataFrame(rows, schema=["sales_date", "category_id", "category_name", "revenue"], orient="row")


def test_forecast_follows_weekly_pattern_with_ordered_intervals() -> None:
    daily = _synthetic()
    fc = forecast_revenue(daily, horizon=14)
    assert fc.height == 28 and fc["forecast_date"].min() == daily["sales_date"].max() + dt.timedelta(days=1)
    cat1 = fc.filter(pl.col("category_id") == 1)
    expected = 1000 * WEEKLY[[d.weekday() for d in cat1["forecast_date"]]]
    assert np.all(np.abs(cat1["revenue_forecast"].to_numpy() / expected - 1) < 0.15)
    for level in LEVELS:
        assert (fc[bound_column("lo", level)] <= fc["revenue_forecast"]).all()
        assert (fc["revenue_forecast"] <= fc[bound_column("hi", level)]).all()
    assert (fc["revenue_lower_95"] <= fc["revenue_lower"]).all() and (
        fc["revenue_upper"] <= fc["revenue_upper_95"]
    ).all()


def test_backtest_beats_seasonal_naive_on_noisy_weekly_series() -> None:
    stats = backtest(_synthetic(days=200, seed=1), weeks=8)
    assert stats["origins"] == 7
    assert stats["mape_model"] < stats["mape_baseline"]
    assert 0.5 < stats["coverage"] <= 1.0


def test_each_forecast_run_adds_a_results_file_and_readers_see_the_newest(built_copy: Settings) -> None:
    first = write_sales_forecast(built_copy, horizon=14)
    second = write_sales_forecast(built_copy, horizon=7)
    lake = Lake(built_copy.lake_dir)
    assert sorted(p.stem for p in lake.results_dir(SALES_FORECAST).glob("*.parquet")) == sorted(
        [first.run_id, second.run_id]
    )
    stored = read_results(lake, SALES_FORECAST)
    assert stored.schema == pl.Schema(SCHEMAS[SALES_FORECAST])
    assert stored.height == first.rows + second.rows == (14 + 7) * first.categories
    assert first.categories == second.categories == 12 and first.horizon == 14

    # dbt's sales_forecast model (built with the other results models, then published) keeps the newest run.
    built = publish_results(built_copy)
    assert built is not None and built.success, built and built.summary()
    assert {"sales_forecast", "stg_results__sales_forecast"} <= {n.name for n in built.nodes}
    _, rows = run_query(
        built_copy,
        "select count(*), count(distinct category_id), count(distinct generated_at), min(forecast_date) - "
        "max(origin_date), bool_and(revenue_lower <= revenue_forecast and revenue_forecast <= revenue_upper), "
        "max(generated_at) from sales_forecast",
    )
    assert rows[0] == (7 * 12, 12, 1, 1, True, stored["generated_at"].max())
    # Money as in the other marts: the contract's numeric(18, 2), not the lake file's double.
    _, types = run_query(built_copy, "select column_name, column_type from (describe sales_forecast)")
    assert dict(types)["revenue_forecast"] == "DECIMAL(18,2)"
