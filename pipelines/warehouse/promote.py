"""`shoplake promote`: load the lake's raw Parquet into Snowflake's RAW schema, then `dbt build` there.

Protocol per raw table (every table of `pipelines/catalog.py`: one per contract, plus the stream
tables), over the lake's COMMITTED files only (listed by the ingestion ledger or covered by the
stream checkpoint), so a crashed or running ingest's files are never promoted:
1. create `RAW.<table>` from its contract (or from the Parquet schema when it has none) if missing;
2. check every lake file's columns against the table: new columns are added as nullable columns
   (or, with `on_new_column="refuse"`, the table is refused) and a type conflict refuses the table,
   all before anything is loaded, so a table is never loaded half-way;
3. `PUT` each file not yet on the stage to `@RAW.SHOPLAKE_LAKE/<table>/<path in the lake>` (lake file
   names carry the source file's hash, so stage paths are unique and mirror the lake);
4. in ONE transaction: `COPY INTO ... FROM @STAGE/<table>/ MATCH_BY_COLUMN_NAME=CASE_INSENSITIVE` and
   record the files that were pending in the manifest table `RAW._SHOPLAKE_LOADED_FILES`.
Snowflake's load history skips a file that was loaded before, so a run killed anywhere (after PUT,
after COPY) resumes without duplicates; the manifest additionally survives the loss of the
stage or of load history (fakesnow restarts, Snowflake's 64-day load metadata window).

The results tables (`dq_results`, `sales_forecast`, `alert_log`; pipelines/results.py) are promoted
the same way into `RAW.<table>`: every file under `results/<table>/` (each is written whole and named
by its run id, so it is immutable and its stage path unique), the table created from the schema in
results.py even before the first run, so dbt's `results` source always resolves on Snowflake.

With the lake on an object store (`SHOPLAKE_LAKE_URI=s3://...`) nothing is uploaded from this
machine: an external stage `RAW.SHOPLAKE_LAKE_EXTERNAL` points at the bucket's `raw/` folder and
`RAW.SHOPLAKE_RESULTS_EXTERNAL` at its `results/` folder (through the storage integration
`SNOWFLAKE_STORAGE_INTEGRATION` on Snowflake), and step 3-4 become `COPY INTO ... FROM
@SHOPLAKE_LAKE_EXTERNAL FILES = (...)` naming exactly the committed files (at most 1,000 per
statement), with the same load history, manifest and transaction. See docs/object-storage.md.

When the manifest lists files of a batch table that the lake no longer commits (the table was
rebuilt by `shoplake ingest --reprocess`, or an old lake's uncommitted leftovers were promoted before
they were cleaned up), the table is rebuilt: its committed files are uploaded to a fresh stage folder,
and in ONE transaction RAW.<table> is emptied, loaded from that folder, and the manifest and the
table's stage folder (`RAW._SHOPLAKE_STAGE_FOLDERS`) are replaced. Snowflake readers see the old
rows or the new ones, as lake readers do.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from dataclasses import dataclass, field

import pyarrow as pa

from .. import catalog, locks, storage
from ..batch.contract import load_contracts
from ..console import number, render, table
from ..errors import ShopLakeError
from ..lake import Lake
from ..results import TABLES as RESULTS_TABLES
from ..results import empty_frame, result_files
from ..settings import Settings
from ..status import Status
from ..storage import LakePath
from .snowflake import RAW_SCHEMA, Target, connect, quote, resolve_target

STAGE = "SHOPLAKE_LAKE"  # internal stage in RAW, referenced unqualified after `use schema RAW`
MANIFEST = f"{RAW_SCHEMA}._SHOPLAKE_LOADED_FILES"
STAGE_FOLDERS = f"{RAW_SCHEMA}._SHOPLAKE_STAGE_FOLDERS"  # table -> its folder on the stage (after a rebuild)
EXTERNAL_STAGE = "SHOPLAKE_LAKE_EXTERNAL"  # external stage on the lake's bucket (lakes on an object store)
RESULTS_EXTERNAL_STAGE = "SHOPLAKE_RESULTS_EXTERNAL"  # the same for the bucket's results/ folder
COPY_FILES_MAX = 1000  # Snowflake's limit on FILES = (...) per COPY

CONTRACT_TYPES = {
    "bigint": "NUMBER(38,0)", "double": "FLOAT", "string": "VARCHAR", "date": "DATE",
    "timestamp": "TIMESTAMP_TZ", "boolean": "BOOLEAN",
}  # fmt: skip
# Rows that carry their source position (the clickstream writer's topic partition and offset) may be
# rewritten into new lake files by compaction (small files merged under a new name). Such tables load
# through a scratch table, and only rows whose position is not in RAW yet are inserted.
ROW_IDENTITY = ("source_log", "source_partition", "source_offset")
LINEAGE_COLUMNS = (("_source_line", "NUMBER(38,0)"), ("_source_file", "VARCHAR"), ("_ingested_at", "TIMESTAMP_NTZ"))
# Which Snowflake column types (information_schema.columns.data_type) accept a Parquet type family.
ACCEPTS = {
    "integer": {"NUMBER", "FLOAT", "DECIMAL", "INT", "BIGINT", "INTEGER", "DOUBLE", "REAL"},
    "decimal": {"NUMBER", "FLOAT", "DECIMAL", "DOUBLE", "REAL"},
    "float": {"FLOAT", "DOUBLE", "REAL"},
    "string": {"TEXT", "VARCHAR", "STRING"},
    "boolean": {"BOOLEAN"},
    "date": {"DATE"},
    "timestamp": {"TIMESTAMP_NTZ", "TIMESTAMP_TZ", "TIMESTAMP_LTZ", "TIMESTAMP"},
}


@dataclass(frozen=True)
class LakeFile:
    path: LakePath
    rel: str  # posix path under lake/raw/<table>/, also the path under @STAGE/<table>/
    rows: int
    schema: pa.Schema


class PromotionStatus(Status):
    OK = "ok"
    REFUSED = "refused"  # a schema problem found before loading: nothing of the table was loaded
    FAILED = "failed"  # an error while loading: rolled back, nothing loaded
    MISMATCH = "mismatch"  # loaded, but RAW's row count differs from the lake's

    @classmethod
    def failed(cls) -> frozenset[PromotionStatus]:
        return frozenset({cls.REFUSED, cls.FAILED, cls.MISMATCH})


@dataclass
class TablePromotion:
    table: str
    lake_files: int = 0
    lake_rows: int = 0
    uploaded: int = 0
    already_staged: int = 0
    loaded_files: int = 0
    loaded_rows: int = 0
    skipped_files: int = 0  # in the manifest or in Snowflake's load history already
    snowflake_rows: int | None = None
    created: bool = False
    added_columns: list[str] = field(default_factory=list)
    status: PromotionStatus = PromotionStatus.OK
    message: str | None = None


@dataclass
class PromotionReport:
    target: str
    tables: list[TablePromotion] = field(default_factory=list)
    dbt_summary: str | None = None
    dbt_success: bool | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not any(t.status.is_failed for t in self.tables) and self.dbt_success is not False

    def summary(self) -> str:
        """The rendered report (the Prefect `promote` flow logs this)."""
        return self.render()

    def render(self) -> str:
        rows = table(
            "table", "lake files", "uploaded", "loaded", "skipped", "rows loaded", "lake rows", "snowflake", "status",
            right=("lake files", "uploaded", "loaded", "skipped", "rows loaded", "lake rows", "snowflake"),
        )  # fmt: skip
        notes = []
        for t in self.tables:
            rows.add_row(
                t.table, number(t.lake_files), number(t.uploaded), number(t.loaded_files), number(t.skipped_files),
                number(t.loaded_rows), number(t.lake_rows), number(t.snowflake_rows), str(t.status),
            )  # fmt: skip
            if t.created:
                notes.append(f"{t.table}: created RAW.{t.table.upper()}")
            if t.added_columns:
                notes.append(f"{t.table}: added nullable column(s): {', '.join(t.added_columns)}")
            if t.message:
                notes.append(f"{t.table}: {t.message}")
        if not self.tables:
            notes.append("(no raw tables in the lake; run `shoplake ingest` first)")
        totals = (
            sum(t.loaded_files for t in self.tables), sum(t.loaded_rows for t in self.tables),
            sum(t.skipped_files for t in self.tables),
        )  # fmt: skip
        notes.append(
            f"total: {totals[0]:,} files / {totals[1]:,} rows loaded, {totals[2]:,} files skipped "
            f"(already loaded) in {self.seconds:.1f}s"
        )
        if self.dbt_summary:
            notes.append(self.dbt_summary)
        return render(f"promotion to {self.target}:", rows, *notes)


def _log(message: str, progress: bool) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


# -- lake side ---------------------------------------------------------------------------------


def lake_files(lake: Lake, table: str) -> list[LakeFile]:
    """The table's committed Parquet files with row counts and schemas from their footers (no data read;
    on an object store, a few ranged GETs per file, in parallel).

    A results table's files are all of its run files (each written whole, never rewritten).
    """
    if table in RESULTS_TABLES:
        base, paths = lake.results_dir(table), result_files(lake, table)
    else:
        base, paths = lake.raw_dir(table), catalog.committed_files(lake, table)

    def footer(path: LakePath) -> LakeFile:
        try:
            meta = storage.open_parquet(path).metadata
        except (pa.ArrowInvalid, OSError) as exc:
            raise ShopLakeError(f"lake file {path} is not readable Parquet ({exc})") from None
        rel = path.relative_to(base).as_posix()  # type: ignore[arg-type]
        return LakeFile(path=path, rel=rel, rows=meta.num_rows, schema=meta.schema.to_arrow_schema())

    return storage.read_many(paths, footer)


def _family(dtype: pa.DataType) -> str | None:
    if pa.types.is_integer(dtype):
        return "integer"
    if pa.types.is_decimal(dtype):
        return "decimal"
    if pa.types.is_floating(dtype):
        return "float"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_dictionary(dtype):
        return "string"
    if pa.types.is_boolean(dtype):
        return "boolean"
    if pa.types.is_date(dtype):
        return "date"
    if pa.types.is_timestamp(dtype):
        return "timestamp"
    return None


def snowflake_type(dtype: pa.DataType) -> str:
    """The Snowflake column type for a Parquet column (used for tables without a contract and new columns)."""
    family = _family(dtype)
    if family == "decimal":
        return f"NUMBER({dtype.precision},{dtype.scale})"
    if family == "timestamp":
        return "TIMESTAMP_TZ" if dtype.tz else "TIMESTAMP_NTZ"
    mapping = {"integer": "NUMBER(38,0)", "float": "FLOAT", "string": "VARCHAR", "boolean": "BOOLEAN",
               "date": "DATE"}  # fmt: skip
    if family not in mapping:
        raise ShopLakeError(f"Parquet type {dtype} has no Snowflake mapping in promotion")
    return mapping[family]


# -- Snowflake side ----------------------------------------------------------------------------


def _zone(table: str) -> str:
    """The lake folder a promoted table's files live in: `results/` for a results table, else `raw/`."""
    return "results" if table in RESULTS_TABLES else "raw"


