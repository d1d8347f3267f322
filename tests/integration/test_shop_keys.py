"""A shop's own keys, statuses and dates by configuration only, end to end to the marts (issue 12).

Each shop is written from scratch (tests/integration/shops.py): exports with German headers and the
contracts that read them. It is ingested, built with dbt, and `product_category_sales` and
`top_customers` must equal, to the cent, a polars computation from the export files alone:

- Gartenhaus: string customer numbers, SKUs, order numbers and category codes; order lines numbered
  1..n inside each order (key `[order_id, order_item_id]`); order times with `+01:00`/`+02:00`
  offsets counted on their Europe/Berlin date; its own canonical statuses (`picked_up` earns revenue,
  the shipped contracts know no such status); a clickstream over its string ids. The same lake
  promoted to Snowflake (snowsim) gives equal marts.
- Integer shop: the issue's silent-loss case, integer ids with lines numbered per order (this test
  failed before the composite-key work: fct_order_items' `unique` test on order_item_id stopped the build).
- A staging model that deduplicates on a column that is not the declared key fails the build.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from pipelines.batch.contract import load_contracts
from pipelines.batch.ingest import ingest_all
from pipelines.catalog import load_click_catalog, read_committed
from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.warehouse import dbt as dbt_runner
from pipelines.warehouse.dbt import DbtResult, run_dbt_build
from pipelines.warehouse.query import run_query

from ..helpers import copy_lake
from .shops import BERLIN, Shop, ShopSpec, expected_category_sales, expected_top_customers, order_lines, write_shop

pytestmark = pytest.mark.slow

GARTENHAUS = ShopSpec(name="gartenhaus")
INTEGER_SHOP = ShopSpec(
    name="integers", string_keys=False, order_timestamps=False, statuses=("completed", "shipped", "cancelled",
    "returned"), revenue_statuses=("completed", "shipped"), declare_revenue_values=False, orders=220, seed=5,
)  # fmt: skip
CLICK_TOPIC = "clickstream.events"
# The ERP's German status words, mapped onto the shop's canonical statuses by the contract (`map:`).
MAPPED_SHOP = ShopSpec(
    name="mapped", orders=120, seed=9,
    status_words=(("ABGESCHLOSSEN", "completed"), ("VERSANDT", "shipped"), ("ABGEHOLT", "picked_up"),
                  ("STORNIERT", "cancelled"), ("RETOURE", "returned")),
)  # fmt: skip


@dataclass
class BuiltShop:
    shop: Shop
    lake: Lake
    settings: Settings
    build: DbtResult


def _land(shop: Shop, lake: Lake) -> None:
    for table, path in shop.files.items():
        target = lake.landing_dir(table) / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)


def _land_clicks(lake: Lake) -> int:
    """Simulated sessions over the lake's own customers and products, around local midnight in Berlin
    (22:00-23:59 UTC = 00:00-01:59 CEST), landed as the writer lands them with the shop's event contract."""
    from pipelines.stream.contract import EventContract
    from pipelines.stream.segment import land_messages
    from pipelines.stream.simulator import SessionGenerator, encode

    events = EventContract.for_contracts(load_contracts())
    generator = SessionGenerator(load_click_catalog(lake), seed=3)
    frame = generator.chunk(3_000, dt.datetime(2025, 6, 1, 23, 59, tzinfo=dt.timezone.utc), span_s=7_000)
    written = land_messages(lake, encode(frame)[0], CLICK_TOPIC, events=events)
    return written.events


@contextmanager
def built_shop(root: Path, spec: ShopSpec, *, business_timezone: str, clicks: bool) -> Iterator[BuiltShop]:
    """Write the shop, land and ingest its exports, build with dbt; its contracts are in use until exit."""
    shop = write_shop(root, spec)
    lake = Lake(root / "lake").ensure()
    settings = Settings(lake_dir=lake.root, business_timezone=business_timezone)
    with pytest.MonkeyPatch.context() as mp:
        # The shop's contracts folder (the formats work adds SHOPLAKE_CONTRACTS_DIR for this).
        mp.setattr("pipelines.batch.contract.CONTRACTS_DIR", shop.contracts)
        _land(shop, lake)
        report = ingest_all(settings, progress=False)
        assert not report.failed_files, report.render()
        for table, path in shop.files.items():  # every row of the exports landed, none quarantined
            assert read_committed(lake, table).height == pl.read_csv(path).height, table
        if clicks:
            assert _land_clicks(lake) > 2_000
        build = run_dbt_build(settings, progress=False)
        yield BuiltShop(shop, lake, settings, build)


