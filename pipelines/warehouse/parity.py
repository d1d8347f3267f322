"""`shoplake parity`: every mart of the DuckDB build must equal the Snowflake build of the same lake.

Marts are the models under `transforms/models/marts/` (found by file, so new marts are compared
without code changes). For each one both sides are fetched, normalised (lower-case column names;
every number rounded to `precision` decimal places, so 12.50 NUMBER(18,2) equals 12.5 DOUBLE;
timestamps as naive UTC) and compared as multisets of rows: equal row counts and equal content in
any order. A difference names the mart and shows sample rows that only one side has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from ..console import number, render, table
from ..errors import ShopLakeError
from ..lake import Lake
from ..settings import Settings
from ..status import Status
from .dbt import PROJECT_DIR
from .snowflake import connect, quote, resolve_target

NULL = "\x00null"
NULL_FLAG = "SHOPLAKE_IS_NULL__"
SAMPLE_ROWS = 5
# Marts that cannot be compared on fakesnow, with the documented reason (docs/snowflake.md). They are
# still listed in every report as GAP, never dropped silently. Empty: every mart builds on both.
KNOWN_GAPS: dict[str, str] = {}


class ParityStatus(Status):
    EQUAL = "equal"
    DIFFERENT = "different"
    MISSING = "missing"  # not built on one side
    GAP = "gap"  # a documented fakesnow gap (KNOWN_GAPS): listed, not compared

    @classmethod
    def failed(cls) -> frozenset[ParityStatus]:
        return frozenset({cls.DIFFERENT, cls.MISSING})


@dataclass
class MartComparison:
    model: str
    duckdb_rows: int | None = None
    snowflake_rows: int | None = None
    status: ParityStatus = ParityStatus.EQUAL
    details: list[str] = field(default_factory=list)


@dataclass
class ParityReport:
    target: str
    precision: int
    marts: list[MartComparison] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.marts) and not self.differences

    @property
    def differences(self) -> list[MartComparison]:
        return [m for m in self.marts if m.status.is_failed]

    def render(self) -> str:
        rows = table(
            "mart", "duckdb rows", "snowflake rows", "result", right=("duckdb rows", "snowflake rows")
        )  # fmt: skip
        notes = []
        for m in self.marts:
            rows.add_row(m.model, number(m.duckdb_rows), number(m.snowflake_rows), m.status.upper())
            notes.extend(f"{m.model}: {line}" for line in m.details)
        if not self.marts:
            notes.append("(no marts found under transforms/models/marts)")
        n = len(self.differences)
        notes.append("parity: OK" if self.ok else f"parity: {n} mart(s) differ")
        heading = (
            f"parity: DuckDB build vs Snowflake build ({self.target}); numbers rounded to {self.precision} "
            "decimal places, rows compared in any order"
        )
        return render(heading, rows, *notes)


def mart_models() -> list[str]:
    """Every model under models/marts (by file name, as dbt names them)."""
    return sorted(p.stem for p in (PROJECT_DIR / "models" / "marts").rglob("*.sql"))


def normalise(df: pl.DataFrame, precision: int) -> pl.DataFrame:
    """Comparable form: lower-case names, numbers rounded to `precision`, timestamps naive UTC."""
    df = df.rename({c: c.lower() for c in df.columns})
    exprs = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if dtype.is_numeric():
            # + 0.0 turns -0.0 into 0.0 so both sides print the same
            col = col.cast(pl.Float64).round(precision) + 0.0
        elif isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            col = col.dt.cast_time_unit("us")
        exprs.append(col.alias(name))
    return df.select(exprs).select(sorted(df.columns))


def _row_keys(df: pl.DataFrame) -> pl.Series:
    return df.select(
        pl.concat_str([pl.col(c).cast(pl.String).fill_null(NULL) for c in df.columns], separator="\x1f").alias("_k")
    )["_k"]


def compare_frames(model: str, duck: pl.DataFrame, snow: pl.DataFrame, precision: int) -> MartComparison:
    """Multiset comparison of two builds of one mart."""
    result = MartComparison(model=model, duckdb_rows=duck.height, snowflake_rows=snow.height)
    duck, snow = normalise(duck, precision), normalise(snow, precision)
    if duck.columns != snow.columns:
        only_d = sorted(set(duck.columns) - set(snow.columns))
        only_s = sorted(set(snow.columns) - set(duck.columns))
        result.status = ParityStatus.DIFFERENT
        result.details.append(f"columns differ: only in DuckDB {only_d}, only in Snowflake {only_s}")
        return result
    duck = duck.with_columns(_row_keys(duck))
    snow = snow.with_columns(_row_keys(snow))
    counts = (
        duck.group_by("_k").len("n_duck").join(snow.group_by("_k").len("n_snow"), on="_k", how="full", coalesce=True)
    ).fill_null(0)
    diff = counts.filter(pl.col("n_duck") != pl.col("n_snow"))
    if result.duckdb_rows != result.snowflake_rows:
        result.status = ParityStatus.DIFFERENT
        result.details.append(f"row counts differ: DuckDB {result.duckdb_rows:,}, Snowflake {result.snowflake_rows:,}")
    if diff.height:
        result.status = ParityStatus.DIFFERENT
        only_d = diff.filter(pl.col("n_duck") > pl.col("n_snow"))
        only_s = diff.filter(pl.col("n_snow") > pl.col("n_duck"))
        result.details.append(
            f"{only_d.height:,} distinct row(s) more often in DuckDB, {only_s.height:,} more often in Snowflake"
        )
        for label, side, keys in (("DuckDB only   ", duck, only_d), ("Snowflake only", snow, only_s)):
            sample = side.filter(pl.col("_k").is_in(keys["_k"].head(SAMPLE_ROWS).implode())).unique("_k")
            for row in sample.drop("_k").head(SAMPLE_ROWS).iter_rows(named=True):
                result.details.append(f"{label}: {row}")
    return result


def _snowflake_reader(settings: Settings, target: str) -> tuple[Callable[[str], pl.DataFrame | None], Callable]:
    resolved = resolve_target(settings, target)
    con = connect(resolved)
    from snowflake.connector import errors as sf_errors
    from snowflake.connector.constants import FIELD_ID_TO_NAME

    def read(model: str) -> pl.DataFrame | None:
        relation = f"{quote(resolved.database)}.{quote(resolved.schema)}.{quote(model)}"
        cur = con.cursor()
        try:
            cur.execute(f"select * from {relation} limit 0")
        except sf_errors.ProgrammingError:
            return None
        # fakesnow's server sends NULL timestamps as 1970-01-01 (docs/snowflake.md, fakesnow gaps), so
        # fetch an is-null flag beside each timestamp column and restore the NULLs from it.
        stamps = [d.name for d in cur.description if FIELD_ID_TO_NAME[d.type_code].startswith("TIMESTAMP")]
        flags = "".join(f", ({_q(c)} is null) as {_q(NULL_FLAG + c)}" for c in stamps)
        cur.execute(f"select *{flags} from {relation}")
        df = pl.from_arrow(cur.fetch_arrow_all(force_return_table=True))
        if stamps:
            df = df.with_columns(
                pl.when(pl.col(NULL_FLAG + c)).then(None).otherwise(pl.col(c)).alias(c) for c in stamps
            ).drop([NULL_FLAG + c for c in stamps])
        return df

    return read, con.close


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def compare_marts(settings: Settings, target: str = "prod", *, precision: int = 6) -> ParityReport:
    """Compare every mart of the published DuckDB snapshot with the same mart on `target`."""
    import duckdb

    from .serving import open_snapshot

    report = ParityReport(target=target, precision=precision)
    read_snowflake, close = _snowflake_reader(settings, target)
    try:
        with open_snapshot(Lake.of(settings)) as duck_con:
            for model in mart_models():
                if model in KNOWN_GAPS:
                    gap = MartComparison(model=model, status=ParityStatus.GAP, details=[KNOWN_GAPS[model]])
                    report.marts.append(gap)
                    continue
                try:
                    duck = pl.from_arrow(duck_con.sql(f'select * from "{model}"').to_arrow_table())
                except duckdb.CatalogException:
                    duck = None
                snow = read_snowflake(model)
                if duck is None or snow is None:
                    where = " and ".join(side for side, df in (("DuckDB", duck), ("Snowflake", snow)) if df is None)
                    report.marts.append(
                        MartComparison(
                            model=model, duckdb_rows=None if duck is None else duck.height,
                            snowflake_rows=None if snow is None else snow.height, status=ParityStatus.MISSING,
                            details=[f"not built in {where}; run `shoplake transform` / `shoplake promote`"],
                        )
                    )  # fmt: skip
                    continue
                report.marts.append(compare_frames(model, duck, snow, precision))
    finally:
        close()
    if not report.marts:
        raise ShopLakeError("no marts found under transforms/models/marts")
    return report
