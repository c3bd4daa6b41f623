"""``executor="ray"``: the same transform on a local Ray cluster gives what the local run gives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

import treadle.data as td

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]  # Ray Data's own


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'treadle[ray]'")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@td.transform
def scaled(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(y=df["x"] * 3 + 1, label=df["name"].str.upper())


def _data(n: int) -> pa.Table:
    return pa.table({"id": list(range(n)), "x": [i * 0.5 for i in range(n)], "name": [f"n{i % 5}" for i in range(n)]})


def test_ray_matches_local_for_parquet_files_and_in_memory_data(ray_cluster: Any, tmp_path: Path) -> None:
    data = _data(2_000)
    td.write(data.slice(0, 1200), tmp_path / "in" / "a.parquet")
    td.write(data.slice(1200), tmp_path / "in" / "b.parquet")
    expected = scaled.run_batch(data)
    assert expected is not None

    from_files = scaled.run_batch(td.FileSource(tmp_path / "in"), executor="ray", chunk_size=500)
    assert from_files is not None and from_files.sort_by("id").equals(expected.sort_by("id"))

    from_memory = scaled.run_batch(data.to_pandas(), executor="ray", chunk_size=700)
    assert from_memory is not None
    assert from_memory.to_pylist() == expected.to_pylist()  # order kept

    sink = td.ParquetSink(tmp_path / "out")
    assert scaled.run_batch(td.IterableSource(data.to_pylist()), sink, executor="ray", chunk_size=400) is None
    written = td.read(tmp_path / "out")
    assert sorted(written.column("id").to_pylist()) == list(range(2_000))
    assert written.sort_by("id").column("y").to_pylist() == expected.column("y").to_pylist()