@pytest.fixture(scope="module")
def gartenhaus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltShop]:
    with built_shop(tmp_path_factory.mktemp("gartenhaus"), GARTENHAUS, business_timezone=BERLIN, clicks=True) as b:
        yield b


@pytest.fixture(scope="module")
def integer_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltShop]:
    with built_shop(tmp_path_factory.mktemp("integers"), INTEGER_SHOP, business_timezone="UTC", clicks=False) as b:
        yield b


def _cents(value: object) -> int:
    return round(float(value) * 100)  # type: ignore[arg-type]


def _category_sales(built: BuiltShop) -> dict[tuple, tuple[int, int, int]]:
    sql = "select sales_date, category_id, revenue, orders, units from product_category_sales"
    _, rows = run_query(built.settings, sql)
    return {(d, c): (_cents(r), o, u) for d, c, r, o, u in rows}


def _top_customers(built: BuiltShop) -> list[tuple]:
    _, rows = run_query(
        built.settings,
        "select customer_id, lifetime_revenue, lifetime_revenue_orders from top_customers order by revenue_rank",
    )
    return [(c, _cents(r), o) for c, r, o in rows]


def _assert_marts_equal_the_exports(built: BuiltShop, business_timezone: str) -> None:
    assert built.build.success, built.build.summary()
    assert _category_sales(built) == expected_category_sales(built.shop, business_timezone)
    assert _top_customers(built) == expected_top_customers(built.shop, business_timezone)


# -- Gartenhaus: string keys, per-order lines, offsets, its own statuses --------------------------------


def test_string_keys_reach_every_mart_as_varchar(gartenhaus: BuiltShop) -> None:
    assert gartenhaus.build.success, gartenhaus.build.summary()
    _, rows = run_query(
        gartenhaus.settings,
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'main' and column_name in ('customer_id', 'product_id', 'order_id', 'category_id')",
    )
    assert {r[0] for r in rows} >= {"dim_customers", "fct_orders", "fct_order_items", "top_customers",
                                    "product_category_sales", "fct_sessions", "product_daily_sales"}  # fmt: skip
    assert {r[2] for r in rows} == {"VARCHAR"}, sorted(r for r in rows if r[2] != "VARCHAR")
    _, (row,) = run_query(gartenhaus.settings, "select customer_id from top_customers where revenue_rank = 1")
    assert str(row[0]).startswith("K-")


def test_marts_equal_a_polars_computation_from_the_exports(gartenhaus: BuiltShop) -> None:
    _assert_marts_equal_the_exports(gartenhaus, BERLIN)


def test_every_order_line_numbered_per_order_lands_in_the_marts(gartenhaus: BuiltShop) -> None:
    lines = order_lines(gartenhaus.shop, BERLIN)
    assert lines.height > lines["order_item_id"].n_unique() * 10  # line numbers repeat across orders
    _, ((count, keys, distinct),) = run_query(
        gartenhaus.settings,
        "select count(*), count(distinct order_item_key), count(distinct order_id || '#' || order_item_id) "
        "from fct_order_items",
    )
    assert count == keys == distinct == lines.height


def test_orders_count_on_their_business_date_and_keep_their_instant(gartenhaus: BuiltShop) -> None:
    """00:30+01:00 on 2 March is 23:30 UTC on 1 March: it counts on 2 March in Berlin; 23:30+01:00 on
    1 March counts on 1 March; one mart row per category and day, not per distinct time."""
    _, rows = run_query(
        gartenhaus.settings,
        "select order_id, order_date, ordered_at from fct_orders where order_id in ('B-2025-1', 'B-2025-2', "
        "'B-2025-5', 'B-2025-6') order by order_id",
    )
    assert rows == [
        ("B-2025-1", dt.date(2025, 3, 2), dt.datetime(2025, 3, 1, 23, 30)),
        ("B-2025-2", dt.date(2025, 3, 1), dt.datetime(2025, 3, 1, 22, 30)),
        ("B-2025-5", dt.date(2025, 3, 30), dt.datetime(2025, 3, 29, 23, 30)),  # CET, the night of the switch
        ("B-2025-6", dt.date(2025, 3, 31), dt.datetime(2025, 3, 30, 23, 0)),  # CEST
    ]
    _, ((days, rows_count, categories),) = run_query(
        gartenhaus.settings,
        "select count(distinct sales_date), count(*), count(distinct category_id) from product_category_sales",
    )
    assert rows_count == days * categories and categories == 5
    raw = read_committed(gartenhaus.lake, "orders")  # the lake keeps the instant, in UTC
    assert raw.schema["order_date"] == pl.Datetime("us", "UTC")


