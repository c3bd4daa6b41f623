"""Realised metrics against scikit-learn's on fixed data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from treadle.errors import InvalidArgument
from treadle.monitoring._performance import binary_auc, performance

TOL = 1e-9


def _close(got: dict[str, float], want: dict[str, float]) -> None:
    assert set(got) == set(want), (sorted(got), sorted(want))
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=TOL), key


def _binary_data(seed: int = 0, n: int = 500) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = np.round(rng.uniform(size=n), 2)  # rounded: plenty of tied scores
    y = (rng.uniform(size=n) < p).astype(int)
    pred = (p > 0.5).astype(int)
    return y, pred, p


def test_binary_classification_matches_sklearn() -> None:
    y, pred, p = _binary_data()
    want = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred),
        "recall": skm.recall_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "roc_auc": skm.roc_auc_score(y, p),
        "log_loss": skm.log_loss(y, np.column_stack([1 - p, p])),
    }
    _close(performance("classification", y, pred, proba=p), want)
    # a two-column matrix gives the same numbers
    _close(performance("classification", y, pred, proba=np.column_stack([1 - p, p])), want)


def test_binary_string_labels_positive_is_last_class() -> None:
    y, pred, p = _binary_data(seed=1)
    names = np.array(["no", "yes"])
    yt, yp = names[y], names[pred]
    got = performance("classification", yt, yp, proba=p, classes=["no", "yes"])
    assert got["precision"] == pytest.approx(skm.precision_score(yt, yp, pos_label="yes"), abs=TOL)
    assert got["recall"] == pytest.approx(skm.recall_score(yt, yp, pos_label="yes"), abs=TOL)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=TOL)
    # reversed classes: the positive class is now "no", and proba is read as P("no")
    flipped = performance("classification", yt, yp, proba=1 - p, classes=["yes", "no"])
    assert flipped["precision"] == pytest.approx(skm.precision_score(yt, yp, pos_label="no"), abs=TOL)
    assert flipped["roc_auc"] == pytest.approx(skm.roc_auc_score(1 - y, 1 - p), abs=TOL)


def test_multiclass_macro_matches_sklearn() -> None:
    rng = np.random.default_rng(2)
    n, k = 600, 4
    logits = rng.normal(size=(n, k))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(k, p=row) for row in proba])
    pred = proba.argmax(axis=1)
    pred[:20] = 3  # some disagreement
    want = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, average="macro"),
        "recall": skm.recall_score(y, pred, average="macro"),
        "f1": skm.f1_score(y, pred, average="macro"),
        "roc_auc": skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"),
        "log_loss": skm.log_loss(y, proba),
    }
    _close(performance("classification", y, pred, proba=proba), want)


def test_multiclass_with_a_class_never_predicted_or_seen() -> None:
    y = np.array([0, 1, 1, 2, 2, 2, 0, 1])
    pred = np.array([0, 1, 2, 2, 2, 1, 1, 1])
    classes = [0, 1, 2, 3]  # class 3 never appears: counts as zero in the macro average, like sklearn
    got = performance("classification", y, pred, classes=classes)
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        want = fn(y, pred, average="macro", labels=classes, zero_division=0)
        assert got[name] == pytest.approx(want, abs=TOL), name


def test_regression_matches_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(10, 3, size=400)
    yhat = y + rng.normal(0, 1, size=400)
    want = {
        "mae": skm.mean_absolute_error(y, yhat),
        "mse": skm.mean_squared_error(y, yhat),
        "rmse": float(np.sqrt(skm.mean_squared_error(y, yhat))),
        "r2": skm.r2_score(y, yhat),
        "mape": skm.mean_absolute_percentage_error(y, yhat),
    }
    _close(performance("regression", y, yhat), want)


def test_regression_skips_mape_on_zero_labels_and_constant_target() -> None:
    got = performance("regression", [0.0, 1.0, 2.0], [0.5, 1.0, 2.5])
    assert "mape" not in got
    assert got["r2"] == pytest.approx(skm.r2_score([0.0, 1.0, 2.0], [0.5, 1.0, 2.5]), abs=TOL)
    constant = performance("regression", [2.0, 2.0], [2.0, 3.0])
    assert constant["r2"] == pytest.approx(skm.r2_score([2.0, 2.0], [2.0, 3.0]), abs=TOL)


def test_missing_labels_are_dropped_and_empty_gives_nothing() -> None:
    y = np.array([1.0, np.nan, 0.0, 1.0, np.nan])
    pred = np.array([1, 0, 0, 0, 1])
    got = performance("classification", y, pred)
    assert got["accuracy"] == pytest.approx(2 / 3)
    labels = [None, "a", "b", None]
    assert performance("classification", labels, ["a", "a", "b", "b"])["accuracy"] == 1.0
    assert performance("classification", [], []) == {}
    assert performance("regression", [np.nan], [1.0]) == {}


def test_bad_input_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="3 rows but y_pred has 2"):
        performance("classification", [1, 0, 1], [1, 0])
    with pytest.raises(InvalidArgument, match="unknown task"):
        performance("ranking", [1], [1])
    with pytest.raises(InvalidArgument, match="3 columns but there are 2 classes"):
        performance("classification", [1, 0], [1, 0], proba=np.ones((2, 3)) / 3)
    with pytest.raises(InvalidArgument, match="shape"):
        performance("classification", [1, 0], [1, 0], proba=[0.5])
    with pytest.raises(InvalidArgument, match="must be numbers"):
        performance("regression", ["a", "b"], [1.0, 2.0])


def test_binary_auc_edge_cases() -> None:
    assert binary_auc(np.array([True, True]), np.array([0.1, 0.2])) is None
    assert binary_auc(np.array([False, True]), np.array([0.5, 0.5])) == 0.5
    assert binary_auc(np.array([False, True]), np.array([0.2, 0.9])) == 1.0