def _external_stage(table: str) -> str:
    return RESULTS_EXTERNAL_STAGE if _zone(table) == "results" else EXTERNAL_STAGE


def external_stage_url(lake: Lake, zone: str = "raw") -> str:
    """The Snowflake URL of the lake's raw (or results) folder on its bucket (Snowflake spells GCS `gcs://`)."""
    uri = lake.uri or ""
    scheme, rest = uri.split("://", 1)
    if scheme == "s3":
        return f"s3://{rest}/{zone}/"
    if scheme == "gs":
        return f"gcs://{rest}/{zone}/"
    raise ShopLakeError(
        f"promotion from {scheme}:// lakes is not supported (Azure stages need the storage account's URL); "
        "see docs/object-storage.md"
    )


def ensure_external_stage(cur, lake: Lake, integration: str) -> None:
    """The external stages over the lake's raw and results folders (through `integration` on Snowflake;
    snowsim has none)."""
    through = f" storage_integration = {quote(integration)}" if integration else ""
    for stage, zone in ((EXTERNAL_STAGE, "raw"), (RESULTS_EXTERNAL_STAGE, "results")):
        url = external_stage_url(lake, zone).replace("'", "''")
        cur.execute(f"create stage if not exists {stage} url = '{url}'{through}")


def ensure_raw(cur) -> None:
    cur.execute(f"create schema if not exists {RAW_SCHEMA}")
    cur.execute(f"use schema {RAW_SCHEMA}")
    cur.execute(f"create stage if not exists {STAGE}")
    cur.execute(
        f"create table if not exists {MANIFEST} (table_name varchar, file_path varchar, status varchar, "
        "rows_loaded number(38,0), promoted_at timestamp_ntz)"
    )
    cur.execute(f"create table if not exists {STAGE_FOLDERS} (table_name varchar, folder varchar)")


