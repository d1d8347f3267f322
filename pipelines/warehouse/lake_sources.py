"""dbt-duckdb plugin: `raw.<table>` views over the lake's committed files, made when dbt connects.

profiles.yml's `dev` target lists this module under `plugins:`. When dbt opens its DuckDB
connection, `configure_connection` (re)creates one view per raw table from `pipelines/catalog.py`,
so dbt's sources (`schema: raw`, no `external_location`) read exactly what the lake has committed:

- a batch table: `read_parquet([...the files its ledger records list...])`, fixed when dbt
  connects, so a whole build reads one set of source files; a crashed or running ingest's files
  are not in the list;
- a stream table: likewise, the files its checkpoints committed when dbt connected. Compaction
  retires merged-away files in a later checkpoint but deletes them only after a grace period
  (`stream.checkpoint.RETIRED_GRACE_S`), so they do not vanish from under a build;
- a table with no committed file yet: an empty view with the table's columns and types;
- a results table (`dq_results`, `sales_forecast`, `alert_log`; pipelines/results.py): every file of
  `results/<table>/`, since each is written whole under its run id; its columns from the one schema
  in results.py (empty and typed before the first run).

With the data zones on an object store (`SHOPLAKE_LAKE_URI`), the lists hold `s3://...` URIs and the
plugin registers the store with DuckDB as a Python (fsspec) filesystem: DuckDB 2.0's httpfs cannot be
installed offline, and this filesystem reads with positional ranged GETs that are safe across
DuckDB's threads (`pipelines/storage.py`; costs in docs/object-storage.md).

On Snowflake the same source names resolve to the RAW tables that `shoplake promote` loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from .. import results, storage
from ..batch.contract import Contract, load_contracts
from ..catalog import committed_files, table_schema, tables
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


def _read_parquet(source: str, partitions: dict[str, pl.DataType]) -> str:
    options = [f"hive_partitioning = {'true' if partitions else 'false'}", "union_by_name = true"]
    if partitions:
        options.append(f"hive_types = {_hive_types(partitions)}")
    return f"read_parquet({source}, {', '.join(options)})"


def view_sql(lake: Lake, table: str, contracts: dict[str, Contract] | None = None) -> str:
    """The SELECT behind `raw.<table>`: the committed rows, or no rows with the table's columns."""
    contracts = load_contracts() if contracts is None else contracts
    schema = table_schema(table, contracts)
    files = committed_files(lake, table, contracts=contracts)
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
    """Registered in profiles.yml (`plugins: [{module: pipelines.warehouse.lake_sources,
    config: {lake_dir, lake_uri}}]`)."""

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        lake_dir = plugin_config.get("lake_dir")
        if not lake_dir:
            raise ValueError("pipelines.warehouse.lake_sources needs `lake_dir` in its plugin config")
        uri = str(plugin_config.get("lake_uri") or "").strip().rstrip("/") or None
        self.lake = Lake(Path(lake_dir).expanduser().resolve(), uri)

    def configure_connection(self, conn: Any) -> None:
        storage.register_duckdb(conn, self.lake.uri)
        create_views(conn, self.lake)
