"""`shoplake demo`: the main job on the embedded default, end to end, with a short summary."""

from __future__ import annotations

import datetime as dt
import time

from .analytics.forecast import write_sales_forecast
from .batch.ingest import ingest_all
from .batch.ledger import ledger_totals
from .errors import ShopLakeError
from .generate.batch import exports_exist, generate_exports
from .lake import Lake
from .quality.checks import run_quality
from .settings import Settings
from .warehouse.dbt import publish_results, run_dbt_build
from .warehouse.query import format_result, run_query

DEMO_CLICK_RATE = 25.0  # events/s: the demo's clicks span the last ~40 minutes, ending now


def run_demo(
    settings: Settings,
    *,
    scale: float | None = None,
    seed: int = 42,
    click_events: int = 60_000,
    end_date: dt.date | None = None,
) -> int:
    """Generate (unless exports exist) -> ingest -> clickstream -> transform -> quality -> forecast -> summary.

    One story: the order history ends yesterday (unless `end_date` says otherwise) and the simulated
    clicks happen now, so the dashboard's default period holds both. Safe to run twice: exports and
    events already in the lake are not landed again.
    """
    started = time.monotonic()
    lake = Lake.of(settings).ensure()
    print(f"ShopLake demo — lake: {lake.root}")
    if exports_exist(lake):
        print("1/6 exports already in the landing area; not regenerating")
    else:
        scale = settings.demo_scale if scale is None else scale
        print(f"1/6 generating exports (scale {scale}, seed {seed})")
        print("    " + generate_exports(settings, scale=scale, seed=seed, end_date=end_date).summary())
    print("2/6 ingesting exports")
    report = ingest_all(settings)
    print(report.render())
    print(f"3/6 clickstream: {click_events:,} simulated events through the broker into the lake")
    if click_events:
        try:
            print("    " + stream_demo_clicks(settings, lake, click_events, seed=seed))
        except ShopLakeError as exc:  # the batch path still works without a broker
            print(f"    skipped: {exc}")
    print("4/6 dbt build on DuckDB")
    result = run_dbt_build(settings, target="dev")
    if not result.success:
        return 1
    print("5/6 data-quality checks (dq_results, alert log)")
    quality = run_quality(settings, publish=False)  # published with the forecast: one dbt build for both
    print(quality.render())
    print("6/6 sales forecast")
    print("    " + write_sales_forecast(settings).summary())
    published = publish_results(settings, target="dev", command="shoplake demo")
    if published is not None and not published.success:
        return 1

    print("\nRows per table (all ingests so far)")
    print(format_result(*ledger_summary(lake)))
    print("\nTop 5 customers by lifetime revenue")
    print(format_result(*run_query(settings, TOP_CUSTOMERS_SQL)))
    print("\nRevenue by category")
    print(format_result(*run_query(settings, CATEGORY_REVENUE_SQL)))
    print(f"\nDone in {time.monotonic() - started:.1f}s.")
    print('Query it:           .venv/bin/shoplake sql "select * from top_customers limit 10"')
    print(f"Open the dashboard: .venv/bin/shoplake dashboard   ->  http://127.0.0.1:{settings.dashboard_port}")
    return quality.exit_code


def ledger_summary(lake: Lake) -> tuple[list[str], list[tuple[object, ...]]]:
    """Rows in, landed and quarantined per table, from the ledger's current records (not a folder glob)."""
    totals = ledger_totals(lake)
    rows = [(table, t["rows_in"], t["landed"], t["quarantined"]) for table, t in totals.items()]
    return ["table", "rows_in", "landed", "quarantined"], rows


def stream_demo_clicks(settings: Settings, lake: Lake, events: int, *, seed: int) -> str:
    """Simulate sessions into the broker and land them with the exactly-once writer.

    Uses KAFKA_BOOTSTRAP_SERVERS when set; otherwise starts the local broker and stops it again
    if this call started it.
    """
    from .catalog import load_click_catalog
    from .stream.broker import start_broker, stop_broker
    from .stream.simulator import kafka_sender, simulate_clicks
    from .stream.wiring import clickstream_bootstrap, run_clickstream

    started_here = False
    if not settings.kafka_bootstrap_servers:
        _, started_here = start_broker(settings)
    try:
        send, close = kafka_sender(clickstream_bootstrap(settings), settings.clickstream_topic)
        try:
            sim = simulate_clicks(send, load_click_catalog(lake), events=events, rate=DEMO_CLICK_RATE, seed=seed)
        finally:
            close()
        stats = run_clickstream(settings, "until-caught-up")
    finally:
        if started_here:
            stop_broker(settings)
    return f"{sim.summary()}; {stats.summary()}"


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
