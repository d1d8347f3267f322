"""The parts of `shoplake extract` that need no database: YAML, URLs and errors, SQL text, chunks, column plans."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from pipelines.batch.contract import load_contracts
from pipelines.errors import ShopLakeError
from pipelines.extract.config import SOURCES_DIR, Cursor, load_sources, parse_source
from pipelines.extract.cursor import HighWater, decode, encode
from pipelines.extract.reader import Read, Relation, adbc_sql, normalise_url, one_line_error, sql_literal
from pipelines.extract.run import chunks, plan_columns
from pipelines.settings import Settings

CONTRACTS = load_contracts()


def _source(tmp_path: Path, raw: dict) -> None:
    parse_source(raw, tmp_path / "shop.yml", CONTRACTS)


def test_the_shipped_source_reads_every_contract_with_a_cursor() -> None:
    (erp,) = load_sources(CONTRACTS, SOURCES_DIR).values()
    assert erp.source == "erp" and erp.url_env == "SHOPLAKE_ERP_URL"
    assert {t.contract for t in erp.tables} == set(CONTRACTS)
    assert all(t.cursor and t.cursor.column == "updated_at" for t in erp.tables)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"url_env": "postgresql://u:secret@h/db", "tables": [{"contract": "orders", "table": "orders"}]},
         "never put the URL itself"),
        ({"url_env": "X", "tables": [{"contract": "nope", "table": "t"}]}, "tables.0.contract: no contract 'nope'"),
        ({"url_env": "X", "tables": [{"contract": "orders"}]}, "give either `table` or `query`"),
        ({"url_env": "X", "tables": [{"contract": "orders", "table": "a", "query": "select 1"}]}, "either"),
        ({"url_env": "X", "tables": [{"contract": "orders", "table": "o",
                                      "cursor": {"column": "u", "lookback": "2 fortnights"}}]},
         "unknown unit 'fortnights'"),
        ({"url_env": "X", "tables": [{"contract": "orders", "table": "o", "soft_delete": "deleted_at"}]},
         "declares no `deleted_column`"),
        ({"url_env": "X", "tables": [{"contract": "orders", "table": "o", "columns": {"x": "nope"}}]},
         "nope not a column of the orders contract"),
        ({"url_env": "X", "tables": [{"contract": "orders", "table": "a"}, {"contract": "orders", "table": "b"}]},
         "fed twice"),
        ({"url_env": "X", "tables": [{"contract": "orders", "table": "o", "colour": "red"}]}, "tables.0.colour"),
    ],
)  # fmt: skip
def test_source_mistakes_are_one_line_naming_file_and_key(tmp_path: Path, raw: dict, message: str) -> None:
    with pytest.raises(ShopLakeError) as caught:
        _source(tmp_path, raw)
    assert str(caught.value).startswith("source shop.yml: ") and message in str(caught.value)
    assert "\n" not in str(caught.value) and "secret" not in str(caught.value)


def test_lookbacks() -> None:
    assert Cursor(column="u").duration() == dt.timedelta(minutes=10)
    assert Cursor(column="u", lookback="2h").duration() == dt.timedelta(hours=2)
    assert Cursor(column="u", lookback="1.5 days").duration() == dt.timedelta(hours=36)
    assert Cursor(column="u", lookback=90).duration() == dt.timedelta(seconds=90)
    assert Cursor(column="id").ids() == 0 and Cursor(column="id", lookback=500).ids() == 500
    with pytest.raises(ShopLakeError, match="number of ids"):
        Cursor(column="id", lookback="5 minutes").ids()
    now = dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.timezone.utc)
    mark = HighWater(now, "timestamptz", "updated_at", ())
    assert mark.lower_bound(Cursor(column="u", lookback="1 minute")) == now - dt.timedelta(minutes=1)
    assert HighWater(dt.date(2026, 1, 2), "date", "d", ()).lower_bound(Cursor(column="d", lookback="2h")) == dt.date(
        2026, 1, 1
    )
    assert HighWater(1000, "int", "id", ()).lower_bound(Cursor(column="id", lookback=10)) == 990
    for value, kind in ((now, "timestamptz"), (now.replace(tzinfo=None), "timestamp"), (dt.date(2026, 1, 2), "date"),
                        (7, "int")):  # fmt: skip
        assert decode(encode(value, kind), kind) == value


def test_pasted_passwords_are_encoded_and_redacted() -> None:
    url, secrets = normalise_url("postgresql://shop:p@ss:w/rd?x@db.example:5432/erp?sslmode=require")
    assert url == "postgresql://shop:p%40ss%3Aw%2Frd%3Fx@db.example:5432/erp?sslmode=require"
    message = one_line_error(
        Exception(f"FATAL: bad\nDETAIL: {url} and p@ss:w/rd?x and password=hunter2\nmore"), secrets
    )  # fmt: skip
    assert message == "FATAL: bad"
    one = one_line_error(Exception(f"cannot use {url} (p@ss:w/rd?x) password=hunter2"), secrets)
    assert "p@ss" not in one and "p%40ss" not in one and "hunter2" not in one
    assert "postgresql://***@db.example" in one
    assert normalise_url("sqlite:///tmp/x.db") == ("sqlite:///tmp/x.db", [])


def test_cursor_values_are_typed_literals_not_parameters() -> None:
    assert sql_literal(42) == "42"
    assert sql_literal(dt.date(2026, 1, 2)) == "DATE '2026-01-02'"
    assert sql_literal(dt.datetime(2026, 1, 2, 3, 4, 5, 6)) == "TIMESTAMP '2026-01-02 03:04:05.000006'"
    aware = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert sql_literal(aware) == "TIMESTAMP WITH TIME ZONE '2026-01-02 03:04:05+00:00'"
    with pytest.raises(TypeError):
        sql_literal("2026-01-02'; drop table orders; --")
    read = Read(Relation(table="erp.Orders"), ["id", "updated_at"], cursor="updated_at", lower=5, ordered=True)
    assert (
        adbc_sql(read) == 'SELECT "id", "updated_at" FROM "erp"."Orders" WHERE "updated_at" >= 5 ORDER BY "updated_at"'
    )
    assert adbc_sql(Read(Relation(query="select 1 as id"), ["id", "p"], casts={"p": "float8"})) == (
        'SELECT "id", "p"::float8 AS "p" FROM (select 1 as id) AS shoplake_source'
    )


def test_chunks_regroup_batches_into_fixed_row_counts() -> None:
    batches = [pa.record_batch({"x": list(range(n))}) for n in (3, 5, 0, 2, 9)]
    assert [t.num_rows for t in chunks(iter(batches), 4)] == [4, 4, 4, 4, 3]
    regrouped = [v for t in chunks(iter(batches), 4) for v in t["x"].to_pylist()]
    assert regrouped == [v for b in batches for v in b["x"].to_pylist()]


def test_database_columns_map_onto_the_contract(tmp_path: Path) -> None:
    config = parse_source(
        yaml.safe_load("""
