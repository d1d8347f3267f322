"""Report parameters: one portable placeholder syntax (`:name`) translated per target in code.

Reports are written once for DuckDB and Snowflake, whose drivers bind parameters differently
(DuckDB: `?` or `$name`; snowflake-connector-python: `%(name)s` or `?` with paramstyle qmark).
The SQL files therefore say `:name`, and `translate` rewrites each placeholder into the target's
style and returns the values in the shape its driver expects. Values are always *bound*, never
formatted into the SQL text, so a parameter can never change what the query does.

The scanner skips string literals, quoted identifiers, comments and `::` casts, so `'10:30'`,
`-- note: x` and `x::date` are left alone.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

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


def _scan(sql: str) -> list[tuple[int, int, str]]:
    """Positions (start, end, name) of `:name` placeholders outside literals, identifiers and comments."""
    found: list[tuple[int, int, str]] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            end = i + 1
            while end < n:
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:  # doubled quote escapes itself
                        end += 2
                        continue
                    break
                end += 1
            i = end + 1
        elif sql.startswith("--", i):
            newline = sql.find("\n", i)
            i = n if newline == -1 else newline + 1
        elif sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            i = n if close == -1 else close + 2
        elif sql.startswith("::", i):
            i += 2
        elif ch == ":" and (match := _NAME.match(sql, i + 1)):
            found.append((i, match.end(), match.group()))
            i = match.end()
        else:
            i += 1
    return found


def placeholders(sql: str) -> list[str]:
    """Names of the placeholders in `sql`, in order of appearance (repeats included)."""
    return [name for _, _, name in _scan(sql)]


def translate(sql: str, values: dict[str, Any], paramstyle: str) -> tuple[str, list[Any] | dict[str, Any]]:
    """Rewrite `:name` placeholders for a driver and return (sql, bound values).

    qmark    -> `?` and a list in placeholder order (DuckDB, Snowflake with paramstyle='qmark')
    dollar   -> `$name` and a dict (DuckDB named parameters)
    pyformat -> `%(name)s` and a dict (Snowflake connector's default); literal `%` become `%%`
    """
    if paramstyle not in PARAMSTYLES:
        raise ValueError(f"unknown paramstyle {paramstyle!r} ({PARAMSTYLES})")
    spots = _scan(sql)
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
