"""Transform flow: `dbt build` with every node's result logged; a failing node fails the flow."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from ..errors import ShopLakeError
from ..settings import get_settings
from ..warehouse.dbt import DbtResult, run_dbt_build
from .common import alert_on_failure, network_retries


class DbtBuildFailed(ShopLakeError):
    """dbt build did not succeed; the message names the failing nodes."""

    def __init__(self, message: str, failed_nodes: list[str] | None = None) -> None:
        super().__init__(message)
        self.failed_nodes = failed_nodes or []

    def __reduce__(self) -> tuple[Any, ...]:  # Prefect pickles a failed task's exception
        return (type(self), (str(self), self.failed_nodes))

    @classmethod
    def from_result(cls, result: DbtResult) -> DbtBuildFailed:
        named = "; ".join(f"{n.resource_type} {n.name} ({n.status}): {n.message}" for n in result.failed)
        return cls(
            f"dbt {result.command} failed: {named or result.error or 'no node results'}",
            [n.name for n in result.failed],
        )


def _retry_unless_node_failed(_task: Any, _task_run: Any, state: Any) -> bool:
    """A model or test that failed fails again on retry; only errors without a failing node are retried."""
    exc = state.result(raise_on_failure=False)
    return not (isinstance(exc, DbtBuildFailed) and exc.failed_nodes)


@task(name="dbt-build")
def transform_step(select: str | None = None, full_refresh: bool = False) -> dict[str, Any]:
    """dbt build in-process; publishes a reader snapshot on success (see warehouse/dbt.py)."""
    settings = get_settings()
    logger = get_run_logger()
    # run_dbt_build holds the warehouse lock for the build and its publish, as `shoplake transform` does
    result = run_dbt_build(
        settings, select=select, full_refresh=full_refresh, progress=False, command="prefect transform flow"
    )
    for node in result.nodes:
        log = logger.error if node.status in ("error", "fail", "runtime error") else logger.info
        log(
            "dbt %-7s %-10s %s (%.2fs)%s",
            node.status, node.resource_type, node.name, node.seconds,
            f": {node.message}" if node.message and node.status != "success" else "",
        )  # fmt: skip
    create_table_artifact(
        key="dbt-build",
        table=[
            {"node": n.name, "type": n.resource_type, "status": n.status, "seconds": n.seconds,
             "message": n.message or ""}
            for n in result.nodes
        ] or [{"node": "(none)", "status": "no node results", "message": result.error or ""}],
        description=result.summary(),
    )  # fmt: skip
    if not result.success:
        raise DbtBuildFailed.from_result(result)
    return {
        "nodes": len(result.nodes),
        "warned": [n.name for n in result.warned],
        "snapshot": result.snapshot.name if result.snapshot else None,
    }


def transform_task_for_target() -> Any:
    """On Snowflake dbt talks to the network: retry with backoff there (never for a failing node)."""
    settings = get_settings()
    if settings.dbt_target == "dev":
        return transform_step
    return transform_step.with_options(**network_retries(settings), retry_condition_fn=_retry_unless_node_failed)


@flow(name="transform", on_failure=[alert_on_failure], on_crashed=[alert_on_failure])
def transform(select: str | None = None, full_refresh: bool = False) -> dict[str, Any]:
    """Build the warehouse with dbt; the run fails, naming the node, when any model or test fails."""
    return transform_task_for_target()(select=select, full_refresh=full_refresh)
