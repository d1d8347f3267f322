"""The portable `:name` placeholder syntax and its translation per driver."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from pipelines.errors import ShopLakeError
from pipelines.reports.params import ParamSpec, parse_assignments, placeholders, translate

SQL = """-- a comment with :not_a_param
select ':also_not' as s, x::date as d, "col:umn" as q, /* :nor_this */ y
from t where a = :a and b like '%x' and (:b is null or c = :b)"""


def test_scanner_skips_literals_comments_and_casts():
    assert placeholders(SQL) == ["a", "b", "b"]


def test_qmark_orders_values_by_placeholder():
    sql, bound = translate(SQL, {"a": 1, "b": "z"}, "qmark")
    assert sql.count("?") == 3 and "a = ?" in sql and "':also_not'" in sql and "x::date" in sql
    assert bound == [1, "z", "z"]


def test_dollar_and_pyformat():
    sql, bound = translate(SQL, {"a": 1, "b": "z", "unused": 2}, "dollar")
    assert "$a" in sql and sql.count("$b") == 2 and bound == {"a": 1, "b": "z"}
    sql, bound = translate(SQL, {"a": 1, "b": "z"}, "pyformat")
    assert "%(a)s" in sql and "like '%%x'" in sql and bound == {"a": 1, "b": "z"}


def test_translated_sql_runs_and_binds_on_duckdb():
    con = duckdb.connect()
    sql = "select :n + 1 as m, :s as s, cast(:d as date) as d, cast(:n as integer) * 2 as twice"
    values = {"n": 41, "s": "x'); drop table t; --", "d": dt.date(2025, 1, 2)}
    for style in ("qmark", "dollar"):
        query, bound = translate(sql, values, style)
        assert con.execute(query, bound).fetchall() == [(42, "x'); drop table t; --", dt.date(2025, 1, 2), 82)]


def test_missing_value_is_an_error():
    with pytest.raises(ShopLakeError, match="no value for parameter"):
        translate("select :a", {}, "qmark")


def test_no_placeholders_leaves_sql_untouched():
    assert translate("select '%' as p", {}, "pyformat") == ("select '%' as p", {})


def test_conversion_by_declared_type():
    assert ParamSpec("n", "int", "5").convert("7") == 7
    assert ParamSpec("d", "date", None).convert("2025-02-03") == dt.date(2025, 2, 3)
    assert ParamSpec("d", "date", None).convert("null") is None
    assert ParamSpec("s", "string", None).convert("a'b") == "a'b"
    with pytest.raises(ShopLakeError, match="parameter n: expected int"):
        ParamSpec("n", "int", "5").convert("1; drop table x")


def test_parse_assignments():
    assert parse_assignments(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(ShopLakeError):
        parse_assignments(["novalue"])
    with pytest.raises(ShopLakeError):
        parse_assignments(["bad name=1"])


def test_dialect_decides_what_is_a_string():
    """sqlglot tokenizes per dialect: Snowflake's $$...$$ and DuckDB's $$...$$ are strings, not placeholders."""
    sql = "select $$ :not_me $$ as s, :yes as y, ': nor_me' as t from x where a = : spaced"
    assert placeholders(sql, "snowflake") == ["yes"] == placeholders(sql, "duckdb")
    query, bound = translate(sql, {"yes": 1}, "qmark", dialect="snowflake")
    assert query == "select $$ :not_me $$ as s, ? as y, ': nor_me' as t from x where a = : spaced" and bound == [1]


def test_sql_that_cannot_be_tokenized_is_a_one_line_error():
    with pytest.raises(ShopLakeError, match="could not read the SQL to find its parameters"):
        placeholders("select 'unterminated :x")
