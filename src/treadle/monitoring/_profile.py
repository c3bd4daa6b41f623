"""Reference profiles: what drift and data-quality checks need to know about a reference dataset,
computed once and stored (quantiles, histogram, category counts, moments, a small sample)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd

from treadle.errors import InvalidArgument
from treadle.monitoring._sample import infer_kind, sample_of
from treadle.monitoring.base import LEVELS, ColumnSample, sorted_quantiles
from treadle.monitors import ColumnKind

SAMPLE_ROWS = 5000  # values kept: all of them up to this many, else a seeded sample of this size
HIST_BINS = 20  # bins of the stored histogram (drill-down)
FEW_VALUES = 100  # numeric columns with at most this many distinct values also keep value counts
_ARRAYS = ("quantiles", "edges", "counts", "values")
_FORMAT = "treadle.profile/1"


@dataclass(frozen=True, eq=False)
class ColumnProfile:
    """One column of a reference. Numeric statistics ignore NaN (``missing``) and +-inf (``non_finite``)."""

    kind: ColumnKind
    n: int  # non-missing (finite) values
    missing: int
    mean: float | None = None
    std: float | None = None  # population standard deviation (ddof 0), as np.std
    min: float | None = None
    max: float | None = None
    quantiles: np.ndarray | None = None  # numeric: 1001 quantiles (0, 0.001, ..., 1) of the finite values
    edges: np.ndarray | None = None  # numeric: histogram bin edges (drill-down)
    counts: np.ndarray | None = None  # numeric: reference counts per bin
    categories: dict[str, int] | None = None  # categorical (and few-valued numeric): value -> count
    values: np.ndarray | None = None  # all values when n <= 5000, else a 5000 sample (text: strings)
    n_unique: int = 0
    non_finite: int = 0


@dataclass(frozen=True, eq=False)
class Profile:
    """A reference dataset's profile: ``rows`` and one :class:`ColumnProfile` per column."""

    rows: int
    columns: dict[str, ColumnProfile]
    extra: dict[str, Any] = field(default_factory=dict)  # free-form JSON-able (e.g. CBPE calibration)

    def to_bytes(self) -> bytes:
        """An ``.npz`` archive (arrays) with a JSON header; no pickle anywhere."""
        meta: dict[str, Any] = {"format": _FORMAT, "rows": self.rows, "extra": self.extra, "columns": []}
        arrays: dict[str, np.ndarray] = {}
        for i, (name, c) in enumerate(self.columns.items()):
            col = {k: getattr(c, k) for k in ColumnProfile.__dataclass_fields__ if k not in _ARRAYS}
            col["name"] = name
            for k in _ARRAYS:
                v = getattr(c, k)
                if v is not None and v.dtype == object:  # text: strings go in the JSON header
                    col[k] = v.tolist()
                elif v is not None:
                    arrays[f"{i}.{k}"] = v
            meta["columns"].append(col)
        arrays["meta"] = np.frombuffer(orjson.dumps(meta, option=orjson.OPT_SERIALIZE_NUMPY), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Profile:
        """The profile :meth:`to_bytes` wrote."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = orjson.loads(arrays.pop("meta").tobytes())
        except Exception as exc:
            raise InvalidArgument(f"not a treadle profile ({type(exc).__name__}: {exc})") from None
        if meta.get("format") != _FORMAT:
            raise InvalidArgument(f"not a treadle profile (format {meta.get('format')!r})")
        columns = {}
        for i, col in enumerate(meta["columns"]):
            name = col.pop("name")
            for k in _ARRAYS:
                if isinstance(col.get(k), list):
                    col[k] = np.asarray(col[k], dtype=object)
                else:
                    col[k] = arrays.get(f"{i}.{k}")
            columns[name] = ColumnProfile(**col)
        return cls(rows=int(meta["rows"]), columns=columns, extra=meta["extra"])


def _keep(values: np.ndarray) -> np.ndarray:
    if len(values) <= SAMPLE_ROWS:
        return values
    idx = np.sort(np.random.default_rng(0).choice(len(values), SAMPLE_ROWS, replace=False))
    return values[idx]


def column_profile(s: ColumnSample) -> ColumnProfile:
    """The stored form of a prepared (exact) column."""
    if s.kind != "numeric":
        values = _keep(s.values) if s.values is not None else None
        return ColumnProfile(
            s.kind, s.n, s.missing, categories=s.counts, values=values, n_unique=s.n_unique, non_finite=s.non_finite
        )
    if s.n == 0:
        return ColumnProfile("numeric", 0, s.missing, non_finite=s.non_finite)
    x = s.sorted
    assert x is not None and s.min is not None and s.max is not None
    edges = np.linspace(s.min, s.max, HIST_BINS + 1) if s.max > s.min else np.array([s.min - 0.5, s.max + 0.5])
    return ColumnProfile(
        "numeric",
        s.n,
        s.missing,
        mean=float(np.mean(x)),
        std=float(np.std(x)),
        min=s.min,
        max=s.max,
        quantiles=sorted_quantiles(x, LEVELS),
        edges=edges,
        counts=np.round(s.shares(edges) * s.n).astype(np.int64),
        categories=s.value_counts() if s.n_unique <= FEW_VALUES else None,
        values=_keep(x),
        n_unique=s.n_unique,
        non_finite=s.non_finite,
    )


def sample_from_profile(c: ColumnProfile) -> ColumnSample:
    """A stored column as a :class:`ColumnSample` (exact when the profile kept every value)."""
    if c.kind != "numeric":
        counts = dict(c.categories) if c.categories is not None else None
        return ColumnSample(c.kind, c.n, c.missing, c.non_finite, counts=counts, values=c.values, n_unique=c.n_unique)
    exact = c.values is not None and len(c.values) == c.n
    return ColumnSample(
        "numeric",
        c.n,
        c.missing,
        c.non_finite,
        sorted=c.values,
        quantiles=c.quantiles,
        counts=dict(c.categories) if c.categories is not None else None,
        n_unique=c.n_unique,
        exact=exact,
        mean=c.mean,
        std=c.std,
        min=c.min,
        max=c.max,
    )


def resolve_kinds(
    frame: pd.DataFrame,
    columns: list[str],
    categorical: list[str] | None = None,
    kinds: dict[str, ColumnKind] | None = None,
) -> dict[str, ColumnKind]:
    """Each column's kind: ``kinds`` first, then ``categorical``, then :func:`infer_kind`."""
    out: dict[str, ColumnKind] = {}
    for name in columns:
        if kinds and name in kinds:
            if kinds[name] not in ("numeric", "categorical", "embedding", "text"):
                raise InvalidArgument(f"unknown kind {kinds[name]!r} for {name!r}; use numeric, categorical, ...")
            out[name] = kinds[name]
        elif categorical and name in categorical:
            out[name] = "categorical"
        else:
            out[name] = infer_kind(frame[name])
    return out


def profile(
    frame: pd.DataFrame,
    columns: list[str] | None = None,
    categorical: list[str] | None = None,
    kinds: dict[str, ColumnKind] | None = None,
) -> Profile:
    """Profile ``columns`` (default: all) of ``frame``; ``categorical``/``kinds`` override inferred kinds."""
    if not isinstance(frame, pd.DataFrame):
        raise InvalidArgument(f"profile() needs a pandas DataFrame, not {type(frame).__name__}")
    columns = list(frame.columns) if columns is None else list(columns)
    unknown = [c for c in columns if c not in frame.columns]
    if unknown:
        raise InvalidArgument(f"columns {unknown} are not in the frame (it has {list(frame.columns)})")
    resolved = resolve_kinds(frame, columns, categorical, kinds)
    profiles = {name: column_profile(sample_of(frame[name], resolved[name])) for name in columns}
    return Profile(rows=len(frame), columns=profiles)
