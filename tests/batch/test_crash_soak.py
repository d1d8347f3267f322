"""The short crash soak: a few kill -9s of `shoplake ingest` while exports change; the lake must
equal a clean ingest of the final exports (bench/batch_crash_soak.py runs the long one)."""

from __future__ import annotations

import json
import subprocess
import sys

from pipelines.settings import REPO_ROOT


def test_killed_ingests_leave_the_lake_as_a_clean_ingest_would() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "batch_crash_soak.py"), "--kills", "4", "--scale", "0.005",
         "--seed", "3"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["kills"] == 4
    assert (result["doubled"], result["lost"], result["orphans"], result["mismatched"]) == (0, 0, 0, 0), result
    assert result["rows_expected"] == result["rows_in_raw"] > 0
    assert proc.returncode == 0, proc.stderr[-2000:]
