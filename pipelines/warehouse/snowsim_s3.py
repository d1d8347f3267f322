"""`python -m pipelines.warehouse.snowsim_s3 HOST PORT LAKE_URI`: snowsim (fakesnow) that can read the lake's bucket.

fakesnow runs COPY INTO from an external stage as DuckDB `read_parquet('s3://...')`, and DuckDB 2.0
has no httpfs to install offline. This launcher registers the lake's object store with fakesnow's
shared DuckDB connection (the same positional-read filesystem dbt uses, `storage.duckdb_filesystem`)
before serving, so `shoplake promote --target snowsim` loads from the bucket like production does.
It reaches into fakesnow's `server.shared_fs` (not a public API, checked at start); credentials come
from the environment the server inherits. Storage integrations are not emulated (fakesnow ignores
them and any stage credentials): the server reads with its own environment's credentials.
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading

from ..storage import duckdb_filesystem


def main(argv: list[str]) -> int:
    host, port, uri = argv[0], int(argv[1]), argv[2]
    import fakesnow

    serve = fakesnow.server  # the function: importing the submodule below shadows the name
    server_module = importlib.import_module("fakesnow.server")
    shared = getattr(server_module, "shared_fs", None)
    if shared is None or not hasattr(shared, "duck_conn"):
        print("snowsim: this fakesnow has no server.shared_fs.duck_conn; cannot read the lake's store", file=sys.stderr)
        return 2
    shared.duck_conn.register_filesystem(duckdb_filesystem(uri))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with serve(port=port, host=host):
        print(f"snowsim: serving on {host}:{port}, reading {uri}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
