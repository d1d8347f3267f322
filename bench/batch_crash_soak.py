"""Crash soak of batch ingest: random kill -9s of `shoplake ingest` while the exports keep changing.

The ERP keeps re-exporting (orders.csv, customers.csv and order_items.csv again, with new rows and
corrected ones) and dropping correction files (orders_fix_NNN.csv); `shoplake ingest` runs after
each change and is killed with SIGKILL at a random instant of its work (after it took the ingest
lock) in most runs. At the end one ingest runs to completion, and the lake is compared with a
clean lake that ingested only the final exports once:

- doubled: rows a folder glob of raw/ sees more than once for the same source file and key;
- lost: keys whose winning row (the dbt staging rule: newest `_ingested_at`, then line) differs
  from the clean lake's or is missing, plus rows of final exports the ledger does not account for;
- orphans: files under raw/ or quarantine/ no ledger record lists, and temporary files;
- rows_expected / rows_in_raw: raw rows of the final exports in the clean lake / in the soaked one.

The check reads the ledger JSON and the Parquet files itself (not through pipelines.catalog), so it
checks the protocol rather than trusting it. Last stdout line: JSON.

    python bench/batch_crash_soak.py --kills 50 [--local-s3 | --lake-uri s3://bucket/prefix]

With `--local-s3` (a local S3-compatible server, moto, started here) or `--lake-uri`, the soaked lake's
data zones are on the object store; the clean lake it is compared with is local. Exports are then
uploaded at least a second apart (S3 orders objects by a last-modified time in whole seconds) and
the clean lake's copies get the objects' last-modified times.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelines import storage  # noqa: E402
from pipelines.generate.batch import build_dataset, write_exports  # noqa: E402
from pipelines.lake import Lake  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from _s3 import local_s3  # noqa: E402

TABLES = ("categories", "products", "customers", "orders", "order_items")
KEYS = {"categories": ["category_id"], "products": ["product_id"], "customers": ["customer_id"],
        "orders": ["order_id"], "order_items": ["order_item_id"]}  # fmt: skip
LINEAGE = ("_source_line", "_source_file", "_ingested_at")
_OUTPUT = re.compile(r"-([0-9a-f]{12})(?:-[0-9]{8}T[0-9]{6}-[0-9a-f]{6})?$")


# -- the changing exports ----------------------------------------------------------------------


class Exports:
    """The ERP's exports as string frames; every re-export keeps all earlier rows (some corrected)."""

    def __init__(self, lake: Lake, scale: float, seed: int) -> None:
        self.lake = lake
        self.rng = random.Random(seed)
        ds = build_dataset(scale, seed)
        write_exports(ds, lake, scale=scale, seed=seed)
        self.frames = {t: ds.exports[t] for t in ("customers", "orders", "order_items")}
        # Only keys that land intact may be corrected: a corrected row must still pass its contract.
        dups = {t: set(ds.dirty.get(t, {}).get("duplicate_key", [])) for t in TABLES}
        self.valid = {
            t: sorted(set(ds.clean[t][KEYS[t][0]].to_list()) - ds.dirty_keys(t) - dups[t])
            for t in ("customers", "orders", "order_items")
        }
        self.valid["products"] = sorted(set(ds.clean["products"]["product_id"].to_list()) - ds.dirty_keys("products"))
        self.next_id = {t: max(ds.clean[t][KEYS[t][0]].to_list()) + 1 for t in self.frames}
        self.fixes = 0
        self.clock = time.time() - 86_400  # modification times strictly increasing, one second apart
        self.last_upload = 0.0

    def _write(self, table: str, name: str, frame: pl.DataFrame) -> None:
        path = self.lake.landing_dir(table) / name
        if self.lake.is_remote:  # the object's last-modified time orders it: one upload per second
            time.sleep(max(0.0, 1.05 - (time.time() - self.last_upload)))
            storage.write_bytes_atomic(path, frame.write_csv().encode())
            self.last_upload = time.time()
            return
        tmp = path.with_name(f".{name}.tmp")
        frame.write_csv(tmp)
        self.clock += 1
        os.utime(tmp, (self.clock, self.clock))
        os.replace(tmp, path)  # the exporter drops whole files (a half-copied export is another matter)

    def _correct(self, table: str, column: str, n: int, value) -> pl.DataFrame:
        key = KEYS[table][0].upper()
        keys = self.rng.sample(self.valid[table], min(n, len(self.valid[table])))
        frame = self.frames[table]
        chosen = pl.col(key).cast(pl.Int64, strict=False).is_in(keys)
        corrected = pl.when(chosen).then(pl.lit(value)).otherwise(pl.col(column))
        self.frames[table] = frame.with_columns(corrected.alias(column))
        return self.frames[table].filter(chosen)

    def _append(self, table: str, n: int, **columns: object) -> list[int]:
        key = KEYS[table][0].upper()
        template = self.frames[table].filter(
            pl.col(key).cast(pl.Int64, strict=False).is_in(self.valid[table])
        ).head(n)  # fmt: skip
        ids = list(range(self.next_id[table], self.next_id[table] + template.height))
        self.next_id[table] += template.height
        rows = template.with_columns(pl.Series(key, [str(i) for i in ids]), *[
            pl.Series(c, [str(v) for v in values]) if isinstance(values, list) else pl.lit(str(values)).alias(c)
            for c, values in columns.items()
        ])  # fmt: skip
        self.frames[table] = pl.concat([self.frames[table], rows])
        self.valid[table] += ids
        return ids

    def change(self) -> str:
        """One change by the ERP: a re-export with new and corrected rows, or a correction file."""
        kind = self.rng.choice(["reexport", "reexport", "fix", "customers"])
        if kind == "fix":
            self.fixes += 1
            fixed = self._correct("orders", "ORDER_AMOUNT", 20, f"{self.rng.uniform(1, 500):.2f}")
            self._write("orders", f"orders_fix_{self.fixes:03d}.csv", fixed)
            return "fix"
        if kind == "customers":
            self._correct("customers", "NAME", 10, f"Renamed {self.rng.randint(0, 10**6)}")
            self._append("customers", 5)
            self._write("customers", "customers.csv", self.frames["customers"])
            return "customers"
        self._correct("orders", "ORDER_AMOUNT", 30, f"{self.rng.uniform(1, 500):.2f}")
        new_orders = self._append("orders", 40)
        products = self.rng.choices(self.valid["products"], k=len(new_orders))
        self._append("order_items", len(new_orders), ORDER_ID=new_orders, PRODUCT_ID=products)
        self._write("orders", "orders.csv", self.frames["orders"])
        self._write("order_items", "order_items.csv", self.frames["order_items"])
        return "reexport"


