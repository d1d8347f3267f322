"""`shoplake docs`: build the dbt docs site into the lake and serve it on loopback.

dbt writes its artefacts into the lake's per-target dbt folder, which every later `dbt build`
overwrites (manifest.json among them). The site files are therefore copied, each atomically, into
`lake/docs/`, so the served site stays one consistent manifest + catalogue. `--static` also writes a
single-file `static_index.html` that opens without a server. Serving uses the standard library's
HTTP server bound to 127.0.0.1 (the site is read-only static files).
"""

from __future__ import annotations

import functools
import http.server
import shutil
from pathlib import Path

from ..errors import ShopLakeError
from ..lake import Lake
from ..settings import Settings
from ..storage import atomic_path
from .dbt import invoke_dbt
from .serving import release_dbt_duckdb

SITE_FILES = ("index.html", "catalog.json", "manifest.json", "static_index.html")


def generate_docs(settings: Settings, *, target: str | None = None, progress: bool = True) -> Path:
    """Run `dbt docs generate --static` and copy the site into `lake/docs`; return that folder."""
    lake = Lake.of(settings)
    target = target or settings.dbt_target
    try:
        result = invoke_dbt(settings, ["docs", "generate", "--static"], target=target, progress=progress)
    finally:
        release_dbt_duckdb()  # docs generate opens the warehouse to read its catalogue
    if not result.success:
        raise ShopLakeError(f"dbt docs generate failed: {result.error or result.summary()}")
    built = lake.dbt_artifacts_dir(target) / "target"
    missing = [name for name in SITE_FILES if not (built / name).exists()]
    if missing:
        raise ShopLakeError(f"dbt docs generate wrote no {', '.join(missing)} in {built}")
    lake.docs_dir.mkdir(parents=True, exist_ok=True)
    for name in SITE_FILES:
        with atomic_path(lake.docs_dir / name) as tmp:
            shutil.copyfile(built / name, tmp)
    return lake.docs_dir


def make_server(site: Path, port: int = 8080, host: str = "127.0.0.1") -> http.server.ThreadingHTTPServer:
    """An HTTP server for the generated site (port 0 picks a free port); call serve_forever()."""
    if not (site / "index.html").exists():
        raise ShopLakeError(f"no docs site in {site}; run `shoplake docs` first")
    handler = functools.partial(_QuietHandler, directory=str(site))
    try:
        return http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise ShopLakeError(f"cannot serve docs on {host}:{port}: {exc.strerror}; try --port") from exc


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        pass
