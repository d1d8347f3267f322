from pathlib import Path

import polars as pl
import pytest

from pipelines.lake import Lake
from pipelines.storage import atomic_path, write_parquet_atomic


def test_atomic_path_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "data.parquet"
    write_parquet_atomic(pl.DataFrame({"x": [1, 2]}), target)
    write_parquet_atomic(pl.DataFrame({"x": [3, 4, 5]}), target)
    assert pl.read_parquet(target)["x"].to_list() == [3, 4, 5]
    assert [p.name for p in target.parent.iterdir()] == ["data.parquet"]


def test_failed_write_leaves_previous_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "data.parquet"
    write_parquet_atomic(pl.DataFrame({"x": [1]}), target)
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half a parq")
        raise RuntimeError("crash mid-write")
    assert pl.read_parquet(target)["x"].to_list() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["data.parquet"]


def test_temp_file_is_invisible_to_parquet_globs(tmp_path: Path) -> None:
    target = tmp_path / "t" / "data.parquet"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        assert list(target.parent.glob("*.parquet")) == []
        assert not tmp.name.endswith(".parquet")


def test_layout_paths_stay_under_root(tmp_path: Path) -> None:
    lake = Lake(tmp_path).ensure()
    for path in (lake.landing_dir("orders"), lake.raw_file("orders", "f", ("order_month", "2025-01")),
                 lake.quarantine_file("orders", "f"), lake.ledger_file("orders", "abc"), lake.warehouse_path,
                 lake.serving_pointer):  # fmt: skip
        assert path.is_relative_to(tmp_path)
    assert lake.raw_file("orders", "f", ("order_month", "2025-01")).parent.name == "order_month=2025-01"
