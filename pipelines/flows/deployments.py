"""The deployments `shoplake serve` registers, with schedules and triggers taken from settings.

- ingest-batch: cron (`SHOPLAKE_INGEST_CRON`, hourly)
- extract-erp: cron (`SHOPLAKE_EXTRACT_CRON`, hourly), only when a database source is configured
- transform: after every finished `ingest_batch` run, completed or failed (a run that lists a file it
  could not land is red, but the files it did land count), and after every completed `extract_erp` run
- quality: after every completed `transform` run
- pipeline: ingest -> transform -> quality, on demand (or `SHOPLAKE_PIPELINE_CRON`)
- clickstream-continuous: the long-running writer, restarted every `SHOPLAKE_CLICKSTREAM_RESTART_SECONDS`
  if it is not running (concurrency 1, new runs cancelled while one runs); clickstream-bounded on demand
- promote: nightly (`SHOPLAKE_PROMOTE_CRON`) when `SHOPLAKE_PROMOTE_TARGET` is set
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from ..settings import Settings

TAGS = ["shoplake"]


@dataclass
class DeploymentPlan:
    deployments: list[Any] = field(default_factory=list)  # prefect RunnerDeployment
    skipped: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.deployments]


def _cron(value: str) -> str | None:
    return None if value.lower() in ("", "off", "none") else value


def after_completed(flow_name: str, *, or_failed: bool = False) -> Any:
    """A trigger that fires when a run of `flow_name` completes (or, with `or_failed`, fails)."""
    from prefect.events import DeploymentEventTrigger

    return DeploymentEventTrigger(
        name=f"after {flow_name} completes" + (" or fails" if or_failed else ""),
        expect={"prefect.flow-run.Completed", *(["prefect.flow-run.Failed"] if or_failed else [])},
        match_related={"prefect.resource.role": "flow", "prefect.resource.name": flow_name},
    )


def build_deployments(settings: Settings) -> DeploymentPlan:
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.deployments.runner import EntrypointType

    from ..extract.run import configured_sources
    from .extract import extract_erp
    from .ingest import ingest_batch, ingest_clickstream
    from .pipeline import pipeline
    from .promote import promote
    from .quality import quality
    from .transform import transform

    common: dict[str, Any] = {"tags": TAGS, "entrypoint_type": EntrypointType.MODULE_PATH}
    one_at_a_time = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)
    plan = DeploymentPlan()
    sources = configured_sources(settings)
    transform_triggers = [after_completed("ingest_batch", or_failed=True)]
    if sources:
        transform_triggers.append(after_completed("extract_erp"))
    plan.deployments += [
        ingest_batch.to_deployment(
            "ingest-batch", cron=_cron(settings.ingest_cron), concurrency_limit=one_at_a_time,
            description="Land new batch exports (contract checks, quarantine, ledger).", **common,
        ),
        transform.to_deployment(
            "transform", triggers=transform_triggers, concurrency_limit=one_at_a_time,
            description="dbt build after each batch ingest (also one that failed a file) or database extract; "
            "publishes a snapshot.",
            **common,
        ),
        pipeline.to_deployment(
            "pipeline", cron=_cron(settings.pipeline_cron), concurrency_limit=one_at_a_time,
            description="Batch ingest -> dbt build -> quality checks; alerts on failure.", **common,
        ),
        quality.to_deployment(
            "quality", triggers=[after_completed("transform")],
            description="Freshness and data-quality checks after each transform.", **common,
        ),
        ingest_clickstream.to_deployment(
            "clickstream-bounded", parameters={"forever": False}, concurrency_limit=one_at_a_time,
            description="Clickstream up to the end offsets seen at start, then stop.", **common,
        ),
    ]  # fmt: skip
    if settings.clickstream_restart_seconds > 0:
        plan.deployments.append(
            ingest_clickstream.to_deployment(
                "clickstream-continuous", parameters={"forever": True},
                interval=settings.clickstream_restart_seconds,
                concurrency_limit=ConcurrencyLimitConfig(
                    limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
                ),
                description="The long-running clickstream writer; restarted by schedule if it stops.", **common,
            )
        )  # fmt: skip
    if not sources:
        plan.skipped.append("extract-erp: no database source configured (contracts/sources/*.yml with its URL set)")
    else:
        plan.deployments.append(
            extract_erp.to_deployment(
                "extract-erp", cron=_cron(settings.extract_cron), concurrency_limit=one_at_a_time,
                description=f"Read new and changed rows of {', '.join(sources)} into the lake.", **common,
            )
        )  # fmt: skip
    if not settings.promote_target:
        plan.skipped.append("promote: not configured (SHOPLAKE_PROMOTE_TARGET is empty)")
    else:
        plan.deployments.append(
            promote.to_deployment(
                "promote", cron=_cron(settings.promote_cron), parameters={"target": settings.promote_target},
                concurrency_limit=one_at_a_time, description="Nightly promotion of the lake to Snowflake.", **common,
            )
        )  # fmt: skip
    return plan


def serve_deployments(settings: Settings) -> None:
    """`shoplake serve`: register the deployments with the Prefect API and run their flow runs here."""
    from .server import configure_prefect_env, require_server

    url = require_server(settings)
    configure_prefect_env(settings)
    from prefect import serve

    plan = build_deployments(settings)
    print(f"Serving {len(plan.deployments)} deployment(s) against {url}: {', '.join(plan.names)}")
    for reason in plan.skipped:
        print(f"  not registered: {reason}")
    sys.stdout.flush()  # before serve() blocks: supervisors and logs redirected to files see it now
    serve(*plan.deployments)