# -- running and killing ingest ----------------------------------------------------------------


def start_ingest(lake: Lake) -> subprocess.Popen:
    env = {**os.environ, "SHOPLAKE_LAKE_DIR": str(lake.root), "SHOPLAKE_LAKE_URI": lake.uri or ""}
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "ingest", "--quiet"], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for_lock(lake: Lake, proc: subprocess.Popen, timeout: float = 60.0) -> bool:
    """Wait until the child holds the ingest lock (its work begins); False if it ended first."""
    holder = lake.lock_file("ingest").with_name("ingest.lock.holder")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if holder.exists():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.002)
    raise TimeoutError("ingest never took its lock")


def run_to_end(lake: Lake) -> float:
    proc = start_ingest(lake)
    wait_for_lock(lake, proc)
    started = time.monotonic()
    _, err = proc.communicate(timeout=600)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"ingest failed ({proc.returncode}): {err[-2000:]}")
    return time.monotonic() - started


# -- checking the lake -------------------------------------------------------------------------


def ledger_records(lake: Lake, table: str) -> list[dict]:
    """The table's current records, read from the JSON files (following the epoch pointer)."""
    base = lake.ledger_root / table
    pointer = storage.read_json(base / "EPOCH")
    epoch = pointer["epoch"] if pointer else 0
    folder = base if epoch == 0 else base / f"epoch-{epoch}"
    records = [json.loads(storage.read_bytes(f.path)) for f in storage.list_files(folder)
               if f.path.name.endswith(".json") and not f.path.name.startswith(".")]  # fmt: skip
    for r in records:  # older records listed absolute paths
        r["outputs"] = [Path(o).relative_to(lake.root).as_posix() if Path(o).is_absolute() else o
                        for o in r.get("outputs", [])]  # fmt: skip
    return records


def committed_raw(lake: Lake, table: str, shas: set[str] | None = None) -> pl.DataFrame:
    files = [lake.data_root / o for r in ledger_records(lake, table) if shas is None or r["sha256"] in shas
             for o in r["outputs"] if o.startswith(f"raw/{table}/")]  # fmt: skip
    if not files:
        return pl.DataFrame()
    return pl.concat([storage.read_parquet(f, hive_partitioning=False) for f in files], how="diagonal_relaxed")


