"""`shoplake promote` from a lake on a real S3-compatible server, against snowsim: an external stage on
the bucket and COPY INTO ... FILES = (the committed files), with load history; nothing is PUT."""

from __future__ import annotations

import snowflake.connector

from pipelines import storage
from pipelines.batch.ingest import ingest_all
from pipelines.catalog import committed_files
from pipelines.generate.batch import REFERENCE_END_DATE, build_dataset, write_exports
from pipelines.lake import Lake
from pipelines.settings import Settings
from pipelines.warehouse import snowsim
from pipelines.warehouse.promote import EXTERNAL_STAGE, promote

from ..conftest import SEED, _seed_clickstream


def test_promote_loads_the_committed_files_from_the_bucket(s3_settings: Settings) -> None:
    lake = Lake.of(s3_settings)
    write_exports(build_dataset(0.003, SEED, REFERENCE_END_DATE), lake, scale=0.003, seed=SEED)
    assert not ingest_all(s3_settings, progress=False).failed_files
    _seed_clickstream(lake)
    # A crashed ingest's leftover in the bucket: never committed, so never loaded.
    leftover = lake.raw_file("customers", "customers-000000000000-crashed")
    storage.write_bytes_atomic(leftover, storage.read_bytes(committed_files(lake, "customers")[0]))
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
            cur.execute("select count(*), sum(row_count) from information_schema.load_history "
                        "where table_name = 'ORDERS' and status = 'LOADED'")  # fmt: skip
            files, rows = cur.fetchone()
            assert (files, rows) == (by_table["orders"].lake_files, by_table["orders"].lake_rows)
        finally:
            con.close()
    finally:
        snowsim.stop(s3_settings)
