"""Promote flows: load the lake into Snowflake (nightly) when `SHOPLAKE_PROMOTE_TARGET` is set, and
`promote-follow`, the long-running follower that keeps Snowflake about a minute behind the lake."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task

from ..errors import ShopLakeError
from ..settings import get_settings
from ..warehouse.promote import PromotionReport
from ..warehouse.promote import promote as promote_lake
from .common import alert_on_failure, network_retries


class PromotionFailed(ShopLakeError):
    """The promotion finished but a table was refused, failed or mismatched, or the dbt build failed."""


def failure_message(report: PromotionReport) -> str:
    """One line naming what went wrong: each table that is not ok (with its reason), and the dbt build."""
    problems = [f"{t.table} {t.status}" + (f" ({t.message})" if t.message else "") for t in report.tables
                if t.status.is_failed]  # fmt: skip
    if report.dbt_success is False:
        first = (report.dbt_summary or "").strip().splitlines()
        problems.append("dbt build failed" + (f": {first[0]}" if first else ""))
    return f"promotion to {report.target} failed: " + ("; ".join(problems) or "see the report in the log")


@task(name="promote-to-snowflake")
def promote_step(target: str) -> dict[str, Any]:
    """Promote; a report that is not ok fails the step (and so the flow and its alert hook)."""
    logger = get_run_logger()
    result = promote_lake(get_settings(), target=target, progress=False)
    summary = result.summary()
    if not result.ok:
        logger.error(summary)
        raise PromotionFailed(failure_message(result))
    logger.info(summary)
    return {"summary": summary}


def promote_task() -> Any:
    # Connection errors are retried with backoff; a finished report that is not ok is not:
    # a refused or mismatched table (or a failing dbt node) fails again the same way.
    return promote_step.with_options(
        **network_retries(get_settings()),
        retry_condition_fn=lambda _t, _r, state: not isinstance(state.result(raise_on_failure=False), PromotionFailed),
    )


@flow(name="promote", on_failure=[alert_on_failure], on_crashed=[alert_on_failure])
def promote(target: str | None = None) -> dict[str, Any] | None:
    """Promote the lake to the Snowflake target (`SHOPLAKE_PROMOTE_TARGET` unless given)."""
    settings = get_settings()
    target = target or settings.promote_target
    if not target:
        get_run_logger().warning("promote: not configured (SHOPLAKE_PROMOTE_TARGET is empty)")
        return None
    return promote_task()(target)


@task(name="follow-into-snowflake")
def follow_step(target: str, interval: float, max_cycles: int | None, build: bool) -> dict[str, Any]:
    """The follower's loop (`warehouse.follow.follow`); each cycle's line goes to the run's log."""
    from ..warehouse.follow import follow

    logger = get_run_logger()
    report = follow(
        get_settings(), target, interval=interval, max_cycles=max_cycles, build=build, log=logger.info,
        warn=logger.error, handle_signals=False,
    )  # fmt: skip
    logger.info(report.render())
    return {"cycles": len(report.cycles), "failed_cycles": sum(not c.ok for c in report.cycles)}


@flow(name="promote-follow", on_failure=[alert_on_failure], on_crashed=[alert_on_failure])
def promote_follow(
    target: str | None = None, interval: float | None = None, max_cycles: int | None = None, build: bool = True
) -> dict[str, Any] | None:
    """Follow the lake into the Snowflake target: load new committed files every `interval` seconds
    (`SHOPLAKE_PROMOTE_FOLLOW_SECONDS`), then build the marts downstream of what loaded."""
    settings = get_settings()
    target = target or settings.promote_target
    if not target:
        get_run_logger().warning("promote-follow: not configured (SHOPLAKE_PROMOTE_TARGET is empty)")
        return None
    return follow_step(target, interval or settings.promote_follow_seconds, max_cycles, build)
