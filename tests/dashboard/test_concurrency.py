"""Readers never block writers, writers never break readers: reads from one process while another
process runs `shoplake ingest` + `shoplake transform` in a loop, each build with more orders."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SHOPLAKE, lake_env

BUILDS = 2
MIN_READS = 1000
READER = Path(__file__).with_name("concurrent_reader.py")


def add_orders(lake_dir: Path, batch: int, n: int = 25) -> None:
    """A new ERP export with orders that no build has seen, so every snapshot's fct_orders count differs."""
    lines = ["ORDER_ID,CUSTOMER_ID,ORDER_DATE,ORDER_AMOUNT,STATUS,CHANNEL"]
    lines += [f"{90_000_000 + batch * 1000 + i},{1 + i},2026-10-31,10.00,completed,web" for i in range(n)]
    (lake_dir / "landing" / "orders" / f"orders_extra_{batch:03d}.csv").write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_reads_see_whole_snapshots_while_transform_loops(base_lake, tmp_path):
    lake_dir = tmp_path / "lake"
    shutil.copytree(base_lake, lake_dir)
    done = tmp_path / "writer.done"
    reader = subprocess.Popen(
        [sys.executable, str(READER), str(lake_dir), str(done), str(MIN_READS), "150"],
        env=lake_env(lake_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for batch in range(BUILDS):
            add_orders(lake_dir, batch)
            env = lake_env(lake_dir)
            subprocess.run(
                [SHOPLAKE, "ingest", "--table", "orders", "--quiet"], env=env, check=True, capture_output=True
            )
            result = subprocess.run([SHOPLAKE, "transform"], env=env, capture_output=True, text=True)
            assert result.returncode == 0, result.stderr[-2000:]
    finally:
        done.touch()
        out, err = reader.communicate(timeout=200)
    assert reader.returncode == 0, err[-3000:]
    report = json.loads(out.strip().splitlines()[-1])
    print("reader:", json.dumps({k: v for k, v in report.items() if k not in ("errors", "incomplete")}))
    assert report["error_count"] == 0, report["errors"]
    assert report["incomplete_count"] == 0, report["incomplete"]
    assert report["reads"] >= MIN_READS
    counts = sorted(report["orders_by_snapshot"].values())
    # the reader followed the builds: several snapshots, each with its own (growing) order count
    assert len(counts) >= 2 and len(set(counts)) == len(counts), report["orders_by_snapshot"]
