"""Every flavor through the whole registry path: log -> register -> alias -> load by alias -> predict."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import treadle as td
from treadle.errors import CorruptBlob, NotFound
from treadle.models import PythonModel, PythonModelContext
from treadle.server import create_app
from treadle.testing.server import serve


class Doubler(PythonModel):
    def predict(self, context: PythonModelContext, data: Any) -> Any:
        return np.asarray(data, dtype=float).sum(axis=1) * 2


def _iris() -> tuple[pd.DataFrame, np.ndarray]:
    data = load_iris(as_frame=True)
    return data.data.astype("float32"), data.target.to_numpy()


def _sklearn() -> tuple[Any, dict[str, Any]]:
    x, y = _iris()
    return LogisticRegression(max_iter=300).fit(x, y), {}


def _skops() -> tuple[Any, dict[str, Any]]:
    pytest.importorskip("skops", reason="skops is not installed: pip install 'treadle[skops]'")
    model, _ = _sklearn()
    return model, {"flavor": "skops"}


def _xgboost() -> tuple[Any, dict[str, Any]]:
    xgb = pytest.importorskip("xgboost", reason="xgboost is not installed: pip install 'treadle[xgboost]'")
    x, y = _iris()
    return xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(x, y), {}


def _lightgbm() -> tuple[Any, dict[str, Any]]:
    lgb = pytest.importorskip("lightgbm", reason="lightgbm is not installed: pip install 'treadle[lightgbm]'")
    x, y = _iris()
    return lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(x, y), {}


def _onnx() -> tuple[Any, dict[str, Any]]:
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed: pip install 'treadle[onnx]'")
    from treadle.models import to_onnx

    model, _ = _sklearn()
    x, _ = _iris()
    return to_onnx(model, x.head(2)), {}


def _torch() -> tuple[Any, dict[str, Any]]:
    torch = pytest.importorskip("torch", reason="torch is not installed: pip install 'treadle[torch]'")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()
    return torch.jit.script(net), {}


def _python() -> tuple[Any, dict[str, Any]]:
    return Doubler(), {}


FLAVORS: dict[str, Callable[[], tuple[Any, dict[str, Any]]]] = {
    "sklearn": _sklearn,
    "skops": _skops,
    "xgboost": _xgboost,
    "lightgbm": _lightgbm,
    "onnx": _onnx,
    "pytorch": _torch,
    "python": _python,
}


@pytest.fixture
def sdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[td.Client]:
    monkeypatch.setenv("TREADLE_CACHE", str(tmp_path / "cache"))
    yield td.set_uri(f"sqlite:///{tmp_path / 'm.db'}", str(tmp_path / "art"))


def _predict_native(flavor: str, model: Any, x: pd.DataFrame) -> np.ndarray:
    if flavor == "pytorch":
        import torch

        with torch.no_grad():
            return np.asarray(model(torch.from_numpy(x.to_numpy())).numpy())
    if flavor == "onnx":
        return np.asarray(_sklearn()[0].predict(x))
    if flavor == "python":
        return np.asarray(x, dtype=float).sum(axis=1) * 2
    return np.asarray(model.predict(x))


@pytest.mark.parametrize("flavor", list(FLAVORS))
def test_flavor_round_trips_through_the_registry(sdk: td.Client, flavor: str) -> None:
    model, options = FLAVORS[flavor]()
    x, _ = _iris()
    td.set_experiment(f"flow-{flavor}")
    with td.start_run():
        uri = td.log_model(model, "model", input_example=x.head(5), **options)
    version = td.register_model(uri, f"iris-{flavor}")
    td.set_alias(f"iris-{flavor}", "champion", version.version, reason="first")
    loaded = td.load_model(f"models:/iris-{flavor}@champion")
    got = np.asarray(loaded.predict(x))
    assert np.allclose(got, _predict_native(flavor, model, x), atol=1e-5)
    assert version.flavor == loaded.manifest.flavor and version.digest == loaded.manifest.digest
    if hasattr(model, "predict_proba") and flavor not in ("onnx", "python"):
        assert np.allclose(loaded.predict_proba(x), model.predict_proba(x), atol=1e-5)
    history = sdk.get_alias_history(f"iris-{flavor}", "champion")
    assert [(h.to_version, h.reason) for h in history] == [(1, "first")]


def test_register_from_a_folder_and_from_another_version(sdk: td.Client, tmp_path: Path) -> None:
    from treadle.models import save_model

    model, _ = _sklearn()
    x, _ = _iris()
    save_model(model, tmp_path / "folder-model", input_example=x.head(3))
    v1 = sdk.register_model(str(tmp_path / "folder-model"), "from-folder")
    assert v1.run_id is None and v1.flavor == "sklearn"
    copy = sdk.register_model("models:/from-folder/1", "promoted")
    assert copy.source == "models:/from-folder/1"
    assert np.array_equal(sdk.load_model("models:/promoted/1").predict(x), model.predict(x))
    assert np.array_equal(sdk.load_model("models:/promoted@latest").predict(x), model.predict(x))
    with pytest.raises(NotFound):
        sdk.load_model("models:/promoted@champion")


def test_corrupted_blob_is_caught_before_loading(sdk: td.Client, tmp_path: Path) -> None:
    model, _ = _sklearn()
    td.set_experiment("corrupt")
    with td.start_run():
        uri = td.log_model(model, "model")
    version = td.register_model(uri, "fragile")
    files = sdk.registry.list_version_files("fragile", version.version)
    pkl = next(f for f in files if f.path != "treadle-model.yaml" and f.size > 100)
    blob = tmp_path / "art" / pkl.digest[:2] / pkl.digest[2:4] / pkl.digest
    blob.write_bytes(b"\x80\x04not the model")
    with pytest.raises(CorruptBlob):
        sdk.load_model("models:/fragile/1")


@pytest.mark.slow
def test_load_by_alias_over_http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREADLE_CACHE", str(tmp_path / "cache"))
    app = create_app(uri=f"sqlite:///{tmp_path / 's.db'}", artifacts=str(tmp_path / "server-art"))
    model, _ = _sklearn()
    x, _ = _iris()
    with serve(app) as url:
        td.set_uri(url)
        td.set_experiment("remote-models")
        with td.start_run():
            uri = td.log_model(model, "model", registered_model_name="remote-iris", input_example=x.head(2))
        assert uri.startswith("runs:/")
        td.set_alias("remote-iris", "champion", 1)
        loaded = td.load_model("models:/remote-iris@champion")
        assert np.array_equal(loaded.predict(x), model.predict(x))
        needs = td.get_client().registry.get_version_needs("remote-iris", 1)
        assert any(r.startswith("scikit-learn==") for r in needs.requirements)


def test_load_and_register_from_an_fsspec_url(sdk: td.Client, tmp_path: Path) -> None:
    import fsspec

    from treadle.models import save_model

    model, _ = _sklearn()
    x, _ = _iris()
    save_model(model, tmp_path / "local", input_example=x.head(2))
    url = f"memory://models-{tmp_path.name}/iris"
    fs = fsspec.filesystem("memory")
    fs.put(str(tmp_path / "local"), url.removeprefix("memory://"), recursive=True)
    assert np.array_equal(td.load_model(url).predict(x), model.predict(x))
    version = td.register_model(url, "from-url")
    assert version.source == url and version.flavor == "sklearn"
    assert np.array_equal(td.load_model("models:/from-url/1").predict(x), model.predict(x))
