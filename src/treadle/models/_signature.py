"""Model signatures: what a model takes and returns, and the check that enforces it.

A :class:`Schema` is either ``columns`` (a table: one :class:`ColumnSpec` per named column, as from a
pandas DataFrame) or ``tensors`` (one unnamed ndarray, or several named ones from a dict of arrays,
each with a shape where ``-1`` is a free dimension). :meth:`Schema.enforce` turns user input into the
form the schema describes or raises :class:`~treadle.errors.InvalidArgument` naming the column.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from treadle.errors import InvalidArgument
from treadle.records import Record

STRING = "string"
CATEGORY = "category"


class ColumnSpec(Record):
    """One column or tensor: ``name`` (None for a lone ndarray), ``dtype`` and, for tensors, ``shape``."""

    name: str | None = None
    dtype: str
    shape: tuple[int, ...] | None = None


class Schema(Record):
    kind: Literal["columns", "tensors"]
    specs: list[ColumnSpec]

    @property
    def names(self) -> list[str | None]:
        return [s.name for s in self.specs]

    def enforce(self, data: Any) -> Any:
        """``data`` checked and cast to this schema: a DataFrame, an ndarray or a dict of ndarrays."""
        return _enforce_columns(self, data) if self.kind == "columns" else _enforce_tensors(self, data)


class Signature(Record):
    """Inputs and (when known) outputs of a model."""

    inputs: Schema
    outputs: Schema | None = None


def dtype_name(dtype: Any) -> str:
    """A portable dtype name: numpy's (``float32``, ``int64``, ``bool``, ...), ``string`` or ``category``."""
    if isinstance(dtype, pd.CategoricalDtype):
        return CATEGORY
    if isinstance(dtype, pd.StringDtype) or dtype == object:  # noqa: E721 - object columns hold strings
        return STRING
    if isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return str(np.dtype(dtype.numpy_dtype).name) if hasattr(dtype, "numpy_dtype") else str(dtype)
    dt = np.dtype(dtype)
    return STRING if dt.kind in "OUS" else dt.name


def schema_of(example: Any) -> Schema:
    """The schema an example has (DataFrame, ndarray, dict of arrays, or a list)."""
    if isinstance(example, pd.Series):
        example = example.to_frame()
    if isinstance(example, pd.DataFrame):
        return Schema(
            kind="columns", specs=[ColumnSpec(name=str(c), dtype=dtype_name(example[c].dtype)) for c in example]
        )
    if isinstance(example, Mapping):
        specs = []
        for name, value in example.items():
            arr = _as_array(value, str(name))
            specs.append(ColumnSpec(name=str(name), dtype=dtype_name(arr.dtype), shape=_free_batch(arr.shape)))
        return Schema(kind="tensors", specs=specs)
    if isinstance(example, (tuple, list)) and example and all(_is_tensor_like(x) for x in example):
        arrs = [np.asarray(x) for x in example]
        specs = [
            ColumnSpec(name=f"output_{i}", dtype=dtype_name(a.dtype), shape=_free_batch(a.shape))
            for i, a in enumerate(arrs)
        ]
        return Schema(kind="tensors", specs=specs)
    arr = _as_array(example, "input")
    return Schema(kind="tensors", specs=[ColumnSpec(dtype=dtype_name(arr.dtype), shape=_free_batch(arr.shape))])


def infer_signature(input_example: Any, output_example: Any = None) -> Signature:
    """The signature of a model fed ``input_example`` that answered ``output_example``.

    DataFrames give ``columns`` schemas (name and dtype per column); ndarrays and dicts of arrays give
    ``tensors`` schemas whose first dimension is free (``-1``).
    """
    outputs = None if output_example is None else schema_of(output_example)
    return Signature(inputs=schema_of(input_example), outputs=outputs)


def _is_tensor_like(x: Any) -> bool:
    return isinstance(x, np.ndarray) or hasattr(x, "__array__")


