"""Realised model performance from labels: the standard metrics in plain numpy.

scikit-learn is an optional extra, so the metrics are computed here; they match
``sklearn.metrics`` (same zero-division conventions, same tie handling) to float precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from treadle.errors import InvalidArgument

__all__ = ["binary_auc", "performance"]


def performance(
    task: str,
    y_true: Any,
    y_pred: Any,
    proba: np.ndarray | Sequence[Any] | None = None,
    classes: Sequence[Any] | None = None,
) -> dict[str, float]:
    """Metrics of predictions against labels.

    Classification: ``accuracy``, ``precision``, ``recall``, ``f1`` (binary: of the positive class,
    ``classes[-1]`` or the larger label; multiclass: macro over ``classes``), and with ``proba``
    ``roc_auc`` (binary: the positive class's probability, or a two-column matrix; multiclass:
    one-vs-rest macro) and ``log_loss``. ``proba`` columns follow ``classes`` (default: the sorted
    labels). Regression: ``mae``, ``mse``, ``rmse``, ``r2`` and ``mape`` (left out when a label is 0).

    Rows whose label or prediction is missing are dropped; no rows left gives ``{}``.
    """
    if task not in ("classification", "regression"):
        raise InvalidArgument(f"unknown task {task!r}: use 'classification' or 'regression'")
    t, p = _as_1d(y_true, "y_true"), _as_1d(y_pred, "y_pred")
    if len(t) != len(p):
        raise InvalidArgument(f"y_true has {len(t)} rows but y_pred has {len(p)}: pass one prediction per label")
    pr: np.ndarray | None = None
    if proba is not None:
        pr = np.asarray(proba, dtype=float)
        if pr.ndim not in (1, 2) or len(pr) != len(t):
            raise InvalidArgument(
                f"proba has shape {pr.shape} but there are {len(t)} labels: "
                "pass one row of class probabilities per label"
            )
    keep = ~(pd.isna(t) | pd.isna(p))
    if not keep.all():
        t, p = t[keep], p[keep]
        pr = None if pr is None else pr[keep]
    if len(t) == 0:
        return {}
    if task == "regression":
        return _regression(t, p)
    return _classification(t, p, pr, classes)


def _as_1d(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values.to_numpy() if isinstance(values, pd.Series | pd.Index) else values)
    if arr.ndim == 0:
        raise InvalidArgument(f"{name} must be a sequence of values, not a scalar")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidArgument(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _regression(t: np.ndarray, p: np.ndarray) -> dict[str, float]:
    try:
        y, yhat = t.astype(float), p.astype(float)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"regression labels and predictions must be numbers ({exc})") from None
    err = y - yhat
    mse = float(np.mean(err**2))
    ss_res = float(np.sum(err**2))
    ss_tot = float(np.sum((y - np.mean(y)) ** 2))
    # sklearn's force_finite convention for a constant target
    r2 = (1.0 if ss_res == 0 else 0.0) if ss_tot == 0 else 1.0 - ss_res / ss_tot
    out = {"mae": float(np.mean(np.abs(err))), "mse": mse, "rmse": float(np.sqrt(mse)), "r2": r2}
    if not np.any(y == 0):  # MAPE is undefined (infinite) with a zero label
        out["mape"] = float(np.mean(np.abs(err) / np.abs(y)))
    return out


def _labels(t: np.ndarray, p: np.ndarray, classes: Sequence[Any] | None) -> list[Any]:
    if classes is not None:
        labels = list(classes)
        if not labels:
            raise InvalidArgument("classes is empty: pass the model's class labels, or None to infer them")
        return labels
    try:
        return list(np.union1d(t, p))
    except TypeError:
        raise InvalidArgument(
            "labels and predictions mix types that cannot be ordered (e.g. numbers and strings): "
            "convert them to one type or pass classes="
        ) from None


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall, f1 with sklearn's zero_division=0 convention."""

    def div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b != 0)

    return div(tp, tp + fp), div(tp, tp + fn), div(2 * tp, 2 * tp + fp + fn)


def _classification(
    t: np.ndarray, p: np.ndarray, pr: np.ndarray | None, classes: Sequence[Any] | None
) -> dict[str, float]:
    labels = _labels(t, p, classes)
    t, p = t.astype(object), p.astype(object)  # object compare: no dtype-mismatch surprises
    out: dict[str, float] = {"accuracy": float(np.mean(t == p))}
    # one-hot of labels and predictions over the classes: (n, k) booleans
    lab = np.empty(len(labels), dtype=object)
    lab[:] = labels
    t_hot = t[:, None] == lab[None, :]
    p_hot = p[:, None] == lab[None, :]
    tp = np.sum(t_hot & p_hot, axis=0).astype(float)
    fp = np.sum(~t_hot & p_hot, axis=0).astype(float)
    fn = np.sum(t_hot & ~p_hot, axis=0).astype(float)
    prec, rec, f1 = _prf(tp, fp, fn)
    binary = len(labels) <= 2
    sel = slice(len(labels) - 1, None) if binary else slice(None)  # binary: the positive class only
    out |= {"precision": float(np.mean(prec[sel])), "recall": float(np.mean(rec[sel])), "f1": float(np.mean(f1[sel]))}
    if pr is not None:
        out |= _proba_metrics(t_hot, pr, labels)
    return out


def _proba_metrics(t_hot: np.ndarray, pr: np.ndarray, labels: list[Any]) -> dict[str, float]:
    k = len(labels)
    if pr.ndim == 1:
        if k > 2:
            raise InvalidArgument(f"proba is one-dimensional but there are {k} classes: pass one column per class")
        pr = np.column_stack([1.0 - pr, pr])
    if pr.shape[1] != max(k, 2):
        raise InvalidArgument(
            f"proba has {pr.shape[1]} columns but there are {k} classes {labels[:10]}: one column per class, in order"
        )
    if k == 1:  # a single known class: pad so the positive column lines up
        t_hot = np.column_stack([np.zeros(len(t_hot), dtype=bool), t_hot])
    if not np.all(np.isfinite(pr)):
        raise InvalidArgument("proba contains NaN or infinite values: pass probabilities in [0, 1]")
    out: dict[str, float] = {}
    cols = [pr.shape[1] - 1] if pr.shape[1] == 2 else list(range(pr.shape[1]))
    aucs = [binary_auc(t_hot[:, j], pr[:, j]) for j in cols]
    known = [a for a in aucs if a is not None]  # a class absent from the labels has no AUC
    if known:
        out["roc_auc"] = float(np.mean(known))
    # sklearn's log_loss: clip to [eps, 1 - eps], no renormalisation
    eps = np.finfo(float).eps
    clipped = np.clip(pr, eps, 1 - eps)
    has = t_hot.any(axis=1)
    if has.all():  # labels outside the classes have no probability column
        out["log_loss"] = float(-np.mean(np.log(clipped[t_hot])))
    return out


def binary_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC as the Mann-Whitney U statistic (ties count half), equal to sklearn's trapezoidal AUC.

    None when either class is absent."""
    n_pos = int(np.count_nonzero(positive))
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    # average ranks over ties
    first = np.r_[True, s[1:] != s[:-1]]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(s)]
    avg_rank = (starts + ends + 1) / 2.0  # ranks are 1-based: mean of starts+1 .. ends
    ranks = np.empty(len(s))
    ranks[order] = avg_rank[group]
    u = float(np.sum(ranks[positive])) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)
