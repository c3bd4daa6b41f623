"""From a pandas column to a :class:`ColumnSample`: the kind of a column, and each kind's preparation
(numpy arrays and value counts, computed once per column and shared by every test)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from treadle.errors import InvalidArgument
from treadle.monitoring.base import ColumnSample
from treadle.monitors import ColumnKind

TEXT_MIN_WORDS = 5  # strings averaging at least this many words, mostly distinct, are free text


def infer_kind(series: pd.Series) -> ColumnKind:
    """``numeric`` (numbers, datetimes), ``categorical`` (strings, booleans, categories), ``embedding``
    (equal-length vectors: lists or arrays) or ``text`` (long, mostly distinct strings)."""
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if ptypes.is_numeric_dtype(dtype) or ptypes.is_datetime64_any_dtype(dtype):
        return "numeric"
    head = series.head(1000).dropna().head(200)
    if len(head) == 0:
        return "categorical"
    if ptypes.is_object_dtype(dtype):
        first = head.head(20).tolist()
        if all(isinstance(v, (list, tuple, np.ndarray)) for v in first):
            return "embedding"
        if not all(isinstance(v, str) for v in head.tolist()):
            return "categorical"
    if len(head) >= 20:
        strings = head.astype(str)
        words = float(strings.str.count(" ").mean()) + 1
        if words >= TEXT_MIN_WORDS and strings.nunique() >= 0.5 * len(head):
            return "text"
    return "categorical"


def _floats(series: pd.Series) -> np.ndarray:
    if ptypes.is_datetime64_any_dtype(series.dtype):
        stamps = series.to_numpy(dtype="datetime64[ns]")
        out = stamps.view(np.int64).astype(np.float64)
        out[np.isnat(stamps)] = np.nan
        return out
    if series.dtype == np.float64:
        return series.to_numpy()
    try:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise InvalidArgument(
            f"column {series.name!r} is numeric in the reference but holds non-numeric values "
            f"({series.dtype}); fix the data or declare it categorical=[...]"
        ) from None


def numeric_sample(series: pd.Series) -> ColumnSample:
    a = _floats(series)
    finite = np.isfinite(a)
    n = int(finite.sum())
    if n == len(a):
        x, missing, non_finite = a.copy(), 0, 0
    else:
        x = a[finite]  # already a copy: sort it in place
        missing = int(np.isnan(a).sum())
        non_finite = len(a) - n - missing
    x.sort()  # releases the GIL: columns sort in parallel threads
    n_unique = int(np.count_nonzero(x[1:] != x[:-1])) + 1 if n else 0
    lo, hi = (float(x[0]), float(x[-1])) if n else (None, None)
    return ColumnSample("numeric", n, missing, non_finite, sorted=x, n_unique=n_unique, min=lo, max=hi)


def category_key(value: Any) -> str:
    """A category as text, spelled the same in profiles, drift and data quality: an integral float
    is the integer it holds (a missing value turns the served ``1`` into ``1.0``)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def categorical_sample(series: pd.Series) -> ColumnSample:
    vc = series.value_counts(dropna=True, sort=False)
    counts: dict[str, int] = {}
    for key, c in zip(vc.index.tolist(), vc.to_numpy().tolist(), strict=True):
        if c > 0:
            k = category_key(key)
            counts[k] = counts.get(k, 0) + int(c)
    n = sum(counts.values())
    return ColumnSample("categorical", n, len(series) - n, counts=counts, n_unique=len(counts))


def embedding_sample(series: pd.Series) -> ColumnSample:
    rows = [v for v in series.tolist() if v is not None and not (isinstance(v, float) and np.isnan(v))]
    try:
        values = np.asarray(np.stack([np.asarray(v, dtype=np.float64).ravel() for v in rows]), dtype=np.float64)
    except ValueError:
        raise InvalidArgument(
            f"embedding column {series.name!r} needs vectors of one length (lists or arrays of numbers)"
        ) from None
    if len(rows) == 0:
        values = np.empty((0, 0))
    finite = np.all(np.isfinite(values), axis=1)  # a vector with NaN/inf would poison every kernel value
    non_finite = int(len(values) - finite.sum())
    if non_finite:
        values = values[finite]
    n = len(values)
    return ColumnSample("embedding", n, len(series) - len(rows), non_finite, values=values, n_unique=n)


def text_sample(series: pd.Series) -> ColumnSample:
    texts = series.dropna()
    values = np.asarray([str(v) for v in texts.tolist()], dtype=object)
    return ColumnSample("text", len(values), len(series) - len(values), values=values, n_unique=len(set(values)))


_BUILDERS: dict[str, Any] = {
    "numeric": numeric_sample,
    "categorical": categorical_sample,
    "embedding": embedding_sample,
    "text": text_sample,
}


def sample_of(series: pd.Series, kind: ColumnKind) -> ColumnSample:
    """Prepare ``series`` as a column of ``kind``."""
    sample: ColumnSample = _BUILDERS[kind](series)
    return sample
