"""`shoplake demo`: the main job on the embedded default, end to end, with a short summary."""

from __future__ import annotations

import time

from .batch.ingest import ingest_all
from .generate.batch import exports_exist, generate_exports
from .lake import Lake
from .settings import Settings
from .warehouse.dbt import run_dbt_build
from .warehouse.query import format_result, run_query


def run_demo(settings: Settings, *, scale: float | None = None, seed: int = 42) -> int:
    """Generate (unless exports exist) -> ingest -> transform -> summary. Safe to run twice."""
    started = time.monotonic()
    lake = Lake(settings.lake_dir).ensure()
    print(f"ShopLake demo — lake: {lake.root}")
    if exports_exist(lake):
        print("1/3 exports already in the landing area; not regenerating")
    else:
        scale = settings.demo_scale if scale is None else scale
        print(f"1/3 generating exports (scale {scale}, seed {seed})")
        print("    " + generate_exports(lake.root, scale=scale, seed=seed).summary())
    print("2/3 ingesting exports")
    report = ingest_all(lake.root)
    print(report.render())
    print("3/3 dbt build on DuckDB")
    result = run_dbt_build(settings, target="dev")
    if not result.success:
        return 1

    print("\nRows per table (all ingests so far)")
    print(format_result(*run_query(lake.root, LEDGER_SUMMARY_SQL, [str(lake.ledger_glob())])))
    print("\nTop 5 customers by lifetime revenue")
    print(format_result(*run_query(lake.root, TOP_CUSTOMERS_SQL)))
    print("\nRevenue by category")
    print(format_result(*run_query(lake.root, CATEGORY_REVENUE_SQL)))
    print(f"\nDone in {time.monotonic() - started:.1f}s.")
    print('Query it:           .venv/bin/shoplake sql "select * from top_customers limit 10"')
    print(f"Open the dashboard: .venv/bin/shoplake dashboard   ->  http://127.0.0.1:{settings.dashboard_port}")
    return 0


LEDGER_SUMMARY_SQL = """
select "table", sum(rows_in) as rows_in, sum(rows_landed) as landed, sum(rows_quarantined) as quarantined
from read_json_auto(?)
group by 1
order by 1
"""
TOP_CUSTOMERS_SQL = """
select revenue_rank, customer_id, customer_name, country, lifetime_revenue_orders as orders, lifetime_revenue
from top_customers
order by revenue_rank
limit 5
"""
CATEGORY_REVENUE_SQL = """
select category_name, sum(revenue) as revenue, sum(orders) as orders, sum(units) as units
from product_category_sales
group by 1
order by revenue desc
"""
