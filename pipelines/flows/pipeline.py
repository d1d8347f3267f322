"""The parent flow: batch ingest -> transform -> quality, failing (and alerting) at the first broken step.

The clickstream is not a step here: it has its own continuous deployment, and a bounded run
inside this flow would contend with that writer for the same partitions.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from ..errors import ShopLakeError
from .common import alert_on_failure
from .ingest import ingest_batch_step
from .quality import quality_task
from .transform import transform_task_for_target


@flow(name="pipeline", on_failure=[alert_on_failure], on_crashed=[alert_on_failure])
def pipeline(select: str | None = None) -> dict[str, Any]:
    """Ingest new exports, rebuild the warehouse and check it; any failed step fails the run.

    A file that did not land fails the run too, after the build and checks of what did land.
    """
    logger = get_run_logger()
    ingested = ingest_batch_step()
    logger.info("ingest: %s new file(s) landed, %s rejected", ingested["files_landed"], ingested["files_rejected"])
    built = transform_task_for_target()(select=select)
    logger.info("transform: %s dbt nodes, snapshot %s", built["nodes"], built["snapshot"])
    checked = quality_task()()
    if ingested["failures"]:
        raise ShopLakeError(ingested["failures"])
    return {"ingest": ingested, "transform": built, "quality": checked}
