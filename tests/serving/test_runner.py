"""ModelRunner: request tensors in the form each model was saved with, online features, named outputs."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

import treadle.datasets as tds
from treadle.client import Client
from treadle.errors import InvalidArgument, ModelError, Unavailable
from treadle.features import DatasetSource, Entity, FeatureView, Field
from treadle.models import PythonModel, PythonModelContext, save_model
from treadle.serving._inline import InlineExecutor
from treadle.serving._runner import ModelRunner


class Doubler(PythonModel):
    """Hooks on both sides: preprocess adds one, predict doubles, postprocess labels."""

    def preprocess(self, data: Any) -> Any:
        return data + 1

    def predict(self, context: PythonModelContext, data: Any) -> Any:
        return data * 2

    def postprocess(self, output: Any) -> Any:
        return {"doubled": output, "label": np.array([f"v{int(v)}" for v in output.reshape(-1)], dtype=object)}


class TwoHeads(PythonModel):
    def predict(self, context: PythonModelContext, data: Any) -> Any:
        return data["a"].sum(axis=1) + data["b"].reshape(-1)


def test_tabular_model_takes_columns_or_one_matrix(cancer_model_dir: Path, cancer_model: Any, cancer_data: Any) -> None:
    X = cancer_data[0].iloc[:6]
    runner = ModelRunner(cancer_model_dir)
    runner.warm()
    by_matrix = runner.run({"m": X.to_numpy()}, ["predict", "predict_proba"])
    by_columns = runner.run({c: X[c].to_numpy() for c in X.columns})
    np.testing.assert_array_equal(by_matrix["predict"], cancer_model.predict(X))
    np.testing.assert_array_equal(by_columns["predict"], cancer_model.predict(X))
    np.testing.assert_allclose(by_matrix["predict_proba"], cancer_model.predict_proba(X))
    only_proba = runner.run({"m": X.to_numpy()}, ["predict_proba"])
    assert list(only_proba) == ["predict_proba"]
    meta = runner.metadata()
    assert meta["platform"] == "treadle_sklearn"
    assert [i["name"] for i in meta["inputs"]] == list(X.columns)


def test_bad_input_raises_invalid_argument_naming_it(cancer_model_dir: Path, cancer_data: Any) -> None:
    runner = ModelRunner(cancer_model_dir)
    X = cancer_data[0].iloc[:2]
    with pytest.raises(InvalidArgument, match=r"input 'm' has shape \[2, 29\], expected \[-1, 30\]"):
        runner.run({"m": X.to_numpy()[:, :29]})
    cols = {c: X[c].to_numpy() for c in X.columns}
    cols["mean texture"] = cols["mean texture"][:1]
    with pytest.raises(InvalidArgument, match="input 'mean texture' has 1 rows but input 'mean radius' has 2"):
        runner.run(cols)
    with pytest.raises(InvalidArgument, match="output 'nope' does not exist"):
        runner.run({"m": X.to_numpy()}, ["nope"])
    with pytest.raises(InvalidArgument, match="scalar"):
        runner.run({"m": np.float64(1.0).reshape(())})


def test_python_hooks_tensor_signature_and_model_errors(tmp_path: Path) -> None:
    save_model(Doubler(), tmp_path / "d", input_example=np.array([[1.0], [2.0]]), requirements=[])
    runner = ModelRunner(tmp_path / "d")
    out = runner.run({"x": np.array([[3.0], [4.0]])})
    np.testing.assert_array_equal(out["doubled"], [[8.0], [10.0]])
    assert out["label"].tolist() == ["v8", "v10"]
    with pytest.raises(InvalidArgument, match=r"shape \(2, 2\), expected \(-1, 1\)"):
        runner.run({"x": np.ones((2, 2))})
    save_model(TwoHeads(), tmp_path / "t", input_example={"a": np.ones((2, 3)), "b": np.ones(2)}, requirements=[])
    two = ModelRunner(tmp_path / "t")
    got = two.run({"b": np.array([1.0, 2.0]), "a": np.arange(6.0).reshape(2, 3)})
    np.testing.assert_array_equal(got["predict"], [4.0, 14.0])
    with pytest.raises(InvalidArgument, match="tensor 'b' is missing"):
        two.run({"a": np.ones((2, 3))})
    with pytest.raises(ModelError, match="the model raised"):
        two.run({"a": np.ones((2, 3)), "b": np.ones(3)})  # passes the signature, breaks in predict


def test_model_without_signature_gets_the_raw_tensor(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(40, 3))
    save_model(LinearRegression().fit(X, X @ [1.0, 2.0, 3.0]), tmp_path / "lin", requirements=[])
    runner = ModelRunner(tmp_path / "lin")
    assert runner.predictor.signature is None
    np.testing.assert_allclose(runner.run({"x": np.eye(3)})["predict"], [1.0, 2.0, 3.0])
    with pytest.raises(ModelError, match="ValueError"):  # sklearn's own complaint: no signature to check it
        runner.run({"x": np.ones((1, 4))})


def test_online_features_are_joined_by_the_entity_keys_in_the_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TREADLE_ONLINE_STORE", f"sqlite:///{tmp_path / 'online.db'}")
    uri, artifacts = f"sqlite:///{tmp_path / 'meta.db'}", str(tmp_path / "artifacts")
    client = Client(uri, artifacts)
    now = datetime.now(UTC)
    stats = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [now, now], "trips": [10, 300], "rating": [4.5, 2.0]})
    tds.create("driver_stats", stats, client=client)
    driver = Entity("driver", join_keys=["driver_id"])
    view = FeatureView(
        "driver_stats", [driver], DatasetSource("driver_stats"), [Field("trips", "int64"), Field("rating", "float64")]
    )
    client.features.apply([driver.spec(), view.spec()])
    client.features.push("driver_stats", stats.to_dict(orient="records"))

    train = pd.DataFrame({"x": [0.1, 0.9, 0.3, 0.7], "trips": [10, 300, 20, 280], "rating": [4.5, 2.0, 4.0, 2.5]})
    model = LogisticRegression().fit(train, [1, 0, 1, 0])
    features = {"features": ["driver_stats:trips", "driver_stats:rating"]}
    save_model(model, tmp_path / "m", input_example=train.head(2), metadata=features)
    runner = ModelRunner(tmp_path / "m", uri=uri, artifacts=artifacts)
    assert [i["name"] for i in runner.metadata()["inputs"]] == ["x"]
    out = runner.run({"driver_id": np.array([2, 1]), "x": np.array([0.5, 0.5])}, ["predict_proba"])
    joined = pd.DataFrame({"x": [0.5, 0.5], "trips": [300, 10], "rating": [2.0, 4.5]})
    np.testing.assert_allclose(out["predict_proba"], model.predict_proba(joined))
    with pytest.raises(InvalidArgument, match="'x' is missing"):
        runner.run({"driver_id": np.array([1])})


class Sleepy(PythonModel):
    def predict(self, context: PythonModelContext, data: Any) -> Any:
        time.sleep(0.2)
        return data


@pytest.mark.anyio
async def test_inline_executor_drains_in_flight_calls_on_stop(tmp_path: Path) -> None:
    save_model(Sleepy(), tmp_path / "s", requirements=[])
    executor = InlineExecutor(tmp_path / "s")
    await executor.start()
    calls = [asyncio.create_task(executor.run({"x": np.array([i])})) for i in range(4)]
    await asyncio.sleep(0.05)
    assert executor.inflight == 4
    await executor.stop()
    assert all(c.done() for c in calls)  # stop returned only after every call finished
    assert [c.result()["predict"].tolist() for c in calls] == [[0], [1], [2], [3]]
    with pytest.raises(Unavailable, match="shutting down"):
        await executor.run({"x": np.array([9])})