def stage_folder(cur, table: str) -> str:
    """The table's folder on the stage: its own name, or the fresh folder of its last rebuild."""
    cur.execute(f"select folder from {STAGE_FOLDERS} where table_name = %s", (table,))
    row = cur.fetchone()
    return str(row[0]) if row else table


def table_columns(cur, table: str) -> dict[str, str]:
    """Column name (upper case) -> data_type of RAW.<table>; empty when the table does not exist."""
    cur.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = %s and table_name = %s order by ordinal_position",
        (RAW_SCHEMA, table.upper()),
    )
    return {str(name).upper(): str(dtype).upper() for name, dtype in cur.fetchall()}


def _create_table(cur, table: str, files: list[LakeFile]) -> None:
    contract = load_contracts().get(table)
    if contract is not None:
        columns = [(c.name, CONTRACT_TYPES[c.type]) for c in contract.columns] + list(LINEAGE_COLUMNS)
    elif table in RESULTS_TABLES:  # the one schema of pipelines/results.py, files or not
        columns = [(f.name, snowflake_type(f.type)) for f in empty_frame(table).to_arrow().schema]
    else:  # e.g. clickstream events: the Parquet schema is the contract
        seen: dict[str, str] = {}
        for f in files:
            for fld in f.schema:
                seen.setdefault(fld.name, snowflake_type(fld.type))
        columns = list(seen.items())
    body = ", ".join(f"{quote(name)} {sf_type}" for name, sf_type in columns)
    cur.execute(f"create table if not exists {RAW_SCHEMA}.{quote(table)} ({body})")


