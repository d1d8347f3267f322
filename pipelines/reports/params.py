"""Report parameters: one portable placeholder syntax (`:name`) translated per target in code.

Reports are written once for DuckDB and Snowflake, whose drivers bind parameters differently
(DuckDB: `?` or `$name`; snowflake-connector-python: `%(name)s` or `?` with paramstyle qmark).
The SQL files therefore say `:name`, and `translate` rewrites each placeholder into the target's
style and returns the values in the shape its driver expects. Values are always *bound*, never
formatted into the SQL text, so a parameter can never change what the query does.

Placeholders are found with sqlglot's tokenizer for the target's dialect: a `:` token directly
followed by a name token. String literals, quoted identifiers, comments and `::` casts are tokens of
their own (or no tokens at all), so `'10:30'`, `-- note: x` and `x::date` are left alone. Only the
placeholders are rewritten, in place: the rest of the SQL reaches the driver exactly as written.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from ..errors import ShopLakeError

PARAM_TYPES = ("string", "int", "float", "date")
PARAMSTYLES = ("qmark", "dollar", "pyformat")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter: `-- param: name type = default | description`."""

    name: str
    type: str
    default: str | None  # None = SQL NULL
    description: str = ""

    def convert(self, raw: str | None) -> Any:
        """Turn a `--param name=value` string (or the default) into a typed Python value."""
        if raw is None or raw.strip().lower() in ("", "null", "none"):
            return None
        text = raw.strip()
        try:
            if self.type == "int":
                return int(text)
            if self.type == "float":
                return float(text)
            if self.type == "date":
                return dt.date.fromisoformat(text)
        except ValueError:
            raise ShopLakeError(f"parameter {self.name}: expected {self.type}, got {raw!r}") from None
        return raw


def _scan(sql: str, dialect: str = "duckdb") -> list[tuple[int, int, str]]:
    """Positions (start, end) and names of the `:name` placeholders in `sql`, in order."""
    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    except SqlglotError as exc:
        raise ShopLakeError(f"could not read the SQL to find its parameters: {str(exc).splitlines()[0]}") from None
    found: list[tuple[int, int, str]] = []
    for colon, name in itertools.pairwise(tokens):
        if (
            colon.token_type == TokenType.COLON
            and name.start == colon.end + 1  # `: name` is not a placeholder
            and sql[name.start : name.end + 1] == name.text  # written as is: not a quoted identifier or string
            and _NAME.fullmatch(name.text)
        ):
            found.append((colon.start, name.end + 1, name.text))
    return found


def placeholders(sql: str, dialect: str = "duckdb") -> list[str]:
    """Names of the placeholders in `sql`, in order of appearance (repeats included)."""
    return [name for _, _, name in _scan(sql, dialect)]


def translate(
    sql: str, values: dict[str, Any], paramstyle: str, *, dialect: str = "duckdb"
) -> tuple[str, list[Any] | dict[str, Any]]:
    """Rewrite `:name` placeholders for a driver and return (sql, bound values); `dialect` is the
    target's SQL dialect (sqlglot's name: duckdb, snowflake), which decides how the SQL is tokenized.

    qmark    -> `?` and a list in placeholder order (DuckDB, Snowflake with paramstyle='qmark')
    dollar   -> `$name` and a dict (DuckDB named parameters)
    pyformat -> `%(name)s` and a dict (Snowflake connector's default); literal `%` become `%%`
    """
    if paramstyle not in PARAMSTYLES:
        raise ValueError(f"unknown paramstyle {paramstyle!r} ({PARAMSTYLES})")
    spots = _scan(sql, dialect)
    missing = sorted({name for _, _, name in spots} - set(values))
    if missing:
        raise ShopLakeError(f"no value for parameter(s) {', '.join(missing)}")
    if not spots:  # nothing to bind: the driver gets the SQL as written (and no `%` escaping)
        return sql, ([] if paramstyle == "qmark" else {})
    out: list[str] = []
    ordered: list[Any] = []
    last = 0
    for start, end, name in spots:
        text = sql[last:start]
        out.append(text.replace("%", "%%") if paramstyle == "pyformat" else text)
        if paramstyle == "qmark":
            out.append("?")
            ordered.append(values[name])
        elif paramstyle == "dollar":
            out.append(f"${name}")
        else:
            out.append(f"%({name})s")
        last = end
    tail = sql[last:]
    out.append(tail.replace("%", "%%") if paramstyle == "pyformat" else tail)
    if paramstyle == "qmark":
        return "".join(out), ordered
    used = {name for _, _, name in spots}
    return "".join(out), {k: v for k, v in values.items() if k in used}


def parse_assignments(pairs: list[str] | None) -> dict[str, str]:
    """`["k=v", ...]` from the command line -> {k: v}; the value may itself contain `=`."""
    result: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not _NAME.fullmatch(key):
            raise ShopLakeError(f"--param expects name=value, got {pair!r}")
        result[key] = value
    return result
