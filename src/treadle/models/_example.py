"""Input examples stored as JSON that keeps dtypes: DataFrames, ndarrays and dicts of arrays."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from treadle.errors import InvalidArgument
from treadle.models._signature import CATEGORY, STRING, dtype_name

EXAMPLE_FILE = "input_example.json"


def _encode(values: Any, dtype: str) -> Any:
    arr = np.asarray(values)
    if arr.dtype.kind in "mM":
        return arr.astype(str).tolist()
    if dtype in (STRING, CATEGORY):
        return [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in arr.reshape(-1)]
    return arr.tolist()


def _decode(data: Any, dtype: str) -> Any:
    if dtype == STRING:
        return np.asarray(data, dtype=object)
    if dtype == CATEGORY:
        return pd.Categorical(data)
    return np.asarray(data).astype(dtype)


def as_example(example: Any) -> Any:
    """``example`` in a storable form: torch tensors and lists become ndarrays, Series DataFrames."""
    if isinstance(example, pd.Series):
        return example.to_frame()
    if isinstance(example, (pd.DataFrame, np.ndarray)):
        return example
    if isinstance(example, Mapping):
        return {
            str(k): as_example(v) if not isinstance(v, (list, tuple)) else np.asarray(v) for k, v in example.items()
        }
    if hasattr(example, "detach"):
        return example.detach().cpu().numpy()
    try:
        return np.asarray(example)
    except Exception as exc:
        raise InvalidArgument(f"input_example must be a DataFrame, ndarray or dict of arrays: {exc}") from None


def write_example(root: Path, example: Any) -> str:
    example = as_example(example)
    if isinstance(example, pd.DataFrame):
        cols = []
        for c in example.columns:
            dt = dtype_name(example[c].dtype)
            cols.append(
                {
                    "name": str(c),
                    "dtype": dt,
                    "data": _encode(example[c].to_numpy(dtype=object if dt in (STRING, CATEGORY) else None), dt),
                }
            )
        body: dict[str, Any] = {"type": "dataframe", "columns": cols}
    elif isinstance(example, Mapping):
        arrays = []
        for k, v in example.items():
            arr = np.asarray(v)
            arrays.append(
                {
                    "name": k,
                    "dtype": dtype_name(arr.dtype),
                    "shape": list(arr.shape),
                    "data": _encode(arr, dtype_name(arr.dtype)),
                }
            )
        body = {"type": "dict", "arrays": arrays}
    else:
        arr = np.asarray(example)
        dt = dtype_name(arr.dtype)
        body = {"type": "ndarray", "dtype": dt, "shape": list(arr.shape), "data": _encode(arr, dt)}
    (root / EXAMPLE_FILE).write_text(json.dumps(body), encoding="utf-8")
    return EXAMPLE_FILE


def read_example(path: Path) -> Any:
    """The example :func:`write_example` stored, with its dtypes."""
    body = json.loads(path.read_text(encoding="utf-8"))
    if body["type"] == "dataframe":
        return pd.DataFrame({c["name"]: _decode(c["data"], c["dtype"]) for c in body["columns"]})
    if body["type"] == "dict":
        return {a["name"]: _decode(a["data"], a["dtype"]).reshape(a["shape"]) for a in body["arrays"]}
    return _decode(body["data"], body["dtype"]).reshape(body["shape"])
