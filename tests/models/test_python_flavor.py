"""The python flavor: a PythonModel with artifacts, load_context and preprocess/postprocess hooks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from treadle.errors import InvalidArgument
from treadle.models import PythonModel, PythonModelContext, load_model, save_model


class Scorer(PythonModel):
    """Scores rows as a weighted sum; weights come from an artifact; returns labelled records."""

    def load_context(self, context: PythonModelContext) -> None:
        self.weights = json.loads(context.artifact("weights").read_text())
        self.vocab = (Path(context.artifacts["vocab"]) / "words.txt").read_text().split()

    def preprocess(self, data: pd.DataFrame) -> pd.DataFrame:
        return data.assign(total=data["a"] + data["b"])

    def predict(self, context: PythonModelContext, data: pd.DataFrame) -> np.ndarray:
        return (data[list(self.weights)] * pd.Series(self.weights)).sum(axis=1).to_numpy()

    def postprocess(self, output: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"score": output, "label": [self.vocab[int(s) % 2] for s in output]})

    def predict_proba(self, context: PythonModelContext, data: pd.DataFrame) -> np.ndarray:
        score = self.predict(context, data)
        return np.stack([1 / (1 + np.exp(score)), 1 / (1 + np.exp(-score))], axis=1)


class Plain(PythonModel):
    def predict(self, context: PythonModelContext, data: Any) -> Any:
        return np.asarray(data) * 2


def test_python_model_with_hooks_and_artifacts(tmp_path: Path) -> None:
    (tmp_path / "weights.json").write_text(json.dumps({"a": 1.0, "b": 2.0, "total": 0.5}))
    (tmp_path / "vocab").mkdir()
    (tmp_path / "vocab" / "words.txt").write_text("even odd")
    data = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.0, 1.5]})
    # Scorer lives in this test module, which no installed package provides: save says so
    with pytest.warns(UserWarning, match=r"modules no installed package provides \(tests\)"):
        manifest = save_model(
            Scorer(),
            tmp_path / "m",
            input_example=data,
            artifacts={"weights": tmp_path / "weights.json", "vocab": tmp_path / "vocab"},
        )
    assert manifest.flavor == "python" and manifest.framework is None
    assert manifest.flavor_options["artifacts"] == {
        "weights": "artifacts/weights/weights.json",
        "vocab": "artifacts/vocab/vocab",
    }
    assert {"artifacts/weights/weights.json", "artifacts/vocab/vocab/words.txt", "python_model.pkl"} <= set(
        manifest.files
    )
    assert any(r.startswith("cloudpickle==") for r in manifest.requirements)
    assert manifest.signature is not None and manifest.signature.outputs is not None
    assert [s.name for s in manifest.signature.outputs.specs] == ["score", "label"]

    (tmp_path / "weights.json").unlink()  # the model has its own copy
    loaded = load_model(tmp_path / "m")
    out = loaded.predict(data)
    expected = data["a"] + 2 * data["b"] + 0.5 * (data["a"] + data["b"])
    np.testing.assert_allclose(out["score"], expected)
    assert list(out["label"]) == ["even" if int(s) % 2 == 0 else "odd" for s in expected]
    assert loaded.predict_proba(data).shape == (3, 2)
    with pytest.raises(InvalidArgument, match="column 'b' is missing"):
        loaded.predict(data[["a"]])
    native = load_model(tmp_path / "m", flavor="python")
    assert isinstance(native, Scorer) and native.weights["b"] == 2.0


def test_python_model_without_hooks_or_proba(tmp_path: Path) -> None:
    save_model(Plain(), tmp_path / "m", requirements=["numpy"])
    loaded = load_model(tmp_path / "m")
    assert loaded.signature is None
    np.testing.assert_array_equal(loaded.predict([1, 2]), [2, 4])
    with pytest.raises(InvalidArgument, match="this python model has no predict_proba"):
        loaded.predict_proba([1])


def test_python_flavor_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"artifact 'w': .* does not exist"):
        save_model(Plain(), tmp_path / "m", artifacts={"w": tmp_path / "missing"})
    with pytest.raises(InvalidArgument, match=r"takes a treadle\.models\.PythonModel"):
        save_model(object(), tmp_path / "m", flavor="python")
    with pytest.warns(UserWarning, match="could not infer the model's outputs"):
        save_model(Scorer(), tmp_path / "m", input_example=pd.DataFrame({"a": [1]}), requirements=[])
