"""`shoplake promote` from a lake on a real S3-compatible server, against snowsim: an external stage on
the bucket (raw/ and results/) and COPY INTO ... FILES = (the committed files), with load history;
nothing is PUT."""

from __future__ import annotations

import datetime as dt

import polars as pl
import snowflake.connector

from pipelines import storage
from pipelines.batch.ingest import ingest_all
from pipelines.catalog import committed_files
from pipelines.generate.batch import REFERENCE_END_DATE, build_dataset, write_exports
from pipelines.lake import Lake
from pipelines.results import SCHEMAS, TABLES, new_run_id, write_results
from pipelines.settings import Settings
from pipelines.warehouse import snowsim
from pipelines.warehouse.promote import EXTERNAL_STAGE, RESULTS_EXTERNAL_STAGE, promote

from ..conftest import SEED, _seed_clickstream


def test_promote_loads_the_committed_files_from_the_bucket(s3_settings: Settings) -> None:
    lake = Lake.of(s3_settings)
    write_exports(build_dataset(0.003, SEED, REFERENCE_END_DATE), lake, scale=0.003, seed=SEED)
    assert not ingest_all(s3_settings, progress=False).failed_files
    _seed_clickstream(lake)
    # A crashed ingest's leftover in the bucket: never committed, so never loaded.
    leftover = lake.raw_file("customers", "customers-000000000000-crashed")
    storage.write_bytes_atomic(leftover, storage.read_bytes(committed_files(lake, "customers")[0]))
    # One run of each results table (quality results, forecast, alert log), written to the bucket too.
    for table in TABLES:
        assert str(write_results(lake, table, _one_row(table), new_run_id())).startswith(lake.uri or "-")
    state = snowsim.start(s3_settings)  # the launcher that lets fakesnow read the bucket
    try:
        first = promote(s3_settings, "snowsim", build=False, progress=False)
        assert first.ok, first.render()
        by_table = {t.table: t for t in first.tables}
        assert {"orders", "order_items", "customers", "clickstream_events"} <= set(by_table)
        for t in first.tables:
            assert t.uploaded == 0  # nothing PUT from this machine
            assert t.snowflake_rows == t.lake_rows, t
            assert t.loaded_files == t.lake_files > 0
        second = promote(s3_settings, "snowsim", build=False, progress=False)
        assert second.ok
        assert all(t.loaded_files == 0 and t.skipped_files == t.lake_files for t in second.tables)
        con = snowflake.connector.connect(user="u", password="p", account="fakesnow", database="SHOPLAKE",
                                          schema="RAW", host="127.0.0.1", port=state.port, protocol="http",
                                          network_timeout=30)  # fmt: skip
        try:
            cur = con.cursor()
            cur.execute("show stages in schema SHOPLAKE.RAW")
            stages = {str(r[1]).upper(): r for r in cur.fetchall()}
            assert EXTERNAL_STAGE in stages and lake.uri in str(stages[EXTERNAL_STAGE])
            assert RESULTS_EXTERNAL_STAGE in stages and f"{lake.uri}/results/" in str(stages[RESULTS_EXTERNAL_STAGE])
            cur.execute("select count(*), sum(row_count) from information_schema.load_history "
                        "where table_name = 'ORDERS' and status = 'LOADED'")  # fmt: skip
            files, rows = cur.fetchone()
            assert (files, rows) == (by_table["orders"].lake_files, by_table["orders"].lake_rows)
        finally:
            con.close()
    finally:
        snowsim.stop(s3_settings)


def _one_row(table: str) -> pl.DataFrame:
    """A row of a results table with a value in every column."""
    at = dt.datetime(2025, 6, 1, 12, 0)
    values = {pl.String: "x", pl.Int64: 1, pl.Float64: 1.5, pl.Date: at.date()}
    columns = []
    for name, dtype in SCHEMAS[table].items():
        if isinstance(dtype, pl.Datetime):
            value = at.replace(tzinfo=dt.timezone.utc) if dtype.time_zone else at
        else:
            value = values[type(dtype)]
        columns.append(pl.Series(name, [value], dtype=dtype))
    return pl.DataFrame(columns)
