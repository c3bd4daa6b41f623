"""``as_source`` / ``source_from_spec`` and the in-memory sources."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import treadle.data as td
from treadle.data.base import Source
from treadle.errors import InvalidArgument

ROWS = [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 3, "b": None}]


@pytest.mark.parametrize(
    "make",
    [
        lambda: pa.Table.from_pylist(ROWS),
        lambda: pa.Table.from_pylist(ROWS).to_batches()[0],
        lambda: pa.Table.from_pylist(ROWS).to_reader(),
        lambda: pd.DataFrame(ROWS),
        lambda: pd.DataFrame(ROWS, index=[7, 8, 9]),
        lambda: pl.DataFrame(ROWS),
        lambda: pl.DataFrame(ROWS).lazy(),
        lambda: {"a": [1, 2, 3], "b": ["x", "y", None]},
        lambda: ROWS,
        lambda: iter(ROWS),
        lambda: (r for r in ROWS),
        lambda: [pa.Table.from_pylist(ROWS[:2]), pa.Table.from_pylist(ROWS[2:])],
    ],
    ids=[
        "table",
        "batch",
        "reader",
        "pandas",
        "pandas-index",
        "polars",
        "lazy",
        "dict",
        "list",
        "iter",
        "gen",
        "tables",
    ],
)
def test_as_source_accepts_what_users_hold(make: object) -> None:
    src = td.as_source(make())  # type: ignore[operator]
    assert isinstance(src, Source)
    table = src.to_arrow()
    assert table.column_names == ["a", "b"]
    assert table.column("a").to_pylist() == [1, 2, 3]
    assert table.column("b").to_pylist() == ["x", "y", None]
    assert src.schema().names == ["a", "b"]
    json.dumps(src.spec())
    assert src.describe()


def test_as_source_paths_and_refusals(tmp_path: Path) -> None:
    td.write(pa.Table.from_pylist(ROWS), tmp_path / "t.parquet")
    for obj in (tmp_path / "t.parquet", str(tmp_path / "t.parquet"), f"file://{tmp_path}/t.parquet"):
        src = td.as_source(obj)
        assert isinstance(src, td.FileSource) and src.to_arrow().num_rows == 3
    src = td.FileSource(tmp_path / "t.parquet")
    assert td.as_source(src) is src
    with pytest.raises(InvalidArgument, match="is a database URL: use SqlSource"):
        td.as_source("postgresql+psycopg://u@h/db")
    with pytest.raises(InvalidArgument, match="cannot read data from a int"):
        td.as_source(42)
    with pytest.raises(InvalidArgument, match="equal-length lists"):
        td.as_source({"a": [1, 2], "b": [1]})


def test_source_from_spec_round_trips(tmp_path: Path) -> None:
    td.write(pa.Table.from_pylist(ROWS), tmp_path / "t.csv")
    src = td.FileSource(tmp_path / "t.csv", delimiter=",")
    spec = json.loads(json.dumps(src.spec()))
    assert spec == {"kind": "file", "uri": str(tmp_path / "t.csv"), "format": "csv", "options": {"delimiter": ","}}
    assert td.source_from_spec(spec).to_arrow().equals(src.to_arrow())
    sql = td.SqlSource(f"sqlite:///{tmp_path / 'x.db'}", "SELECT :n AS n", {"n": 5})
    assert td.source_from_spec(sql.spec()).to_arrow().column("n").to_pylist() == [5]
    redis_spec = td.RedisStreamSource("redis://:pw@127.0.0.1:6379/0", "s", "g", "c", id_column="id").spec()
    assert redis_spec == {
        "kind": "redis_stream",
        "url": "redis://:***@127.0.0.1:6379/0",
        "stream": "s",
        "group": "g",
        "consumer": "c",
        "id_column": "id",
    }
    back = td.source_from_spec(redis_spec)
    assert isinstance(back, td.RedisStreamSource) and back.position() == {"stream": "s", "group": "g", "consumer": "c"}


def test_source_from_spec_refusals() -> None:
    with pytest.raises(InvalidArgument, match="cannot be re-opened from its spec"):
        td.source_from_spec(td.as_source(pd.DataFrame(ROWS)).spec())
    with pytest.raises(InvalidArgument, match="unknown source kind 'kafka'"):
        td.source_from_spec({"kind": "kafka"})
    with pytest.raises(InvalidArgument, match="lacks 'query'"):
        td.source_from_spec({"kind": "sql", "url": "sqlite://"})
    with pytest.raises(InvalidArgument, match="a dict with a 'kind'"):
        td.source_from_spec({"uri": "x"})


def test_iterable_source_batches_and_one_shot() -> None:
    rows = ({"i": i} for i in range(10))
    src = td.IterableSource(rows)
    assert src.schema() == pa.schema([("i", pa.int64())])  # peeks, keeps what it read
    assert [b.num_rows for b in src.iter_batches(4)] == [4, 4, 2]
    with pytest.raises(InvalidArgument, match="already read"):
        list(src.iter_batches())
    again = td.IterableSource(lambda: ({"i": i} for i in range(3)))
    assert again.to_arrow().num_rows == 3 and again.to_arrow().num_rows == 3


def test_iterable_source_widens_inferred_types_and_respects_given_schema() -> None:
    rows = [{"v": None}] * 3 + [{"v": "late"}]
    src = td.IterableSource(rows)
    first, second = src.iter_batches(3)  # the first batch cannot know v's type yet
    assert (first.schema.field("v").type, second.schema.field("v").type) == (pa.null(), pa.string())
    assert src.schema().field("v").type == pa.string()
    assert src.to_arrow().column("v").to_pylist() == [None, None, None, "late"]
    typed = td.IterableSource([{"v": 1}, {"w": 2}], schema=pa.schema([("v", pa.float64()), ("w", pa.int32())]))
    assert typed.to_arrow().to_pylist() == [{"v": 1.0, "w": None}, {"v": None, "w": 2}]
    assert typed.schema().field("w").type == pa.int32()
    with pytest.raises(InvalidArgument, match="do not fit one schema"):
        td.IterableSource([{"v": "text"}], schema=pa.schema([("v", pa.int64())])).to_arrow()
    with pytest.raises(InvalidArgument, match="batch_size must be a positive integer"):
        list(td.IterableSource(rows).iter_batches(0))


def test_table_source() -> None:
    src = td.TableSource(pa.Table.from_pylist(ROWS), name="mine")
    assert src.num_rows() == 3
    assert [b.num_rows for b in src.iter_batches(2)] == [2, 1]
    assert src.spec() == {"kind": "table", "name": "mine", "num_rows": 3, "columns": ["a", "b"]}
    assert "mine" in repr(src)
