"""What every flow shares: settings at run time, network retries, and the failure alert hook."""

from __future__ import annotations

from typing import Any

from prefect.tasks import exponential_backoff

from ..alerts import raise_alert
from ..settings import Settings, get_settings


def network_retries(settings: Settings) -> dict[str, Any]:
    """Task options for steps that touch the network: retries with exponential backoff."""
    return {
        "retries": settings.flow_retries,
        "retry_delay_seconds": exponential_backoff(backoff_factor=settings.flow_retry_delay_seconds),
    }


def alert_on_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Flow failure hook: a failed or crashed run raises an alert that names what failed."""
    raise_alert(
        get_settings(),
        source=f"prefect/{flow.name}",
        title=f"flow run {flow_run.name} of {flow.name} ended {state.type.value}",
        detail=state.message or "",
        context={
            "flow": flow.name,
            "flow_run_id": str(flow_run.id),
            "flow_run_name": flow_run.name,
            "deployment_id": str(flow_run.deployment_id) if flow_run.deployment_id else None,
            "state": state.type.value,
        },
    )
