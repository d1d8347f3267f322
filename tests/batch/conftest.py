"""Helpers for the commit-protocol tests: land exports, ingest, and crash an ingest with kill -9."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipelines.batch.report import IngestReport
from pipelines.lake import Lake
from pipelines.settings import REPO_ROOT, Settings

# Run in a child process: ingest with the Parquet writer of batch ingest wrapped so that the
# process SIGKILLs itself once `after` files are written (optionally leaving a half-written
# temporary file behind, as a kill inside a write does). Nothing in the child gets to clean up.
_CRASH_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import pipelines.batch.ingest as ingest

    after, half = int(sys.argv[1]), sys.argv[2] == "half"
    written = 0
    real = ingest.write_parquet_atomic

    def write(df, path):
        global written
        if written >= after:
            if half:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.with_name(f".{path.name}.deadbeef.tmp").write_bytes(b"PAR1 cut short")
            os.kill(os.getpid(), signal.SIGKILL)
        written += 1
        return real(df, path)

    ingest.write_parquet_atomic = write
    from pipelines.settings import Settings
    settings = Settings(lake_dir=Path(sys.argv[3]))
    if len(sys.argv) > 4:
        ingest.reprocess(settings, sys.argv[4], progress=False)
    else:
        ingest.ingest_all(settings, progress=False)
    """
)


def ingest(lake: Lake, **kwargs: object) -> IngestReport:
    from pipelines.batch.ingest import ingest_all

    return ingest_all(Settings(lake_dir=lake.root), progress=False, **kwargs)


def crash_ingest(lake: Lake, *, after_writes: int, half_written: bool = False, reprocess: str | None = None) -> int:
    """Run `ingest` (or `--reprocess TABLE`) in a child that is killed (-9) when it is about to write
    its next Parquet file."""
    env = {**os.environ, "SHOPLAKE_LAKE_DIR": str(lake.root)}
    args = [str(after_writes), "half" if half_written else "whole", str(lake.root), *([reprocess] if reprocess else [])]
    proc = subprocess.run(
        [sys.executable, "-c", _CRASH_CHILD, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == -9, f"the child was not killed (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return proc.returncode


def land(lake: Lake, table: str, name: str, data: bytes | str, *, mtime: float | None = None) -> Path:
    """Write one export into the landing area (optionally with a given modification time)."""
    path = lake.landing_dir(table) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def files_on_disk(lake: Lake, table: str, zone: str = "raw") -> set[str]:
    """Every file under the table's folder of `zone`, committed or not (what a folder glob would see)."""
    base = lake.root / zone / table
    return {p.relative_to(lake.root).as_posix() for p in base.rglob("*") if p.is_file()} if base.is_dir() else set()


@pytest.fixture
def settings_for_lake(lake: Lake) -> Settings:
    return Settings(lake_dir=lake.root)


def contracts_with(directory: Path, changes: dict[str, dict]) -> Path:
    """A copy of the shipped contracts in `directory`/contracts with some top-level keys replaced."""
    import yaml

    from pipelines.batch.contract import CONTRACTS_DIR

    target = directory / "contracts"
    target.mkdir(exist_ok=True)
    for path in CONTRACTS_DIR.glob("*.yml"):
        raw = yaml.safe_load(path.read_text())
        raw.update(changes.get(raw["table"], {}))
        (target / path.name).write_text(yaml.safe_dump(raw))
    return target


def use_contracts(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """Make ingest, dbt's vars and the catalog read the contracts in `directory` (`SHOPLAKE_CONTRACTS_DIR`)."""
    monkeypatch.setenv("SHOPLAKE_CONTRACTS_DIR", str(directory))


def old(seconds: float) -> float:
    """A modification time `seconds` in the past."""
    return time.time() - seconds
