"""Explanations: permutation importance agrees with scikit-learn's; SHAP picks the Tree or Linear
explainer by model type, is additive, and says how to install shap when it is missing."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.inspection import permutation_importance as sk_permutation_importance
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from treadle.errors import InvalidArgument
from treadle.evaluation._explain import permutation_importance, shap_explanations

INFORMATIVE, NOISE = ["a", "b"], ["noise1", "noise2"]


def make_data(n: int = 800, seed: int = 0, classes: int = 2) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=INFORMATIVE + NOISE, index=np.arange(n) + 1000)
    margin = 2.0 * X["a"] - 1.5 * X["b"] + rng.normal(scale=0.3, size=n)
    y = (margin > 0).astype(int) if classes == 2 else np.digitize(margin, [-1.0, 1.0])
    return X, np.asarray(y)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return make_data()


@pytest.fixture(scope="module")
def shap_module() -> object:
    return pytest.importorskip("shap")  # importing shap (numba) takes a few seconds, once


def test_permutation_importance_agrees_with_sklearn(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(X, y)
    ours = permutation_importance(model.predict, X, y, accuracy_score, n_repeats=5, seed=0)
    theirs = sk_permutation_importance(model, X, y, scoring="accuracy", n_repeats=5, random_state=0)
    assert list(ours) == list(X.columns)
    for i, col in enumerate(X.columns):
        mean, std = ours[col]
        assert std >= 0
        assert abs(mean - theirs.importances_mean[i]) < 0.05
    lowest_informative = min(ours[c][0] for c in INFORMATIVE)
    assert lowest_informative > 0.1
    assert all(abs(ours[c][0]) < 0.02 for c in NOISE)
    assert (
        sorted(ours, key=lambda c: -ours[c][0])[:2]
        == sorted(X.columns, key=lambda c: -theirs.importances_mean[list(X.columns).index(c)])[:2]
    )
    # The frame given is not modified, and the result is the same for the same seed.
    assert X.equals(data[0])
    assert permutation_importance(model.predict, X, y, accuracy_score, seed=0) == ours


def test_permutation_importance_samples_rows_and_checks_input(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    seen: list[int] = []

    def predict(frame: pd.DataFrame) -> np.ndarray:
        seen.append(len(frame))
        return np.asarray(frame["a"] > 0, dtype=int)

    out = permutation_importance(predict, X, pd.Series(y), accuracy_score, n_repeats=2, max_rows=100)
    assert set(seen) == {100} and len(seen) == 1 + 2 * 4
    assert out["a"][0] > 0.2 and out["b"] == (0.0, 0.0)
    with pytest.raises(InvalidArgument, match="DataFrame"):
        permutation_importance(predict, X.to_numpy(), y, accuracy_score)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="800 rows but y has 3"):
        permutation_importance(predict, X, y[:3], accuracy_score)
    with pytest.raises(InvalidArgument, match="n_repeats"):
        permutation_importance(predict, X, y, accuracy_score, n_repeats=0)


def test_tree_model_uses_tree_explainer(shap_module: object, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    model = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0).fit(X, y)
    out = shap_explanations(model, X, rows=4)
    assert out["explainer"] == "tree"
    assert list(out["global"])[:2] in (INFORMATIVE, INFORMATIVE[::-1])
    assert min(out["global"][c] for c in INFORMATIVE) > 5 * max(out["global"][c] for c in NOISE)
    assert [r["index"] for r in out["rows"]] == [1000, 1001, 1002, 1003]
    proba = model.predict_proba(X.iloc[:4])[:, 1]
    for row, p in zip(out["rows"], proba, strict=True):
        assert row["features"] == {c: pytest.approx(X.loc[row["index"], c]) for c in X.columns}
        # Binary: the positive class, in the forest's probability units.
        assert row["base_value"] + sum(row["values"].values()) == pytest.approx(p, abs=1e-6)
        assert "class" in row and row["class"] == 1
    json.dumps(out, allow_nan=False)


def test_linear_model_is_additive_in_margin(shap_module: object, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    model = LogisticRegression().fit(X, y)
    out = shap_explanations(model, X, rows=5, background=50)
    assert out["explainer"] == "linear"
    margin = model.decision_function(X.iloc[:5])
    for row, m in zip(out["rows"], margin, strict=True):
        assert abs(row["base_value"] + sum(row["values"].values()) - m) < 1e-6
        assert row["class"] == 1  # the positive class's log-odds
    assert out["base_value"] == pytest.approx(out["rows"][0]["base_value"])
    assert set(list(out["global"])[:2]) == set(INFORMATIVE)
    json.dumps(out, allow_nan=False)


def test_multiclass_explains_the_predicted_class(shap_module: object) -> None:
    X, y = make_data(classes=3)
    model = LogisticRegression().fit(X, y)
    out = shap_explanations(model, X, rows=6)
    assert out["explainer"] == "linear"
    predicted = model.predict(X.iloc[:6])
    margins = model.decision_function(X.iloc[:6])
    assert [r["class"] for r in out["rows"]] == predicted.tolist()
    for i, row in enumerate(out["rows"]):
        assert abs(row["base_value"] + sum(row["values"].values()) - margins[i, predicted[i]]) < 1e-6
    assert set(out["base_value"]) == {"0", "1", "2"}


def test_pipeline_and_regression(shap_module: object, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, _ = data
    target = 3 * X["a"] - X["b"]
    pipe = make_pipeline(StandardScaler(), LinearRegression()).fit(X, target)
    out = shap_explanations(pipe, X, rows=2)
    assert out["explainer"] == "linear"
    assert set(out["global"]) == set(X.columns)  # StandardScaler keeps the names
    pred = pipe.predict(X.iloc[:2])
    for row, p in zip(out["rows"], pred, strict=True):
        assert abs(row["base_value"] + sum(row["values"].values()) - p) < 1e-6
        assert "class" not in row


def test_other_models_need_kernel_by_name(shap_module: object, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    knn = KNeighborsClassifier().fit(X, y)
    with pytest.raises(InvalidArgument, match=r"no Tree or Linear SHAP explainer fits .*KNeighborsClassifier"):
        shap_explanations(knn, X)
    out = shap_explanations(knn, X.iloc[:200], rows=2, background=10, explainer="kernel")
    assert out["explainer"] == "kernel" and len(out["rows"]) == 2


def test_missing_shap_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = data
    model = LogisticRegression().fit(X, y)
    monkeypatch.setitem(sys.modules, "shap", None)  # makes `import shap` raise ImportError
    with pytest.raises(InvalidArgument, match=r"pip install 'treadle\[explain\]'"):
        shap_explanations(model, X)
