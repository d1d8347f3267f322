"""pipelines/storage.py on a real S3-compatible server and on local disk: the primitives the commit
protocols rely on (whole files, conditional create, conditional replace, listing, deletes)."""

from __future__ import annotations

import threading
from pathlib import Path

import polars as pl
import pytest

from pipelines import storage
from pipelines.lake import Lake
from pipelines.storage import ConcurrentWrite, ObjectPath

from .conftest import new_uri


@pytest.fixture(params=["s3", "local"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> storage.LakePath:
    if request.param == "local":
        return tmp_path / "zone"
    request.getfixturevalue("s3_env")
    return ObjectPath(new_uri())


def test_object_path_is_a_pure_path() -> None:
    root = ObjectPath("s3://bucket/prefix/")
    path = root / "raw" / "orders" / "order_month=2025-01" / "x-1.parquet"
    assert str(path) == "s3://bucket/prefix/raw/orders/order_month=2025-01/x-1.parquet"
    assert (path.name, path.stem, path.suffix) == ("x-1.parquet", "x-1", ".parquet")
    assert path.parent.name == "order_month=2025-01"
    assert path.relative_to(root).as_posix() == "raw/orders/order_month=2025-01/x-1.parquet"
    assert path.is_relative_to(root / "raw") and not path.is_relative_to(root / "ra")
    assert Lake(Path("/tmp/x"), "s3://bucket/prefix").rel(path) == "raw/orders/order_month=2025-01/x-1.parquet"
    assert path.with_name("y.parquet") == root / "raw/orders/order_month=2025-01/y.parquet"


def test_whole_files_list_read_and_delete(root: storage.LakePath) -> None:
    frame = pl.DataFrame({"a": [1, 2, 3]})
    storage.write_parquet_atomic(frame, root / "t" / "p=1" / "a.parquet")
    storage.write_text_atomic(root / "t" / "b.json", '{"x": 1}')
    assert storage.read_json(root / "t" / "b.json") == {"x": 1}
    assert storage.read_json(root / "t" / "missing.json") is None
    assert storage.read_parquet(root / "t" / "p=1" / "a.parquet").equals(frame)
    assert [f.path.name for f in storage.list_files(root / "t")] == ["b.json"]
    assert sorted(f.path.name for f in storage.list_files(root / "t", recursive=True)) == ["a.parquet", "b.json"]
    assert [d.name for d in storage.list_dirs(root / "t")] == ["p=1"]
    assert storage.is_dir(root / "t") and not storage.is_dir(root / "nothing")
    meta = storage.open_parquet(root / "t" / "p=1" / "a.parquet").metadata
    assert meta.num_rows == 3
    storage.delete_tree(root / "t")
    assert storage.list_files(root / "t", recursive=True) == []
    assert not storage.exists(root / "t" / "b.json")


def test_landing_readers_read_a_file_wherever_it_is(root: storage.LakePath) -> None:
    """What the export readers and `shoplake infer` use: a stream from the start, a head, a local path."""
    import gzip

    data = b"CATEGORY_ID,CATEGORY_NAME\n" + b"".join(b"%d,name %d\n" % (i, i) for i in range(50_000))
    storage.write_bytes_atomic(root / "landing" / "c.csv", data)
    storage.write_bytes_atomic(root / "landing" / "c.csv.gz", gzip.compress(data))
    assert storage.read_file(root / "landing" / "c.csv") == data
    assert storage.read_file(root / "landing" / "c.csv", 100) == data[:100]
    with storage.open_file(root / "landing" / "c.csv") as fh:
        assert fh.read(5) == data[:5] and fh.read(5) == data[5:10]
    with storage.open_file(root / "landing" / "c.csv.gz") as fh, gzip.GzipFile(fileobj=fh) as gz:
        assert gz.read() == data
    with storage.local_file(root / "landing" / "c.csv") as local:
        assert isinstance(local, Path) and local.read_bytes() == data
        downloaded = local
    assert downloaded.exists() == (not storage.is_remote(root))  # a download is removed after the block
    (info,) = [f for f in storage.list_files(root / "landing") if f.path.name == "c.csv"]
    assert info.size == len(data) and info.mtime_ns > 0 and info.mtime == info.mtime_ns / 1e9
    with pytest.raises(FileNotFoundError):
        storage.read_file(root / "landing" / "missing.csv", 10)


def test_conditional_create_has_exactly_one_winner(root: storage.LakePath) -> None:
    path = root / "ledger" / "orders" / "abc.json"
    wins: list[int] = []

    def writer(i: int) -> None:
        if storage.create_json(path, {"writer": i}):
            wins.append(i)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert storage.read_json(path) == {"writer": wins[0]}  # never overwritten by a loser
    assert not storage.create_json(path, {"writer": 99})
    assert storage.read_json(path) == {"writer": wins[0]}


def test_replace_refuses_a_version_someone_else_replaced(root: storage.LakePath) -> None:
    path = root / "ledger" / "_stream" / "t" / "topic.json"
    first = storage.replace_json(path, {"n": 1}, version=None)
    with pytest.raises(ConcurrentWrite):  # "create" when it already exists
        storage.replace_json(path, {"n": 2}, version=None)
    second = storage.replace_json(path, {"n": 2}, version=first)
    with pytest.raises(ConcurrentWrite):  # a writer still holding the first version
        storage.replace_json(path, {"n": 3}, version=first)
    payload, version = storage.read_json_versioned(path)
    assert payload == {"n": 2} and version == second


def test_spooled_files_appear_whole_only_when_published(root: storage.LakePath, tmp_path: Path) -> None:
    final = root / "raw" / "events" / "f.parquet"
    tmp = storage.spool_path(final, tmp_path / "spool")
    pl.DataFrame({"a": [1]}).write_parquet(tmp)
    assert not storage.exists(final)
    assert [f for f in storage.list_files(root / "raw" / "events") if not f.path.name.startswith(".")] == []
    storage.publish_spool(tmp, final)
    assert storage.read_parquet(final)["a"].to_list() == [1]
    assert not tmp.exists()


def test_duckdb_reads_the_store_through_the_registered_filesystem(root: storage.LakePath) -> None:
    files = []
    for i in range(4):
        path = root / "raw" / "t" / f"d={i}" / "x.parquet"
        storage.write_parquet_atomic(pl.DataFrame({"v": list(range(i * 100_000, (i + 1) * 100_000))}), path)
        files.append(str(path))
    with storage.connect_duckdb(str(root) if isinstance(root, ObjectPath) else None) as con:
        for _ in range(5):  # DuckDB reads with several threads: positional reads never mix offsets
            total, count, parts = con.execute(
                "select sum(v), count(*), count(distinct d) from read_parquet(?, hive_partitioning = true)", [files]
            ).fetchone()
            assert (total, count, parts) == (sum(range(400_000)), 400_000, 4)


@pytest.mark.parametrize("remote", [True, False], ids=["s3", "local"])
def test_a_committed_ledger_record_is_never_overwritten(remote: bool, tmp_path: Path, request) -> None:
    """Two ingests committing the same source file (two machines, whose local locks cannot see each
    other): the first record stays, the second commit fails loudly."""
    from pipelines.batch.ledger import LedgerRecord, read_ledger_record, write_ledger_record
    from pipelines.errors import ShopLakeError

    if remote:
        request.getfixturevalue("s3_env")
    lake = Lake(tmp_path / "lake", new_uri() if remote else None).ensure()

    def record(attempt: str) -> LedgerRecord:
        return LedgerRecord(
            table="orders", source_file="orders.csv", sha256="ab" * 32, size_bytes=10, rows_in=1, rows_landed=1,
            rows_quarantined=0, ingested_at="2026-01-01T00:00:00Z", duration_s=0.1,
            outputs=[f"raw/orders/orders-abababababab-{attempt}.parquet"], attempt=attempt,
        )  # fmt: skip

    write_ledger_record(lake, record("first"))
    with pytest.raises(ShopLakeError, match="committed by another ingest"):
        write_ledger_record(lake, record("second"))
    kept = read_ledger_record(lake, "orders", "ab" * 32)
    assert kept is not None and kept.attempt == "first"
