"""The Snowpipe alternative to `promote --follow` (issue 17): the generated pipe and bucket notification.

fakesnow has no pipes, no SHOW PIPES and no notifications, so what runs here is: the SQL parses
(sqlglot's Snowflake dialect: the COPY as a COPY statement; CREATE PIPE only as a generic command,
sqlglot has no grammar for it), and the pipe's own COPY INTO runs on snowsim against the external
stage on a real S3-compatible server (moto), loading exactly the lake's committed events, once,
also when run twice; fakesnow rejects COPY's PATTERN, so the COPY runs without it and the pattern
is checked as a regex over the stage paths (flush files in, compaction's `.c<gen>` files out).
Not run: CREATE PIPE itself, AUTO_INGEST, PATTERN inside Snowflake, the SQS queue and the bucket
notification (checked for shape only).
"""

from __future__ import annotations

import json
import re

import pytest
import sqlglot
from sqlglot import exp

from pipelines import cli
from pipelines.catalog import committed_files, read_committed
from pipelines.errors import ShopLakeError
from pipelines.lake import CLICKSTREAM_TABLE, Lake
from pipelines.settings import Settings
from pipelines.warehouse import snowsim
from pipelines.warehouse.promote import _create_table, ensure_external_stage, ensure_raw, lake_files
from pipelines.warehouse.snowflake import connect, resolve_target
from pipelines.warehouse.snowpipe import bucket_notification, pipe_definitions, pipe_fed_tables, render

from ..conftest import _seed_clickstream


def test_generated_pipe_and_notification_are_well_formed(tmp_path) -> None:
    settings = Settings.from_env({"SHOPLAKE_LAKE_DIR": str(tmp_path / "lake"), "SHOPLAKE_LAKE_URI": "s3://shop/lake/v1",
                                  "SNOWFLAKE_STORAGE_INTEGRATION": "SHOP_S3"})  # fmt: skip
    (pipe,) = pipe_definitions(settings, [CLICKSTREAM_TABLE])
    assert pipe.table == CLICKSTREAM_TABLE and pipe.name == "RAW.SHOPLAKE_PIPE_CLICKSTREAM_EVENTS"
    copy = sqlglot.parse_one(pipe.copy_sql, read="snowflake")
    assert isinstance(copy, exp.Copy) and copy.this.sql("snowflake") == f"RAW.{CLICKSTREAM_TABLE}"
    created = sqlglot.parse_one(pipe.create_sql, read="snowflake")  # no CREATE PIPE grammar: a command
    assert isinstance(created, exp.Command) and pipe.create_sql.endswith(f"auto_ingest = true as {pipe.copy_sql}")
    notification = bucket_notification(settings, "arn:aws:sqs:eu-west-1:123:sf-snowpipe-x")
    (queue,) = notification["QueueConfigurations"]
    assert queue["QueueArn"] == "arn:aws:sqs:eu-west-1:123:sf-snowpipe-x" and queue["Events"] == ["s3:ObjectCreated:*"]
    rules = {r["Name"]: r["Value"] for r in queue["Filter"]["Key"]["FilterRules"]}
    assert rules == {"prefix": "lake/v1/raw/", "suffix": ".parquet"}
    text = render(settings, [CLICKSTREAM_TABLE], sqs_arn="arn:aws:sqs:eu-west-1:123:sf-snowpipe-x")
    assert "storage_integration = SHOP_S3" in text and "url = 's3://shop/lake/v1/raw/'" in text
    assert "--bucket shop " in text and f"{pipe.create_sql};" in text
    assert "\n".join(f"-- {line}" for line in json.dumps(notification, indent=2).splitlines()) in text
    with pytest.raises(ShopLakeError, match="needs the lake on S3"):
        pipe_definitions(Settings.from_env({"SHOPLAKE_LAKE_DIR": str(tmp_path / "lake")}), [CLICKSTREAM_TABLE])


def test_cli_prints_the_snowpipe_ddl(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(tmp_path / "lake"))
    monkeypatch.setenv("SHOPLAKE_LAKE_URI", "s3://shop/lake")
    assert cli.main(["promote", "--snowpipe-ddl", "--table", CLICKSTREAM_TABLE]) == 0
    out = capsys.readouterr().out
    assert "create pipe if not exists RAW.SHOPLAKE_PIPE_CLICKSTREAM_EVENTS auto_ingest = true as copy into" in out
    assert "<notification_channel of SHOW PIPES>" in out  # no --sqs-arn: a placeholder to fill in


def test_the_pipes_copy_loads_the_flush_files_from_the_bucket_on_snowsim(s3_settings: Settings) -> None:
    lake = Lake.of(s3_settings)
    _seed_clickstream(lake)
    files = committed_files(lake, CLICKSTREAM_TABLE)
    (pipe,) = pipe_definitions(s3_settings)
    # fakesnow rejects PATTERN in COPY ("Unknown copy parameter: pattern", gap 10): run the pipe's COPY
    # without it, and check the pattern as Snowflake applies it (a regex over the whole stage path).
    copy, pattern = pipe.copy_sql.split(" pattern = ")
    regex = re.compile(pattern.strip("'"))
    stage_paths = [f"{CLICKSTREAM_TABLE}/{f.parent.name}/{f.name}" for f in files]
    assert stage_paths and all(regex.fullmatch(p) for p in stage_paths)
    merged = stage_paths[0].removesuffix(".parquet") + ".c1.parquet"  # a compaction's merged file: left out
    assert not regex.fullmatch(merged)
    snowsim.start(s3_settings)
    try:
        con = connect(resolve_target(s3_settings, "snowsim"))
        try:
            cur = con.cursor()
            ensure_raw(cur)
            ensure_external_stage(cur, lake, "")
            _create_table(cur, CLICKSTREAM_TABLE, lake_files(lake, CLICKSTREAM_TABLE))
            assert pipe_fed_tables(cur) == set()  # fakesnow has no SHOW PIPES: promotion is not blocked
            cur.execute(copy)
            cur.execute(f"select event_id from RAW.{CLICKSTREAM_TABLE.upper()}")
            loaded = [str(r[0]) for r in cur.fetchall()]
            cur.execute(copy)  # the same files again: COPY's load history skips them
            cur.execute(f"select count(*) from RAW.{CLICKSTREAM_TABLE.upper()}")
            again = cur.fetchone()[0]
        finally:
            con.close()
    finally:
        snowsim.stop(s3_settings)
    in_lake = read_committed(lake, CLICKSTREAM_TABLE, columns=["event_id"]).get_column("event_id").to_list()
    assert sorted(loaded) == sorted(in_lake) and len(set(loaded)) == len(loaded) > 0
    assert again == len(loaded)
