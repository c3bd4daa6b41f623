"""Request-log rows -> the feature frame a monitor compares with its reference.

The serving request log keeps each request's tensors as JSON (``{"tensor name": nested lists}``,
see ``serving/_reqlog.py``), however the caller sent them: OIP ``inputs`` (usually one 2-D tensor,
``[rows, features]``), or ``/invocations`` tables (``dataframe_split``/``dataframe_records``: one
1-D tensor per column), ``instances``/``inputs`` (a tensor called ``input`` or named tensors).
Decoding mirrors what the model runner does with them:

- one 2-D tensor with one value per feature -> the features by position (the monitor's feature
  order, which is the model's signature order when it has one);
- named tensors -> the features by name (a feature no row carries stays absent, so data quality
  reports it as a missing column); a single 1-D tensor feeds a single-feature model.

A request with a batch of ``n`` rows gives ``n`` rows, all with its request id. Shadow calls and
failed requests are not served traffic and are left out; a row that cannot be decoded is counted
in :attr:`Decoded.malformed` (with the first reasons kept) and skipped — never an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd

PROBA_NAME = re.compile(r"proba|probabilit", re.IGNORECASE)
MAX_REASONS = 5
OK, MALFORMED, FAILED, SHADOW = 0, 1, 2, 3


@dataclass
class Decoded:
    """The decoded rows of a slice of the request log."""

    frame: pd.DataFrame  # feature columns present in the log, one row per decoded row
    ids: np.ndarray  # request id per row
    times: np.ndarray  # request time per row (epoch ms)
    prediction: np.ndarray | None  # the served prediction per row (None when no output had one)
    proba: np.ndarray | None  # class probabilities per row, when the model's output had them
    source: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))  # log row per row
    outcome: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int8))  # per log row: OK, ...
    reasons: dict[int, str] = field(default_factory=dict)  # log row -> why it could not be decoded

    @property
    def rows(self) -> int:
        return len(self.frame)

    @property
    def requests(self) -> int:
        return int((self.outcome == OK).sum())

    @property
    def malformed(self) -> int:
        """Request-log rows skipped because they could not be decoded."""
        return int((self.outcome == MALFORMED).sum())

    @property
    def failed(self) -> int:
        """Requests the server answered with an error (not monitored)."""
        return int((self.outcome == FAILED).sum())

    def slice(self, start: int, stop: int) -> Decoded:
        """The rows decoded from log rows ``[start, stop)``."""
        lo, hi = np.searchsorted(self.source, [start, stop], side="left")
        frame = self.frame.iloc[lo:hi].reset_index(drop=True)
        return Decoded(
            frame=frame,
            ids=self.ids[lo:hi],
            times=self.times[lo:hi],
            prediction=None if self.prediction is None else self.prediction[lo:hi],
            proba=None if self.proba is None else self.proba[lo:hi],
            source=self.source[lo:hi],
            outcome=self.outcome[start:stop],
            reasons={k: v for k, v in self.reasons.items() if start <= k < stop},
        )

    def note(self) -> str | None:
        """What was left out, for the window's note (None when nothing was)."""
        parts = []
        if self.malformed:
            reasons = "; ".join(list(self.reasons.values())[:MAX_REASONS])
            parts.append(f"{self.malformed} request-log rows could not be decoded ({reasons})")
        if self.failed:
            parts.append(f"{self.failed} failed requests left out")
        return "; ".join(parts) or None


class _Bad(ValueError):
    """A row that cannot be decoded; the message says why."""


def _shape(value: Any) -> list[int]:
    try:
        return list(np.shape(value))
    except ValueError:
        return [-1]


def _rows(value: Any) -> list[Any]:
    """A tensor's values along the row axis (a scalar is one row)."""
    return value if isinstance(value, list) else [value]