def plan_columns(table: str, existing: dict[str, str], files: list[LakeFile]) -> tuple[dict[str, str], list[str]]:
    """New columns to add (name -> type) and type conflicts, over every file of the table."""
    new: dict[str, str] = {}
    conflicts: list[str] = []
    for f in files:
        for fld in f.schema:
            name = fld.name.upper()
            if name.startswith("__"):  # pandas/polars index artefacts
                continue
            if name not in existing:
                new.setdefault(fld.name, snowflake_type(fld.type))
                continue
            family = _family(fld.type)
            base = existing[name].split("(")[0]
            if family is None or base not in ACCEPTS[family]:
                conflicts.append(f"{f.rel}: column {fld.name} is {fld.type} but RAW.{table.upper()} has {base}")
    return new, conflicts


def staged_files(cur, table: str) -> set[str]:
    """Paths under @STAGE/<table>/ (a table's stage folder) that are already uploaded."""
    # The whole stage, filtered here: fakesnow's LIST takes no path (Snowflake's does).
    cur.execute(f"list @{STAGE}")
    out = set()
    for row in cur.fetchall():
        parts = str(row[0]).split("/")
        # LIST names are "<stage>/<table>/<path>"; keep <path>.
        if len(parts) > 2 and parts[1] == table:
            out.add("/".join(parts[2:]))
    return out


def manifest_files(cur, table: str) -> set[str]:
    cur.execute(f"select file_path from {MANIFEST} where table_name = %s", (table,))
    return {str(r[0]) for r in cur.fetchall()}


def upload(cur, table: str, files: list[LakeFile], *, folder: str | None = None) -> int:
    """PUT each file to @STAGE/<folder>/<its lake folder>/ (folder: the table's name by default);
    existing stage files are not overwritten."""
    for f in files:
        sub = f.rel.rsplit("/", 1)[0] + "/" if "/" in f.rel else ""
        uri = f.path.resolve().as_uri().replace("'", "\\'")
        cur.execute(f"put '{uri}' @{STAGE}/{folder or table}/{sub} auto_compress=false overwrite=false parallel=4")
    return len(files)


