"""`shoplake docs`: build the dbt docs site into the lake and serve it on loopback.

The site is generated with `--target-path lake/docs`, so it never collides with a concurrent
`dbt build` writing `transforms/target`, and `--static` also writes a single-file
`static_index.html` that opens without a server. Serving uses the standard library's HTTP server
bound to 127.0.0.1 (the site is read-only static files).
"""

from __future__ import annotations

import functools
import http.server
from pathlib import Path

from ..errors import ShopLakeError
from ..lake import Lake
from ..settings import Settings
from .dbt import invoke_dbt
from .serving import release_dbt_duckdb

SITE_FILES = ("index.html", "catalog.json", "manifest.json")


def generate_docs(settings: Settings, *, target: str | None = None, progress: bool = True) -> Path:
    """Run `dbt docs generate --static` into `lake/docs`; return the folder. Raises if dbt fails."""
    out = Lake(settings.lake_dir).docs_dir
    out.mkdir(parents=True, exist_ok=True)
    try:
        result = invoke_dbt(
            settings, ["docs", "generate", "--static", "--target-path", str(out)], target=target, progress=progress
        )
    finally:
        release_dbt_duckdb()  # docs generate opens the warehouse to read its catalogue
    if not result.success:
        raise ShopLakeError(f"dbt docs generate failed: {result.error or result.summary()}")
    missing = [name for name in SITE_FILES if not (out / name).exists()]
    if missing:
        raise ShopLakeError(f"dbt docs generate wrote no {', '.join(missing)} in {out}")
    return out


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
