"""``treadle export triton|kserve``: the outputs parse with the formats' own schemas, and the exported
ONNX/TorchScript models predict what the treadle model predicts."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

from treadle.cli import app
from treadle.client import Client
from treadle.errors import InvalidArgument
from treadle.models import PythonModel, load_model, save_model, to_onnx
from treadle.rollout import ABSpec, DeploymentSpec, ReplicaSpec, ShadowSpec, Variant
from treadle.serving._export_kserve import export_kserve
from treadle.serving._export_triton import export_triton

ort = pytest.importorskip("onnxruntime")
text_format = pytest.importorskip("google.protobuf.text_format")
model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")
jsonschema = pytest.importorskip("jsonschema")

# The fields of KServe's InferenceService CRD (serving.kserve.io/v1beta1) that the exporter writes,
# with the CRD's types and enums; additionalProperties=False catches a misspelt field.
KSERVE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "serving.kserve.io/v1beta1"},
        "kind": {"const": "InferenceService"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
                "namespace": {"type": "string"},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "required": ["predictor"],
            "additionalProperties": False,
            "properties": {
                "predictor": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "canaryTrafficPercent": {"type": "integer", "minimum": 0, "maximum": 100},
                        "minReplicas": {"type": "integer", "minimum": 0},
                        "maxReplicas": {"type": "integer", "minimum": 0},
                        "scaleMetric": {"enum": ["cpu", "memory", "concurrency", "rps"]},
                        "scaleTarget": {"type": "integer"},
                        "batcher": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "maxBatchSize": {"type": "integer"},
                                "maxLatency": {"type": "integer"},
                                "timeout": {"type": "integer"},
                            },
                        },
                        "model": {
                            "type": "object",
                            "required": ["modelFormat"],
                            "additionalProperties": False,
                            "properties": {
                                "modelFormat": {
                                    "type": "object",
                                    "required": ["name"],
                                    "additionalProperties": False,
                                    "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
                                },
                                "protocolVersion": {"enum": ["v1", "v2", "grpc-v1", "grpc-v2"]},
                                "storageUri": {"type": "string", "minLength": 1},
                                "runtime": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    },
}


class Doubler(PythonModel):
    def predict(self, context: Any, data: Any) -> Any:
        return np.asarray(data) * 2


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


def _logistic(X: pd.DataFrame, y: np.ndarray, c: float = 1.0) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(X, y)


@pytest.fixture(scope="module")
def logistic(data: tuple[pd.DataFrame, np.ndarray]) -> tuple[Any, Any]:
    X, y = data
    return _logistic(X, y), _logistic(X, y, c=0.1)


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))


def _save(model: Any, path: Path, example: Any) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save_model(model, path, input_example=example)
    return path


def _config(path: Path) -> Any:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def _check_config_against_onnx(config: Any, session: Any) -> None:
    """Every ONNX input/output appears in config.pbtxt with its type and (batch-less) shape."""
    types = {"tensor(float)": "TYPE_FP32", "tensor(double)": "TYPE_FP64", "tensor(int64)": "TYPE_INT64"}
    batched = config.max_batch_size > 0
    for declared, actual in ((config.input, session.get_inputs()), (config.output, session.get_outputs())):
        assert [t.name for t in declared] == [a.name for a in actual]
        for t, a in zip(declared, actual, strict=True):
            assert model_config_pb2.DataType.Name(t.data_type) == types[a.type]
            shape = [d if isinstance(d, int) else -1 for d in a.shape]
            if batched:
                assert shape[0] == -1
                want = shape[1:] or [1]
                assert list(t.dims) == want
                assert t.HasField("reshape") == (len(shape) == 1)
            else:
                assert list(t.dims) == shape


def _boosters(X: pd.DataFrame, y: np.ndarray) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    try:
        import xgboost

        out.append(("xgb", xgboost.XGBClassifier(n_estimators=8, max_depth=3).fit(X, y)))
    except ImportError:
        pass
    try:
        import lightgbm

        out.append(("lgbm", lightgbm.LGBMClassifier(n_estimators=8, verbose=-1).fit(X, y)))
    except ImportError:
        pass
    return out


def test_triton_repository_for_classifiers_predicts_like_treadle(
    data: tuple[pd.DataFrame, np.ndarray], logistic: tuple[Any, Any], client: Client, tmp_path: Path
) -> None:
    X, y = data
    models = [("churn", logistic[0]), *_boosters(X, y)]
    for name, model in models:
        _save(model, tmp_path / name, X[:5])
        client.register_model(str(tmp_path / name), name)
        client.register_model(str(tmp_path / name), name)  # version 2
        result = export_triton(f"models:/{name}/2", tmp_path / "repo", client=client)
        assert result.path == tmp_path / "repo" / name and result.version == 2
        assert result.model_file == tmp_path / "repo" / name / "2" / "model.onnx"
        config = _config(result.path / "config.pbtxt")
        assert config.name == name and config.platform == "onnxruntime_onnx" and config.max_batch_size == 64
        assert config.HasField("dynamic_batching")
        session = ort.InferenceSession(str(result.model_file), providers=["CPUExecutionProvider"])
        _check_config_against_onnx(config, session)
        label, proba = session.run(["label", "probabilities"], {"X": X.to_numpy(np.float32)})
        treadle_model = load_model(tmp_path / name)
        agree = (label == np.asarray(treadle_model.predict(X))).mean()
        assert agree >= 0.995, f"{name}: ONNX labels agree on {agree:.3f} of rows"  # float32 vs float64 inputs
        np.testing.assert_allclose(proba, treadle_model.predict_proba(X), atol=2e-3)


def test_triton_repository_for_a_regressor_and_an_onnx_model(
    data: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    X, _ = data
    target = X["mean radius"].to_numpy()
    ridge = Ridge().fit(X.drop(columns="mean radius"), target)
    features = X.drop(columns="mean radius")
    _save(ridge, tmp_path / "ridge", features[:3])
    result = export_triton(str(tmp_path / "ridge"), tmp_path / "repo", max_batch_size=0)
    config = _config(result.path / "config.pbtxt")
    assert config.max_batch_size == 0 and not config.HasField("dynamic_batching")
    session = ort.InferenceSession(str(result.model_file), providers=["CPUExecutionProvider"])
    _check_config_against_onnx(config, session)
    (pred,) = session.run(None, {"X": features.to_numpy(np.float32)})
    np.testing.assert_allclose(pred.ravel(), ridge.predict(features), rtol=1e-3, atol=1e-3)

    proto = to_onnx(_logistic(features, (X["mean radius"] > 14).to_numpy()), features[:5])
    _save(proto, tmp_path / "as-onnx", None)
    copied = export_triton(str(tmp_path / "as-onnx"), tmp_path / "repo", name="copied")
    assert copied.model_file.read_bytes() == (tmp_path / "as-onnx" / "model.onnx").read_bytes()
    assert _config(copied.path / "config.pbtxt").name == "copied"


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_triton_repository_for_pytorch_is_torchscript(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3))
    X = np.random.default_rng(0).normal(size=(20, 6)).astype(np.float32)
    _save(net, tmp_path / "net", X[:4])
    result = export_triton(str(tmp_path / "net"), tmp_path / "repo")
    assert result.platform == "pytorch_libtorch" and result.model_file.name == "model.pt"
    config = _config(result.path / "config.pbtxt")
    assert [(t.name, list(t.dims)) for t in config.input] == [("INPUT__0", [6])]
    assert [(t.name, list(t.dims)) for t in config.output] == [("OUTPUT__0", [3])]
    assert model_config_pb2.DataType.Name(config.input[0].data_type) == "TYPE_FP32"
    scripted = torch.jit.load(str(result.model_file))
    with torch.no_grad():
        got = scripted(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(got, load_model(tmp_path / "net").predict(X), rtol=1e-6)


def test_triton_refuses_a_python_model(tmp_path: Path) -> None:
    _save(Doubler(), tmp_path / "py", np.ones((2, 3)))
    with pytest.raises(InvalidArgument, match="Triton has no backend"):
        export_triton(str(tmp_path / "py"), tmp_path / "repo")


def test_cli_export_triton(data: tuple[pd.DataFrame, np.ndarray], logistic: tuple[Any, Any], tmp_path: Path) -> None:
    X, _ = data
    _save(logistic[0], tmp_path / "m", X[:3])
    uri, art = f"sqlite:///{tmp_path / 'cli.db'}", str(tmp_path / "cli-art")
    runner = CliRunner()
    ok = runner.invoke(
        app, ["--uri", uri, "--artifacts", art, "export", "triton", str(tmp_path / "m"), str(tmp_path / "out")]
    )
    assert ok.exit_code == 0, ok.output
    assert _config(tmp_path / "out" / "m" / "config.pbtxt").platform == "onnxruntime_onnx"
    bad = runner.invoke(
        app, ["--uri", uri, "--artifacts", art, "export", "triton", "models:/absent/1", str(tmp_path / "o")]
    )
    assert bad.exit_code == 1 and "absent" in bad.output


# -- KServe


@pytest.fixture
def registered(
    data: tuple[pd.DataFrame, np.ndarray], logistic: tuple[Any, Any], client: Client, tmp_path: Path
) -> Client:
    X, _ = data
    _save(logistic[0], tmp_path / "v1", X[:3])
    _save(logistic[1], tmp_path / "v2", X[:3])
    client.register_model(str(tmp_path / "v1"), "churn")
    client.register_model(str(tmp_path / "v2"), "churn")
    client.set_alias("churn", "champion", 1)
    return client


def test_kserve_canary_validates_against_the_crd_schema(registered: Client) -> None:
    spec = DeploymentSpec(
        name="churn_live",
        routes=[
            Variant(name="champion", model="models:/churn@champion", weight=90),
            Variant(name="canary", model="models:/churn/2", weight=10),
        ],
        shadow=ShadowSpec(model="models:/churn/1", percent=5),
        replicas=ReplicaSpec(min_replicas=2, max_replicas=6, target_inflight=8),
    )
    registered.rollout.apply_deployment(spec)
    manifest = export_kserve("churn_live", client=registered, namespace="ml", storage_prefix="s3://bucket/models")
    jsonschema.validate(manifest, KSERVE_SCHEMA)
    predictor = manifest["spec"]["predictor"]
    assert manifest["metadata"]["name"] == "churn-live" and manifest["metadata"]["namespace"] == "ml"
    assert predictor["canaryTrafficPercent"] == 10
    assert predictor["model"]["storageUri"] == "s3://bucket/models/churn/2"
    assert predictor["model"]["modelFormat"]["name"] == "sklearn" and predictor["model"]["protocolVersion"] == "v2"
    assert (predictor["minReplicas"], predictor["maxReplicas"], predictor["scaleTarget"]) == (2, 6, 8)
    annotations = manifest["metadata"]["annotations"]
    assert annotations["treadle.io/control-model"] == "models:/churn@champion"
    assert annotations["treadle.io/shadow-model"] == "models:/churn/1"


def test_kserve_single_route_and_refusals(registered: Client, tmp_path: Path) -> None:
    registered.rollout.apply_deployment(
        DeploymentSpec(name="solo", routes=[Variant(name="main", model="models:/churn/1")])
    )
    manifest = export_kserve("solo", client=registered)
    jsonschema.validate(manifest, KSERVE_SCHEMA)
    assert "canaryTrafficPercent" not in manifest["spec"]["predictor"]
    assert manifest["spec"]["predictor"]["model"]["storageUri"] == "pvc://treadle-models/churn/1"

    ab = ABSpec(
        unit_key="user",
        variants=[Variant(name="a", model="models:/churn/1"), Variant(name="b", model="models:/churn/2")],
    )
    registered.rollout.apply_deployment(DeploymentSpec(name="test-ab", ab=ab))
    with pytest.raises(InvalidArgument, match="ab test"):
        export_kserve("test-ab", client=registered)

    _save(Doubler(), tmp_path / "py", np.ones((2, 3)))
    registered.register_model(str(tmp_path / "py"), "rules")
    registered.rollout.apply_deployment(
        DeploymentSpec(name="rules", routes=[Variant(name="r", model="models:/rules/1")])
    )
    with pytest.raises(InvalidArgument, match="no KServe runtime"):
        export_kserve("rules", client=registered)


def test_cli_export_kserve_writes_yaml(registered: Client, tmp_path: Path) -> None:
    registered.rollout.apply_deployment(
        DeploymentSpec(name="solo", routes=[Variant(name="main", model="models:/churn@champion")])
    )
    runner = CliRunner()
    out = tmp_path / "isvc.yaml"
    args = ["--uri", registered.uri, "--artifacts", str(tmp_path / "artifacts"), "export", "kserve", "solo"]
    result = runner.invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    written = yaml.safe_load(out.read_text())
    jsonschema.validate(written, KSERVE_SCHEMA)
    assert written == export_kserve("solo", client=registered)
    printed = runner.invoke(app, args)
    assert printed.exit_code == 0 and yaml.safe_load(printed.output) == written
    missing = runner.invoke(app, [*args[:-1], "nope"])
    assert missing.exit_code == 1
