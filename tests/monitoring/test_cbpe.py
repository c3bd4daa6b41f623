"""CBPE: estimates track realised metrics on a calibrated model, under covariate shift, and after
calibrating a badly calibrated one; the calibration helpers match scikit-learn's."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from treadle.errors import InvalidArgument
from treadle.monitoring._cbpe import CBPE, needs_calibration
from treadle.monitoring._isotonic import Isotonic, _pav_numpy, calibration_p_value, pav
from treadle.monitoring._performance import performance

W = np.array([1.5, -2.0, 0.7])


def _sample(n: int, seed: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels from a logistic model; ``shift`` moves P(x) only (no concept shift)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    x[:, 0] += shift
    p = 1.0 / (1.0 + np.exp(-(x @ W + 0.3)))
    return x, (rng.uniform(size=n) < p).astype(int)


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    x, y = _sample(5000, seed=1)
    return LogisticRegression().fit(x, y)


@pytest.fixture(scope="module")
def fitted(model: LogisticRegression) -> CBPE:
    x, y = _sample(5000, seed=2)
    return CBPE().fit(model.predict_proba(x), y, [0, 1])


def _realised(model: LogisticRegression, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return performance("classification", y, model.predict(x), proba=model.predict_proba(x), classes=[0, 1])


def test_isotonic_matches_sklearn_and_pav_fallback_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    score = np.round(rng.uniform(size=3000), 3)  # tied scores get pooled
    target = (rng.uniform(size=3000) < score**2).astype(float)
    ours = Isotonic.fit(score, target)
    theirs = IsotonicRegression(out_of_bounds="clip").fit(score, target)
    grid = rng.uniform(-0.2, 1.2, size=2000)
    np.testing.assert_allclose(ours.predict(grid), theirs.predict(grid), atol=1e-12)
    assert len(ours.x) < 200  # only the knots are kept
    y, w = rng.normal(size=500), rng.uniform(0.5, 2.0, size=500)
    np.testing.assert_allclose(_pav_numpy(y, w), pav(y, w), atol=1e-12)
    assert np.all(np.diff(pav(y, w)) >= 0)


def test_calibrated_model_estimate_matches_realised(model: LogisticRegression, fitted: CBPE) -> None:
    assert fitted.calibrated == [False]  # a logistic model of logistic data needs no calibration
    x, y = _sample(20_000, seed=3)
    est = fitted.estimate(model.predict_proba(x))
    real = _realised(model, x, y)
    assert set(est) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    for metric in est:
        assert est[metric] == pytest.approx(real[metric], abs=0.01), metric


@pytest.mark.parametrize("shift", [1.5, -2.0])
def test_covariate_shift_is_tracked(model: LogisticRegression, fitted: CBPE, shift: float) -> None:
    x0, y0 = _sample(20_000, seed=4)
    x, y = _sample(20_000, seed=5, shift=shift)
    before, real = _realised(model, x0, y0), _realised(model, x, y)
    est = fitted.estimate(model.predict_proba(x))
    # the shift really moves the metrics, and the estimate follows them
    assert abs(real["accuracy"] - before["accuracy"]) > 0.04 or abs(real["f1"] - before["f1"]) > 0.1
    assert est["accuracy"] == pytest.approx(real["accuracy"], abs=0.01)
    assert est["f1"] == pytest.approx(real["f1"], abs=0.015)
    assert est["roc_auc"] == pytest.approx(real["roc_auc"], abs=0.015)


def _overconfident(p: np.ndarray) -> np.ndarray:
    return p**4 / (p**4 + (1.0 - p) ** 4)  # same ranking, far too sure


def test_bad_calibration_is_fixed_by_fit(model: LogisticRegression) -> None:
    xr, yr = _sample(5000, seed=2)
    ref = _overconfident(model.predict_proba(xr)[:, 1])
    auto = CBPE().fit(ref, yr, [0, 1])
    raw = CBPE(calibrate=False).fit(ref, yr, [0, 1])
    assert auto.calibrated == [True] and raw.calibrated == [False]
    assert calibration_p_value(yr, ref) < 0.05
    assert needs_calibration(yr == 1, ref)
    x, y = _sample(20_000, seed=6, shift=1.0)
    scores = _overconfident(model.predict_proba(x)[:, 1])
    real = _realised(model, x, y)
    after, before = auto.estimate(scores), raw.estimate(scores)
    for metric in ("accuracy", "f1"):
        assert abs(after[metric] - real[metric]) < 0.01, metric
        assert abs(after[metric] - real[metric]) < abs(before[metric] - real[metric]) / 3, metric


def test_multiclass_estimate(fitted: CBPE) -> None:
    rng = np.random.default_rng(7)
    coef = rng.normal(size=(3, 4)) * 1.5

    def draw(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        r = np.random.default_rng(seed)
        x = r.normal(size=(n, 4))
        logits = x @ coef.T
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = (r.uniform(size=(n, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
        return x, np.array(["a", "b", "c"])[y]

    xt, yt = draw(5000, 10)
    clf = LogisticRegression(max_iter=1000).fit(xt, yt)
    xr, yr = draw(5000, 11)
    cbpe = CBPE().fit(clf.predict_proba(xr), yr, list(clf.classes_))
    xc, yc = draw(20_000, 12)
    proba = clf.predict_proba(xc)
    est = cbpe.estimate(proba)
    real = performance("classification", yc, clf.predict(xc), proba=proba, classes=list(clf.classes_))
    for metric in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert est[metric] == pytest.approx(real[metric], abs=0.015), metric
    # given predictions agree with the argmax default
    assert cbpe.estimate(proba, y_pred=clf.predict(xc)) == pytest.approx(est)


def test_round_trip_through_json(model: LogisticRegression) -> None:
    xr, yr = _sample(3000, seed=2)
    cbpe = CBPE().fit(_overconfident(model.predict_proba(xr)[:, 1]), np.array(["no", "yes"])[yr], ["no", "yes"])
    state = json.loads(json.dumps(cbpe.to_dict()))
    again = CBPE.from_dict(state)
    x, _ = _sample(1000, seed=8)
    scores = _overconfident(model.predict_proba(x)[:, 1])
    assert again.estimate(scores) == cbpe.estimate(scores)
    assert again.classes == ["no", "yes"] and again.calibrated == [True]
    # numpy class labels become plain JSON values
    ints = CBPE(calibrate=False).fit(np.full(4, 0.5), np.array([0, 1, 0, 1]), list(np.array([0, 1])))
    assert json.loads(json.dumps(ints.to_dict()))["classes"] == [0, 1]


def test_bad_input(fitted: CBPE) -> None:
    with pytest.raises(InvalidArgument, match="not fitted"):
        CBPE().estimate([0.5])
    with pytest.raises(InvalidArgument, match="at least two classes"):
        CBPE().fit([0.5], [1], [1])
    with pytest.raises(InvalidArgument, match="3 rows but reference_labels has 2"):
        CBPE().fit([0.1, 0.2, 0.3], [0, 1], [0, 1])
    with pytest.raises(InvalidArgument, match=r"\['7'\] are not among the classes"):
        CBPE().fit([0.1, 0.2], [0, 7], [0, 1])
    with pytest.raises(InvalidArgument, match="shape"):
        fitted.estimate(np.ones((3, 3)))
    with pytest.raises(InvalidArgument, match="not among the classes"):
        fitted.estimate([0.2, 0.9], y_pred=[0, 5])
    with pytest.raises(InvalidArgument, match="not a CBPE state"):
        CBPE.from_dict({"kind": "other"})
    # labels that only differ by type from the classes (a JSON round trip) still match
    text = CBPE(calibrate=False).fit([0.2, 0.8], ["0", "1"], [0, 1])
    assert text.estimate([0.9], y_pred=["1"])["accuracy"] == pytest.approx(0.9)
    # empty and non-finite windows: no crash, nothing to estimate
    assert fitted.estimate(np.zeros(0)) == {}
    assert fitted.estimate([np.nan, np.inf]) == {}
    # a window where the model is sure of everything: no estimated AUC, still the rest
    sure = fitted.estimate([1.0, 1.0])
    assert sure["accuracy"] == 1.0 and "roc_auc" not in sure