def test_the_contracts_canonical_statuses_drive_ingest_tests_and_revenue(gartenhaus: BuiltShop) -> None:
    """`picked_up` is allowed and earns revenue in this shop's contract only: it landed, passed dbt's
    accepted_values (which takes the contract's list) and counts as revenue."""
    names = {n.name: n.status for n in gartenhaus.build.nodes}
    accepted = [name for name in names if name.startswith("accepted_values_stg_shop__orders_order_status")]
    assert accepted and all(names[name] == "pass" for name in accepted), names
    _, rows = run_query(
        gartenhaus.settings, "select order_status, bool_and(is_revenue), count(*) from fct_orders group by 1 order by 1"
    )
    assert {status: revenue for status, revenue, _ in rows} == {
        "cancelled": False, "completed": True, "picked_up": True, "returned": False, "shipped": True,
    }  # fmt: skip


def test_row_preservation_tests_ran_and_passed(gartenhaus: BuiltShop) -> None:
    names = {n.name: (n.status, n.severity) for n in gartenhaus.build.nodes}
    kept = {name: value for name, value in names.items() if name.startswith(("keeps_every_source_key", "sums_match"))}
    assert len(kept) == 7, sorted(kept)
    assert set(kept.values()) == {("pass", "error")}


def test_clickstream_carries_the_string_keys_of_the_lake(gartenhaus: BuiltShop) -> None:
    raw = read_committed(gartenhaus.lake, "clickstream_events")
    assert raw.schema["customer_id"] == pl.String and raw.schema["product_id"] == pl.String
    _, ((sessions, known, joined, products, products_joined),) = run_query(
        gartenhaus.settings,
        "select count(*), count(fct_sessions.customer_id), count(dim_customers.customer_id), "
        "(select count(distinct product_id) from product_daily_sales), "
        "(select count(*) from dim_products where product_id like 'GH-%') "
        "from fct_sessions left join dim_customers on fct_sessions.customer_id = dim_customers.customer_id",
    )
    assert sessions > 400 and known > 50 and joined == known and products_joined == 24 and products > 0


def test_sessions_count_on_their_business_date(gartenhaus: BuiltShop) -> None:
    """Sessions starting 22:00-23:59 UTC on 1 June start on 2 June in Berlin (CEST)."""
    raw = read_committed(gartenhaus.lake, "clickstream_events")
    starts = raw.group_by("session_id").agg(pl.col("event_time").min())
    local = starts.select(pl.col("event_time").dt.convert_time_zone(BERLIN).dt.date()).to_series()
    expected = dict(local.value_counts().iter_rows())
    _, rows = run_query(gartenhaus.settings, "select event_date, sum(session_count) from funnel_daily group by 1")
    assert {d: n for d, n in rows} == expected
    assert expected.get(dt.date(2025, 6, 2), 0) > expected.get(dt.date(2025, 6, 1), 0) > 0


def test_dashboard_and_reports_read_string_keys(gartenhaus: BuiltShop) -> None:
    from pipelines.dashboard import queries
    from pipelines.dashboard.backends import open_backend
    from pipelines.reports.runner import run_reports

    backend = open_backend(gartenhaus.settings)
    names = queries.product_names(backend, ["GH-3001", "GH-3002", "GH-0000"])
    assert sorted(names["product_id"]) == ["GH-3001", "GH-3002"]
    first, last = queries.date_bounds(backend)
    assert not queries.top_products(backend, first, last).empty
    assert not queries.top_customers(backend).empty
    run = run_reports(gartenhaus.settings)
    assert run.outcomes and not [o for o in run.outcomes if o.status.is_failed], [o.error for o in run.outcomes]


