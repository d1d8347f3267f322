"""Reader process for test_concurrency: dashboard data-layer reads until the writer says it is done.

Usage: python concurrent_reader.py LAKE_DIR DONE_FLAG MIN_READS MAX_SECONDS
Prints one JSON line: reads, errors, snapshots seen and the fct_orders count each one showed.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
import traceback
from pathlib import Path

from pipelines.dashboard import queries as data
from pipelines.dashboard.backends import open_backend
from pipelines.settings import Settings

CONSISTENCY_SQL = """
select
    (select count(*) from fct_orders) as orders,
    (select row_count from _snapshot_manifest where table_name = 'fct_orders') as manifest_orders,
    (select sum(lifetime_orders) from dim_customers) as dim_orders,
    (select count(*) from fct_order_items) as items,
    (select row_count from _snapshot_manifest where table_name = 'fct_order_items') as manifest_items,
    (select sum(revenue) from fct_orders) as fct_revenue,
    (select sum(revenue) from product_category_sales) as category_revenue
"""


def main() -> None:
    lake_dir, done_flag, min_reads, max_seconds = (
        Path(sys.argv[1]),
        Path(sys.argv[2]),
        int(sys.argv[3]),
        float(sys.argv[4]),
    )
    backend = open_backend(Settings.from_env({"SHOPLAKE_LAKE_DIR": str(lake_dir)}))
    first, last = data.date_bounds(backend)
    start = last - dt.timedelta(days=29)
    page_reads = [
        lambda: data.overview_kpis(backend, start, last)["current"]["orders"] > 0,
        lambda: not data.daily_revenue(backend, start, last).empty,
        lambda: not data.category_revenue(backend, first, last, (), "week").empty,
        lambda: not data.top_products(backend, start, last, ("Books",), 10).empty,
        lambda: not data.rfm_segments(backend).empty,
        lambda: not data.cohort_retention(backend, 12).empty,
        lambda: not data.top_customers(backend, 20).empty,
    ]
    reads, errors, incomplete = 0, [], []
    orders_by_snapshot: dict[str, int] = {}
    started = time.monotonic()
    while time.monotonic() - started < max_seconds and (reads < min_reads or not done_flag.exists()):
        try:
            if reads % 2 == 0:
                snapshot_id, df = backend.query_with_snapshot(CONSISTENCY_SQL)
                row = df.iloc[0]
                whole = (
                    row["orders"] == row["manifest_orders"] == row["dim_orders"]
                    and row["items"] == row["manifest_items"]
                    and abs(float(row["fct_revenue"]) - float(row["category_revenue"])) < 0.01
                    and orders_by_snapshot.setdefault(snapshot_id, int(row["orders"])) == int(row["orders"])
                )
                if not whole:
                    incomplete.append({"snapshot": snapshot_id, **{k: str(v) for k, v in row.items()}})
            elif not page_reads[(reads // 2) % len(page_reads)]():
                incomplete.append({"read": reads, "problem": "empty page query"})
        except Exception:
            errors.append(traceback.format_exc(limit=3))
        reads += 1
        time.sleep(0.004)
    print(
        json.dumps(
            {
                "reads": reads,
                "errors": errors[:5],
                "error_count": len(errors),
                "incomplete": incomplete[:5],
                "incomplete_count": len(incomplete),
                "orders_by_snapshot": orders_by_snapshot,
                "seconds": round(time.monotonic() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
