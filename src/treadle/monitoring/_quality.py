"""Data quality of a current window against the reference profile: missing values, +-inf, values
outside the reference range, categories never seen, and schema violations (absent or unexpected
columns, wrongly typed values).

Every check is a vectorised pass over one column; nothing here raises on bad data — bad data is
what it reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from treadle.errors import InvalidArgument
from treadle.monitoring._profile import infer_kind
from treadle.monitoring._sample import categorical_sample
from treadle.monitors._records import QualityReport

if TYPE_CHECKING:
    from treadle.monitoring._profile import ColumnProfile, Profile

__all__ = ["quality"]

MAX_UNSEEN = 20  # unseen categories listed per column
_EXAMPLES = 3  # offending values quoted in a type error


def quality(reference: Profile, current: pd.DataFrame, columns: Sequence[str]) -> QualityReport:
    """Check ``current`` against ``reference`` over the monitored ``columns``.

    Per present column: ``missing`` (share of None/NaN), and for numeric columns ``non_finite``
    (count of +-inf) and ``out_of_range`` (share of the finite values outside the reference's
    [min, max]); for categorical columns the values never seen in the reference (most frequent
    first, at most 20, as strings). ``missing_columns``: monitored but absent; ``extra_columns``:
    present but neither monitored nor in the reference; ``type_errors``: what was found where
    something else was expected. ``missing_share``: missing cells over all monitored cells (an
    absent column counts as entirely missing). An empty frame gives ``rows=0`` and nothing else.
    """
    if not isinstance(current, pd.DataFrame):
        raise InvalidArgument(f"current must be a pandas DataFrame, got {type(current).__name__}")
    rows = len(current)
    if rows == 0:
        return QualityReport(rows=0)
    cols = list(dict.fromkeys(columns))
    present = [c for c in cols if c in current.columns]
    known = set(cols) | set(reference.columns)
    out: dict[str, Any] = {
        "missing_columns": [c for c in cols if c not in current.columns],
        "extra_columns": [str(c) for c in current.columns if c not in known],
        "missing": {},
        "non_finite": {},
        "out_of_range": {},
        "unseen_categories": {},
        "type_errors": {},
    }
    missing_cells = rows * len(out["missing_columns"])
    for name in present:
        series = current[name]
        if isinstance(series, pd.DataFrame):  # duplicated column name
            out["type_errors"][name] = f"the column appears {series.shape[1]} times in the current data"
            series = series.iloc[:, 0]
        isna = _isna(series)
        n_missing = int(isna.sum())
        missing_cells += n_missing
        out["missing"][name] = n_missing / rows
        try:
            _column(name, series[~isna], reference.columns.get(name), out)
        except (TypeError, ValueError, OverflowError) as exc:  # odd values must not stop the window
            out["type_errors"][name] = f"could not check the values ({type(exc).__name__}: {exc})"
    total = rows * len(cols)
    out["missing_share"] = missing_cells / total if total else 0.0
    return QualityReport(rows=rows, **out)


def _column(name: str, values: pd.Series, ref: ColumnProfile | None, out: dict[str, Any]) -> None:
    kind = ref.kind if ref is not None else infer_kind(values)
    if kind == "numeric":
        _numeric(name, values, ref, out)
    elif kind == "categorical":
        _categorical(name, values, ref, out)
    elif kind == "text":
        bad = values[~values.map(lambda v: isinstance(v, str))]
        if len(bad):
            out["type_errors"][name] = _found("text", bad, len(values))
    elif kind == "embedding":
        _embedding(name, values, ref, out)


def _isna(series: pd.Series) -> np.ndarray:
    # pd.isna is elementwise for scalars; vectors (embeddings) are never "missing" by their content
    return np.asarray(series.isna(), dtype=bool)


def _is_numeric_dtype(series: pd.Series) -> bool:
    dtype = series.dtype
    return pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)


def _numeric(name: str, values: pd.Series, ref: ColumnProfile | None, out: dict[str, Any]) -> None:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        # as the profile stores them: nanoseconds since the epoch
        nums = values.to_numpy(dtype="datetime64[ns]").view(np.int64).astype(float)
    elif _is_numeric_dtype(values):
        nums = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        # strings (or anything else) in a numeric column: report them; those that read as numbers
        # still count for the range check
        obj = values.astype(object)
        is_num = obj.map(lambda v: isinstance(v, int | float | np.number | bool | np.bool_)).to_numpy(dtype=bool)
        parsed = pd.to_numeric(obj.where(is_num, obj.astype(str)), errors="coerce").to_numpy(dtype=float)
        if not is_num.all():
            wrong = values[~is_num]
            unreadable = int(np.isnan(parsed[~is_num]).sum())
            note = f"; {unreadable} cannot be read as numbers" if unreadable else "; all read as numbers"
            out["type_errors"][name] = _found("numbers", wrong, len(values)) + note
        nums = parsed[~np.isnan(parsed)]
    inf = np.isinf(nums)
    out["non_finite"][name] = int(inf.sum())
    finite = nums[np.isfinite(nums)]
    if ref is not None and ref.min is not None and ref.max is not None and len(finite):
        outside = (finite < ref.min) | (finite > ref.max)
        out["out_of_range"][name] = float(outside.mean())


def _categorical(name: str, values: pd.Series, ref: ColumnProfile | None, out: dict[str, Any]) -> None:
    if ref is None or ref.categories is None or values.empty:
        return
    counts = categorical_sample(values).counts or {}  # spelled as the profile spells them
    unseen = [(k, c) for k, c in counts.items() if k not in ref.categories]
    if unseen:
        # most frequent first, ties by value, so the list is stable from window to window
        order = sorted(unseen, key=lambda kv: (-kv[1], kv[0]))
        out["unseen_categories"][name] = [k for k, _ in order[:MAX_UNSEEN]]


def _embedding(name: str, values: pd.Series, ref: ColumnProfile | None, out: dict[str, Any]) -> None:
    dims = values.map(lambda v: len(v) if isinstance(v, list | tuple | np.ndarray) else -1)
    if (dims < 0).any():
        out["type_errors"][name] = _found("vectors", values[dims < 0], len(values))
        return
    want = _ref_dim(ref)
    sizes = sorted({int(d) for d in dims})
    if want is not None and sizes != [want]:
        out["type_errors"][name] = f"expected vectors of length {want}, found lengths {sizes[:5]}"
    elif len(sizes) > 1:
        out["type_errors"][name] = f"vectors of different lengths {sizes[:5]}"


def _ref_dim(ref: ColumnProfile | None) -> int | None:
    sample = None if ref is None else ref.values
    if isinstance(sample, np.ndarray) and sample.ndim == 2 and sample.shape[0] > 0:
        return int(sample.shape[1])
    return None


def _found(expected: str, wrong: pd.Series, of: int) -> str:
    """'expected numbers, found 3 of 120 values of type str (e.g. 'abc', 'n/a')'."""
    types = sorted({type(v).__name__ for v in wrong})
    examples = ", ".join(repr(v)[:40] for v in list(dict.fromkeys(map(_hashable, wrong)))[:_EXAMPLES])
    return f"expected {expected}, found {len(wrong)} of {of} values of type {'/'.join(types)} (e.g. {examples})"


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value
