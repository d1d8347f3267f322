"""Extract flow: read the configured databases (ERP) into the lake, hourly (`SHOPLAKE_EXTRACT_CRON`)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from ..errors import ShopLakeError
from ..extract.reader import SourceError
from ..extract.run import extract
from ..settings import get_settings
from .common import alert_on_failure, network_retries


@task(name="extract-database-tables")
def extract_step(source: str | None = None, full_refresh: bool = False) -> dict[str, Any]:
    """`shoplake extract`; per-table counts go to the log and an artifact."""
    logger = get_run_logger()
    report = extract(get_settings(), source=source, full_refresh=full_refresh, progress=False)
    rows = [
        {"table": f"{t.source}.{t.table}", "mode": str(t.mode), "read": t.rows_read, "unchanged": t.rows_unchanged,
         "landed": t.rows_landed, "quarantined": t.rows_quarantined, "commits": t.commits,
         "high_water_mark": "" if t.high_water_after is None else str(t.high_water_after)}
        for t in report.tables
    ]  # fmt: skip
    for row in rows:
        logger.info("%(table)s (%(mode)s): %(read)s read, %(landed)s landed, %(quarantined)s quarantined", row)
    for line in report.details():
        logger.info(line)
    totals = report.totals()
    create_table_artifact(
        key="erp-extract", table=rows or [{"table": "(no tables)"}],
        description=f"{totals['rows_landed']:,} row(s) landed, {totals['rows_quarantined']:,} quarantined",
    )  # fmt: skip
    return totals


def _retry_unless_configuration(_task: Any, _task_run: Any, state: Any) -> bool:
    """A database that cannot be reached is retried; a mistake in the YAML or the contracts is not."""
    exc = state.result(raise_on_failure=False)
    return not (isinstance(exc, ShopLakeError) and not isinstance(exc, SourceError))


@flow(name="extract_erp", on_failure=[alert_on_failure], on_crashed=[alert_on_failure])
def extract_erp(source: str | None = None, full_refresh: bool = False) -> dict[str, Any]:
    """Read new and changed rows of the configured database sources into the lake."""
    step = extract_step.with_options(**network_retries(get_settings()), retry_condition_fn=_retry_unless_configuration)
    return step(source, full_refresh)