url_env: X
tables:
  - contract: orders
    table: sales.orders_header
    cursor: {column: LastChange}
    columns: {ord_no: order_id}
"""),
        tmp_path / "shop.yml",
        CONTRACTS,
    )
    spec = config.tables[0]
    db = {"ord_no": "int8", "Customer_ID": "int8", "order_date": "date", "ORDER_AMOUNT": "numeric", "status": "text",
          "order_channel": "text", "lastchange": "timestamptz", "notes": "text"}  # fmt: skip
    with pytest.raises(ShopLakeError, match="no database column 'LastChange'"):
        plan_columns("shop", spec, CONTRACTS["orders"], {c: t for c, t in db.items() if c != "lastchange"})
    plan = plan_columns("shop", spec, CONTRACTS["orders"], db)
    assert plan.rename == {"ord_no": "ORDER_ID", "Customer_ID": "CUSTOMER_ID", "order_date": "ORDER_DATE",
                           "ORDER_AMOUNT": "ORDER_AMOUNT", "status": "STATUS"}  # fmt: skip
    assert plan.select == ["ord_no", "Customer_ID", "order_date", "ORDER_AMOUNT", "status", "lastchange"]
    assert (plan.cursor, plan.cursor_field, plan.keys) == ("lastchange", "lastchange", ["ORDER_ID"])
    assert plan.casts == {"ORDER_AMOUNT": "float8"}  # numeric feeding a double: converted by the server
    with pytest.raises(ShopLakeError, match=r"required contract column\(s\) order_amount \(source ORDER_AMOUNT\)"):
        plan_columns("shop", spec, CONTRACTS["orders"], {c: t for c, t in db.items() if c != "ORDER_AMOUNT"})


def test_extract_erp_is_deployed_only_with_a_configured_source(tmp_path: Path, monkeypatch) -> None:
    from pipelines.flows.deployments import build_deployments

    settings = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(tmp_path), "SHOPLAKE_EXTRACT_CRON": "15 * * * *"})
    monkeypatch.delenv("SHOPLAKE_ERP_URL", raising=False)
    plan = build_deployments(settings)
    assert "extract-erp" not in plan.names and any(s.startswith("extract-erp:") for s in plan.skipped)
    monkeypatch.setenv("SHOPLAKE_ERP_URL", "postgresql://u:p@127.0.0.1:1/erp")
    plan = build_deployments(settings)
    by_name = {d.name: d for d in plan.deployments}
    assert by_name["extract-erp"].schedules[0].schedule.cron == "15 * * * *"
    assert by_name["extract-erp"].entrypoint == "pipelines.flows.extract.extract_erp"
    flows = [t.match_related.root["prefect.resource.name"] for t in by_name["transform"].triggers]
    assert flows == ["ingest_batch", "extract_erp"]
    off = build_deployments(Settings.from_env({"SHOPLAKE_LAKE_DIR": str(tmp_path), "SHOPLAKE_EXTRACT_CRON": "off"}))
    assert next(d for d in off.deployments if d.name == "extract-erp").schedules == []


def test_prefetched_keeps_order_passes_errors_and_closes_its_source() -> None:
    from pipelines.extract.run import prefetched

    assert list(prefetched(iter(range(50)))) == list(range(50))
    closed = []

    def source():
        try:
            yield 1
            yield 2
            raise ShopLakeError("source erp: the connection broke")
        finally:
            closed.append(True)

    got = []
    with pytest.raises(ShopLakeError, match="connection broke"):
        got.extend(prefetched(source()))
    assert got == [1, 2] and closed == [True]

    def endless():
        try:
            n = 0
            while True:
                n += 1
                yield n
        finally:
            closed.append("endless")

    items = prefetched(endless())
    assert next(items) == 1
    items.close()  # the consumer stops early (an error while landing): the reader thread stops and closes
    assert closed[-1] == "endless"