def winners(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """One row per key as dbt staging keeps it: the most recently ingested (then the latest line)."""
    if frame.is_empty():
        return frame
    latest = frame.sort(["_ingested_at", "_source_line"]).unique(KEYS[table], keep="last")
    return latest.drop(*LINEAGE).sort(KEYS[table])


def check(soak: Lake, clean: Lake) -> dict[str, int]:
    out = {"files": 0, "rows_expected": 0, "rows_in_raw": 0, "doubled": 0, "lost": 0, "mismatched": 0,
           "extra_keys": 0, "orphans": 0}  # fmt: skip
    for table in TABLES:
        clean_records = {r["sha256"]: r for r in ledger_records(clean, table)}
        soak_records = {r["sha256"]: r for r in ledger_records(soak, table)}
        out["files"] += len(clean_records)
        # Every final export is accounted for exactly as in the clean lake.
        for sha, expected in clean_records.items():
            got = soak_records.get(sha)
            counts = ("rows_in", "rows_landed", "rows_quarantined")
            if got is None or [got[c] for c in counts] != [expected[c] for c in counts]:
                out["lost"] += expected["rows_in"]  # not in the lake as a clean ingest has it
        expected_rows = committed_raw(clean, table).height
        out["rows_expected"] += expected_rows
        out["rows_in_raw"] += committed_raw(soak, table, set(clean_records)).height
        # The winning row per key equals the clean lake's (older versions only lose to newer ones).
        a, b = winners(committed_raw(soak, table), table), winners(committed_raw(clean, table), table)
        key = KEYS[table]
        if not b.is_empty():
            missing = b.join(a, on=key, how="anti").height if not a.is_empty() else b.height
            out["lost"] += missing
            if not a.is_empty():
                out["extra_keys"] += a.join(b, on=key, how="anti").height
                common = b.columns
                joined = b.join(a.select(common), on=key, how="inner", suffix="_soak", nulls_equal=True)
                differs = pl.any_horizontal([
                    pl.col(c).ne_missing(pl.col(f"{c}_soak")) for c in common if c not in key
                ])  # fmt: skip
                out["mismatched"] += joined.filter(differs).height
        # What a folder glob of raw/ sees beyond the committed rows: per key, every extra copy is
        # doubled (a crashed attempt's files next to the re-export that replaced them), and so is
        # a key landed twice from the same source file.
        folder = soak.data_root / "raw" / table
        paths = [f.path for f in storage.list_files(folder, recursive=True) if f.path.name.endswith(".parquet")]
        if paths:
            globbed = pl.concat([
                storage.read_parquet(p, hive_partitioning=False, columns=key).with_columns(
                    pl.lit(m[1] if (m := _OUTPUT.search(p.stem)) else p.stem).alias("_sha"))
                for p in paths
            ])  # fmt: skip
            seen = globbed.group_by(key).len()
            committed = committed_raw(soak, table)
            kept = committed.group_by(key).len() if not committed.is_empty() else seen.clear()
            extra = (
                seen.join(kept, on=key, how="left", suffix="_committed")
                .select((pl.col("len") - pl.col("len_committed").fill_null(0)).clip(lower_bound=0).sum())
                .item()
            )
            same_source = globbed.group_by(["_sha", *key]).len().select((pl.col("len") - 1).sum()).item()
            out["doubled"] += int(extra or 0) + int(same_source or 0)
        # Files no record lists.
        listed = {o for r in soak_records.values() for o in r["outputs"]}
        for zone in ("raw", "quarantine"):
            files = [f.path for f in storage.list_files(soak.data_root / zone / table, recursive=True)]
            out["orphans"] += sum(1 for p in files if soak.rel(p) not in listed)
    out["orphans"] += sum(1 for _ in soak.root.rglob("*.tmp"))
    return out


# -- the soak ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=50, help="kill -9s to land during ingest work (default 50)")
    parser.add_argument("--scale", type=float, default=0.02, help="generator scale (default 0.02)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", type=Path, default=None, help="keep both lakes under this folder")
    parser.add_argument("--lake-uri", default=None, help="the soaked lake's data zones on this object store")
    parser.add_argument("--local-s3", action="store_true", help="on a local S3 server (moto) started here")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        uri = stack.enter_context(local_s3()) if args.local_s3 else args.lake_uri
        soak_run(args, uri)


def soak_run(args: argparse.Namespace, uri: str | None) -> None:

    workdir = Path(tempfile.mkdtemp(prefix="shoplake-soak-")) if args.keep is None else args.keep
    rng = random.Random(args.seed)
    try:
        soak = Lake(workdir / "soak", uri).ensure()
        exports = Exports(soak, args.scale, args.seed)
        work_s = run_to_end(soak)  # the first ingest, whole: how long the work takes at this scale
        print(f"first ingest: {work_s:.2f}s of work", file=sys.stderr)
        kills = runs = changes = 0
        started = time.monotonic()
        while kills < args.kills:
            if rng.random() < 0.7:
                exports.change()
                changes += 1
            proc = start_ingest(soak)
            runs += 1
            if not wait_for_lock(soak, proc) or rng.random() < 0.15:  # now and then a run is left to finish
                proc.communicate(timeout=600)
                continue
            time.sleep(rng.uniform(0, work_s * 1.1))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.communicate(timeout=600)
            if kills and kills % 10 == 0 and proc.returncode == -9:
                print(f"{kills} kills, {runs} runs, {changes} changes, {time.monotonic() - started:.0f}s",
                      file=sys.stderr)  # fmt: skip
        run_to_end(soak)

        clean = Lake(workdir / "clean").ensure()
        for table in TABLES:
            for info in storage.list_files(soak.landing_dir(table)):
                if not info.path.name.endswith(".csv"):
                    continue
                target = clean.root / "landing" / table / info.path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(storage.read_bytes(info.path))  # same bytes, same modification times
                os.utime(target, (info.mtime, info.mtime))
        run_to_end(clean)
        result = {"kills": kills, "runs": runs, "changes": changes, **check(soak, clean)}
        result["lake"] = "object store" if uri else "local"
        problems = ("doubled", "lost", "orphans", "mismatched", "extra_keys")
        result["ok"] = not any(result[p] for p in problems) and result["rows_expected"] == result["rows_in_raw"]
        result["seconds"] = round(time.monotonic() - started, 1)
        print(json.dumps(result))
        if not result["ok"]:
            sys.exit(1)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