def _free_batch(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (-1, *shape[1:]) if shape else ()


def _as_array(value: Any, name: str) -> np.ndarray:
    if isinstance(value, (pd.Series, pd.Index)):
        return value.to_numpy()
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except Exception as exc:
        raise InvalidArgument(f"{_label(name)}: cannot be read as an array ({exc})") from None


def _label(name: str | None) -> str:
    return "input" if name is None else f"column {name!r}"


def cast_values(values: np.ndarray, expected: str, name: str | None) -> np.ndarray:
    """``values`` as ``expected`` when no information is lost; otherwise InvalidArgument."""
    got = dtype_name(values.dtype)
    if got == expected:
        return values
    if expected in (STRING, CATEGORY):
        if got in (STRING, CATEGORY):
            return values
        raise InvalidArgument(f"{_label(name)} has dtype {got}, expected {expected} (pass strings)")
    _kind(expected, name)
    target = np.dtype(expected)
    src = values.dtype
    if got in (STRING, CATEGORY) or src.kind not in "biufcmM":
        raise InvalidArgument(f"{_label(name)} has dtype {got}, expected {expected} (cannot be cast safely)")
    if np.can_cast(src, target, "safe"):
        return values.astype(target)
    if src.kind == "f" and target.kind == "f":  # float64 -> float32: models commonly want less precision
        return values.astype(target)
    if src.kind in "iub" and target.kind in "iu" and values.size:
        info = np.iinfo(target)
        if values.min() >= info.min and values.max() <= info.max:
            return values.astype(target)
        raise InvalidArgument(f"{_label(name)} has values outside the range of {expected}")
    if src.kind in "iub" and target.kind in "iu":
        return values.astype(target)
    raise InvalidArgument(f"{_label(name)} has dtype {got}, expected {expected} (cannot be cast safely)")


def _enforce_columns(schema: Schema, data: Any) -> pd.DataFrame:
    names = [str(s.name) for s in schema.specs]
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, Mapping):
        try:
            data = pd.DataFrame({str(k): _as_array(v, str(k)).reshape(-1) for k, v in data.items()})
        except ValueError as exc:
            raise InvalidArgument(f"the dict of columns cannot form a table: {exc}") from None
    elif isinstance(data, np.ndarray) or (isinstance(data, list) and data and not isinstance(data[0], Mapping)):
        arr = np.asarray(data)
        if arr.ndim != 2 or arr.shape[1] != len(names):
            raise InvalidArgument(
                f"input has shape {arr.shape}, expected a 2-D array with {len(names)} columns ({', '.join(names)})"
            )
        data = pd.DataFrame(arr, columns=names)
    elif isinstance(data, list):
        data = pd.DataFrame(data)
    if not isinstance(data, pd.DataFrame):
        raise InvalidArgument(
            f"expected a pandas DataFrame, numpy ndarray or dict of arrays, got {type(data).__name__}"
        )
    present = {str(c): c for c in data.columns}
    missing = [n for n in names if n not in present]
    if missing:
        raise InvalidArgument(f"column {missing[0]!r} is missing (the model takes {', '.join(names)})")
    out: dict[str, Any] = {}
    for spec, name in zip(schema.specs, names, strict=True):
        out[name] = _enforce_column(data[present[name]], spec.dtype, name)
    return pd.DataFrame(out, index=data.index)


def _enforce_column(col: pd.Series, expected: str, name: str) -> Any:
    got = dtype_name(col.dtype)
    if got == expected:
        return col
    if expected in (STRING, CATEGORY) or got in (STRING, CATEGORY):
        if got in (STRING, CATEGORY) and expected in (STRING, CATEGORY):
            return col
        raise InvalidArgument(f"column {name!r} has dtype {got}, expected {expected}")
    if col.hasnans and _kind(expected, name) in "iub":
        raise InvalidArgument(f"column {name!r} has missing values, but the model takes {expected}")
    values = _ext(col, name) if isinstance(col.dtype, pd.api.extensions.ExtensionDtype) else col.to_numpy()
    return cast_values(values, expected, name)


def _kind(dtype: str, name: str | None) -> str:
    try:
        return np.dtype(dtype).kind
    except TypeError:
        raise InvalidArgument(f"{_label(name)}: the signature names an unknown dtype {dtype!r}") from None


def _ext(col: pd.Series, name: str) -> np.ndarray:
    if isinstance(col.dtype, pd.StringDtype):
        return np.asarray(col.to_numpy(dtype=object))
    try:
        return col.to_numpy(dtype=col.dtype.numpy_dtype if hasattr(col.dtype, "numpy_dtype") else None)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"column {name!r} cannot be converted: {exc}") from None


def _check_shape(arr: np.ndarray, spec: ColumnSpec) -> None:
    if spec.shape is None:
        return
    ok = arr.ndim == len(spec.shape) and all(e in (-1, g) for e, g in zip(spec.shape, arr.shape, strict=True))
    if not ok:
        raise InvalidArgument(f"{_tensor_label(spec.name)} has shape {tuple(arr.shape)}, expected {spec.shape}")


def _tensor_label(name: str | None) -> str:
    return "input" if name is None else f"tensor {name!r}"


def _enforce_one(arr: np.ndarray, spec: ColumnSpec) -> np.ndarray:
    _check_shape(arr, spec)
    try:
        return cast_values(arr, spec.dtype, spec.name)
    except InvalidArgument as exc:
        raise InvalidArgument(exc.message.replace(_label(spec.name), _tensor_label(spec.name), 1)) from None


def _enforce_tensors(schema: Schema, data: Any) -> np.ndarray | dict[str, np.ndarray]:
    if len(schema.specs) == 1 and not isinstance(data, Mapping):
        spec = schema.specs[0]
        if isinstance(data, pd.DataFrame):
            data = data.to_numpy()
        return _enforce_one(_as_array(data, str(spec.name)), spec)
    if isinstance(data, pd.DataFrame):
        data = {str(c): data[c].to_numpy() for c in data.columns}
    if not isinstance(data, Mapping):
        names = ", ".join(str(n) for n in schema.names)
        raise InvalidArgument(f"the model takes several named tensors ({names}): pass a dict of arrays")
    out: dict[str, np.ndarray] = {}
    by_name = {str(k): v for k, v in data.items()}
    for spec in schema.specs:
        key = str(spec.name) if spec.name is not None else next(iter(by_name), "")
        if key not in by_name:
            raise InvalidArgument(
                f"{_tensor_label(spec.name)} is missing (the model takes {', '.join(map(str, schema.names))})"
            )
        arr = _as_array(by_name[key], key)
        if spec.shape is not None and len(spec.shape) == 2 and spec.shape[1] == 1 and arr.ndim == 1:
            arr = arr.reshape(-1, 1)  # one column per input, as skl2onnx makes them
        out[key] = _enforce_one(arr, spec)
    return out
