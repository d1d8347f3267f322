"""Row-level contract checks: one set of polars expressions per file, no Python loop per row.

Sources are text (CSV exports) or typed frames (database extracts landed through the API); both go
through the same rules. Quarantined rows keep their values as text, as they came.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from .contract import Column, Contract
from .readers import INVALID_JSON, LINE, TOO_MANY

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
_TARGET = {"bigint": pl.Int64, "double": pl.Float64, "date": pl.Date, "boolean": pl.Boolean}
# ISO 8601 with an offset at the end (+01:00, +0100, +01, Z), after a time of day.
_OFFSET = r"\d:\d\d(?::\d\d(?:[.,]\d+)?)?\s*(?:[+-]\d\d(?::?\d\d)?|Z|z)$"
_UTC = pl.Datetime("us", "UTC")


def _src(col: Column) -> str:
    """Source value of a contract column, renamed so a source and target name may coincide."""
    return f"_src_{col.name}"


def number_text(raw: pl.Expr, decimal: str | None, thousands: str | None) -> pl.Expr:
    """Text as the export writes numbers ("1.234,56") -> text polars casts ("1234.56"); null if malformed.

    With a thousands separator the groups must be whole (`1.234.567`, not `1.5`), so a value written
    with the other convention is quarantined instead of read 1000 times too large or small.
    """
    if thousands:
        t = re.escape(thousands)
        fraction = rf"(?:{re.escape(decimal)}\d*)?" if decimal else ""  # no decimal: a whole number
        grouped = rf"^[+-]?(?:\d{{1,3}}(?:{t}\d{{3}})+|\d+){fraction}$"
        raw = pl.when(raw.str.contains(grouped)).then(raw.str.replace_all(thousands, "", literal=True))
    if decimal and decimal != ".":
        raw = pl.when(~raw.str.contains(".", literal=True)).then(raw.str.replace(decimal, ".", literal=True))
    return raw


def _zoned(naive: pl.Expr, zone: str) -> pl.Expr:
    """Wall-clock times of `zone` -> UTC instants (an hour that happens twice: the earlier one)."""
    local = naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    return local.dt.convert_time_zone("UTC").dt.cast_time_unit("us")


def timestamp_from_text(raw: pl.Expr, fmt: str | None, zone: str) -> pl.Expr:
    """An instant: with an offset in the value, that offset; without, the contract's time zone."""
    if fmt is not None:
        if "%z" in fmt or "%#z" in fmt or "%:z" in fmt:
            return raw.str.to_datetime(fmt, strict=False, time_zone="UTC").dt.cast_time_unit("us")
        return _zoned(raw.str.to_datetime(fmt, strict=False, time_unit="us"), zone)
    # ISO 8601: the values with an offset and those without are parsed apart (polars infers one pattern).
    has_offset = raw.str.contains(_OFFSET)
    offset = (
        pl.when(has_offset)
        .then(raw.str.replace(r"\s+([+-]\d\d|Z|z)", "$1"))
        .str.to_datetime(strict=False, time_zone="UTC", time_unit="us")
    )
    naive = _zoned(pl.when(~has_offset).then(raw).str.to_datetime(strict=False, time_unit="us"), zone)
    return pl.when(has_offset).then(offset).otherwise(naive)


def _typed(col: Column, dtype: pl.DataType, contract: Contract) -> pl.Expr:
    """The contract type from the source value: parsed from text, or converted from a typed column."""
    raw = pl.col(_src(col))
    zone = contract.timezone
    if dtype != pl.String:
        return _from_typed(col, dtype, raw, zone)
    if col.type == "bigint":
        thousands = contract.thousands_of(col)
        return (number_text(raw, None, thousands) if thousands else raw).cast(pl.Int64, strict=False)
    if col.type == "double":
        decimal, thousands = contract.decimal_of(col), contract.thousands_of(col)
        text = raw if decimal == "." and not thousands else number_text(raw, decimal, thousands)
        return text.cast(pl.Float64, strict=False)
    if col.type == "date":
        parsed = raw.str.to_date(col.date_format, strict=False)
        # chrono reads "01.02.25" under %Y as the year 25: a declared format must mean what it says.
        return pl.when(parsed.dt.year() >= 1000).then(parsed) if col.format and "%Y" in col.format else parsed
    if col.type == "timestamp":
        parsed = timestamp_from_text(raw, col.format, zone)
        return pl.when(parsed.dt.year() >= 1000).then(parsed) if col.format and "%Y" in col.format else parsed
    if col.type == "boolean":
        words = {**dict.fromkeys(col.truthy, True), **dict.fromkeys(col.falsy, False)}
        return raw.str.to_lowercase().replace_strict(words, default=None, return_dtype=pl.Boolean)
    if col.map is not None:
        return _mapped(col, raw)[0]
    return raw


