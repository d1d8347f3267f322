"""Benchmark: a full dbt build, then ~1 % new orders plus late corrections and an incremental build, then a no-op.

    python bench/incremental_build.py [--scale 1] [--share 0.01] [--corrections 1000] [--verify] [--floor]

Uses a temporary lake generated and ingested at --scale (or SHOPLAKE_LAKE_DIR when it already holds
ingested exports). All builds run in this one process, after a `dbt parse` warm-up, so each is
measured the same way: a `dbt build` through `invoke_dbt` (every model, data test and unit test of
the project; the DuckDB target), wall time, without the snapshot publish (timed apart as
`publish_s`). Steps:

1. full build (`--full-refresh`) -> `full_s`;
2. `pipelines.generate.changes.write_changes`: `--share` of the orders as new orders of the next
   day with their lines, `--corrections` old orders re-exported (status changed; some re-dated,
   some with a line changed or moved to another order) -> `shoplake ingest` -> `ingest_s`;
3. incremental build -> `incremental_s`, `ratio` = incremental_s / full_s (target <= 0.15);
4. no-op build (nothing new ingested) -> `noop_s`, and `noop_changed_rows`: over every incremental
   model, the rows (with their DuckDB rowid) that differ between a copy of the warehouse taken
   before it and the warehouse after it, so a key deleted and inserted again counts (target 0);
5. with --verify, a full refresh of a copy of the lake, whose tables must equal the incremental ones;
6. with --floor, what a build costs when nothing changed, taken apart (nothing is ingested between
   these): `floor_noop_nodes_s` (the no-op build's node time per resource type, summed over dbt's
   threads), `floor_run_all_s` (`dbt run`: every model, no test), `floor_run_incremental_s` (`dbt
   run` of the incremental models only: the least any build of them can cost) and `floor_test_s`
   (`dbt test`: the data and unit tests alone), each also as a share of `full_s`.

Last stdout line: one JSON object with those keys, the change counts and the slowest nodes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import emit, peak_rss_mb
from pipelines.batch.ingest import ingest_all
from pipelines.generate.batch import REFERENCE_END_DATE, generate_exports
from pipelines.generate.changes import write_changes
from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.warehouse.dbt import DbtResult, invoke_dbt
from pipelines.warehouse.serving import publish_snapshot

TARGET_RATIO = 0.15


def incremental_models(lake: Lake) -> list[str]:
    """The project's incremental models, from the manifest of the last dbt invocation."""
    manifest = json.loads((lake.dbt_artifacts_dir("dev") / "target" / "manifest.json").read_text(encoding="utf-8"))
    return sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["materialized"] == "incremental"
    )


def changed_rows(before: Path, after: Path, tables: list[str]) -> dict[str, int]:
    """Per table, rows (rowid and content) only one of the two warehouse files has."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{before}' as before (read_only)")
        con.execute(f"attach '{after}' as after (read_only)")
        out = {}
        for t in tables:
            one = f"select rowid, * from before.main.{t} except all select rowid, * from after.main.{t}"
            two = f"select rowid, * from after.main.{t} except all select rowid, * from before.main.{t}"
            out[t] = sum(con.execute(f"select count(*) from ({q})").fetchone()[0] for q in (one, two))
        return out
    finally:
        con.close()


def differing_tables(a: Path, b: Path) -> dict[str, int]:
    """Tables of warehouse `a` whose rows (any order, no rowid) differ from `b`'s, with the count."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{a}' as a (read_only)")
        con.execute(f"attach '{b}' as b (read_only)")
        names = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where database_name = 'a' and schema_name = 'main'"
        ).fetchall()]  # fmt: skip
        out = {}
        for t in names:
            n = sum(
                con.execute(
                    f"select count(*) from (select * from {x}.main.{t} except all select * from {y}.main.{t})"
                ).fetchone()[0]
                for x, y in (("a", "b"), ("b", "a"))
            )
            if n:
                out[t] = n
        return out
    finally:
        con.close()


def timed_dbt(settings: Settings, args: list[str]) -> tuple[float, DbtResult]:
    """One dbt invocation on the DuckDB target (a build is not published): wall seconds and its
    result; stops the bench if it fails."""
    started = time.perf_counter()
    result = invoke_dbt(settings, args, progress=False)
    seconds = round(time.perf_counter() - started, 2)
    if not result.success:
        raise SystemExit(result.summary())
    return seconds, result


def slowest(result: DbtResult, n: int = 5) -> list[tuple[str, float]]:
    """The n slowest nodes of a dbt invocation, (name, seconds)."""
    return sorted(((node.name, node.seconds) for node in result.nodes), key=lambda x: -x[1])[:n]


