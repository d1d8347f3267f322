"""`shoplake promote --snowpipe-ddl`: the Snowpipe alternative to `promote --follow` for a lake on S3.

With the lake on a bucket (`SHOPLAKE_LAKE_URI=s3://...`), Snowflake can load new stream files
itself: S3 sends an event per new object to the SQS queue Snowflake gives every auto-ingest pipe
(`SHOW PIPES` -> `notification_channel`), and the pipe runs its COPY for that file. This module
generates the pipe per stream table and the bucket notification; it runs nothing.

Why stream tables only, and why a pipe must never share a table with promotion:
- A pipe loads every object the bucket announces, committed or not. The stream writer puts a
  commit's files in place before its checkpoint, so a writer killed in between leaves files the
  restart deletes and rewrites from the same offsets: the pipe loads both copies (the rows repeat
  with the same `event_id`, which `stg_clickstream__events` already keeps once). Compaction's merged
  files (`.c<gen>.parquet`) hold rows the pipe loaded from the small files: the pipe's PATTERN
  leaves them out. Batch files are committed by a ledger record written after the data and tables
  can be rebuilt (`ingest --reprocess`), which a pipe cannot follow: batch and results tables stay
  with `shoplake promote` (nightly or `--follow`).
- A pipe's load history is its own (14 days), separate from the table's COPY load history and
  from promotion's manifest `RAW._SHOPLAKE_LOADED_FILES`: a pipe would load again every file
  promotion loaded, and promotion's row-count check would count the pipe's rows. So promotion
  skips a table that has a ShopLake pipe (`pipe_fed_tables`), and the switch-over is: note the time,
  promote the table once (creates `RAW.<table>`, loads the history), create the pipe, then
  `ALTER PIPE ... REFRESH MODIFIED_AFTER = <the time>` for files committed in between (an overlap
  repeats event ids, which the staging model keeps once).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .. import catalog
from ..errors import ShopLakeError
from ..lake import Lake
from ..settings import Settings
from .promote import EXTERNAL_STAGE, external_stage_url
from .snowflake import RAW_SCHEMA, quote

PIPE_PREFIX = "SHOPLAKE_PIPE_"
# Files a flush commits: <topic>__p<NNN>__<first>-<last>.parquet; compaction's `.c<gen>.parquet` excluded.
FLUSH_FILE_PATTERN = r".*__p[0-9]+__[0-9]+-[0-9]+[.]parquet"
SQS_ARN_PLACEHOLDER = "<notification_channel of SHOW PIPES>"


@dataclass(frozen=True)
class PipeDefinition:
    table: str
    name: str  # RAW.SHOPLAKE_PIPE_<TABLE>
    copy_sql: str  # the pipe's COPY INTO (runnable on its own; tests run it on snowsim)
    create_sql: str


def pipe_name(table: str) -> str:
    return f"{RAW_SCHEMA}.{PIPE_PREFIX}{table.upper()}"


def copy_statement(table: str) -> str:
    """The COPY a pipe runs for one stream table: promotion's file format and column matching, from the
    table's folder on the external stage, flush files only."""
    return (
        f"copy into {RAW_SCHEMA}.{quote(table)} from @{RAW_SCHEMA}.{EXTERNAL_STAGE}/{table}/ "
        f"file_format = (type = parquet) match_by_column_name = case_insensitive "
        f"pattern = '{FLUSH_FILE_PATTERN}'"
    )


def pipe_definitions(settings: Settings, tables: list[str] | None = None) -> list[PipeDefinition]:
    """One auto-ingest pipe per stream table of the lake, or per table of `tables`."""
    lake = Lake.of(settings)
    if not lake.is_remote or not (lake.uri or "").startswith("s3://"):
        raise ShopLakeError(
            "Snowpipe auto-ingest needs the lake on S3 (SHOPLAKE_LAKE_URI=s3://bucket/prefix); "
            "for a local lake use `shoplake promote --follow`"
        )
    out = []
    for table in tables or catalog.stream_tables(lake):  # named tables need no listing of the bucket
        copy = copy_statement(table)
        create = f"create pipe if not exists {pipe_name(table)} auto_ingest = true as {copy}"
        out.append(PipeDefinition(table=table, name=pipe_name(table), copy_sql=copy, create_sql=create))
    return out