def _from_typed(col: Column, dtype: pl.DataType, raw: pl.Expr, zone: str) -> pl.Expr:
    """A typed source (xlsx cells, Parquet, JSON numbers, database rows) as the contract type.

    Nothing is rounded or cut: a float with a fraction is not a bigint, a date with a time of day is
    not a date, an integer other than 0/1 is not a boolean (each is quarantined as invalid).
    """
    if col.type == "string":
        if dtype.is_float():  # 1234.0 from a spreadsheet cell is the text 1234
            text = pl.when(raw == raw.round(0)).then(raw.cast(pl.Int64, strict=False).cast(pl.String))
            text = text.otherwise(raw.cast(pl.String))
        else:
            text = raw.cast(pl.String)
        return _mapped(col, text)[0] if col.map is not None else text
    if col.type == "timestamp":
        if isinstance(dtype, pl.Datetime):
            # A naive timestamp is wall-clock time of the contract's zone; an aware one is converted.
            if dtype.time_zone is None:
                return _zoned(raw.dt.cast_time_unit("us"), zone)
            return raw.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        if dtype == pl.Date:
            return _zoned(raw.cast(pl.Datetime("us")), zone)
        return raw.cast(_UTC, strict=False)
    if col.type == "date" and isinstance(dtype, pl.Datetime):
        local = raw if dtype.time_zone is None else raw.dt.convert_time_zone(zone)
        return pl.when(local.dt.time() == pl.time(0)).then(local.dt.date())
    if col.type == "bigint" and dtype.is_float():
        return pl.when(raw == raw.round(0)).then(raw.cast(pl.Int64, strict=False))
    if col.type == "boolean" and dtype.is_integer():
        return pl.when(raw.is_in([0, 1])).then(raw.cast(pl.Boolean))
    return raw.cast(_TARGET[col.type], strict=False)


