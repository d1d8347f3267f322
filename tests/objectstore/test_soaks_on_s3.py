"""Short versions of both crash soaks with the lake on a local S3 server the soaks start (moto):
kill -9 of `shoplake ingest` and of `shoplake stream`; the long runs are bench/*crash_soak.py."""

from __future__ import annotations

import json
import subprocess
import sys

from pipelines.settings import REPO_ROOT


def _run(script: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / script), *args, "--local-s3"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert proc.stdout.strip(), proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_killed_ingests_on_s3_leave_the_lake_as_a_clean_ingest_would() -> None:
    result = _run("batch_crash_soak.py", "--kills", "4", "--scale", "0.005", "--seed", "5")
    assert result["lake"] == "object store" and result["kills"] == 4
    assert (result["doubled"], result["lost"], result["orphans"], result["mismatched"]) == (0, 0, 0, 0), result
    assert result["rows_expected"] == result["rows_in_raw"] > 0
    assert result["ok"], result


def test_killed_stream_writers_on_s3_land_every_event_exactly_once() -> None:
    result = _run("crash_soak.py", "--kills", "5", "--rate", "1500")
    assert result["lake"] == "object store" and result["kills"] >= 5
    assert result["produced"] > 0
    assert (result["lost"], result["doubled"], result["doubles_seen_between_kills"]) == (0, 0, 0), result
    assert result["ok"], result
