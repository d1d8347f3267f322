"""The Snowflake path of the data layer, against fakesnow (in-process, DuckDB-backed Snowflake emulator).

The marts of the local snapshot are loaded into a fake Snowflake schema; every dashboard query must
give the same answer through the Snowflake connector (qmark binding) as through the snapshot.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from pipelines.dashboard import queries as data
from pipelines.dashboard.backends import open_backend
from pipelines.errors import ShopLakeError
from pipelines.settings import Settings

from ..helpers import copy_marts_to_fakesnow
from .conftest import snapshot_path

fakesnow = pytest.importorskip("fakesnow")
pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result")

MARTS = [
    "fct_orders",
    "dim_customers",
    "dim_products",
    "top_customers",
    "product_category_sales",
    "product_daily_sales",
    "customer_cohort_retention",
    "customer_rfm",
    "funnel_daily",
    "anomalies",
]
PROD_ENV = {
    "DBT_TARGET": "prod",
    "SNOWFLAKE_ACCOUNT": "acme-test",
    "SNOWFLAKE_USER": "tester",
    "SNOWFLAKE_PASSWORD": "not-a-secret",
    "SNOWFLAKE_WAREHOUSE": "WH",
    "SNOWFLAKE_DATABASE": "SHOP",
    "SNOWFLAKE_SCHEMA": "ANALYTICS",
}


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]) or out[col].map(type).eq(dt.date).any():
            out[col] = pd.to_datetime(out[col]).dt.date.astype(str)
        elif out[col].dtype == object and out[col].map(lambda v: hasattr(v, "as_integer_ratio")).all():
            out[col] = out[col].astype(float)
        if pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col].astype(float).round(4)
    return out.reset_index(drop=True)


def test_snowflake_backend_matches_snapshot(base_lake):
    local = open_backend(Settings.from_env({"SHOPLAKE_LAKE_DIR": str(base_lake)}))
    with fakesnow.patch():
        import snowflake.connector  # patched by fakesnow inside the block

        admin = snowflake.connector.connect(account="acme-test", user="tester", password="x")
        admin.cursor().execute("create database if not exists SHOP")
        admin.cursor().execute("create schema if not exists SHOP.ANALYTICS")
        admin.cursor().execute("use schema SHOP.ANALYTICS")
        copy_marts_to_fakesnow(snapshot_path(base_lake), admin, MARTS)

        remote = open_backend(Settings.from_env({**PROD_ENV, "SHOPLAKE_LAKE_DIR": str(base_lake)}))
        assert remote.kind == "snowflake"
        first, last = data.date_bounds(local)
        assert data.date_bounds(remote) == (first, last)
        start = last - dt.timedelta(days=29)
        want_kpis, got_kpis = data.overview_kpis(local, start, last), data.overview_kpis(remote, start, last)
        for period in ("current", "previous"):
            assert got_kpis[period] == pytest.approx(want_kpis[period]), period
        cases = {
            "daily_revenue": (start, last),
            "category_share": (first, last, ("Books", "'; drop table fct_orders; --")),
            "category_revenue": (start, last, ("Books", "Garden"), "week"),
            "top_products": (start, last, (), 10),
            "top_customers": (20,),
            "rfm_segments": (),
            "cohort_retention": (6,),
            "funnel_daily": (first, last),
            "anomalies": (first, last),
            "category_history": (start, last, "Books"),
        }
        for name, args in cases.items():
            want = normalise(getattr(data, name)(local, *args))
            got = normalise(getattr(data, name)(remote, *args))
            pd.testing.assert_frame_equal(got, want, check_dtype=False, obj=name)
        # results tables not promoted to this schema: the page says so instead of failing
        assert not remote.has_table("dq_results") and data.dq_results(remote) is None
        assert remote.has_table("fct_orders")
        remote.close()
        admin.close()


def test_missing_snowflake_settings_name_the_variables():
    with pytest.raises(ShopLakeError, match="SNOWFLAKE_ACCOUNT") as err:
        open_backend(Settings.from_env({"DBT_TARGET": "prod", "SNOWFLAKE_PASSWORD": "hunter2"}))
    assert "hunter2" not in str(err.value)