def copy_external(
    cur, table: str, rels: list[str], *, into: str | None = None, force: bool = False
) -> dict[str, tuple[str, int]]:
    """COPY exactly the named files from the external stage on the lake's bucket; stage path -> (status, rows).

    FILES = (...) names the committed files (the ledger's, the checkpoint's), so the bucket's
    uncommitted or retired files are never loaded, and Snowflake's load history skips repeats.
    The file format is repeated in the statement (fakesnow ignores a stage's). Not a transaction on
    its own: `load_table` wraps it with the manifest insert.
    """
    results: dict[str, tuple[str, int]] = {}
    prefix = f"{table}/"
    for i in range(0, len(rels), COPY_FILES_MAX):
        names = ", ".join("'" + (prefix + rel).replace("'", "''") + "'" for rel in rels[i : i + COPY_FILES_MAX])
        cur.execute(
            f"copy into {into or f'{RAW_SCHEMA}.{quote(table)}'} from @{_external_stage(table)} files = ({names}) "
            "file_format = (type = parquet) match_by_column_name = case_insensitive on_error = abort_statement"
            + (" force = true" if force else "")
        )
        for row in cur.fetchall():
            if len(row) < 4:
                continue
            name, status, rows_loaded = str(row[0]), str(row[1]).upper(), int(row[3] or 0)
            marker = f"/{_zone(table)}/{prefix}"
            rel = name.split(marker, 1)[1] if marker in name else name.removeprefix(prefix)
            results[rel] = (status, rows_loaded)
    for rel in rels:  # Snowflake leaves files it loaded before out of the result (see copy_files)
        results.setdefault(rel, ("LOAD_SKIPPED", 0))
    return results


def copy_files(
    cur,
    table: str,
    rels: list[str],
    *,
    into: str | None = None,
    folder: str | None = None,
    force: bool = False,
    external: bool = False,
) -> dict[str, tuple[str, int]]:
    """COPY the table's stage folder into RAW.<table>; returns stage path -> (status, rows loaded).

    One statement for the whole folder: Snowflake's load history reports files it loaded before as
    LOAD_SKIPPED, so only new files load. (FILES=(...) would be narrower, but fakesnow rejects it
    for internal stages.) Not a transaction on its own: `load_table` wraps it with the manifest insert.
    """
    if external:
        return copy_external(cur, table, rels, into=into, force=force)
    folder = folder or table
    cur.execute(
        f"copy into {into or f'{RAW_SCHEMA}.{quote(table)}'} from @{STAGE}/{folder}/ "
        "file_format = (type = parquet) match_by_column_name = case_insensitive on_error = abort_statement"
        + (" force = true" if force else "")
    )
    prefix = f"/{folder}/"
    results: dict[str, tuple[str, int]] = {}
    for row in cur.fetchall():
        if len(row) < 4:  # the single "Copy executed with 0 files processed." row
            continue
        name, status, rows_loaded = str(row[0]), str(row[1]).upper(), int(row[3] or 0)
        rel = name.split(prefix, 1)[1] if prefix in name else name
        results[rel] = (status, rows_loaded)
    # Snowflake leaves files it loaded before out of COPY's result (fakesnow lists them as
    # LOAD_SKIPPED); either way they are already in the table. The row-count check after the load
    # catches a file that was neither loaded now nor before.
    for rel in rels:
        results.setdefault(rel, ("LOAD_SKIPPED", 0))
    return results


def row_identity(files: list[LakeFile]) -> tuple[str, ...] | None:
    """ROW_IDENTITY when every file of the table carries it (stream tables), else None (batch files
    are immutable and named by content hash, so file-level idempotency is enough)."""
    if files and all(set(ROW_IDENTITY) <= set(f.schema.names) for f in files):
        return ROW_IDENTITY
    return None


def scratch_table(table: str) -> str:
    return f"{RAW_SCHEMA}.{quote('_LOAD_' + table.upper())}"


