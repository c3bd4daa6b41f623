"""Slices: the rows of each distinct value of a column (or combination of columns), or of a query.

``slices=["region", ("region", "segment"), {"young": "age < 30"}]``: a column name makes one slice
per value (``region=EU``), a tuple one per combination present (``region=EU, segment=b``) and a
``{name: pandas query}`` mapping one slice per entry. Row indices come from one groupby per spec.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from treadle.errors import InvalidArgument

SliceSpec = str | tuple[str, ...] | dict[str, str]


@dataclass(frozen=True)
class Slice:
    label: str
    rows: np.ndarray  # positional row indices into the evaluated frame


def _value(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "null"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _check_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidArgument(f"slice columns {missing} are not in the data; it has {[str(c) for c in frame.columns]}")


def make_slices(frame: pd.DataFrame, specs: Sequence[SliceSpec] | SliceSpec | None) -> list[Slice]:
    """Every slice the specs name, in spec order then value order."""
    if specs is None:
        return []
    if isinstance(specs, str | dict | tuple):
        specs = [specs]
    out: list[Slice] = []
    for spec in specs:
        if isinstance(spec, dict):
            out.extend(_queries(frame, spec))
            continue
        columns = [spec] if isinstance(spec, str) else list(spec) if isinstance(spec, tuple | list) else []
        if not columns or not all(isinstance(c, str) for c in columns):
            raise InvalidArgument(f"a slice is a column name, a tuple of column names or {{name: query}}, not {spec!r}")
        _check_columns(frame, columns)
        key: Any = columns[0] if len(columns) == 1 else columns
        groups = frame.groupby(key, sort=True, dropna=False, observed=True).indices
        for values, rows in groups.items():
            vals = values if isinstance(values, tuple) else (values,)
            label = ", ".join(f"{c}={_value(v)}" for c, v in zip(columns, vals, strict=True))
            out.append(Slice(label, np.asarray(rows)))
    labels = [s.label for s in out]
    if len(set(labels)) != len(labels):
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        raise InvalidArgument(f"slices named twice: {dupes}; give each slice spec once")
    return out


def _queries(frame: pd.DataFrame, spec: dict[str, str]) -> list[Slice]:
    out = []
    positions = pd.Series(np.arange(len(frame)), index=frame.index)
    for name, query in spec.items():
        if not isinstance(query, str):
            raise InvalidArgument(f"slice {name!r}: give a pandas query string such as 'age < 30', not {query!r}")
        try:
            mask = frame.eval(query)
        except Exception as exc:
            raise InvalidArgument(f"slice {name!r}: bad query {query!r}: {exc}") from None
        if not isinstance(mask, pd.Series) or not pd.api.types.is_bool_dtype(mask.dtype):
            raise InvalidArgument(f"slice {name!r}: query {query!r} is not a condition (true or false per row)")
        picked = positions[mask]
        out.append(Slice(str(name), picked.to_numpy()))
    return out


_BAD = re.compile(r"[^\w\-. :]")


def slice_key(label: str) -> str:
    """The metric-key form of a slice label (metric keys allow letters, digits, ``_-./ :``):
    ``region=EU, segment=b`` -> ``region:EU/segment:b``."""
    parts = [_BAD.sub("_", p.strip().replace("=", ":")) for p in label.split(", ")]
    return "/".join(p for p in parts if p)[:200] or "_"
