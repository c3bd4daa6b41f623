"""MLflow's scoring protocol: ``POST /invocations`` in and ``{"predictions": ...}`` out.

Existing MLflow callers keep working: a JSON body with exactly one of ``dataframe_split``
(``{"columns": [...], "data": [[...]]}``), ``dataframe_records`` (``[{column: value}, ...]``),
``inputs`` or ``instances`` (a list, a list of row objects, or ``{name: list}`` tensors), plus an
optional ``params`` object; or a ``text/csv`` body with a header row. Tables become one 1-D input
per column, which the model runner turns back into the DataFrame the model was saved with.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import orjson

from treadle.errors import InvalidArgument
from treadle.serving._http import json_default
from treadle.serving._types import InferRequest, Tensors

FORMATS = ("dataframe_split", "dataframe_records", "inputs", "instances")


def decode_invocations(body: bytes, content_type: str | None) -> InferRequest:
    """The request's inputs as named tensors; InvalidArgument saying which format was expected."""
    ctype = (content_type or "application/json").split(";", 1)[0].strip().lower()
    if ctype == "text/csv":
        return InferRequest(inputs=_csv(body), protocol="invocations")
    if ctype not in ("application/json", ""):
        raise InvalidArgument(f"content type {ctype!r} is not supported; send application/json or text/csv")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"the JSON body must be an object with one of the keys {', '.join(FORMATS)}")
    given = [k for k in FORMATS if k in doc]
    if len(given) != 1:
        raise InvalidArgument(
            f"the JSON body needs exactly one of {', '.join(FORMATS)} (got {', '.join(given) or 'none of them'})"
        )
    key = given[0]
    value = doc[key]
    if key == "dataframe_split":
        inputs = _split(value)
    elif key == "dataframe_records":
        inputs = _records(value, key)
    else:
        inputs = _tensors(value, key)
    params = doc.get("params") or {}
    if not isinstance(params, dict):
        raise InvalidArgument("'params' must be a JSON object")
    unit = params.get("unit")
    return InferRequest(
        inputs=inputs, parameters=params, unit=None if unit is None else str(unit), protocol="invocations"
    )


def _frame_columns(frame: Any) -> Tensors:
    return {str(c): frame[c].to_numpy() for c in frame.columns}


def _split(value: Any) -> Tensors:
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise InvalidArgument('dataframe_split must be {"columns": [...], "data": [[...], ...]}')
    data = value["data"]
    columns = value.get("columns")
    if columns is not None and not isinstance(columns, list):
        raise InvalidArgument("dataframe_split.columns must be a list of column names")
    widths = sorted({len(r) for r in data if isinstance(r, list)})
    if len(widths) > 1:
        raise InvalidArgument(f"dataframe_split rows must all have the same number of values (got {widths})")
    arr = _matrix(data)
    if arr is not None and arr.ndim == 2 and arr.dtype.kind in "biuf":  # all numbers: no pandas needed
        names = [str(c) for c in columns] if columns is not None else [str(i) for i in range(arr.shape[1])]
        if len(names) != arr.shape[1]:
            raise InvalidArgument(f"dataframe_split has {len(names)} columns but rows of {arr.shape[1]} values")
        columns_out = {n: arr[:, i] for i, n in enumerate(names)}
        if arr.dtype.kind == "f":  # ints beside floats were widened: give integer columns back their type
            for i, n in enumerate(names):
                if type(data[0][i]) is int and all(type(r[i]) is int for r in data):
                    columns_out[n] = arr[:, i].astype(np.int64)
        return columns_out
    import pandas as pd

    try:
        frame = pd.DataFrame(data, columns=columns)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"dataframe_split cannot form a table: {exc}") from None
    return _frame_columns(frame)


def _matrix(data: list[Any]) -> np.ndarray | None:
    """``data`` as one numpy matrix when its rows are lists of equal length, else None (pandas decides)."""
    if not data or not all(isinstance(r, list) for r in data):
        return None
    try:
        return np.asarray(data)
    except ValueError:  # rows of equal length holding ragged cells: let pandas say what is wrong
        return None


def _records(value: Any, key: str) -> Tensors:
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise InvalidArgument(f"{key} must be a list of {{column: value}} objects")
    import pandas as pd

    return _frame_columns(pd.DataFrame.from_records(value))


def _array(value: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except ValueError as exc:
        raise InvalidArgument(f"input {name!r} is not a regular array: {exc}") from None
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    return arr if arr.ndim else arr.reshape(1)


def _tensors(value: Any, key: str) -> Tensors:
    if isinstance(value, dict):
        if not value:
            raise InvalidArgument(f"{key} is empty")
        return {str(k): _array(v, str(k)) for k, v in value.items()}
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        return _records(value, key)
    if isinstance(value, list):
        return {"input": _array(value, "input")}
    raise InvalidArgument(f"{key} must be a list or an object of named lists")


def _csv(body: bytes) -> Tensors:
    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(body))
    except Exception as exc:
        raise InvalidArgument(f"the CSV body cannot be read: {exc}") from None
    return _frame_columns(frame)


def _jsonable(arr: np.ndarray) -> Any:
    if arr.dtype.kind == "O":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in arr.tolist()]
    if arr.dtype.kind in "USmM":
        return arr.astype(str).tolist()
    return np.ascontiguousarray(arr)


def encode_invocations(outputs: Tensors, extra: dict[str, Any] | None = None) -> bytes:
    """``{"predictions": ...}`` as MLflow answers: one output as a list; several 1-D outputs of equal
    length as one record per row; otherwise an object of named lists."""
    arrays = {k: np.asarray(v) for k, v in outputs.items()}
    if len(arrays) == 1:
        predictions: Any = _jsonable(next(iter(arrays.values())))
    elif all(a.ndim == 1 for a in arrays.values()) and len({a.shape[0] for a in arrays.values()}) == 1:
        columns = {k: _jsonable(a) for k, a in arrays.items()}
        lists = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in columns.items()}
        predictions = [dict(zip(lists, row, strict=True)) for row in zip(*lists.values(), strict=True)]
    else:
        predictions = {k: _jsonable(a) for k, a in arrays.items()}
    doc: dict[str, Any] = {"predictions": predictions}
    if extra:
        doc.update(extra)
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY, default=json_default)