def ensure_scratch(cur, table: str) -> None:
    """The keyed load's scratch table, shaped like RAW.<table>. It is kept between runs (emptied with
    DELETE, never TRUNCATE or replace) because Snowflake's load history belongs to the table."""
    raw = f"{RAW_SCHEMA}.{quote(table)}"
    cur.execute(f"create transient table if not exists {scratch_table(table)} like {raw}")
    scratch_cols = table_columns(cur, "_LOAD_" + table.upper())
    if set(scratch_cols) != set(table_columns(cur, table)):  # RAW gained a column: reshape (loses history once)
        cur.execute(f"drop table {scratch_table(table)}")
        cur.execute(f"create transient table {scratch_table(table)} like {raw}")


def load_table(
    cur,
    table: str,
    rels: list[str],
    *,
    key: tuple[str, ...] | None = None,
    folder: str | None = None,
    external: bool = False,
) -> tuple[dict[str, tuple[str, int]], int | None]:
    """COPY and record in the manifest atomically: one transaction per table.

    With `key`, files are COPYed into the scratch table and only rows whose key is not in RAW yet are
    inserted; returns the per-file COPY results and the number of rows inserted (None without `key`).
    """
    raw = f"{RAW_SCHEMA}.{quote(table)}"
    cur.execute("begin")
    try:
        inserted = None
        if key is None:
            results = copy_files(cur, table, rels, folder=folder, external=external)
        else:
            scratch = scratch_table(table)
            cur.execute(f"delete from {scratch}")
            results = copy_files(cur, table, rels, into=scratch, folder=folder, external=external)
            columns = ", ".join(quote(c) for c in table_columns(cur, table))
            partition = ", ".join(quote(k) for k in key)
            match = " and ".join(f"r.{quote(k)} = l.{quote(k)}" for k in key)
            before = count_rows(cur, table)
            cur.execute(
                f"insert into {raw} ({columns}) select {columns} from ("
                f"select *, row_number() over (partition by {partition} order by {partition}) as shoplake_rn "
                f"from {scratch}) as l where l.shoplake_rn = 1 "
                f"and not exists (select 1 from {raw} as r where {match})"
            )
            inserted = count_rows(cur, table) - before
            cur.execute(f"delete from {scratch}")
        failed = {r: s for r, (s, _) in results.items() if s not in ("LOADED", "LOAD_SKIPPED")}
        if failed:
            raise ShopLakeError(f"COPY INTO RAW.{table.upper()} did not load {len(failed)} file(s): {failed}")
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        cur.executemany(
            f"insert into {MANIFEST} (table_name, file_path, status, rows_loaded, promoted_at) "
            "values (%s, %s, %s, %s, %s)",
            [(table, rel, *results[rel], now) for rel in rels],
        )
        cur.execute("commit")
    except BaseException:
        cur.execute("rollback")
        raise
    return results, inserted


def rebuild_table(cur, table: str, files: list[LakeFile], *, external: bool = False) -> int:
    """Replace RAW.<table> with exactly the lake's committed files, in one transaction; returns rows loaded.

    The files go to a fresh stage folder first (the old folder still holds files the lake dropped,
    and COPY reads a whole folder), so the load sees exactly the committed set. From an external
    stage, COPY names the committed files and no upload is needed.
    """
    folder = f"{table}~{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S%f}"
    if not external:
        upload(cur, table, files, folder=folder)
    cur.execute("begin")
    try:
        cur.execute(f"delete from {RAW_SCHEMA}.{quote(table)}")
        cur.execute(f"delete from {MANIFEST} where table_name = %s", (table,))
        results = copy_files(cur, table, [f.rel for f in files], folder=folder, force=True, external=external)
        failed = {r: st for r, (st, _) in results.items() if st != "LOADED"}
        if failed:
            raise ShopLakeError(f"rebuilding RAW.{table.upper()}: COPY did not load {len(failed)} file(s): {failed}")
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        cur.executemany(
            f"insert into {MANIFEST} (table_name, file_path, status, rows_loaded, promoted_at) "
            "values (%s, %s, %s, %s, %s)",
            [(table, f.rel, *results[f.rel], now) for f in files],
        )
        if not external:
            cur.execute(f"delete from {STAGE_FOLDERS} where table_name = %s", (table,))
            cur.execute(f"insert into {STAGE_FOLDERS} (table_name, folder) values (%s, %s)", (table, folder))
        cur.execute("commit")
    except BaseException:
        cur.execute("rollback")
        raise
    return sum(rows for _, rows in results.values())


