"""``@transform``: one function, three ways to run it, and no skew between batch and online."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import treadle.data as td
from treadle.errors import InvalidArgument


@td.transform
def feats_pandas(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": df["id"],
            "ratio": df["amount"] / (df["count"] + 1),
            "log_amount": np.log1p(df["amount"].clip(lower=0)),
            "name_len": df["name"].str.len(),
            "big": df["amount"] > 50,
        }
    )


@td.transform(name="feats_polars")
def feats_polars(df: pl.DataFrame) -> pl.DataFrame:
    return df.select(
        pl.col("id"),
        (pl.col("amount") / (pl.col("count") + 1)).alias("ratio"),
        pl.col("amount").clip(lower_bound=0).log1p().alias("log_amount"),
        pl.col("name").str.len_chars().alias("name_len"),
        (pl.col("amount") > 50).alias("big"),
    )


@td.transform
def feats_arrow(t: pa.Table) -> pa.Table:
    amount = t.column("amount")
    return pa.table(
        {
            "id": t.column("id"),
            "ratio": pc.divide(amount, pc.add(pc.cast(t.column("count"), pa.float64()), 1.0)),
            "log_amount": pc.ln(pc.add(pc.max_element_wise(amount, 0.0), 1.0)),
            "name_len": pc.utf8_length(t.column("name")),
            "big": pc.greater(amount, 50.0),
        }
    )


@td.transform
def feats_batch(b: pa.RecordBatch) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([b.column(0), pc.multiply(b.column(1), 2.0)], names=["id", "twice"])


def _data(n: int = 500, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    amount = rng.normal(40, 30, n).round(3)
    names = [f"name-{'x' * int(k)}" for k in rng.integers(0, 12, n)]
    return pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "amount": pa.array([None if i % 17 == 0 else float(a) for i, a in enumerate(amount)], pa.float64()),
            "count": pa.array(rng.integers(0, 9, n), pa.int64()),
            "name": pa.array([None if i % 23 == 0 else s for i, s in enumerate(names)], pa.string()),
        }
    )


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def _rows_equal(batch_rows: list[dict[str, Any]], online_rows: list[dict[str, Any]]) -> None:
    assert len(batch_rows) == len(online_rows)
    for b, o in zip(batch_rows, online_rows, strict=True):
        assert b.keys() == o.keys()
        for k in b:
            assert _close(b[k], o[k]), (k, b, o)


@pytest.mark.parametrize("fn", [feats_pandas, feats_polars, feats_arrow], ids=["pandas", "polars", "arrow"])
def test_batch_and_online_agree(fn: td.Transform) -> None:
    data = _data()
    t = td.Transform(fn.fn, name=fn.name)  # fresh: input schema not learned yet
    assert t.input_schema is None
    batch = t.run_batch(data, chunk_size=64)
    assert batch is not None and batch.num_rows == data.num_rows
    assert t.input_schema == data.schema  # learned on the first batch run
    online = [t.online(row) for row in data.to_pylist()]
    _rows_equal(batch.to_pylist(), online)
    _rows_equal(batch.to_pylist(), t.online_many(data.to_pylist()))
    assert online[0]["ratio"] is None  # amount null → null, the same online as in batch
    assert online[1]["log_amount"] == pytest.approx(math.log1p(max(data.column("amount")[1].as_py(), 0)))


def test_the_three_formats_compute_the_same_features() -> None:
    data = _data(200, seed=3)
    outs = [f.run_batch(data, chunk_size=50) for f in (feats_pandas, feats_polars, feats_arrow)]
    for out in outs[1:]:
        assert out is not None and outs[0] is not None
        for name in ("id", "name_len"):  # (pandas says NaN > 50 is False where Arrow/Polars say null)
            assert out.column(name).to_pylist() == outs[0].column(name).to_pylist(), name
        for x, y in zip(out.column("ratio").to_pylist(), outs[0].column("ratio").to_pylist(), strict=True):
            assert (x is None and y is None) or x == pytest.approx(y)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "id": st.integers(-(2**40), 2**40),
                "amount": st.none() | st.floats(-1e6, 1e6, allow_nan=False),
                "count": st.integers(0, 1000),
                "name": st.none() | st.text(max_size=8),
            }
        ),
        min_size=1,
        max_size=30,
    ),
    st.integers(1, 7),
)
def test_no_skew_property(rows: list[dict[str, Any]], chunk: int) -> None:
    schema = pa.schema([("id", pa.int64()), ("amount", pa.float64()), ("count", pa.int64()), ("name", pa.string())])
    data = pa.Table.from_pylist(rows, schema=schema)
    for fn in (feats_arrow, feats_polars):
        t = td.Transform(fn.fn, input_schema=schema)
        batch = t.run_batch(data, chunk_size=chunk)
        assert batch is not None
        _rows_equal(batch.to_pylist(), [t.online(r) for r in rows])


def test_format_from_annotations_and_calls_keep_the_callers_type() -> None:
    assert (feats_pandas.batch_format, feats_polars.batch_format) == ("pandas", "polars")
    assert (feats_arrow.batch_format, feats_batch.batch_format) == ("arrow", "record_batch")
    data = _data(10)
    assert isinstance(feats_pandas(data), pa.Table)  # Arrow in, Arrow out
    assert isinstance(feats_pandas(data.to_pandas()), pd.DataFrame)
    assert isinstance(feats_arrow(pl.from_arrow(data)), pl.DataFrame)
    small = pa.table({"id": [1, 2], "x": [1.5, 2.0]})
    assert isinstance(feats_batch(small), pa.Table)
    assert feats_batch(small.to_batches()[0]).column(1).to_pylist() == [3.0, 4.0]
    assert feats_batch.online({"id": 1, "x": 0.25}) == {"id": 1, "twice": 0.5}
    assert feats_pandas.__name__ == "feats_pandas" and feats_polars.name == "feats_polars"


def test_annotations_only_known_when_type_checking() -> None:
    namespace: dict[str, Any] = {}
    exec(
        "def f(df: 'pl.DataFrame'):\n    return df\ndef g(x: 'Whatever'):\n    return x\ndef h(x):\n    return x",
        namespace,
    )
    assert td.transform(namespace["f"]).batch_format == "polars"
    assert td.transform(namespace["h"]).batch_format == "arrow"
    with pytest.raises(InvalidArgument, match="cannot tell the batch format of g"):
        td.transform(namespace["g"])
    assert td.transform(batch_format="pd")(namespace["g"]).batch_format == "pandas"
    with pytest.raises(InvalidArgument, match="unknown batch_format 'excel'"):
        td.transform(batch_format="excel")(namespace["h"])


def test_online_errors() -> None:
    @td.transform
    def only_big(t: pa.Table) -> pa.Table:
        return t.filter(pc.greater(t.column("x"), 10))

    @td.transform
    def bad(t: pa.Table) -> Any:
        return 42

    assert only_big.online({"x": 11}) == {"x": 11}
    with pytest.raises(InvalidArgument, match="returned 0 rows for one input row"):
        only_big.online({"x": 1})
    with pytest.raises(InvalidArgument, match="takes one row as a dict"):
        only_big.online([1, 2])
    with pytest.raises(InvalidArgument, match="must return a batch"):
        bad.online({"x": 1})
    with pytest.raises(InvalidArgument, match=r"for one row use \.online"):
        only_big({"x": 1})
    typed = td.Transform(only_big.fn, input_schema=pa.schema([("x", pa.int64())]))
    with pytest.raises(InvalidArgument, match="field 'x' does not fit its batch type int64"):
        typed.online({"x": "eleven"})
    assert typed.online({"x": 12.0, "extra": "kept"}) == {"x": 12, "extra": "kept"}


def test_run_batch_out_of_core_into_a_sink(tmp_path: Path) -> None:
    td.write(_data(1000), tmp_path / "in.parquet", row_group_size=100)
    src = td.FileSource(tmp_path / "in.parquet")
    sink = td.ParquetSink(tmp_path / "out")
    seen: list[str] = []

    def write(batch_id: str, table: pa.Table) -> None:
        seen.append(batch_id)
        sink.write(batch_id, table)

    inner = td.CallableSink(write)
    assert feats_arrow.run_batch(src, inner, chunk_size=300) is None
    assert seen == ["00000000", "00000001", "00000002", "00000003"]
    out = td.read(tmp_path / "out")
    assert sorted(out.column("id").to_pylist()) == list(range(1000))
    feats_arrow.run_batch(src, sink, chunk_size=300)  # a rerun overwrites the same parts
    assert len(list((tmp_path / "out").glob("part-*.parquet"))) == 4
    assert td.read(tmp_path / "out").num_rows == 1000
    expected = feats_arrow.run_batch(src, chunk_size=300)
    assert expected is not None and expected.sort_by("id").equals(out.sort_by("id"))


def test_run_batch_progress_and_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    out = feats_arrow.run_batch(_data(100), chunk_size=10, progress=True)
    assert out is not None and out.num_rows == 100
    assert "transform feats_arrow" in capsys.readouterr().out
    empty = feats_arrow.run_batch(_data(0))
    assert empty is not None and empty.num_rows == 0 and "ratio" in empty.column_names
    with pytest.raises(InvalidArgument, match="unknown executor 'spark'"):
        feats_arrow.run_batch(_data(1), executor="spark")
    with pytest.raises(InvalidArgument, match="batch_size must be a positive integer"):
        feats_arrow.run_batch(_data(1), chunk_size=0)


def test_spec_round_trip_in_process() -> None:
    t = td.Transform(feats_polars.fn, name="p", input_schema=_data(1).schema)
    spec = json.loads(json.dumps(t.spec()))
    assert spec["kind"] == "transform" and spec["name"] == "p" and spec["batch_format"] == "polars"
    assert "def feats_polars" in spec["source"]
    back = td.Transform.from_spec(spec)
    assert back.input_schema == t.input_schema
    row = _data(3).to_pylist()[2]
    assert back.online(row) == t.online(row)
    with pytest.raises(InvalidArgument, match="needs 'function'"):
        td.Transform.from_spec({"name": "x"})
    with pytest.raises(InvalidArgument, match="cannot load transform 'x'"):
        td.Transform.from_spec({"name": "x", "function": "bm90IGEgcGlja2xl"})


@pytest.mark.slow
def test_spec_loads_where_the_defining_module_does_not_exist(tmp_path: Path) -> None:
    """The function travels by value: a fresh interpreter without this test module runs it."""
    t = td.Transform(feats_pandas.fn, input_schema=_data(1).schema)
    (tmp_path / "spec.json").write_text(json.dumps(t.spec()))
    row = _data(5).to_pylist()[4]
    code = (
        "import json, sys; import treadle.data as td\n"
        "assert 'tests' not in sys.modules\n"
        "t = td.Transform.from_spec(json.load(open('spec.json')))\n"
        f"print(json.dumps(t.online({row!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == json.loads(json.dumps(t.online(row)))