def floor(settings: Settings, full_s: float, models: list[str], noop: DbtResult) -> dict[str, Any]:
    """Where a build's time goes when nothing changed: the no-op build's node time per type, then the
    models alone, the incremental models alone and the tests alone."""
    per_type: dict[str, float] = {}
    for node in noop.nodes:
        per_type[node.resource_type] = round(per_type.get(node.resource_type, 0.0) + node.seconds, 2)
    out: dict[str, Any] = {"floor_noop_nodes_s": per_type, "floor_noop_node_count": len(noop.nodes)}
    for key, args in (
        ("floor_run_all_s", ["run"]),
        ("floor_run_incremental_s", ["run", "--select", *models]),
        ("floor_test_s", ["test"]),
    ):
        out[key], _ = timed_dbt(settings, args)
        out[key[:-2] + "_share"] = round(out[key] / full_s, 3)
    return out


def run(
    settings: Settings, *, share: float, corrections: int, verify: bool = False, with_floor: bool = False
) -> dict[str, Any]:
    """Full build, changes + ingest, incremental build, no-op build (and --verify) on an ingested lake."""
    lake = Lake.of(settings)
    assert invoke_dbt(settings, ["parse"], progress=False).success  # warm-up: imports, manifest
    full_s, full = timed_dbt(settings, ["build", "--full-refresh"])
    started = time.perf_counter()
    publish_snapshot(lake)
    publish_s = round(time.perf_counter() - started, 2)

    changes = write_changes(settings, share=share, corrections=corrections)
    started = time.perf_counter()
    report = ingest_all(settings, progress=False)
    ingest_s = round(time.perf_counter() - started, 2)
    if report.failed_files:
        raise SystemExit(report.render())
    incremental_s, incremental = timed_dbt(settings, ["build"])

    before = lake.warehouse_path.with_name("before-noop.duckdb")
    shutil.copyfile(lake.warehouse_path, before)  # dbt closed it (checkpointed) when the build ended
    noop_s, noop = timed_dbt(settings, ["build"])
    per_model = changed_rows(before, lake.warehouse_path, incremental_models(lake))
    before.unlink()

    result: dict[str, Any] = {
        "full_s": full_s, "incremental_s": incremental_s, "ratio": round(incremental_s / full_s, 3),
        "target_ratio": TARGET_RATIO, "noop_s": noop_s, "noop_changed_rows": sum(per_model.values()),
        "noop_changed_rows_by_model": per_model, "publish_s": publish_s, "ingest_changes_s": ingest_s,
        "new_orders": changes.new_orders, "new_items": changes.new_items,
        "corrected_orders": len(changes.corrected_orders), "redated_orders": len(changes.redated_orders),
        "changed_items": len(changes.changed_items), "moved_items": len(changes.moved_items),
        "slowest_full_nodes": slowest(full), "slowest_incremental_nodes": slowest(incremental),
    }  # fmt: skip
    if with_floor:
        result.update(floor(settings, full_s, incremental_models(lake), noop))
    if verify:
        with tempfile.TemporaryDirectory(prefix="shoplake-bench-verify-", dir=lake.root.parent) as tmp:
            copy = Path(tmp) / "lake"
            shutil.copytree(lake.root, copy, ignore=shutil.ignore_patterns("serving"))
            other = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(copy)})
            timed_dbt(other, ["build", "--full-refresh"])
            result["verify_differing_tables"] = differing_tables(lake.warehouse_path, Lake.of(other).warehouse_path)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="generator scale of the temp lake (default 1)")
    parser.add_argument("--share", type=float, default=0.01, help="new orders as a share of the orders (0.01)")
    parser.add_argument("--corrections", type=int, default=1000, help="old orders re-exported with changes (1000)")
    parser.add_argument("--verify", action="store_true", help="also compare with a full refresh of a copy")
    parser.add_argument("--floor", action="store_true", help="also take a no-op build apart (models, tests)")
    args = parser.parse_args()

    given = os.environ.get("SHOPLAKE_LAKE_DIR")
    tmp = None if given else tempfile.mkdtemp(prefix="shoplake-bench-incremental-")
    root = Path(given) if given else Path(tmp) / "lake"
    try:
        settings = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(root), "DBT_TARGET": "dev"})
        Lake(root).ensure()
        if not given:
            generate_exports(settings, scale=args.scale, seed=42, end_date=REFERENCE_END_DATE)
            report = ingest_all(settings, progress=False)
            if report.failed_files:
                raise SystemExit(report.render())
        result = run(
            settings, share=args.share, corrections=args.corrections, verify=args.verify, with_floor=args.floor
        )
        result = {"bench": "incremental_build", "scale": None if given else args.scale, **result}
        result["peak_rss_mb"] = round(peak_rss_mb())
        emit(result)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
