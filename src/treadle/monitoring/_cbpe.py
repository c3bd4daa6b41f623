"""Confidence-based performance estimation (CBPE, after NannyML): classifier metrics without labels.

When a model's probabilities are calibrated, a prediction with probability ``p`` is right with
probability ``p``, so the *expected* confusion matrix of a window follows from the probabilities
alone. :meth:`CBPE.fit` learns, on a labelled reference, an isotonic calibration per class (skipped
when the reference shows the scores are calibrated already, NannyML's test); :meth:`CBPE.estimate`
turns a window's probabilities into estimated accuracy, precision, recall, f1 and ROC AUC. The
estimate holds under covariate shift; it cannot see concept shift (``P(y | x)`` changing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from treadle.errors import InvalidArgument
from treadle.monitoring._isotonic import Isotonic, calibration_p_value, expected_calibration_error

__all__ = ["CBPE", "needs_calibration"]

CALIBRATED_P = 0.05  # below this p-value the reference's scores count as miscalibrated


def needs_calibration(positive: np.ndarray, score: np.ndarray, *, splits: int = 10, bins: int = 10) -> bool:
    """NannyML's test: does isotonic calibration lower the expected calibration error out of sample?

    Ten stratified 90/10 shuffles: calibrate on the 90 %, pool the 10 % test rows, compare the ECE
    (equal-count bins) of the raw and the calibrated scores. Single-class or (near) perfectly
    separated references are left alone."""
    from treadle.monitoring._performance import binary_auc

    auc = binary_auc(positive, score)
    if auc is None or auc > 0.999:
        return False
    rng = np.random.default_rng(42)
    by_class = [np.flatnonzero(positive), np.flatnonzero(~positive)]
    truth, raw, calibrated = [], [], []
    for _ in range(splits):
        test_parts = [rng.choice(idx, size=max(1, round(0.1 * len(idx))), replace=False) for idx in by_class]
        test = np.concatenate(test_parts)
        train = np.ones(len(score), dtype=bool)
        train[test] = False
        iso = Isotonic.fit(score[train], positive[train].astype(float))
        truth.append(positive[test])
        raw.append(score[test])
        calibrated.append(iso.predict(score[test]))
    y, before, after = np.concatenate(truth), np.concatenate(raw), np.concatenate(calibrated)
    if len(y) < 4:  # too few rows for two bins
        return False
    return expected_calibration_error(y, before, bins) > expected_calibration_error(y, after, bins)


class CBPE:
    """Estimated classifier performance from probabilities alone (binary or multiclass).

    ``calibrate``: None (default) calibrates each class only where NannyML's test says it helps;
    True always; False never. "Helps" means both: the reference's ECE is larger than sampling noise
    explains (:func:`calibration_p_value`), and NannyML's cross-validated test finds isotonic
    calibration lowers it. Binary: the positive class is ``classes[-1]`` and its probability is
    the one calibrated. Multiclass: one-vs-rest calibration per class, rows renormalised to 1."""

    def __init__(self, calibrate: bool | None = None) -> None:
        self.calibrate_mode = calibrate
        self.classes: list[Any] = []
        self.calibrators: list[Isotonic | None] = []
        self.reference_rows = 0

    @property
    def fitted(self) -> bool:
        return bool(self.classes)

    @property
    def calibrated(self) -> list[bool]:
        """Per calibrated column (binary: one), whether a calibration map is applied."""
        return [c is not None for c in self.calibrators]

    def fit(self, reference_proba: Any, reference_labels: Any, classes: Sequence[Any] | None = None) -> CBPE:
        """Learn the calibration from a labelled reference; proba columns follow ``classes``."""
        labels = np.asarray(reference_labels, dtype=object)
        if labels.ndim != 1:
            raise InvalidArgument(f"reference_labels must be one-dimensional, got shape {labels.shape}")
        if classes is None:
            present = labels[~pd.isna(labels)]
            try:
                classes = list(np.unique(present))
            except TypeError:
                raise InvalidArgument("reference labels mix types that cannot be ordered: pass classes=") from None
        self.classes = [_plain(c) for c in classes]
        if len(self.classes) < 2:
            raise InvalidArgument(f"CBPE needs at least two classes, got {self.classes}: pass the model's classes")
        proba = self._columns(reference_proba)
        if len(proba) != len(labels):
            raise InvalidArgument(
                f"reference_proba has {len(proba)} rows but reference_labels has {len(labels)}: one row per label"
            )
        keep = ~pd.isna(labels) & np.all(np.isfinite(proba), axis=1)
        proba, labels = proba[keep], labels[keep]
        hot = _one_hot(labels, self.classes)
        unknown = ~hot.any(axis=1)
        if unknown.any():
            seen = sorted({str(v) for v in labels[unknown]})[:5]
            raise InvalidArgument(f"reference labels {seen} are not among the classes {self.classes[:10]}")
        if self._binary:
            hot = hot[:, 1:]
        self.calibrators = []
        for j in range(proba.shape[1]):
            positive, score = hot[:, j], proba[:, j]
            wanted = self.calibrate_mode
            if wanted is None:
                # calibrated already (ECE within sampling noise)? Isotonic maps overfit the ends and
                # bias estimates upwards, so they are only worth it when the scores are off.
                wanted = len(score) >= 4 and calibration_p_value(positive, score) < CALIBRATED_P
                wanted = wanted and needs_calibration(positive, score)
            ok = wanted and positive.any() and not positive.all()
            self.calibrators.append(Isotonic.fit(score, positive.astype(float)) if ok else None)
        self.reference_rows = len(labels)
        return self

    @property
    def _binary(self) -> bool:
        return len(self.classes) == 2

    def _columns(self, proba: Any) -> np.ndarray:
        """The scores that get calibrated: (n, 1) positive-class for binary, (n, k) for multiclass."""
        try:
            arr = np.asarray(proba, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"proba must be numbers in [0, 1] ({exc})") from None
        k = len(self.classes)
        if arr.ndim == 1 and self._binary:
            return arr[:, None]
        if arr.ndim == 2 and arr.shape[1] == k:
            return arr[:, 1:] if self._binary else arr
        raise InvalidArgument(
            f"proba has shape {arr.shape} but the model has {k} classes: "
            f"pass an (n, {k}) matrix of class probabilities" + (" or the positive class's" if self._binary else "")
        )

    def calibrate(self, proba: Any) -> np.ndarray:
        """Calibrated probabilities in the shape :meth:`fit` uses: (n, 1) binary, (n, k) multiclass."""
        if not self.fitted:
            raise InvalidArgument("CBPE is not fitted: call fit(reference_proba, reference_labels, classes) first")
        raw = self._columns(proba)
        cal = np.column_stack([c.predict(raw[:, j]) if c else raw[:, j] for j, c in enumerate(self.calibrators)])
        if not self._binary:
            total = cal.sum(axis=1, keepdims=True)
            uniform = np.full_like(cal, 1.0 / cal.shape[1])
            cal = np.divide(cal, total, out=uniform, where=total != 0)
        return np.clip(cal, 0.0, 1.0)

    def estimate(self, proba: Any, y_pred: Any = None) -> dict[str, float]:
        """Estimated ``accuracy``, ``precision``, ``recall``, ``f1`` (multiclass: macro one-vs-rest)
        and ``roc_auc`` of a window. ``y_pred``: the labels the model predicted (default: the most
        probable class of the raw probabilities). Rows with non-finite probabilities are skipped."""
        cal = self.calibrate(proba)  # raises when not fitted
        raw = self._columns(proba)
        pred = self._predicted(raw, y_pred)
        keep = np.all(np.isfinite(raw), axis=1)
        raw, cal, pred = raw[keep], cal[keep], pred[keep]
        if len(raw) == 0:
            return {}
        if self._binary:
            hits = np.column_stack([~pred, pred])  # predicted-class indicators, (n, 2)
            p_pos = cal[:, 0]
            cal2 = np.column_stack([1.0 - p_pos, p_pos])
            raw2 = raw
        else:
            hits = pred[:, None] == np.arange(len(self.classes))[None, :]
            cal2, raw2 = cal, raw
        out = {"accuracy": float(np.mean(np.sum(np.where(hits, cal2, 0.0), axis=1)))}
        cols = [1] if self._binary else list(range(len(self.classes)))
        prec, rec, f1, auc = [], [], [], []
        for j in cols:
            p, hit = cal2[:, j], hits[:, j]
            tp, fp, fn = float(np.sum(p[hit])), float(np.sum(1.0 - p[hit])), float(np.sum(p[~hit]))
            prec.append(tp / (tp + fp) if tp + fp > 0 else 0.0)
            rec.append(tp / (tp + fn) if tp + fn > 0 else 0.0)
            f1.append(tp / (tp + 0.5 * (fp + fn)) if tp + fp + fn > 0 else 0.0)
            a = _expected_auc(raw2[:, 0] if self._binary else raw2[:, j], p)
            if a is not None:
                auc.append(a)
        out |= {"precision": float(np.mean(prec)), "recall": float(np.mean(rec)), "f1": float(np.mean(f1))}
        if auc:
            out["roc_auc"] = float(np.mean(auc))
        return out

    def _predicted(self, raw: np.ndarray, y_pred: Any) -> np.ndarray:
        """Binary: bool (positive predicted); multiclass: class index per row."""
        if y_pred is None:
            # argmax of the raw probabilities (ties to the first class, like predict())
            return raw[:, 0] > 0.5 if self._binary else np.argmax(np.nan_to_num(raw, nan=-1.0), axis=1)
        given = np.asarray(y_pred, dtype=object)
        if given.shape != (len(raw),):
            raise InvalidArgument(f"y_pred has shape {given.shape} but proba has {len(raw)} rows")
        hot = _one_hot(given, self.classes)
        if not hot.any(axis=1).all():
            bad = sorted({str(v) for v in given[~hot.any(axis=1)]})[:5]
            raise InvalidArgument(f"predicted labels {bad} are not among the classes {self.classes[:10]}")
        idx = np.argmax(hot, axis=1)
        return idx == 1 if self._binary else idx

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (it is kept in ``Profile.extra["cbpe"]``)."""
        return {
            "kind": "cbpe",
            "version": 1,
            "classes": self.classes,
            "calibrate": self.calibrate_mode,
            "reference_rows": self.reference_rows,
            "calibrators": [c.to_dict() if c else None for c in self.calibrators],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CBPE:
        """The inverse of :meth:`to_dict`."""
        if not isinstance(data, dict) or data.get("kind") != "cbpe":
            raise InvalidArgument("not a CBPE state: expected the dict CBPE.to_dict() returns")
        out = cls(calibrate=data.get("calibrate"))
        out.classes = list(data.get("classes") or [])
        out.reference_rows = int(data.get("reference_rows", 0))
        out.calibrators = [Isotonic.from_dict(c) if c else None for c in data.get("calibrators", [])]
        if len(out.classes) < 2 or len(out.calibrators) != (1 if out._binary else len(out.classes)):
            raise InvalidArgument("CBPE state has inconsistent classes and calibrators: refit it")
        return out


def _one_hot(values: np.ndarray, classes: list[Any]) -> np.ndarray:
    """(n, k) booleans: row i is class j. Falls back to comparing as text when that matches more
    rows (a JSON round trip can turn 1 into "1" on one side only)."""
    lab = np.empty(len(classes), dtype=object)
    lab[:] = classes
    hot = np.asarray(values[:, None] == lab[None, :], dtype=bool)
    if not hot.any(axis=1).all():
        text = np.array([str(v) for v in values], dtype=object)
        as_text = text[:, None] == np.array([str(c) for c in classes], dtype=object)[None, :]
        if as_text.any(axis=1).sum() > hot.any(axis=1).sum():
            hot = as_text
    return hot


def _plain(value: Any) -> Any:
    """A class label as a JSON-able Python scalar."""
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _expected_auc(rank_score: np.ndarray, p: np.ndarray) -> float | None:
    """ROC AUC of the expected confusion matrices over all thresholds (NannyML's estimate).

    Rows are ranked by the raw score (what the realised AUC ranks by) and count as ``p`` positive and
    ``1 - p`` negative; tied scores move together. None when the expected positives or negatives are 0."""
    pos_total, neg_total = float(np.sum(p)), float(np.sum(1.0 - p))
    if pos_total <= 0 or neg_total <= 0:
        return None
    order = np.argsort(-rank_score, kind="mergesort")
    s, q = rank_score[order], p[order]
    last = np.r_[s[1:] != s[:-1], True]  # the end of each run of tied scores
    tpr = np.r_[0.0, np.cumsum(q)[last] / pos_total]
    fpr = np.r_[0.0, np.cumsum(1.0 - q)[last] / neg_total]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
