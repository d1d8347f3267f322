"""Run dbt in-process (dbtRunner), show progress per node, and report failures by node name.

Every invocation on the DuckDB target opens the warehouse read-write, so every one of them (build,
test, source freshness, docs generate, and the snapshot publish after a build) holds the warehouse
lock (`locks.WAREHOUSE`): the CLI, the demo and the Prefect flows all pass through here and take turns.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from .. import locks
from ..batch.contract import Contract, contracts_dir, contracts_for, load_contracts
from ..errors import ShopLakeError
from ..lake import Lake
from ..settings import REPO_ROOT, Settings
from .serving import publish_snapshot, release_dbt_duckdb

PROJECT_DIR = REPO_ROOT / "transforms"
PROFILES_DIR = REPO_ROOT
DUCKDB_TARGET = "dev"  # the profiles.yml target that writes lake/warehouse/shoplake.duckdb

FAILED_STATUSES = {"error", "fail", "runtime error"}
# Everything built from the results tables (pipelines/results.py): their staging views and marts, and
# those models' tests. What `shoplake quality` and `shoplake forecast` rebuild to publish new rows.
RESULTS_SELECT = "source:results+"


@dataclass
class NodeResult:
    name: str
    resource_type: str
    status: str
    seconds: float
    message: str | None = None
    failures: int | None = None
    severity: str | None = None  # tests: "error" or "warn" (what a failure means)
    age_s: float | None = None  # source freshness: seconds since the newest row was loaded


@dataclass
class DbtResult:
    command: str
    success: bool
    nodes: list[NodeResult] = field(default_factory=list)
    error: str | None = None
    snapshot: Path | None = None

    @property
    def failed(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status in FAILED_STATUSES]

    @property
    def warned(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status == "warn"]

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.status] = counts.get(node.status, 0) + 1
        parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        head = f"dbt {self.command}: {'OK' if self.success else 'FAILED'} ({parts or 'no nodes'})"
        lines = [head]
        lines += [f"  FAILED {n.resource_type} {n.name}: {n.message}" for n in self.failed]
        lines += [f"  WARN   {n.resource_type} {n.name}: {n.message}" for n in self.warned]
        if self.error:
            lines.append(f"  error: {self.error}")
        return "\n".join(lines)


# SQL type of a key column on both targets, per contract type (the `key_data_types` var).
SQL_KEY_TYPES = {"bigint": "bigint", "string": "varchar"}


@cache
def project_var_defaults() -> dict[str, Any]:
    """The `vars:` of dbt_project.yml: the defaults (equal to the shipped contracts) and the key names."""
    return yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]


def _key_data_types(contracts: dict[str, Contract]) -> dict[str, str]:
    """Per key column the marts type by var: the SQL type of what every contract declaring it says."""
    out = dict(project_var_defaults()["key_data_types"])
    for key in out:
        declared: dict[str, list[str]] = {}
        for table, contract in contracts.items():
            for column in contract.columns:
                if column.name == key:
                    declared.setdefault(column.type, []).append(table)
        if len(declared) > 1:
            found = "; ".join(f"{t} in {', '.join(tables)}" for t, tables in sorted(declared.items()))
            raise ShopLakeError(f"contracts: {key} is declared with different types ({found}); the marts join on it")
        for contract_type in declared:
            if contract_type not in SQL_KEY_TYPES:
                raise ShopLakeError(
                    f"contracts: key {key} is {contract_type} in {', '.join(declared[contract_type])}; "
                    f"a key is {' or '.join(SQL_KEY_TYPES)}"
                )
            out[key] = SQL_KEY_TYPES[contract_type]
    return out


def _order_statuses(contracts: dict[str, Contract]) -> dict[str, list[str]]:
    """The canonical order statuses and those that earn revenue, from the orders contract's order_status
    (`allowed`, `revenue_values`); what it leaves out is dbt_project.yml's default (the shipped contract)."""
    defaults = project_var_defaults()
    statuses, revenue = list(defaults["order_statuses"]), list(defaults["revenue_statuses"])
    orders = contracts.get("orders")
    column = next((c for c in orders.columns if c.name == "order_status"), None) if orders else None
    if column is not None:
        statuses = list(column.allowed or statuses)
        revenue = list(column.revenue_values or revenue)
    outside = [s for s in revenue if s not in statuses]
    if outside:
        raise ShopLakeError(
            f"contract orders: order_status allows {', '.join(statuses)}, so the revenue statuses "
            f"{', '.join(outside)} cannot occur; declare which earn revenue with `revenue_values:`"
        )
    return {"order_statuses": statuses, "revenue_statuses": revenue}


