"""Ingest flows: batch exports (hourly) and the clickstream (bounded run or continuous)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from ..batch.ingest import IngestReport, ingest_all
from ..errors import ShopLakeError
from ..settings import get_settings
from ..stream.wiring import run_clickstream
from .common import alert_on_failure, network_retries


def failures(report: IngestReport) -> str | None:
    """One line naming the files that did not land (rejected, failed, unmatched), or None."""
    if not report.failed_files:
        return None
    named = "; ".join(f"{f.name} ({f.status}): {f.error}" for f in report.failed_files)
    return f"{len(report.failed_files)} file(s) did not land: {named}"


@task(name="ingest-batch-exports")
def ingest_batch_step() -> dict[str, Any]:
    """Ingest new exports (the ledger skips files already landed); counts go to an artifact.

    Files that did not land are listed in the result (`failures`); the flows fail on them (red run,
    one alert from the failure hook) after the rest of their work.
    """
    settings = get_settings()
    logger = get_run_logger()
    report = ingest_all(settings, progress=False)
    landed = [f for f in report.files if f.status == "landed"]
    rows = [
        {"file": f"{f.table}/{f.path.name}", "status": f.status, "rows_in": f.rows_in,
         "landed": f.rows_landed, "quarantined": f.rows_quarantined, "error": f.error or ""}
        for f in report.files
    ]  # fmt: skip
    for row in rows:
        logger.info("%(file)s: %(status)s, %(rows_in)s in, %(landed)s landed, %(quarantined)s quarantined", row)
    create_table_artifact(
        key="batch-ingest",
        table=rows or [{"file": "(no exports in the landing area)"}],
        description=f"{len(landed)} new file(s) landed, {len(report.failed_files)} did not land",
    )
    problem = failures(report)
    if problem:
        # A file that did not land stays in the landing area; the rest of the batch went on.
        logger.error("%s", problem)
    return {
        "files_landed": len(landed),
        "files_rejected": len(report.failed_files),
        "totals": report.totals(),
        "failures": problem,
    }


@flow(name="ingest_batch", on_failure=[alert_on_failure], on_crashed=[alert_on_failure])
def ingest_batch() -> dict[str, Any]:
    """Discover new batch exports in the landing area and land them; fails (red) if a file did not land."""
    result = ingest_batch_step()
    if result["failures"]:
        raise ShopLakeError(result["failures"])
    return result


@task(name="ingest-clickstream")
def ingest_clickstream_step(forever: bool) -> dict[str, Any]:
    """The stream writer as `shoplake stream` runs it (stream/wiring.py), without its process tuning."""
    stats = run_clickstream(get_settings(), "forever" if forever else "until-caught-up")
    get_run_logger().info(stats.summary())
    return {"summary": stats.summary(), "events": stats.events, "dead_letters": stats.dead_letters}


@flow(name="ingest_clickstream", on_failure=[alert_on_failure], on_crashed=[alert_on_failure])
def ingest_clickstream(forever: bool = False) -> dict[str, Any]:
    """Clickstream -> lake. Bounded (up to the end offsets seen at start) unless `forever`."""
    return ingest_clickstream_step.with_options(**network_retries(get_settings()))(forever)
