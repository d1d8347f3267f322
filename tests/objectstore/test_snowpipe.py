"""The Snowpipe alternative to `promote --follow` (issue 17): the generated pipe and bucket notification.

fakesnow has no pipes, no SHOW PIPES and no notifications, so what runs here is: the SQL parses
(sqlglot's Snowflake dialect: the COPY as a COPY statement; CREATE PIPE only as a generic command,
sqlglot has no grammar for it), and the pipe's own COPY INTO runs on snowsim against the external
stage on a real S3-compatible server (moto), loading exactly the lake's committed events, once,
also when run twice. fakesnow rejects COPY's PATTERN and loads nothing from a stage path without
FILES, so the test makes Snowflake's file choice itself (the bucket's objects under the path whose
stage path matches the PATTERN regex: flush files in, compaction's `.c<gen>` file out) and runs the
pipe's COPY with those FILES. Not run: CREATE PIPE itself, AUTO_INGEST, prefix listing and PATTERN
inside Snowflake, the SQS queue and the bucket notification (checked for shape only).
"""

from __future__ import annotations

import json
import re

import pytest
import sqlglot
from sqlglot import exp

from pipelines import cli, storage
from pipelines.catalog import committed_files, read_committed
from pipelines.errors import ShopLakeError
from pipelines.lake import CLICKSTREAM_TABLE, Lake
from pipelines.settings import Settings
from pipelines.warehouse import snowsim
from pipelines.warehouse.promote import EXTERNAL_STAGE, _create_table, ensure_external_stage, ensure_raw, lake_files
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


def test_cli_refuses_snowpipe_ddl_for_a_local_lake_in_one_line(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SHOPLAKE_LAKE_DIR", str(tmp_path / "lake"))
    monkeypatch.delenv("SHOPLAKE_LAKE_URI", raising=False)
    assert cli.main(["promote", "--snowpipe-ddl"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert "Snowpipe auto-ingest needs the lake on S3" in captured.err and "--follow" in captured.err


def test_the_pipes_copy_loads_the_flush_files_from_the_bucket_on_snowsim(s3_settings: Settings) -> None:
    lake = Lake.of(s3_settings)
    _seed_clickstream(lake)
    flushed = committed_files(lake, CLICKSTREAM_TABLE)
    # A compaction's merged file in the bucket next to the small ones (the same rows): the pipe must skip it.
    merged = flushed[0].parent / (flushed[0].name.removesuffix(".parquet") + ".c1.parquet")
    storage.write_bytes_atomic(merged, storage.read_bytes(flushed[0]))
    (pipe,) = pipe_definitions(s3_settings)
    # fakesnow rejects PATTERN (gap 10) and loads nothing from an external stage path without FILES
    # (gap 11), so the file choice Snowflake makes (every object under the path whose stage path
    # matches the PATTERN regex) is made here, over the bucket's real listing, and passed as FILES.
    copy, pattern = pipe.copy_sql.split(" pattern = ")
    regex = re.compile(pattern.strip("'"))
    base = lake.raw_dir(CLICKSTREAM_TABLE)
    in_bucket = [f"{CLICKSTREAM_TABLE}/{info.path.relative_to(base).as_posix()}"
                 for info in storage.list_files(base, recursive=True)]  # fmt: skip
    chosen = [p for p in in_bucket if regex.fullmatch(p)]
    assert len(in_bucket) == len(flushed) + 1 and len(chosen) == len(flushed)  # the merged file left out
    names = ", ".join(f"'{p}'" for p in chosen)
    stage_path = f"@RAW.{EXTERNAL_STAGE}/{CLICKSTREAM_TABLE}/"
    assert stage_path in copy
    runnable = copy.replace(stage_path, f"@RAW.{EXTERNAL_STAGE} files = ({names})")
    snowsim.start(s3_settings)
    try:
        con = connect(resolve_target(s3_settings, "snowsim"))
        try:
            cur = con.cursor()
            ensure_raw(cur)
            ensure_external_stage(cur, lake, "")
            _create_table(cur, CLICKSTREAM_TABLE, lake_files(lake, CLICKSTREAM_TABLE))
            assert pipe_fed_tables(cur) == set()  # fakesnow has no SHOW PIPES: promotion is not blocked
            cur.execute(runnable)
            cur.execute(f"select event_id from RAW.{CLICKSTREAM_TABLE.upper()}")
            loaded = [str(r[0]) for r in cur.fetchall()]
            cur.execute(runnable)  # the same files again: COPY's load history skips them
            cur.execute(f"select count(*) from RAW.{CLICKSTREAM_TABLE.upper()}")
            again = cur.fetchone()[0]
        finally:
            con.close()
    finally:
        snowsim.stop(s3_settings)
    in_lake = read_committed(lake, CLICKSTREAM_TABLE, columns=["event_id"]).get_column("event_id").to_list()
    assert sorted(loaded) == sorted(in_lake) and len(set(loaded)) == len(loaded) > 0
    assert again == len(loaded)