def _columns(tensors: dict[str, Any], features: list[str], known: set[str]) -> tuple[Any, bool, int]:
    """One request's inputs: (rows, True) for one 2-D tensor with a value per feature (rows are
    lists in feature order), or ({feature: values}, False) for named inputs; and the row count.

    Plain lists, not numpy: a window holds up to millions of one-row requests, and per-request
    arrays would cost more than the tests themselves."""
    if not tensors:
        raise _Bad("no inputs")
    k = len(features)
    named = [n for n in tensors if n in known]
    if len(tensors) == 1 and not named:
        name, value = next(iter(tensors.items()))
        rows = _rows(value)
        if rows and all(isinstance(r, list) and len(r) == k for r in rows):
            return rows, True, len(rows)
        if k == 1 and not any(isinstance(r, list) for r in rows):
            return [[r] for r in rows], True, len(rows)
        raise _Bad(f"input {name!r} has shape {_shape(value)}, expected [-1, {k}]")
    if not named:
        raise _Bad(f"no input is named like a feature (got {', '.join(sorted(map(str, tensors)))})")
    cols: dict[str, list[Any]] = {}
    for name in named:
        rows = _rows(tensors[name])
        if any(isinstance(r, list) for r in rows):
            if not all(isinstance(r, list) and len(r) == 1 for r in rows):
                raise _Bad(f"input {name!r} has shape {_shape(tensors[name])}, expected one value per row")
            rows = [r[0] for r in rows]
        cols[name] = rows
    sizes = {len(v) for v in cols.values()}
    if len(sizes) != 1:
        raise _Bad(f"inputs have different row counts {sorted(sizes)}")
    return cols, False, sizes.pop()


def _outputs(tensors: dict[str, Any], n: int) -> tuple[list[Any] | None, list[Any] | None]:
    """(prediction, probabilities) of one request's outputs; either may be None."""
    prediction: list[Any] | None = None
    proba: list[Any] | None = None
    for name, value in tensors.items():
        rows = _rows(value)
        if len(rows) != n or not rows:
            continue
        first = rows[0]
        if isinstance(first, list) and len(first) > 1:
            if proba is None and _is_proba(str(name), rows):
                proba = rows
        elif prediction is None or name == "predict":
            if isinstance(first, list):
                if not all(isinstance(r, list) and len(r) == 1 for r in rows):
                    continue
                rows = [r[0] for r in rows]
            prediction = rows
    return prediction, proba


def _is_proba(name: str, rows: list[Any]) -> bool:
    """An output of class probabilities: named so, or float rows in [0, 1] that sum to 1."""
    width = len(rows[0])
    try:
        if not all(isinstance(r, list) and len(r) == width for r in rows):
            return False
        if PROBA_NAME.search(name):  # trusted by name; non-numbers are refused when the matrix is built
            return True
        return all(all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in r) and abs(sum(r) - 1.0) <= 1e-3 for r in rows)
    except TypeError:
        return False


