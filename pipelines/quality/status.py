"""The status of a quality check, with the statuses that count as failed defined once."""

from __future__ import annotations

from ..status import Status


class CheckStatus(Status):
    """The outcome of one check (dq_results.status)."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"  # the check could not run (dbt's `error` and `runtime error`)
    SKIP = "skip"

    @classmethod
    def failed(cls) -> frozenset[CheckStatus]:
        return frozenset({cls.FAIL, cls.ERROR})

    @classmethod
    def from_dbt(cls, status: str) -> CheckStatus:
        """dbt's node status (`success`, `pass`, `warn`, `fail`, `error`, `runtime error`, `skipped`)."""
        mapped = {"success": cls.PASS, "skipped": cls.SKIP, "runtime error": cls.ERROR}.get(status)
        return mapped or cls(status)
