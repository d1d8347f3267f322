"""14-day revenue forecast per category with prediction intervals (`sales_forecast`).

Model: statsforecast's AutoETS with weekly seasonality (season_length=7), fitted per category on
ln(1 + revenue) and transformed back. Why: exponential smoothing tracks a drifting level and a
weekly pattern with few parameters, AutoETS picks the error/trend/season form per series by AICc,
and it fits twelve series in seconds on a laptop. The log scale makes the weekly pattern
multiplicative, tames the heavy right tail of daily revenue (one big basket moves a day a lot),
and gives intervals that stay positive; back-transformed, the point forecast is a median, which
is also what minimises absolute percentage error. statsforecast is maintained by Nixtla, pure
Python + numba, no GPU, no service. `backtest` is the rolling-origin evaluation behind the choice
(bench/forecast_eval.py).
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl

from ..errors import ShopLakeError
from ..lake import Lake
from ..results import SALES_FORECAST, new_run_id, write_results
from ..settings import Settings

SEASON = 7
HISTORY_DAYS = 365  # a year is plenty for a weekly model and keeps fitting fast
LEVELS = (80, 95)
DEFAULT_LEVEL = 80  # the band charts show: revenue_lower / revenue_upper; others carry their level


def bound_column(side: str, level: int) -> str:
    """`revenue_lower` / `revenue_upper` for the default level, `revenue_lower_95` etc. otherwise."""
    name = f"revenue_{'lower' if side == 'lo' else 'upper'}"
    return name if level == DEFAULT_LEVEL else f"{name}_{level}"


MODEL_NAME = "AutoETS(season_length=7) on ln(1+revenue)"


@dataclass
class ForecastResult:
    run_id: str
    rows: int
    categories: int
    origin: dt.date
    horizon: int

    def summary(self) -> str:
        return (
            f"sales_forecast: {self.rows} rows, {self.categories} categories, {self.horizon} days after "
            f"{self.origin} ({MODEL_NAME}, {'/'.join(map(str, LEVELS))}% intervals)"
        )


def load_daily_revenue(lake: Lake) -> pl.DataFrame:
    """sales_date, category_id, category_name, revenue from the published product_category_sales."""
    from ..warehouse.query import query_snapshot

    columns, rows = query_snapshot(
        lake,
        "select sales_date, category_id, category_name, cast(revenue as double) as revenue "
        "from product_category_sales order by category_id, sales_date",
    )
    if not rows:
        raise ShopLakeError("product_category_sales is empty; ingest and transform some orders first")
    return pl.DataFrame(rows, schema=columns, orient="row")


def _panel(daily: pl.DataFrame, history_days: int) -> pl.DataFrame:
    """statsforecast's long format, log-transformed, trimmed to the recent history."""
    last = daily["sales_date"].max()
    return (
        daily.filter(pl.col("sales_date") > last - dt.timedelta(days=history_days))
        .select(
            pl.col("category_id").cast(pl.String).alias("unique_id"),
            pl.col("sales_date").cast(pl.Datetime("us")).alias("ds"),
            pl.col("revenue").cast(pl.Float64).log1p().alias("y"),
        )
        .sort("unique_id", "ds")
    )


def _model():
    from statsforecast.models import AutoETS

    return AutoETS(season_length=SEASON, alias="model")


def forecast_revenue(daily: pl.DataFrame, *, horizon: int = 14, history_days: int = HISTORY_DAYS) -> pl.DataFrame:
    """One row per category and future day: point forecast and 80%/95% intervals."""
    from statsforecast import StatsForecast

    panel = _panel(daily, history_days)
    sf = StatsForecast(models=[_model()], freq="1d", n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = pl.from_pandas(sf.forecast(df=panel.to_pandas(), h=horizon, level=list(LEVELS)))
    back = [(pl.col(c).exp() - 1).clip(lower_bound=0) for c in fc.columns if c.startswith("model")]
    fc = fc.with_columns(back)
    names = daily.select("category_id", "category_name").unique("category_id")
    return (
        fc.with_columns(
            pl.col("unique_id").cast(pl.Int64).alias("category_id"), pl.col("ds").dt.date().alias("forecast_date")
        )
        .join(names, on="category_id")
        .select(
            "forecast_date", "category_id", "category_name",
            pl.col("model").round(2).alias("revenue_forecast"),
            *[pl.col(f"model-{side}-{lv}").round(2).alias(bound_column(side, lv)) for lv in LEVELS
              for side in ("lo", "hi")],
        )
        .sort("category_id", "forecast_date")
    )  # fmt: skip


def write_sales_forecast(settings: Settings, *, horizon: int = 14) -> ForecastResult:
    """Forecast from the published snapshot and add it to `results/sales_forecast/`.

    Writing only: making it visible to readers is dbt's job (the `sales_forecast` model keeps the
    newest run), done by the entry points after this with `warehouse.dbt.publish_results`.
    """
    if horizon < 1:
        raise ShopLakeError(f"--horizon must be at least 1, got {horizon}")
    lake = Lake.of(settings)
    daily = load_daily_revenue(lake)
    origin = daily["sales_date"].max()
    generated_at = dt.datetime.now(dt.timezone.utc)
    fc = forecast_revenue(daily, horizon=horizon).with_columns(
        pl.lit(origin).alias("origin_date"),
        pl.lit(MODEL_NAME).alias("model"),
        pl.lit(generated_at.replace(tzinfo=None)).alias("generated_at"),
    )
    run_id = new_run_id(generated_at)
    write_results(lake, SALES_FORECAST, fc, run_id)
    return ForecastResult(
        run_id=run_id, rows=fc.height, categories=fc["category_id"].n_unique(), origin=origin, horizon=horizon
    )


def backtest(
    daily: pl.DataFrame, *, horizon: int = 14, weeks: int = 8, level: int = 80, history_days: int = HISTORY_DAYS
) -> dict[str, float]:
    """Rolling origin, one origin per week, forecasts covering the last `weeks` weeks.

    MAPE over days with revenue > 0 for the model and for the seasonal-naive baseline (same
    weekday of the last observed week); coverage = share of actuals inside the model's interval.
    """
    from statsforecast import StatsForecast
    from statsforecast.models import SeasonalNaive

    n_windows = (weeks * 7 - horizon) // 7 + 1  # origins 7 days apart; the last window ends at the last day
    panel = _panel(daily, history_days + weeks * 7)
    sf = StatsForecast(models=[_model(), SeasonalNaive(season_length=SEASON, alias="naive")], freq="1d", n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cv = pl.from_pandas(
            sf.cross_validation(df=panel.to_pandas(), h=horizon, step_size=7, n_windows=n_windows, level=[level])
        )
    value_cols = ["y", "model", "naive", f"model-lo-{level}", f"model-hi-{level}"]
    cv = cv.with_columns([(pl.col(c).exp() - 1) for c in value_cols]).filter(pl.col("y") > 0)
    ape = lambda col: ((pl.col(col) - pl.col("y")).abs() / pl.col("y")).mean()  # noqa: E731
    stats = cv.select(
        ape("model").alias("mape_model"),
        ape("naive").alias("mape_baseline"),
        ((pl.col("y") >= pl.col(f"model-lo-{level}")) & (pl.col("y") <= pl.col(f"model-hi-{level}")))
        .mean()
        .alias("coverage"),
    ).row(0, named=True)
    stats = {k: float(np.round(v, 4)) for k, v in stats.items()}
    stats.update(points=cv.height, origins=int(cv["cutoff"].n_unique()), level=level, horizon=horizon)
    return stats
