"""Signatures: inference from examples, and enforcement that names the column and the problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from treadle.errors import InvalidArgument
from treadle.models import ColumnSpec, Schema, Signature, infer_signature


def _df() -> pd.DataFrame:
    return pd.DataFrame(
        {"age": np.array([30, 40], dtype=np.int64), "income": [1.5, 2.5], "city": ["a", "b"]},
    )


def test_infer_from_dataframe() -> None:
    sig = infer_signature(_df(), np.array([0.1, 0.2]))
    assert sig.inputs.kind == "columns"
    assert [(s.name, s.dtype) for s in sig.inputs.specs] == [
        ("age", "int64"),
        ("income", "float64"),
        ("city", "string"),
    ]
    assert sig.outputs is not None and sig.outputs.specs == [ColumnSpec(dtype="float64", shape=(-1,))]


def test_infer_from_ndarray_and_dict() -> None:
    sig = infer_signature(np.zeros((3, 4), dtype=np.float32))
    assert sig.inputs == Schema(kind="tensors", specs=[ColumnSpec(dtype="float32", shape=(-1, 4))])
    sig = infer_signature({"ids": np.zeros((2, 7), dtype=np.int64), "mask": np.ones((2, 7), dtype=bool)})
    assert [(s.name, s.dtype, s.shape) for s in sig.inputs.specs] == [
        ("ids", "int64", (-1, 7)),
        ("mask", "bool", (-1, 7)),
    ]


def test_signature_survives_json() -> None:
    sig = infer_signature(_df(), np.array([1, 2]))
    assert Signature.model_validate_json(sig.model_dump_json()) == sig


def test_columns_enforcement() -> None:
    schema = infer_signature(_df()).inputs
    ok = schema.enforce(_df()[["city", "income", "age"]].assign(extra=1))
    assert list(ok.columns) == ["age", "income", "city"]  # reordered, extras dropped
    # int -> float is safe; a dict of columns and a 2-D array are accepted too
    widened = Schema(kind="columns", specs=[ColumnSpec(name="x", dtype="float64")])
    assert widened.enforce({"x": [1, 2]})["x"].dtype == np.float64
    assert list(schema.enforce({"age": [1], "income": [2.0], "city": ["c"]}).columns) == ["age", "income", "city"]
    arr = Schema(kind="columns", specs=[ColumnSpec(name="a", dtype="float64"), ColumnSpec(name="b", dtype="float64")])
    assert list(arr.enforce(np.ones((3, 2))).columns) == ["a", "b"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_df().drop(columns="income"), "column 'income' is missing"),
        (_df().assign(age=[1.5, 2.0]), "column 'age' has dtype float64, expected int64"),
        (_df().assign(income=["x", "y"]), "column 'income' has dtype string, expected float64"),
        (_df().assign(city=[1, 2]), "column 'city' has dtype int64, expected string"),
        (_df().assign(age=[1, None]), "column 'age' has missing values"),
        (np.ones((2, 2)), "expected a 2-D array with 3 columns"),
        ("text", "expected a pandas DataFrame"),
    ],
)
def test_columns_errors_name_the_column(data: object, message: str) -> None:
    schema = infer_signature(_df()).inputs
    with pytest.raises(InvalidArgument, match=message):
        schema.enforce(data)


def test_int_narrowing_checks_range() -> None:
    schema = Schema(kind="columns", specs=[ColumnSpec(name="n", dtype="int8")])
    assert schema.enforce(pd.DataFrame({"n": [1, 2]}))["n"].dtype == np.int8
    with pytest.raises(InvalidArgument, match="column 'n' has values outside the range of int8"):
        schema.enforce(pd.DataFrame({"n": [1, 1000]}))


def test_tensor_enforcement() -> None:
    schema = infer_signature(np.zeros((1, 4), dtype=np.float32)).inputs
    out = schema.enforce(np.ones((5, 4)))  # float64 -> float32 is allowed for floats
    assert out.dtype == np.float32 and out.shape == (5, 4)
    assert schema.enforce(pd.DataFrame(np.ones((2, 4)))).shape == (2, 4)
    with pytest.raises(InvalidArgument, match=r"input has shape \(5, 3\), expected \(-1, 4\)"):
        schema.enforce(np.ones((5, 3)))
    with pytest.raises(InvalidArgument, match="input has dtype string, expected float32"):
        schema.enforce(np.array([["a"] * 4]))


def test_named_tensors() -> None:
    schema = infer_signature({"ids": np.zeros((2, 3), dtype=np.int64), "w": np.zeros((2,), dtype=np.float32)}).inputs
    out = schema.enforce({"ids": np.ones((4, 3), dtype=np.int32), "w": [1.0, 2.0, 3.0, 4.0]})
    assert out["ids"].dtype == np.int64 and out["w"].dtype == np.float32
    with pytest.raises(InvalidArgument, match="tensor 'w' is missing"):
        schema.enforce({"ids": np.ones((4, 3), dtype=np.int64)})
    with pytest.raises(InvalidArgument, match=r"tensor 'ids' has shape \(4, 2\), expected \(-1, 3\)"):
        schema.enforce({"ids": np.ones((4, 2), dtype=np.int64), "w": np.ones(4)})
    with pytest.raises(InvalidArgument, match="tensor 'ids' has dtype float64, expected int64"):
        schema.enforce({"ids": np.ones((4, 3)), "w": np.ones(4)})
    with pytest.raises(InvalidArgument, match="pass a dict of arrays"):
        schema.enforce(np.ones((4, 3)))