def contract_vars(contracts: dict[str, Contract] | None = None) -> dict[str, Any]:
    """dbt vars derived from the batch contracts, so what a contract declares holds downstream:

    - `contracts`: per table its primary key (staging keeps one row per key, `latest_row_per_key`,
      and builds surrogate keys from it), version column, and column types (a `timestamp` order date
      becomes a business-local date in staging);
    - `key_data_types`: the SQL type of each key column of the marts (bigint or varchar);
    - `order_statuses` / `revenue_statuses`: the canonical statuses (dbt's accepted_values) and
      those that earn revenue (`is_revenue_status`).

    dbt_project.yml holds the same values for the shipped contracts (checked by tests), so plain
    `dbt` runs (and sqlfluff) see them too.
    """
    contracts = load_contracts() if contracts is None else contracts
    return {
        "contracts": {table: _contract_facts(c) for table, c in sorted(contracts.items())},
        "key_data_types": _key_data_types(contracts),
        **_order_statuses(contracts),
    }


def _contract_facts(contract: Contract) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "primary_key": list(contract.primary_key),
        "version_column": contract.version_column,
        "column_types": {column.name: column.type for column in contract.columns},
    }
    if contract.deleted_column:  # only when declared: the shipped contracts' vars stay as dbt_project.yml has them
        facts["deleted_column"] = contract.deleted_column
        facts["deleted_is_flag"] = contract.column(contract.deleted_column).type == "boolean"
    return facts


def dbt_vars(settings: Settings) -> dict[str, Any]:
    """Every var `shoplake` passes to dbt (`--vars`): the contracts' facts and the business time zone.
    The same input gives the same text, so dbt's partial parsing (which re-parses everything when vars
    change) keeps working between builds."""
    return {**contract_vars(contracts_for(settings)), "business_timezone": settings.business_timezone}


@contextmanager
def _dbt_env(settings: Settings, target: str) -> Iterator[None]:
    """dbt reads the lake dir, contracts folder and target from the environment (profiles.yml, the raw views)."""
    wanted = {
        "SHOPLAKE_LAKE_DIR": str(settings.lake_dir), "DBT_TARGET": target,
        "SHOPLAKE_CONTRACTS_DIR": str(contracts_dir(settings)),
    }  # fmt: skip
    if wanted["DBT_TARGET"] == "snowsim":
        # profiles.yml's snowsim target connects to the server recorded in this lake's state dir.
        from .snowsim import running_port

        wanted["SHOPLAKE_SNOWSIM_ACTIVE_PORT"] = str(running_port(Lake(settings.lake_dir)))
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _progress_printer(stream=sys.stderr) -> Callable:
    """One line per finished node, so long builds show where they are."""
    done = 0
    lock = threading.Lock()  # dbt runs nodes on several threads

    def on_event(event) -> None:
        nonlocal done
        if event.info.name == "NodeFinished":
            node = event.data.node_info
            with lock:
                done += 1
                stream.write(f"  [{done:>3}] {node.node_status:<7} {node.resource_type:<10} {node.node_name}\n")
                stream.flush()

    return on_event


def warehouse_lock(
    settings: Settings, *, command: str, wait: bool = True, target: str | None = None
) -> AbstractContextManager[None]:
    """The warehouse lock for work on the DuckDB target (nothing to take on Snowflake targets).

    Held by this thread already (a build that publishes, a flow around its checks): just enters.
    `wait=False` turns a held lock into a one-line ShopLakeError naming the holder (`--no-wait`).
    """
    if (target or settings.dbt_target) != DUCKDB_TARGET:
        return nullcontext()
    return locks.hold(Lake(settings.lake_dir), locks.WAREHOUSE, command=command, wait=wait)


def _severity(node) -> str | None:
    severity = getattr(getattr(node, "config", None), "severity", None)
    return str(severity).lower() if severity else None


