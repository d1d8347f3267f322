"""Promote flow: load the lake into Snowflake (nightly), when promotion is installed and configured."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task

from ..settings import get_settings
from .common import alert_on_failure, network_retries
from .optional import load_step, not_configured


@task(name="promote-to-snowflake")
def promote_step(target: str) -> dict[str, Any] | None:
    logger = get_run_logger()
    promote_fn = load_step("promote")
    if promote_fn is None:
        logger.warning(not_configured("promote"))
        return None
    result = promote_fn(get_settings(), target=target)
    logger.info(result.summary())
    return {"summary": result.summary()}


@flow(name="promote", on_failure=[alert_on_failure], on_crashed=[alert_on_failure])
def promote(target: str | None = None) -> dict[str, Any] | None:
    """Promote the lake to the Snowflake target (`SHOPLAKE_PROMOTE_TARGET` unless given)."""
    settings = get_settings()
    target = target or settings.promote_target
    if not target:
        get_run_logger().warning("promote: not configured (SHOPLAKE_PROMOTE_TARGET is empty)")
        return None
    return promote_step.with_options(**network_retries(settings))(target)
