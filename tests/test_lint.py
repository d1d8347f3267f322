"""The code base stays ruff- and sqlfluff-clean (the same checks as `make lint`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipelines.settings import REPO_ROOT

BIN = Path(sys.executable).parent
PY_PATHS = [p for p in ("pipelines", "tests", "bench", "app") if (REPO_ROOT / p).exists()]


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_ruff_check_and_format() -> None:
    check = _run([str(BIN / "ruff"), "check", *PY_PATHS], REPO_ROOT)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = _run([str(BIN / "ruff"), "format", "--check", *PY_PATHS], REPO_ROOT)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_sqlfluff_lint_models(tmp_path: Path) -> None:
    (tmp_path / "warehouse").mkdir()
    env = {**os.environ, "SHOPLAKE_LAKE_DIR": str(tmp_path), "DBT_TARGET": "dev"}
    result = _run([str(BIN / "sqlfluff"), "lint", "models", "--nocolor"], REPO_ROOT / "transforms", env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