def setup_script(settings: Settings, tables: list[str] | None = None) -> str:
    """The whole SQL to run once as the loading role: the external stage (as promotion makes it) and the pipes."""
    lake = Lake.of(settings)
    integration = settings.snowflake_storage_integration or "<SNOWFLAKE_STORAGE_INTEGRATION>"
    pipes = pipe_definitions(settings, tables)
    lines = [
        "-- ShopLake: Snowpipe auto-ingest for the lake's stream tables (docs/snowflake.md, 'Snowpipe').",
        "-- 1. Note the time T, then `shoplake promote --table <table> --no-build` once: it creates RAW.<table>"
        " and loads the history.",
        f"create schema if not exists {RAW_SCHEMA};",
        f"create stage if not exists {RAW_SCHEMA}.{EXTERNAL_STAGE} url = '{external_stage_url(lake, 'raw')}' "
        f"storage_integration = {integration};",
    ]
    for p in pipes:
        lines.append(f"{p.create_sql};")
    lines += [
        "-- 2. The queue to send the bucket's events to (the same for every pipe of the account and bucket):",
        f"show pipes like '{PIPE_PREFIX}%' in schema {RAW_SCHEMA};  -- column notification_channel",
        "-- 3. Files committed between T and the pipe (repeated event ids are kept once by the staging model):",
        *(f"-- alter pipe {p.name} refresh modified_after = '<T, ISO 8601>';" for p in pipes),
        "-- From now on `shoplake promote` (and --follow) leave pipe-fed tables alone.",
    ]
    return "\n".join(lines)


def bucket_notification(settings: Settings, sqs_arn: str = SQS_ARN_PLACEHOLDER) -> dict[str, Any]:
    """`aws s3api put-bucket-notification-configuration --bucket B --notification-configuration file://this.json`:
    object-created events under the lake's raw/ folder to the pipes' SQS queue."""
    lake = Lake.of(settings)
    rest = (lake.uri or "").split("://", 1)[1]
    prefix = rest.split("/", 1)[1] if "/" in rest else ""
    return {
        "QueueConfigurations": [
            {
                "Id": "shoplake-snowpipe-raw",
                "QueueArn": sqs_arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {
                    "Key": {
                        "FilterRules": [
                            {"Name": "prefix", "Value": f"{prefix.strip('/')}/raw/".lstrip("/")},
                            {"Name": "suffix", "Value": ".parquet"},
                        ]
                    }
                },
            }
        ]
    }


def bucket_name(settings: Settings) -> str:
    return (settings.lake_uri.split("://", 1)[1] if "://" in settings.lake_uri else "").split("/", 1)[0]


def render(settings: Settings, tables: list[str] | None = None, sqs_arn: str | None = None) -> str:
    """What `shoplake promote --snowpipe-ddl` prints: the SQL, then the notification JSON and its command."""
    script = setup_script(settings, tables)  # first: a lake that is not on S3 is refused here, in one line
    notification = json.dumps(bucket_notification(settings, sqs_arn or SQS_ARN_PLACEHOLDER), indent=2)
    return (
        script
        + "\n\n-- 4. The bucket notification (replaces the bucket's notification configuration: merge by hand if it"
        " has one):\n-- aws s3api put-bucket-notification-configuration "
        f"--bucket {bucket_name(settings)} --notification-configuration file://notification.json\n"
        + "\n".join(f"-- {line}" for line in notification.splitlines())
    )


def pipe_fed_tables(cur) -> set[str]:
    """Tables a ShopLake pipe loads (`SHOW PIPES`); promotion leaves them alone. Empty where pipes do not
    exist (fakesnow has no SHOW PIPES)."""
    from snowflake.connector import errors as sf_errors

    try:
        cur.execute(f"show pipes like '{PIPE_PREFIX}%' in schema {RAW_SCHEMA}")
        rows, names = cur.fetchall(), [d[0].lower() for d in cur.description or []]
    except sf_errors.Error:
        return set()
    if "name" not in names:
        return set()
    at = names.index("name")
    return {str(r[at]).upper().removeprefix(PIPE_PREFIX).lower() for r in rows}
