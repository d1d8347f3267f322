"""Every report in reports/ has a complete header and reads only the marts it declares."""

from __future__ import annotations

import re

import pytest

from pipelines.reports.catalog import REPORTS_DIR, parse_report
from pipelines.settings import REPO_ROOT

MARTS_DIR = REPO_ROOT / "transforms" / "models" / "marts"
# Marts that other branches add; reports on them fail cleanly until those branches are merged.
PENDING_MARTS = {"funnel_daily": "stream", "anomalies": "quality"}
REPORT_FILES = sorted(REPORTS_DIR.glob("*.sql"))


def _mart_models() -> set[str]:
    return {p.stem for p in MARTS_DIR.rglob("*.sql")}


def test_the_promised_reports_exist():
    names = {p.stem for p in REPORT_FILES}
    assert {
        "revenue_by_month_category", "top_customers_lifetime_value", "new_vs_returning_customers",
        "cohort_retention", "funnel_conversion_by_channel", "anomalies_last_30_days",
    } <= names  # fmt: skip


@pytest.mark.parametrize("path", REPORT_FILES, ids=lambda p: p.stem)
def test_header_and_marts_only(path):
    report = parse_report(path)
    assert report.title and len(report.answers) > 20
    assert report.requires, "declare the marts the report reads with `-- requires:`"
    marts = _mart_models()
    for name in report.requires:
        assert name in marts or name in PENDING_MARTS, f"{name} is not a mart model"
    body = "\n".join(line for line in report.sql.splitlines() if not line.strip().startswith("--"))
    ctes = set(re.findall(r"^\s*(\w+) as \(", body, flags=re.M | re.I))
    body = re.sub(r"extract\s*\([^)]*\)", "", body, flags=re.I)  # `extract(month from x)` is not a relation
    relations = set(re.findall(r"\b(?:from|join)\s+([a-z_][\w.]*)", body, flags=re.I)) - ctes
    assert relations == set(report.requires), f"reads {relations}, declares {report.requires}"
    for spec in report.params:
        assert spec.description, f"param {spec.name} needs a description"
        spec.convert(spec.default)  # defaults are valid for their type
