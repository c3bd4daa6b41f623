"""Every metric against scikit-learn's on fixed data (within 1e-9)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

from treadle.errors import InvalidArgument
from treadle.evaluation._metrics import classification, compute, confusion, higher_is_better, ranking, regression

TOL = 1e-9


@pytest.fixture
def binary() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    p = np.round(np.clip(0.35 * y + rng.random(2000) * 0.65, 0, 1), 2)  # rounded: many tied scores
    return y, (p > 0.5).astype(int), p


def test_binary_classification_matches_sklearn(binary: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    y, pred, p = binary
    got = classification(y, pred, np.column_stack([1 - p, p]), np.array([0, 1]))
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred),
        "recall": skm.recall_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "roc_auc": skm.roc_auc_score(y, p),
        "pr_auc": skm.average_precision_score(y, p),
        "log_loss": skm.log_loss(y, np.column_stack([1 - p, p])),
        "brier": skm.brier_score_loss(y, p),
    }
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=TOL), name


def test_string_labels_positive_class_is_the_last() -> None:
    y = np.array(["no", "yes", "yes", "no", "yes", "no"])
    pred = np.array(["no", "yes", "no", "no", "yes", "yes"])
    got = classification(y, pred, None, np.array(["no", "yes"]))
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred, pos_label="yes"), abs=TOL)
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred, pos_label="yes"), abs=TOL)
    assert "roc_auc" not in got  # no probabilities, no ranking metrics


def test_multiclass_matches_sklearn() -> None:
    rng = np.random.default_rng(2)
    n = 1500
    y = rng.integers(0, 4, n)
    proba = rng.dirichlet(np.ones(4), n)
    proba[np.arange(n), y] += 0.6
    proba /= proba.sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    pred[:40] = 3  # some systematic mistakes
    got = classification(y, pred, proba, np.arange(4))
    for avg in ("macro", "weighted"):
        assert got[f"precision_{avg}"] == pytest.approx(skm.precision_score(y, pred, average=avg), abs=TOL)
        assert got[f"recall_{avg}"] == pytest.approx(skm.recall_score(y, pred, average=avg), abs=TOL)
        assert got[f"f1_{avg}"] == pytest.approx(skm.f1_score(y, pred, average=avg), abs=TOL)
    assert got["f1"] == got["f1_macro"]
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"), abs=TOL)
    ap = skm.average_precision_score(label_binarize(y, classes=range(4)), proba, average="macro")
    assert got["pr_auc"] == pytest.approx(ap, abs=TOL)
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba), abs=TOL)
    assert "brier" not in got


def test_unsorted_classes_reorder_probabilities() -> None:
    y = np.array([0, 1, 1, 0, 1])
    p1 = np.array([0.2, 0.9, 0.6, 0.4, 0.3])
    got = classification(y, (p1 > 0.5).astype(int), np.column_stack([p1, 1 - p1]), np.array([1, 0]))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p1), abs=TOL)


def test_confusion_matches_sklearn() -> None:
    rng = np.random.default_rng(3)
    y, pred = rng.integers(0, 5, 500), rng.integers(0, 5, 500)
    assert (confusion(y, pred, np.arange(5)) == skm.confusion_matrix(y, pred)).all()


def test_regression_matches_sklearn() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(size=3000) * 5
    p = y + rng.normal(size=3000)
    got = regression(y, p)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, p), abs=TOL)
    assert got["mse"] == pytest.approx(skm.mean_squared_error(y, p), abs=TOL)
    assert got["rmse"] == pytest.approx(skm.root_mean_squared_error(y, p), abs=TOL)
    assert got["r2"] == pytest.approx(skm.r2_score(y, p), abs=TOL)
    assert got["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, p), abs=TOL)
    assert got["max_error"] == pytest.approx(skm.max_error(y, p), abs=TOL)


def test_ranking_ndcg_matches_sklearn_and_the_rest_by_hand() -> None:
    rng = np.random.default_rng(5)
    relevance = rng.integers(0, 4, (60, 15))
    scores = relevance + rng.normal(size=(60, 15))
    group = np.repeat(np.arange(60), 15)
    order = rng.permutation(60 * 15)  # rows of a query need not be contiguous
    got = ranking(relevance.ravel()[order], scores.ravel()[order], group[order], k=5)
    assert got["ndcg@5"] == pytest.approx(skm.ndcg_score(relevance, scores, k=5), abs=TOL)
    # one query by hand: relevant docs at ranks 2 and 4 of 5
    hand = ranking(np.array([0, 1, 0, 2, 0]), np.array([5.0, 4, 3, 2, 1]), np.zeros(5), k=3)
    assert hand["mrr"] == pytest.approx(1 / 2)
    assert hand["precision@3"] == pytest.approx(1 / 3)
    assert hand["map@3"] == pytest.approx((1 / 2) / 2)  # P@2 for the one hit in the top 3, over min(2, 3)


def test_directions_and_errors() -> None:
    assert higher_is_better("roc_auc") and higher_is_better("ndcg@10")
    assert not higher_is_better("rmse") and not higher_is_better("log_loss")
    with pytest.raises(InvalidArgument, match="group"):
        compute("ranking", [1, 0], [0.3, 0.2])
    with pytest.raises(InvalidArgument, match="task"):
        compute("clustering", [1], [1])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="empty"):
        regression(np.array([]), np.array([]))