def test_the_same_lake_on_snowflake_gives_equal_marts(gartenhaus: BuiltShop, tmp_path: Path) -> None:
    """Promoted to snowsim (RAW tables typed from the contracts: VARCHAR keys, TIMESTAMP_TZ order times)
    and built there with the same vars: every mart equals the DuckDB build."""
    from pipelines.warehouse import snowsim
    from pipelines.warehouse.parity import compare_marts
    from pipelines.warehouse.promote import promote

    assert gartenhaus.build.success, gartenhaus.build.summary()
    lake = copy_lake(gartenhaus.lake, tmp_path / "lake", snapshot=True)
    settings = Settings(lake_dir=lake.root, business_timezone=BERLIN)
    snowsim.start(settings)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("pipelines.batch.contract.CONTRACTS_DIR", gartenhaus.shop.contracts)
            promotion = promote(settings, "snowsim", progress=False)
            assert promotion.ok, promotion.render()
            parity = compare_marts(settings, "snowsim")
        assert parity.ok, parity.render()
        assert {m.model for m in parity.marts} >= {"product_category_sales", "top_customers", "fct_order_items"}
    finally:
        snowsim.stop(settings)


# -- integer ids, lines numbered per order (the silent loss) -----------------------------------


def test_lines_numbered_per_order_land_every_line_in_the_marts(integer_shop: BuiltShop) -> None:
    """`primary_key: [order_id, order_item_id]` with integer ids and lines 1..n per order: before the
    composite-key work the build failed (fct_order_items' unique test on order_item_id); now every line
    lands and the marts equal the exports, to the cent."""
    _assert_marts_equal_the_exports(integer_shop, "UTC")
    lines = order_lines(integer_shop.shop, "UTC")
    _, ((count,),) = run_query(integer_shop.settings, "select count(*) from fct_order_items")
    assert count == lines.height


def test_a_dedup_on_a_column_that_is_not_the_declared_key_fails_the_build(
    integer_shop: BuiltShop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A staging model that keeps one line per order_item_id (not the declared [order_id, order_item_id])
    loses lines; the build fails on the marts' row checks, at error severity, instead of saying OK."""
    assert integer_shop.build.success, integer_shop.build.summary()
    project = tmp_path / "transforms"
    shutil.copytree(dbt_runner.PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "dbt_packages", "logs"))
    model = project / "models" / "staging" / "shop" / "stg_shop__order_items.sql"
    text = model.read_text(encoding="utf-8")
    wrong = "qualify row_number() over (partition by order_item_id order by _ingested_at desc) = 1"
    model.write_text(text.replace("{{ latest_row_per_key('order_items') }}", wrong), encoding="utf-8")
    assert wrong in model.read_text(encoding="utf-8")
    lake = copy_lake(integer_shop.lake, tmp_path / "lake", snapshot=False)
    settings = Settings(lake_dir=lake.root)
    monkeypatch.setattr("pipelines.batch.contract.CONTRACTS_DIR", integer_shop.shop.contracts)
    monkeypatch.setattr(dbt_runner, "PROJECT_DIR", project)
    result = run_dbt_build(settings, progress=False, publish=False)
    assert not result.success
    failed = {n.name: n.severity for n in result.failed}
    lost = [name for name in failed if name.startswith("keeps_every_source_key_fct_order_items")]
    assert lost and failed[lost[0]] == "error", result.summary()


# -- status words mapped onto canonical values (needs the formats work's `map:`) -------------------------


def test_status_words_mapped_onto_canonical_values_reach_the_marts(tmp_path: Path) -> None:
    """German status words in the export, `map:` onto the contract's canonical statuses: ingest maps
    them, dbt's accepted_values and revenue see only canonical values, and the marts equal the exports."""
    with built_shop(tmp_path, MAPPED_SHOP, business_timezone=BERLIN, clicks=False) as built:
        _assert_marts_equal_the_exports(built, BERLIN)
        _, rows = run_query(built.settings, "select distinct order_status from fct_orders order by 1")
        assert [r[0] for r in rows] == sorted(MAPPED_SHOP.statuses)
