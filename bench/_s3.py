"""A local S3-compatible server for the benchmarks' `--local-s3` option (moto's server mode on loopback).

`local_s3()` starts it on a free 127.0.0.1 port, points the standard AWS environment of this process
(and so of the children it starts) at it, creates a bucket and yields a fresh `s3://` lake URI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

BUCKET = "shoplake-bench"


def _ready(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def local_s3() -> Iterator[str]:
    from pipelines.services import free_port

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below, after the server stops
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint}  # fmt: skip
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        deadline = time.monotonic() + 60
        while not _ready(endpoint):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the local S3 server (moto) did not start")
            time.sleep(0.1)
        import boto3

        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        yield f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def new_lake_uri(base: str) -> str:
    """Another lake on the same bucket as `base`."""
    return f"{base.rsplit('/', 1)[0]}/{uuid.uuid4().hex[:12]}"
