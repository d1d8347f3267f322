"""dbt-duckdb plugin: `raw.<table>` views over the lake's committed files, made when dbt connects.

profiles.yml's `dev` target lists this module under `plugins:`. When dbt opens its DuckDB
connection, `configure_connection` (re)creates one view per raw table from `pipelines/catalog.py`,
so dbt's sources (`schema: raw`, no `external_location`) read exactly what the lake has committed:

- a batch table: `read_parquet([...the files its ledger records list...])`, fixed when dbt
  connects, so a whole build reads one set of source files; a crashed or running ingest's files
  are not in the list;
- a stream table: the table's folder, filtered by file name to the offsets its checkpoint covered
  when dbt connected. DuckDB applies a filter on `filename` to the file list before opening any
  file, and compaction (which merges committed files under a name starting at the same offset)
  cannot make a file vanish from under a long build;
- a table with no committed file yet: an empty view with the table's columns and types;
- a results table (`dq_results`, `sales_forecast`, `alert_log`; pipelines/results.py): every file of
  `results/<table>/`, since each is written whole under its run id; its columns from the one schema
  in results.py (empty and typed before the first run).

On Snowflake the same source names resolve to the RAW tables that `shoplake promote` loads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl

from .. import results
from ..batch.contract import Contract, load_contracts
from ..catalog import committed_files, stream_checkpoints, table_schema, tables
from ..lake import Lake

SCHEMA = "raw"

_DUCKDB_TYPES: dict[type[pl.DataType], str] = {
    pl.Int64: "BIGINT", pl.Int32: "INTEGER", pl.Int16: "SMALLINT", pl.Int8: "TINYINT", pl.Float64: "DOUBLE",
    pl.Float32: "FLOAT", pl.String: "VARCHAR", pl.Boolean: "BOOLEAN", pl.Date: "DATE", pl.Binary: "BLOB",
}  # fmt: skip


def duckdb_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMP WITH TIME ZONE" if dtype.time_zone else "TIMESTAMP"
    return _DUCKDB_TYPES[type(dtype)]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _hive_types(partitions: dict[str, pl.DataType]) -> str:
    return "{" + ", ".join(f"{_literal(k)}: {_literal(duckdb_type(v))}" for k, v in partitions.items()) + "}"


def _read_parquet(source: str, partitions: dict[str, pl.DataType], *, filename: bool = False) -> str:
    options = [f"hive_partitioning = {'true' if partitions else 'false'}", "union_by_name = true"]
    if partitions:
        options.append(f"hive_types = {_hive_types(partitions)}")
    if filename:
        options.append("filename = true")
    return f"read_parquet({source}, {', '.join(options)})"


def _stream_filter(checkpoints: dict[str, dict[int, int]]) -> str:
    """A predicate on `filename`: the file's first offset is below its topic partition's checkpoint."""
    first = r"cast(regexp_extract(filename, '__(\d+)-\d+\.parquet$', 1) as bigint)"
    terms = []
    for topic, offsets in sorted(checkpoints.items()):
        for partition, next_offset in sorted(offsets.items()):
            name = _literal("(^|/)" + re.escape(topic) + f"__p0*{partition}" + r"__\d+-\d+\.parquet$")
            terms.append(f"(regexp_matches(filename, {name}) and {first} < {next_offset})")
    return " or ".join(terms) or "false"


def view_sql(lake: Lake, table: str, contracts: dict[str, Contract] | None = None) -> str:
    """The SELECT behind `raw.<table>`: the committed rows, or no rows with the table's columns."""
    contracts = load_contracts() if contracts is None else contracts
    schema = table_schema(table, contracts)
    files = committed_files(lake, table, contracts=contracts)
    if files and schema.kind == "stream":
        predicate = _stream_filter(stream_checkpoints(lake, table))
        glob = _literal(str(lake.raw_dir(table) / "*" / "*.parquet"))
        source = _read_parquet(glob, schema.partitions, filename=True)
        return f"select * exclude (filename) from {source} where {predicate}"
    if files:
        listed = "[" + ", ".join(_literal(str(f)) for f in files) + "]"
        return f"select * from {_read_parquet(listed, schema.partitions)}"
    columns = ", ".join(f"cast(null as {duckdb_type(t)}) as {_ident(c)}" for c, t in schema.all_columns.items())
    return f"select {columns} where false"


def results_view_sql(lake: Lake, table: str) -> str:
    """The SELECT behind `raw.<results table>`: the rows of all its run files, in the schema of results.py."""
    schema = results.SCHEMAS[table]
    files = results.result_files(lake, table)
    if not files:
        columns = ", ".join(f"cast(null as {duckdb_type(t)}) as {_ident(c)}" for c, t in schema.items())
        return f"select {columns} where false"
    listed = "[" + ", ".join(_literal(str(f)) for f in files) + "]"
    columns = ", ".join(f"cast({_ident(c)} as {duckdb_type(t)}) as {_ident(c)}" for c, t in schema.items())
    return f"select {columns} from {_read_parquet(listed, {})}"


def create_views(conn: Any, lake: Lake, contracts: dict[str, Contract] | None = None) -> list[str]:
    """Create or replace `raw.<table>` for every raw table and every results table; returns the names."""
    contracts = load_contracts() if contracts is None else contracts
    names = tables(lake, contracts)
    clash = sorted(set(names) & set(results.TABLES))
    if clash:
        raise ValueError(f"raw table(s) {clash} would hide the results table(s) of the same name in `{SCHEMA}`")
    conn.execute(f"create schema if not exists {SCHEMA}")
    for table in names:
        conn.execute(f"create or replace view {SCHEMA}.{_ident(table)} as {view_sql(lake, table, contracts)}")
    for table in results.TABLES:
        conn.execute(f"create or replace view {SCHEMA}.{_ident(table)} as {results_view_sql(lake, table)}")
    return [*names, *results.TABLES]


try:  # the plugin class needs dbt-duckdb; the functions above do not
    from dbt.adapters.duckdb.plugins import BasePlugin
except ImportError:  # pragma: no cover - dbt-duckdb is a dependency; this keeps the module importable
    BasePlugin = object  # type: ignore[assignment,misc]


class Plugin(BasePlugin):  # type: ignore[misc,valid-type]
    """Registered in profiles.yml (`plugins: [{module: pipelines.warehouse.lake_sources, config: {lake_dir}}]`)."""

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        lake_dir = plugin_config.get("lake_dir")
        if not lake_dir:
            raise ValueError("pipelines.warehouse.lake_sources needs `lake_dir` in its plugin config")
        self.lake = Lake(Path(lake_dir).expanduser().resolve())

    def configure_connection(self, conn: Any) -> None:
        create_views(conn, self.lake)