def count_rows(cur, table: str) -> int:
    cur.execute(f"select count(*) from {RAW_SCHEMA}.{quote(table)}")
    return int(cur.fetchone()[0])


# -- the promotion -----------------------------------------------------------------------------


def promote_table(cur, lake: Lake, table: str, *, on_new_column: str = "add", progress: bool = True) -> TablePromotion:
    """Promote one raw table; see the module docstring for the protocol (PUT from a local lake, the
    external stage for a lake on an object store)."""
    external = lake.is_remote
    result = TablePromotion(table=table)
    files = lake_files(lake, table)
    result.lake_files, result.lake_rows = len(files), sum(f.rows for f in files)
    if not files and table not in RESULTS_TABLES:  # a results table exists (empty) before its first run
        result.message = "no Parquet files in the lake"
        return result
    existing = table_columns(cur, table)
    if not existing:
        _create_table(cur, table, files)
        existing = table_columns(cur, table)
        result.created = True
    new, conflicts = plan_columns(table, existing, files)
    if conflicts:
        result.status = PromotionStatus.REFUSED
        result.message = f"refused, nothing loaded: {conflicts[0]}" + (
            f" (+{len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        )
        _log(f"{table}: {result.message}", progress)
        return result
    if new and on_new_column == "refuse":
        result.status = PromotionStatus.REFUSED
        result.message = (
            f"refused, nothing loaded: lake files have column(s) {', '.join(new)} not in RAW.{table.upper()} "
            "(run without --refuse-new-columns to add them as nullable columns, or add them in Snowflake)"
        )
        _log(f"{table}: {result.message}", progress)
        return result
    for name, sf_type in new.items():
        cur.execute(f"alter table {RAW_SCHEMA}.{quote(table)} add column {quote(name)} {sf_type}")
        result.added_columns.append(f"{name} {sf_type}")

    done = manifest_files(cur, table)
    key = row_identity(files)
    dropped = done - {f.rel for f in files}
    if dropped and key is None:  # batch files are never rewritten: the lake replaced this table's set
        result.loaded_rows = rebuild_table(cur, table, files, external=external)
        result.uploaded = 0 if external else len(files)
        result.loaded_files = len(files)
        result.message = (
            f"rebuilt RAW.{table.upper()}: {len(dropped)} promoted file(s) are no longer in the lake "
            "(the table was reprocessed); loaded its committed files again"
        )
        _log(f"{table}: {result.message}", progress)
        pending = []
    else:
        pending = [f for f in files if f.rel not in done]
        result.skipped_files = len(files) - len(pending)
    folder = None if external else stage_folder(cur, table)
    _log(f"{table}: {len(files)} lake file(s), {len(pending)} not yet promoted", progress)
    if pending:
        staged = {f.rel for f in pending} if external else staged_files(cur, folder or table)
        to_upload = [f for f in pending if f.rel not in staged]
        result.already_staged = len(pending) - len(to_upload)
        started = time.monotonic()
        vanished = [f for f in to_upload if not storage.exists(f.path)]  # e.g. compacted since we listed
        if vanished:
            pending = [f for f in pending if f not in vanished]
            to_upload = [f for f in to_upload if f not in vanished]
            result.message = f"{len(vanished)} file(s) disappeared from the lake during promotion; run it again"
        for i, f in enumerate(to_upload, 1):
            upload(cur, table, [f], folder=folder)
            if progress and (i == len(to_upload) or i % 25 == 0):
                _log(f"{table}: uploaded {i}/{len(to_upload)} ({time.monotonic() - started:.1f}s)", progress)
        result.uploaded = len(to_upload)
        rels = [f.rel for f in pending]
        if key is not None:
            ensure_scratch(cur, table)
        results, inserted = load_table(cur, table, rels, key=key, folder=folder, external=external)
        for status, rows in (results[r] for r in rels):
            if status == "LOADED":
                result.loaded_files += 1
                result.loaded_rows += rows
            else:
                result.skipped_files += 1
        if inserted is not None and inserted != result.loaded_rows:
            result.message = (
                f"{result.loaded_rows - inserted:,} row(s) of rewritten (compacted) files were in RAW already; "
                f"inserted {inserted:,}"
            )
            result.loaded_rows = inserted
        _log(f"{table}: loaded {result.loaded_files} file(s), {result.loaded_rows:,} rows", progress)
    result.snowflake_rows = count_rows(cur, table)
    if result.snowflake_rows != result.lake_rows:
        result.status = PromotionStatus.MISMATCH
        result.message = (
            f"RAW.{table.upper()} holds {result.snowflake_rows:,} rows but the lake holds {result.lake_rows:,}"
        )
    return result


def load_tables(
    settings: Settings,
    target: str = "prod",
    *,
    tables: list[str] | None = None,
    on_new_column: str = "add",
    progress: bool = True,
) -> PromotionReport:
    """Steps 1-5 of the protocol for every raw and results table (no dbt build, no lock: callers hold
    the promotion lock). `promote` and the follower's cycles (`follow.py`) both load through this."""
    from snowflake.connector import errors as sf_errors

    started = time.monotonic()
    lake = Lake.of(settings)
    resolved: Target = resolve_target(settings, target)
    report = PromotionReport(target=target)
    names = [t for t in [*catalog.tables(lake), *RESULTS_TABLES] if not tables or t in tables]
    integration = settings.snowflake_storage_integration
    if lake.is_remote and target == "prod" and not integration:
        raise ShopLakeError(
            "the lake is on an object store: set SNOWFLAKE_STORAGE_INTEGRATION to the storage integration of "
            "its bucket (docs/object-storage.md)"
        )
    con = connect(resolved)
    try:
        cur = con.cursor()
        ensure_raw(cur)
        if lake.is_remote:
            ensure_external_stage(cur, lake, integration if target == "prod" else "")
        from .snowpipe import pipe_fed_tables

        piped = pipe_fed_tables(cur)  # a pipe's load history is its own: never load its table here too
        for table in names:
            if table in piped:
                report.tables.append(TablePromotion(table=table, message="loaded by its Snowpipe; left alone"))
                continue
            try:
                outcome = promote_table(cur, lake, table, on_new_column=on_new_column, progress=progress)
            except (sf_errors.Error, ShopLakeError) as exc:
                # load_table rolled back: nothing of this table was loaded; the other tables go on.
                first_line = (str(getattr(exc, "msg", "") or exc).strip().splitlines() or ["?"])[0]
                outcome = TablePromotion(
                    table=table, status=PromotionStatus.FAILED, message=f"failed, nothing loaded: {first_line}"
                )
                _log(f"{table}: {outcome.message}", progress)
            report.tables.append(outcome)
    finally:
        con.close()
    report.seconds = time.monotonic() - started
    return report


def promote(
    settings: Settings,
    target: str = "prod",
    *,
    tables: list[str] | None = None,
    on_new_column: str = "add",
    build: bool = True,
    progress: bool = True,
) -> PromotionReport:
    """`shoplake promote`: every raw table and results table of the lake into Snowflake, then `dbt build` there.

    Holds the target's promotion lock for the load and the build, so a nightly promote and a
    follower (`shoplake promote --follow`) take turns instead of loading or building at once.
    """
    with locks.hold(Lake.of(settings), locks.promotion(target), command="shoplake promote"):
        report = load_tables(settings, target, tables=tables, on_new_column=on_new_column, progress=progress)
        if build and report.tables and not any(t.status.is_failed for t in report.tables):
            from .dbt import run_dbt_build

            dbt_result = run_dbt_build(settings, target=target, progress=progress, publish=False)
            report.dbt_success, report.dbt_summary = dbt_result.success, dbt_result.summary()
        elif build and report.tables:
            report.dbt_summary = "dbt build skipped: fix the tables above first (the marts were left as they were)"
    return report