def decode(log: pd.DataFrame, features: list[str]) -> Decoded:
    """Decode request-log rows (columns of ``treadle.rollout._request_log.COLUMNS``) into rows with
    the monitor's ``features`` (see the module docstring)."""
    known = set(features)
    matrix: list[Any] = []  # rows of 2-D requests, in feature order
    matrix_at: list[int] = []  # the decoded row each of them is
    named: dict[str, list[tuple[int, list[Any]]]] = {f: [] for f in features}  # (first row, values)
    ids: list[Any] = []
    times: list[int] = []
    source: list[int] = []
    preds: list[Any] = []
    probas: list[Any] = []
    has_pred, all_proba = False, True
    outcome = np.zeros(len(log), dtype=np.int8)
    reasons: dict[int, str] = {}
    total = 0
    routes = log["route"].tolist() if "route" in log.columns else [None] * len(log)
    statuses = log["status"].tolist() if "status" in log.columns else [200] * len(log)
    stamps = _times(log)
    for at, (rid, inputs_text, outputs_text, route, status) in enumerate(
        zip(log["id"].tolist(), log["inputs"].tolist(), log["outputs"].tolist(), routes, statuses, strict=True)
    ):
        if route == "shadow":
            outcome[at] = SHADOW
            continue
        if status is not None and not pd.isna(status) and int(status) != 200:
            outcome[at] = FAILED
            continue
        try:
            inputs = orjson.loads(inputs_text) if isinstance(inputs_text, str) else None
            if not isinstance(inputs, dict):
                raise _Bad("inputs are not a JSON object")
            columns, is_matrix, n = _columns(inputs, features, known)
            outputs = orjson.loads(outputs_text) if isinstance(outputs_text, str) else {}
            pred, proba = _outputs(outputs if isinstance(outputs, dict) else {}, n)
        except (_Bad, orjson.JSONDecodeError, TypeError, ValueError) as exc:
            outcome[at] = MALFORMED
            reasons[at] = f"{rid}: {exc}"
            continue
        if n == 0:
            continue
        if is_matrix:
            matrix.extend(columns)
            matrix_at.extend(range(total, total + n))
        else:
            for name, values in columns.items():
                named[name].append((total, values))
        ids.extend([rid] * n)
        times.extend([int(stamps[at])] * n)
        source.extend([at] * n)
        has_pred = has_pred or pred is not None
        preds.extend(pred if pred is not None else [None] * n)
        if proba is None:
            all_proba = False
        elif all_proba:
            probas.extend(proba)
        total += n
    frame = _frame(features, matrix, matrix_at, named, total)
    return Decoded(
        frame=frame,
        ids=np.array(ids, dtype=object),
        times=np.array(times, dtype=np.int64),
        prediction=_column(preds).to_numpy() if has_pred else None,
        proba=_proba(probas) if all_proba and probas else None,
        source=np.array(source, dtype=np.int64),
        outcome=outcome,
        reasons=reasons,
    )


def _times(log: pd.DataFrame) -> np.ndarray:
    """Request times as epoch milliseconds."""
    if len(log) == 0:
        return np.array([], dtype=np.int64)
    if "time_ms" in log.columns:
        return log["time_ms"].to_numpy(dtype=np.int64)
    stamps = log["time"].dt.tz_convert(None).to_numpy().astype("datetime64[ms]")
    return stamps.astype(np.int64)


def _frame(
    features: list[str],
    matrix: list[Any],
    matrix_at: list[int],
    named: dict[str, list[tuple[int, list[Any]]]],
    total: int,
) -> pd.DataFrame:
    """The feature columns; a feature no request carried is left out (a missing column)."""
    block = None
    if matrix:
        try:
            block = np.array(matrix)
        except ValueError:  # cells of different shapes (e.g. embeddings): keep them as objects
            block = np.empty((len(matrix), len(features)), dtype=object)
            for i, row in enumerate(matrix):
                block[i, :] = row
        if block.dtype.kind in "US":  # numbers beside text: numpy made them all text, keep their types
            block = np.array(matrix, dtype=object)
    only_matrix = len(matrix_at) == total
    data: dict[str, Any] = {}
    for j, name in enumerate(features):
        if block is not None and only_matrix:
            data[name] = _column(block[:, j])
            continue
        if block is None and not named[name]:
            continue
        values = np.full(total, None, dtype=object)
        if block is not None:
            values[matrix_at] = block[:, j]
        for start, part in named[name]:
            values[start : start + len(part)] = part
        data[name] = _column(values)
    return pd.DataFrame(data, index=pd.RangeIndex(total))


def _column(values: Any) -> pd.Series:
    """One feature over every decoded row. Numbers come back as floats, missing ones as NaN (JSON
    turns NaN/inf into null, which must read back as missing, not as text); text stays text."""
    series = pd.Series(values)
    if series.dtype == object:
        present = series.notna()
        numbers = series[present].map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
        if present.any() and numbers.all():
            return pd.to_numeric(series.where(present), errors="coerce").astype(float)
    return series


def _proba(rows: list[Any]) -> np.ndarray | None:
    # Probabilities are used only when every row has them with the same number of classes.
    try:
        arr = np.asarray(rows, dtype=float)
    except (TypeError, ValueError):
        return None
    return arr if arr.ndim == 2 else None