def _mapped(col: Column, text: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(canonical value, is a map key, is already canonical) of a string column with a `map`.

    Keys are compared without case and surrounding blanks; a value that is already canonical (one
    of `allowed`, or of the map's targets) passes as it is (a re-export in canonical words lands too).
    """
    assert col.map is not None
    keys = {k.strip().lower(): v for k, v in col.map.items()}
    targets = sorted({v for v in col.map.values() if v is not None} | set(col.allowed or ()))
    lookup = text.str.strip_chars().str.to_lowercase()
    is_key = lookup.is_in(list(keys))
    is_target = text.is_in(targets)
    value = pl.when(is_key).then(lookup.replace_strict(keys, default=None, return_dtype=pl.String))
    return value.when(is_target).then(text), is_key, is_target


def _row_checks(
    contract: Contract, dtypes: dict[str, pl.DataType], *, too_many: bool, truncated: bool, invalid_json: bool
) -> list[tuple[str, pl.Expr]]:
    """(reason, is-bad expression) per rule, in priority order; every expression is null-safe.

    The row-shape checks are only there when the reader found such rows, so a clean file pays nothing.
    """
    checks: list[tuple[str, pl.Expr]] = []
    if invalid_json:
        checks.append(("invalid_json", pl.col(INVALID_JSON)))
    if too_many:
        checks.append(("too_many_fields", pl.col(TOO_MANY)))
    if truncated:
        checks.append(("truncated_row", pl.col("_truncated")))
    for col in contract.columns:
        raw = pl.col(_src(col))
        text = dtypes[col.name] == pl.String
        missing = (raw.is_null() | (raw == "")) if text else raw.is_null()
        unmapped = None
        if col.map is not None:
            value, is_key, is_target = _mapped(col, raw if text else raw.cast(pl.String))
            missing = missing | (is_key & value.is_null())  # mapped to null: no value
            unmapped = ~missing & ~is_key & ~is_target
        if col.required:
            checks.append((f"missing_required:{col.name}", missing))
        if col.type != "string":
            checks.append((f"invalid_{col.type}:{col.name}", ~missing & pl.col(col.name).is_null()))
        if unmapped is not None:
            checks.append((f"unmapped:{col.name}", unmapped))
        if col.min is not None:
            checks.append((f"out_of_range:{col.name}", pl.col(col.name) < col.min))
        if col.allowed:
            checks.append((f"not_allowed:{col.name}", ~pl.col(col.name).is_in(list(col.allowed))))
        if col.format == "email":
            checks.append(("invalid_email", ~missing & ~pl.col(col.name).str.contains(EMAIL_PATTERN)))
    return [(reason, bad.fill_null(False)) for reason, bad in checks]


def first_occurrence(key: pl.Series) -> pl.Series:
    """`key.is_first_distinct()`, without hashing the sorted run that an export mostly is.

    Rows up to the first break in strictly increasing order cannot repeat each other; only the rows
    after it (appended corrections, duplicates) are hashed among themselves and binary-searched in
    that sorted prefix. Hashing all 3M order_items keys took 0.19 s of the 1.7 s ingest.
    """
    if not key.dtype.is_integer():
        return key.is_first_distinct()
    # A comparison, not diff(): diff() wraps around on int64 overflow and could hide a break.
    breaks = (key <= key.shift(1)).fill_null(False) | key.is_null()
    n_sorted = int(breaks.arg_max()) if breaks.any() else key.len()
    if n_sorted == key.len():
        return pl.repeat(True, key.len(), dtype=pl.Boolean, eager=True)
    prefix, tail = key.head(n_sorted), key.slice(n_sorted)
    if n_sorted:
        at = prefix.search_sorted(tail, side="left").clip(upper_bound=n_sorted - 1)
        in_prefix = (prefix.gather(at) == tail).fill_null(False)
    else:
        in_prefix = pl.repeat(False, tail.len(), dtype=pl.Boolean, eager=True)
    first_in_tail = tail.is_first_distinct() & ~in_prefix
    return pl.concat([pl.repeat(True, n_sorted, dtype=pl.Boolean, eager=True), first_in_tail])


@dataclass
class Validated:
    good: pl.DataFrame  # typed contract columns + _line, imputed
    bad: pl.DataFrame  # source values as text + _line + _reason
    imputed: dict[str, int]
    # reason -> (line, source value) of its first row: what the report shows next to the count
    examples: dict[str, tuple[int, str | None]] = field(default_factory=dict)


def validate(
    df: pl.DataFrame, contract: Contract, reference_keys: Callable[[str, str], pl.Series], truncated_last: bool
) -> Validated:
    """Split rows into typed good rows and quarantined rows with the first reason that applies.

    Row checks, then duplicate keys, then references. Reason strings are built only for the bad
    rows: building them for every row would cost more than the rest of the validation.
    `reference_keys(table, key)` gives the keys a reference may point to. `df` holds the source
    columns (text or typed), `_line` and, when the reader flagged rows, `_too_many_fields`.
    """
    # Text columns are stripped (unless `trim: false`); numbers and dates are cast from the text as
    # exported (a padded number is quarantined as invalid unless `trim: true`, not guessed). A
    # missing optional column is all nulls.
    schema = df.schema

    def source(c: Column) -> pl.Expr:
        if c.source not in schema:
            return pl.lit(None, dtype=pl.String).alias(_src(c))
        trim = c.trim if c.trim is not None else c.type == "string"
        if trim and schema[c.source] == pl.String:
            return pl.col(c.source).str.strip_chars().alias(_src(c))
        return pl.col(c.source).alias(_src(c))

    too_many = TOO_MANY in df.columns and bool(df[TOO_MANY].any())
    invalid_json = INVALID_JSON in df.columns and bool(df[INVALID_JSON].any())
    flags = [*([TOO_MANY] if too_many else []), *([INVALID_JSON] if invalid_json else [])]
    raw = df.select(LINE, *flags, *[source(c) for c in contract.columns])
    del df
    dtypes = {c.name: raw.schema[_src(c)] for c in contract.columns}
    shape = [(pl.int_range(pl.len()) == pl.len() - 1).alias("_truncated")] if truncated_last else []
    checks = _row_checks(contract, dtypes, too_many=too_many, truncated=truncated_last, invalid_json=invalid_json)
    checked = raw.with_columns(
        *shape, *[_typed(c, dtypes[c.name], contract).alias(c.name) for c in contract.columns]
    ).with_columns(pl.any_horizontal([bad for _, bad in checks] or [pl.lit(False)]).alias("_bad"))
    del raw
    # The later checks yield one mask per reason over all rows and rows are filtered once at the
    # end, instead of filtering the good rows after each check and joining the bad ones back to
    # their text by line number (~0.05 s less CPU at scale 1).
    ok = ~checked["_bad"]
    later: list[tuple[str, pl.Series]] = []  # (reason, rows it quarantines), in priority order
    landing = ok

    # Duplicate primary keys: the first valid occurrence lands, later ones are quarantined.
    pk = contract.primary_key
    if len(pk) == 1:
        first = first_occurrence(checked[pk[0]].filter(ok))
    else:
        first = checked.filter(ok).select(pl.struct(*pk).is_first_distinct()).to_series()
    if not first.all():
        duplicate = pl.repeat(False, checked.height, dtype=pl.Boolean, eager=True).scatter(ok.arg_true(), ~first)
        later.append(("duplicate_key", duplicate))
        landing = landing & ~duplicate
    for ref in contract.references:
        keys = reference_keys(ref.table, ref.key)
        if keys.dtype != checked[ref.column].dtype:  # e.g. files landed under an earlier contract's key type
            keys = keys.cast(checked[ref.column].dtype, strict=False)
        found = checked[ref.column].is_in(keys.implode())
        later.append((f"missing_reference:{ref.column}", (landing & ~found).fill_null(False)))
        landing = (landing & found).fill_null(False)

    good = checked.select(LINE, *[c.name for c in contract.columns]).filter(landing)
    imputed: dict[str, int] = {}
    imputable = [c for c in contract.columns if not c.required and c.default is not None]
    if imputable:
        counts = good.select([pl.col(c.name).is_null().sum().alias(c.name) for c in imputable])
        imputed = {k: int(v) for k, v in counts.row(0, named=True).items() if v}
        good = good.with_columns([pl.col(c.name).fill_null(pl.lit(c.default)).alias(c.name) for c in imputable])
    # Quarantined rows keep the values exactly as they came (bar stripping), as text, in line order.
    quarantined = checked["_bad"]
    for i, (_, mask) in enumerate(later):
        checked = checked.with_columns(mask.alias(f"_later{i}"))
        quarantined = quarantined | mask
    reasons = [*checks, *[(name, pl.col(f"_later{i}")) for i, (name, _) in enumerate(later)]]
    reason = pl.coalesce([pl.when(bad).then(pl.lit(name)) for name, bad in reasons]).alias("_reason")
    bad = checked.filter(quarantined).select(
        LINE, *[pl.col(_src(c)).cast(pl.String).alias(_src(c)) for c in contract.columns], reason
    )
    return Validated(good=good, bad=bad, imputed=imputed, examples=_examples(bad, contract))


def _examples(bad: pl.DataFrame, contract: Contract) -> dict[str, tuple[int, str | None]]:
    """The first quarantined row of each reason: its line and the value the reason is about."""
    if not bad.height:
        return {}
    out: dict[str, tuple[int, str | None]] = {}
    # One pass over the reasons (a group_by over every column cost 0.5 s on 300k quarantined rows).
    for row in bad.filter(pl.col("_reason").is_first_distinct()).iter_rows(named=True):
        reason = str(row["_reason"])
        names = [reason.split(":", 1)[1]] if ":" in reason else []
        if reason == "duplicate_key":
            names = list(contract.primary_key)
        elif reason == "invalid_email":
            names = [c.name for c in contract.columns if c.format == "email"][:1]
        values = [row.get(f"_src_{n}") for n in names]
        shown = None if not names else ", ".join("" if v is None else str(v) for v in values)
        out[reason] = (int(row[LINE]), shown)
    return out


def quarantine_columns(contract: Contract) -> list[pl.Expr]:
    """The quarantine file's contract columns (source text under the contract's names)."""
    return [pl.col(_src(c)).alias(c.name) for c in contract.columns]
