"""`shoplake quality`: run every data-quality check, record it, alert on it, report it.

Checks: dbt data and unit tests (with their declared severity; failing rows are stored by
`store_failures`), source freshness on `_ingested_at`, per-source daily volume bands, the
ingestion ledger's quarantine and imputation counts, and recent category-day anomalies from the
`anomalies` mart. Results go to `dq_results` (one file per run in the lake), failures to the alert
router; then dbt builds just the results models and a snapshot is published, so readers see the run
(`publish_results`: dbt is the warehouse's only writer). Only error-severity failures fail the run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field

import polars as pl

from ..alerts import Alert, AlertRouter, Delivery, Outcome, Severity
from ..batch.ledger import read_ledger
from ..console import render
from ..console import table as text_table
from ..errors import ShopLakeError
from ..lake import Lake
from ..results import DQ_RESULTS, SCHEMAS, new_run_id, write_results
from ..settings import Settings
from ..warehouse.dbt import RESULTS_SELECT, NodeResult, invoke_dbt, publish_results
from .status import CheckStatus
from .volume import check_volume

QUARANTINE_WARN_RATE = 0.05  # a table losing more than 5% of its rows to quarantine is worth a look
ANOMALY_ALERT_DAYS = 7  # anomalies in the newest week of sales are news; older ones were alerted before


@dataclass
class CheckResult:
    check_type: str  # dbt_test | unit_test | freshness | volume | ledger_quarantine | ledger_imputed | anomaly
    check_name: str
    target: str
    severity: Severity
    status: CheckStatus
    failing_rows: int | None = None
    detail: str = ""
    check_date: dt.date | None = None  # the data day a check judged (volume, anomaly), if any

    def __post_init__(self) -> None:
        self.severity, self.status = Severity(self.severity), CheckStatus(self.status)

    @property
    def is_error(self) -> bool:
        return self.severity == Severity.ERROR and self.status.is_failed

    @property
    def is_problem(self) -> bool:
        return self.status.is_failed or self.status == CheckStatus.WARN


KIND_TITLES = {
    "dbt_test": "dbt data tests", "unit_test": "dbt unit tests", "freshness": "source freshness",
    "volume": "daily volume", "ledger_quarantine": "ingest quarantine", "ledger_imputed": "ingest imputation",
    "anomaly": "category-day anomalies (newest week)",
}  # fmt: skip
# Kinds whose every result is listed; of the others only problems are.
LISTED_KINDS = ("volume", "freshness", "ledger_quarantine", "anomaly")


@dataclass
class QualityReport:
    run_id: str
    checked_at: dt.datetime
    results: list[CheckResult] = field(default_factory=list)
    alerts: list[Outcome] = field(default_factory=list)
    publish_error: str | None = None  # the dbt build of the results models failed: readers do not see this run

    @property
    def errors(self) -> list[CheckResult]:
        return [r for r in self.results if r.is_error]

    @property
    def exit_code(self) -> int:
        return 0 if self.success else 1

    @property
    def success(self) -> bool:
        return not self.errors and self.publish_error is None

    @property
    def verdict(self) -> str:
        problems = [f"{len(self.errors)} error-severity check(s) failed"] if self.errors else []
        if self.publish_error is not None:
            problems.append(f"results not published ({self.publish_error})")
        return "FAILED: " + "; ".join(problems) if problems else "OK"

    def failure_alert(self) -> Alert | None:
        """One alert for a failed run (None when it passed), keyed by WHAT failed, never by the run.

        The same checks failing again within the dedup window are the same condition, so the router
        suppresses it; a different set of failing checks is news and gets a key of its own.
        """
        if self.success:
            return None
        failed = sorted(f"{r.check_type}:{r.check_name}" for r in self.errors)
        failed += ["publish"] if self.publish_error is not None else []
        digest = hashlib.sha256("\n".join(failed).encode()).hexdigest()[:16]
        lines = [f"{r.check_type} {r.status}: {r.target}: {r.detail}".rstrip(": ") for r in self.errors]
        lines += [f"results not published: {self.publish_error}"] if self.publish_error is not None else []
        return Alert(
            key=f"quality:failed:{digest}", severity=Severity.ERROR, source="quality",
            title=f"data-quality run failed: {self.verdict.removeprefix('FAILED: ')}",
            detail="\n".join(lines) + f"\nFull report: run {self.run_id} in dq_results, or `shoplake quality`.",
            context={"run_id": self.run_id, "failed": failed},
        )  # fmt: skip

    def summary(self) -> str:
        """The report, first line = the verdict (what a flow shows as its failure message)."""
        return self.verdict + "\n" + self.render()

    def to_frame(self) -> pl.DataFrame:
        rows = [
            {"run_id": self.run_id, "checked_at": self.checked_at, **asdict(r),
             "severity": str(r.severity), "status": str(r.status)}
            for r in self.results
        ]  # fmt: skip
        return pl.DataFrame(rows, schema=SCHEMAS[DQ_RESULTS])

    def render(self) -> str:
        """Counts per kind of check, then one row per listed result or problem, then alerts and the verdict."""
        counts = text_table("checks", "results")
        listed = text_table("", "check", "target", "detail")
        for kind, title in KIND_TITLES.items():
            group = [r for r in self.results if r.check_type == kind]
            if not group:
                continue
            by_status = Counter(str(r.status) for r in group)
            counts.add_row(title, ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())))
            for r in group:
                if r.is_problem or kind in LISTED_KINDS:
                    mark = "ERROR" if r.is_error else "WARN" if r.is_problem else str(r.status)
                    listed.add_row(mark, title, r.target, r.detail)
        delivered = Counter(o.delivery for o in self.alerts)
        raised = len(self.alerts) - delivered[Delivery.SUPPRESSED]
        alerts = (
            f"alerts: {raised} raised ({delivered[Delivery.SENT]} to webhook, "
            f"{sum(n for d, n in delivered.items() if d.is_failed)} webhook failures), "
            f"{delivered[Delivery.SUPPRESSED]} suppressed as duplicates"
        )
        return render(f"ShopLake data quality — run {self.run_id}", counts, listed, alerts, f"result: {self.verdict}")


def _from_dbt_test(node: NodeResult) -> CheckResult:
    kind = "unit_test" if node.resource_type == "unit_test" else "dbt_test"
    severity = Severity(node.severity or Severity.ERROR)
    status = CheckStatus.from_dbt(node.status)
    detail = "" if status == CheckStatus.PASS else (node.message or "").splitlines()[0] if node.message else status
    return CheckResult(kind, node.name, node.name, severity, status, node.failures, detail)


def _from_freshness(node: NodeResult) -> CheckResult:
    age = f"newest row loaded {node.age_s / 3600:.1f} h ago" if node.age_s is not None else (node.message or "")
    status = CheckStatus.from_dbt(node.status)
    severity = Severity.WARN if status == CheckStatus.WARN else Severity.ERROR
    return CheckResult("freshness", f"freshness_{node.name}", f"source shop.{node.name}", severity, status, None, age)


def dbt_checks(settings: Settings) -> list[CheckResult]:
    """dbt tests (data + unit) and source freshness, run in-process."""
    with contextlib.redirect_stdout(sys.stderr):
        tests = invoke_dbt(settings, ["test"], progress=False)
        freshness = invoke_dbt(settings, ["source", "freshness"], progress=False)
    if tests.error and not tests.nodes:
        raise ShopLakeError(f"dbt test could not run: {tests.error}")
    results = [_from_dbt_test(n) for n in tests.nodes]
    results += [_from_freshness(n) for n in freshness.nodes]
    return results


def ledger_checks(lake: Lake) -> list[CheckResult]:
    """Quarantined and imputed rows per table, summed over every ingested file."""
    totals: dict[str, dict[str, int]] = {}
    for record in read_ledger(lake):
        t = totals.setdefault(record.table, {"rows_in": 0, "quarantined": 0, "imputed": 0})
        t["rows_in"] += record.rows_in
        t["quarantined"] += record.rows_quarantined
        t["imputed"] += sum(record.imputed.values())
    results = []
    for table, t in sorted(totals.items()):
        rate = t["quarantined"] / t["rows_in"] if t["rows_in"] else 0.0
        status = CheckStatus.WARN if rate > QUARANTINE_WARN_RATE else CheckStatus.PASS
        detail = f"{t['quarantined']:,} of {t['rows_in']:,} rows quarantined ({rate:.1%})"
        results.append(
            CheckResult(
                "ledger_quarantine", f"quarantine_{table}", table, Severity.WARN, status, t["quarantined"], detail
            )
        )
        results.append(
            CheckResult("ledger_imputed", f"imputed_{table}", table, Severity.INFO, CheckStatus.PASS, t["imputed"],
                        f"{t['imputed']:,} values imputed with contract defaults")
        )  # fmt: skip
    return results


def anomaly_checks(lake: Lake) -> list[CheckResult]:
    """Anomalies flagged in the newest week of the published `anomalies` mart (sales insights)."""
    from ..warehouse.query import query_snapshot

    try:
        _, rows = query_snapshot(
            lake,
            "select sales_date, category_id, category_name, direction, orders, expected_orders, revenue, "
            "expected_revenue, orders_score from anomalies where is_anomaly and sales_date > "
            "(select max(sales_date) from anomalies) - ? order by sales_date, category_id",
            [ANOMALY_ALERT_DAYS],
        )
    except Exception as exc:  # no snapshot yet, or a snapshot built before the mart existed
        return [
            CheckResult(
                "anomaly", "anomalies", "anomalies", Severity.WARN, CheckStatus.SKIP, None, f"not available: {exc}"
            )
        ]
    results = []
    for day, cat_id, cat_name, direction, orders, exp_orders, revenue, exp_revenue, score in rows:
        detail = (
            f"{day} {cat_name}: {direction} — {orders} orders vs {float(exp_orders):.0f} expected, "
            f"revenue {float(revenue):,.2f} vs {float(exp_revenue):,.2f} (score {float(score):+.1f})"
        )
        results.append(
            CheckResult(
                "anomaly", f"anomaly_{cat_id}_{day}_{direction}", f"{cat_name} {day}", Severity.WARN,
                CheckStatus.WARN, None, detail, day,
            )
        )  # fmt: skip
    if not results:
        none = "none in the newest week"
        results.append(CheckResult("anomaly", "anomalies", "anomalies", Severity.WARN, CheckStatus.PASS, 0, none))
    return results


def volume_checks(lake: Lake, as_of: dt.date | None) -> list[CheckResult]:
    out = []
    for v in check_volume(lake, as_of=as_of):
        out.append(
            CheckResult("volume", f"volume_{v.source}", v.source, Severity.WARN, v.status, v.rows, v.detail, v.day)
        )
    return out


def alerts_for(results: list[CheckResult]) -> list[Alert]:
    """One alert per problem, keyed so a persisting problem is raised once per dedup window.

    Warn-severity dbt tests are recorded and reported but do not alert: they are known, chronic
    conditions (an order short by a line quarantined at ingest), not news.
    """
    alerts = []
    for r in results:
        if not r.is_problem or (r.check_type == "dbt_test" and r.severity == Severity.WARN):
            continue
        severity = Severity.ERROR if r.is_error else Severity.WARN
        key = f"{r.check_type}:{r.check_name}"
        if r.check_type == "volume":
            key += f":{r.check_date}"  # one alert per source and day
        hint = {
            "dbt_test": "Failing rows are stored in the warehouse's dbt_test__audit schema under the test's name.",
            "unit_test": "A model's logic changed: run `dbt test --select test_type:unit` in transforms/.",
            "freshness": "No new rows were ingested recently: check the export job and `shoplake ingest`.",
            "volume": "Compare the landed file with the source system; a partial export is the usual cause.",
            "ledger_quarantine": "See lake/quarantine/<table>/ for the rows and their `_reason`.",
            "anomaly": "Check promotions, stock-outs and tracking for that category and day.",
        }.get(r.check_type, "")
        alerts.append(
            Alert(
                key=key, severity=severity, source=r.check_type,
                title=f"{r.check_type.replace('_', ' ')} {r.status}: {r.target}",
                detail=f"{r.detail}\n{hint}".strip(),
                context={"check": r.check_name, "status": str(r.status), "severity": str(r.severity),
                         "failing_rows": r.failing_rows},
            )
        )  # fmt: skip
    return alerts


def run_quality(
    settings: Settings,
    *,
    as_of: dt.date | None = None,
    router: AlertRouter | None = None,
    publish: bool = True,
) -> QualityReport:
    """Run all checks, add them to dq_results, raise alerts; then publish the results tables (`publish`).

    Publishing is a dbt build of just the results models plus a snapshot (`publish_results`), after
    this run's `dbt test`, so the run never builds what it tests in a loop.
    """
    lake = Lake.of(settings)
    checked_at = dt.datetime.now(dt.timezone.utc)
    report = QualityReport(run_id=new_run_id(checked_at), checked_at=checked_at.replace(tzinfo=None))
    report.results += dbt_checks(settings)
    report.results += volume_checks(lake, as_of)
    report.results += ledger_checks(lake)
    report.results += anomaly_checks(lake)
    write_results(lake, DQ_RESULTS, report.to_frame(), report.run_id)
    router = router or AlertRouter.from_settings(settings)
    report.alerts = router.emit(alerts_for(report.results))
    if publish:
        with contextlib.redirect_stdout(sys.stderr):  # stdout is the report's
            built = publish_results(settings, command="shoplake quality")
        if built is not None and not built.success:
            first = (built.failed[0].message if built.failed else built.error) or "see the dbt log"
            report.publish_error = f"dbt build --select {RESULTS_SELECT}: {first.splitlines()[0]}"
    return report
