"""Every framework flavor round-trips with the real framework: save, load, predict equals the original."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from treadle.errors import InvalidArgument
from treadle.models import Predictor, load_model, save_model, to_onnx

Iris = tuple[pd.DataFrame, pd.Series]


def _need(module: str, extra: str) -> Any:
    return pytest.importorskip(module, reason=f"{module} is not installed: pip install 'treadle[{extra}]'")


def _round_trip(model: Any, path: Path, X: Any, flavor: str, **kwargs: Any) -> Predictor:
    manifest = save_model(model, path, input_example=X[:5], **kwargs)
    assert manifest.flavor == flavor
    loaded = load_model(path)
    assert isinstance(loaded, Predictor) and loaded.flavor == flavor
    return loaded


def test_skops(tmp_path: Path, iris: Iris) -> None:
    _need("skops", "skops")
    from sklearn.ensemble import RandomForestClassifier

    from treadle.models.flavors._skops import SkopsFlavor

    X, y = iris
    clf = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    manifest = save_model(clf, tmp_path / "m", flavor="skops", input_example=X[:5])
    assert set(manifest.files) == {"model.skops", "input_example.json"}  # no pickle
    assert "sklearn.tree._tree.Tree" in manifest.flavor_options["trusted_types"]
    assert any(r.startswith("skops==") for r in manifest.requirements)
    assert any(r.startswith("scikit-learn==") for r in manifest.requirements)
    loaded = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert isinstance(load_model(tmp_path / "m", flavor="skops"), RandomForestClassifier)
    with pytest.raises(InvalidArgument, match=r"types nobody trusted: sklearn\.tree\._tree\.Tree"):
        SkopsFlavor().load(tmp_path / "m", {"file": "model.skops", "trusted_types": []})


def test_xgboost(tmp_path: Path, iris: Iris) -> None:
    xgb = _need("xgboost", "xgboost")
    X, y = iris
    clf = xgb.XGBClassifier(n_estimators=8, max_depth=3, n_jobs=1).fit(X, y)
    loaded = _round_trip(clf, tmp_path / "sk", X, "xgboost")
    assert loaded.manifest.flavor_options["file"] == "model.ubj"
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))
    assert type(load_model(tmp_path / "sk", flavor="xgboost")) is xgb.XGBClassifier
    assert any(r.startswith("xgboost") and "==" in r for r in loaded.manifest.requirements)

    booster = xgb.train({"objective": "multi:softprob", "num_class": 3, "nthread": 1}, xgb.DMatrix(X, y), 5)
    loaded = _round_trip(booster, tmp_path / "b", X, "xgboost", model_format="json")
    assert (tmp_path / "b" / "model.json").is_file()
    np.testing.assert_allclose(loaded.predict(X), booster.predict(xgb.DMatrix(X)))
    with pytest.raises(InvalidArgument, match="no predict_proba"):
        loaded.predict_proba(X)
    assert isinstance(load_model(tmp_path / "b", flavor="xgboost"), xgb.Booster)


def test_lightgbm(tmp_path: Path, iris: Iris) -> None:
    lgb = _need("lightgbm", "lightgbm")
    X, y = iris
    clf = lgb.LGBMClassifier(n_estimators=8, num_leaves=7, n_jobs=1, verbose=-1).fit(X, y)
    loaded = _round_trip(clf, tmp_path / "sk", X, "lightgbm")
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))
    assert type(load_model(tmp_path / "sk", flavor="lightgbm")) is lgb.LGBMClassifier
    assert any(r.startswith("lightgbm==") for r in loaded.manifest.requirements)

    params = {"objective": "regression", "num_leaves": 7, "verbose": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(X, y.astype(float)), num_boost_round=5)
    loaded = _round_trip(booster, tmp_path / "b", X, "lightgbm")
    assert set(loaded.manifest.files) == {"model.txt", "input_example.json"}  # a Booster needs no pickle
    np.testing.assert_allclose(loaded.predict(X), booster.predict(X))
    assert isinstance(load_model(tmp_path / "b", flavor="lightgbm"), lgb.Booster)


def test_onnx_and_to_onnx(tmp_path: Path, iris: Iris) -> None:
    _need("onnxruntime", "onnx")
    _need("skl2onnx", "onnx")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    onx = to_onnx(clf, X)
    manifest = save_model(onx, tmp_path / "m")
    assert manifest.flavor == "onnx" and set(manifest.files) == {"model.onnx"}
    assert manifest.signature is not None
    assert [(s.name, s.dtype, s.shape) for s in manifest.signature.inputs.specs] == [("X", "float32", (-1, 4))]
    assert any(r.startswith("onnxruntime==") for r in manifest.requirements)
    loaded = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_array_equal(loaded.predict(X.to_numpy()), clf.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-5)
    with pytest.raises(InvalidArgument, match=r"tensor 'X' has shape \(150, 3\), expected \(-1, 4\)"):
        loaded.predict(X.iloc[:, :3])
    session = load_model(tmp_path / "m", flavor="onnx")
    assert [i.name for i in session.get_inputs()] == ["X"]


def test_onnx_regressor_has_no_proba(tmp_path: Path, iris: Iris) -> None:
    _need("onnxruntime", "onnx")
    _need("skl2onnx", "onnx")
    from sklearn.linear_model import LinearRegression

    X, y = iris
    reg = LinearRegression().fit(X, y)
    loaded = _round_trip(to_onnx(reg, X.to_numpy()), tmp_path / "m", X.to_numpy(), "onnx")
    np.testing.assert_allclose(loaded.predict(X).ravel(), reg.predict(X), rtol=1e-4, atol=1e-4)
    with pytest.raises(InvalidArgument, match="this onnx model has no predict_proba"):
        loaded.predict_proba(X)
