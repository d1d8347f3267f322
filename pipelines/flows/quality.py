"""Quality flow: freshness and data-quality checks after each transform (pipelines/quality/checks.py)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task

from ..alerts import AlertRouter
from ..errors import ShopLakeError
from ..quality.checks import run_quality
from ..settings import get_settings
from ..warehouse.dbt import warehouse_lock
from .common import alert_on_failure, network_retries


class QualityChecksFailed(ShopLakeError):
    """An error-severity quality check failed."""


@task(name="quality-checks")
def quality_step() -> dict[str, Any]:
    """Run the checks; a failed run raises one alert (deduplicated by what failed) and fails the step."""
    logger = get_run_logger()
    settings = get_settings()
    # dbt test stores failing rows, then dbt builds the results models and publishes: one lock holder.
    with warehouse_lock(settings, command="prefect quality flow"):
        result = run_quality(settings)
    summary = result.summary()
    logger.info(summary)
    failure = result.failure_alert()
    if failure is not None:
        AlertRouter.from_settings(settings).emit([failure])
        raise QualityChecksFailed(result.verdict)
    return {"summary": summary}


def quality_task() -> Any:
    # The checks may post alerts to a webhook: retry with backoff, but a failed check is not retried.
    return quality_step.with_options(
        **network_retries(get_settings()),
        retry_condition_fn=lambda _t, _r, state: (
            not isinstance(state.result(raise_on_failure=False), QualityChecksFailed)
        ),
    )


@flow(name="quality", on_failure=[alert_on_failure], on_crashed=[alert_on_failure])
def quality() -> dict[str, Any]:
    """Freshness and data-quality checks on the latest build."""
    return quality_task()()
