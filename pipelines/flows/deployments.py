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
- promote-follow: the long-running follower (`shoplake promote --follow`), cycles every
  `SHOPLAKE_PROMOTE_FOLLOW_SECONDS`, restarted every FOLLOW_RESTART_SECONDS if it is not running
  (concurrency 1, new runs cancelled while one runs), when `SHOPLAKE_PROMOTE_TARGET` is set. One long
  run rather than a per-minute schedule of single cycles: cycles can be shorter than a cron minute,
  dbt's parsed project stays warm in the process, and the UI shows one run with a log line per cycle
  instead of 1,440 runs a day; a crash loses nothing (the promotion protocol) and the schedule restarts it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from ..settings import Settings

TAGS = ["shoplake"]
FOLLOW_RESTART_SECONDS = 60


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
    from .promote import promote, promote_follow
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
    if not settings.promote_target:
        plan.skipped.append("promote-follow: not configured (SHOPLAKE_PROMOTE_TARGET is empty)")
    elif settings.promote_follow_seconds <= 0:
        plan.skipped.append("promote-follow: SHOPLAKE_PROMOTE_FOLLOW_SECONDS is 0")
    else:
        plan.deployments.append(
            promote_follow.to_deployment(
                "promote-follow", interval=FOLLOW_RESTART_SECONDS,
                parameters={"target": settings.promote_target, "interval": settings.promote_follow_seconds},
                concurrency_limit=ConcurrencyLimitConfig(
                    limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
                ),
                description="Continuous promotion: new lake files into Snowflake RAW within a cycle, then the "
                "marts downstream of them (incremental); restarted by schedule if it stops.", **common,
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
