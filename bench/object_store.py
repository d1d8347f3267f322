"""The lake on a local S3-compatible server (moto, started here) vs on local disk, in one run.

For each lake: `shoplake ingest` of the same generated exports, the stream writer draining the same
topic backlog from the local broker, `dbt build` (whose raw views read the lake: on S3 through the
DuckDB filesystem ShopLake registers), and a full scan of the committed order items in DuckDB. Ratios
are S3 / local. moto keeps objects in memory and answers on loopback, so the ratios show the cost of
the object-store code paths (requests, no rename, ranged reads through Python), not network latency.
Last stdout line: JSON.

    python bench/object_store.py [--scale 0.2] [--events 200000] [--rounds 2]

With several rounds the order alternates (local first, then S3 first, ...) and each figure is the
median over the rounds, so load that drifts during the run hits both sides alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _common import emit
from _s3 import local_s3, new_lake_uri

from pipelines import storage
from pipelines.batch.ingest import ingest_all
from pipelines.catalog import committed_files
from pipelines.generate.batch import build_dataset, write_exports
from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.stream.broker import ensure_topic, start_broker, stop_broker
from pipelines.stream.config import WriterConfig
from pipelines.stream.simulator import Catalog, kafka_sender, simulate_clicks
from pipelines.stream.writer import run_stream
from pipelines.warehouse.dbt import run_dbt_build


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def scan_s(lake: Lake) -> float:
    files = [str(p) for p in committed_files(lake, "order_items")]
    with storage.connect_duckdb(lake.uri) as con:
        started = time.perf_counter()
        con.execute("select count(*), sum(quantity * price) from read_parquet(?)", [files]).fetchall()
        return time.perf_counter() - started


def run_lake(root: Path, uri: str | None, dataset, scale: float, bootstrap: str, topic: str, events: int) -> dict:
    settings = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(root), "SHOPLAKE_LAKE_URI": uri or ""})
    lake = Lake.of(settings).ensure()
    write_exports(dataset, lake, scale=scale, seed=42)
    ingest_s, report = timed(lambda: ingest_all(settings, progress=False))
    assert not report.failed_files, report.render()
    config = WriterConfig(bootstrap, topic, flush_seconds=1.0, flush_events=30_000)
    stream_s, stats = timed(lambda: run_stream(lake, config, "until-caught-up"))
    assert stats.events == events, stats.summary()
    os.environ["SHOPLAKE_LAKE_URI"] = uri or ""  # dbt's profile reads it (run_dbt_build sets it as well)
    dbt_s, result = timed(lambda: run_dbt_build(settings, progress=False))
    assert result.success, result.summary()
    return {
        "ingest_s": round(ingest_s, 2), "stream_s": round(stream_s, 2),
        "stream_events_per_sec": round(events / stream_s),
        "dbt_build_s": round(dbt_s, 2), "scan_order_items_s": round(scan_s(lake), 3),
        "rows_ingested": sum(f.rows_in for f in report.files),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    load_before = os.getloadavg()
    dataset = build_dataset(args.scale, 42)
    with tempfile.TemporaryDirectory(prefix="shoplake-objstore-") as tmp, local_s3() as base_uri:
        broker = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(Path(tmp) / "broker")})
        bootstrap = start_broker(broker)[0].address
        try:
            topic = f"bench.{uuid.uuid4().hex[:8]}"
            ensure_topic(bootstrap, topic, 4)
            send, close = kafka_sender(bootstrap, topic)
            simulate_clicks(send, Catalog.synthetic(10_000, 1_000), events=args.events, seed=1)
            close()
            runs: dict[str, list[dict]] = {"local": [], "s3": []}
            for i in range(args.rounds):
                for kind in ("local", "s3") if i % 2 == 0 else ("s3", "local"):
                    uri = new_lake_uri(base_uri) if kind == "s3" else None
                    run = run_lake(Path(tmp) / f"{kind}-{i}", uri, dataset, args.scale, bootstrap, topic, args.events)
                    print(f"round {i} {kind}: {run}", file=sys.stderr)
                    runs[kind].append(run)
        finally:
            stop_broker(broker)
    local, s3 = (
        {k: round(statistics.median(r[k] for r in runs[kind]), 3) for k in runs[kind][0]} for kind in ("local", "s3")
    )
    ratios = {k.removesuffix("_s") + "_ratio": round(s3[k] / local[k], 2) for k in local if k.endswith("_s")}
    emit(
        {
            "scale": args.scale,
            "events": args.events,
            "rounds": args.rounds,
            "local": local,
            "s3": s3,
            **ratios,
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
        }
    )


if __name__ == "__main__":
    main()