def invoke_dbt(
    settings: Settings,
    args: list[str],
    *,
    target: str | None = None,
    progress: bool = True,
    command: str | None = None,
    wait: bool = True,
    extra_vars: dict[str, Any] | None = None,
) -> DbtResult:
    """Invoke one dbt command in-process and collect per-node results.

    `extra_vars` override ShopLake's own vars (`dbt_vars`) for this invocation. On the DuckDB target
    it holds the warehouse lock (`command` names the holder; default `dbt <args>`)
    and lets go of the warehouse file before returning.
    """
    from dbt.cli.main import dbtRunner

    target = target or settings.dbt_target
    artifacts = Lake(settings.lake_dir).ensure().dbt_artifacts_dir(target)
    cli_args = [
        *args, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROFILES_DIR), "--target", target,
        "--target-path", str(artifacts / "target"), "--log-path", str(artifacts / "logs"), "--quiet",
        "--vars", json.dumps({**dbt_vars(settings), **(extra_vars or {})}, sort_keys=True),
    ]  # fmt: skip
    callbacks = [_progress_printer()] if progress else []
    holder = command or "dbt " + " ".join(a for a in args[:2] if not a.startswith("-"))
    started = time.monotonic()
    with warehouse_lock(settings, command=holder, wait=wait, target=target), _dbt_env(settings, target):
        try:
            res = dbtRunner(callbacks=callbacks).invoke(cli_args)
        finally:
            release_dbt_duckdb()
    result = DbtResult(command=args[0], success=bool(res.success))
    if res.exception is not None:
        result.error = str(res.exception).strip().splitlines()[0] if str(res.exception).strip() else repr(res.exception)
    results = getattr(res.result, "results", None) or []
    for r in results:
        node = getattr(r, "node", None)
        result.nodes.append(
            NodeResult(
                name=getattr(node, "name", getattr(r, "unique_id", "?")),
                resource_type=str(getattr(node, "resource_type", "?")),
                status=str(getattr(r.status, "value", r.status)).lower(),
                seconds=round(float(getattr(r, "execution_time", 0.0) or 0.0), 3),
                message=(r.message or None) if hasattr(r, "message") else None,
                failures=getattr(r, "failures", None),
                severity=_severity(node),
                age_s=getattr(r, "age", None),
            )
        )
    if progress:
        print(f"dbt {args[0]} finished in {time.monotonic() - started:.1f}s", file=sys.stderr)
    # dbt reports success=False with no failing node for errors such as a bad profile.
    if result.failed:
        result.success = False
    return result


def run_dbt_build(
    settings: Settings,
    *,
    select: str | None = None,
    full_refresh: bool = False,
    target: str | None = None,
    progress: bool = True,
    publish: bool = True,
    command: str = "dbt build",
    wait: bool = True,
) -> DbtResult:
    """`shoplake transform`: dbt build, then publish a read-only snapshot if it succeeded on DuckDB.

    The warehouse lock is held across both, so no other build lands between this build and its snapshot.
    """
    target = target or settings.dbt_target
    args = ["build"]
    if select:
        args += ["--select", select]
    if full_refresh:
        args.append("--full-refresh")
    with warehouse_lock(settings, command=command, wait=wait, target=target):
        result = invoke_dbt(settings, args, target=target, progress=progress, command=command)
        print(result.summary(), file=sys.stderr if not result.success else sys.stdout)
        if result.success and publish and target == DUCKDB_TARGET:
            result.snapshot = publish_snapshot(Lake(settings.lake_dir), command=command)
            print(f"published snapshot {result.snapshot.name} for readers")
    return result


def publish_results(
    settings: Settings, *, target: str | None = None, command: str = "publish results", progress: bool = False
) -> DbtResult | None:
    """Make new rows of the results tables visible to readers: `dbt build` of just their models, then the
    snapshot publish, as one holder of the warehouse lock. dbt is the warehouse's only writer.

    DuckDB target only (returns None otherwise): on Snowflake the results files reach RAW with the next
    `shoplake promote`, whose dbt build builds these models too.
    """
    target = target or settings.dbt_target
    if target != DUCKDB_TARGET:
        return None
    return run_dbt_build(settings, select=RESULTS_SELECT, target=target, progress=progress, command=command)
