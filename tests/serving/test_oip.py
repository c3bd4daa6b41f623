"""Open Inference Protocol conformance, checked with the real ``tritonclient[http]`` client."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.serving.conftest import Served

httpclient = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402

DTYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}


def _triton(url: str) -> Any:
    return httpclient.InferenceServerClient(url.removeprefix("http://"))


def _tensor(datatype: str) -> np.ndarray:
    if datatype == "BYTES":
        return np.array([[b"a", b"", "été".encode()], [b"\x00\xffraw", b"x" * 300, b"z"]], dtype=np.object_)
    if datatype == "BOOL":
        return np.array([[True, False, True], [False, False, True]])
    dtype = np.dtype(DTYPES[datatype])
    if dtype.kind == "f":
        return np.array([[0.5, -1.25, 3.0], [1e3, -0.0, 2.5]], dtype=dtype)
    info = np.iinfo(dtype)
    return np.array([[info.min, 0, 1], [info.max, 7, info.max - 1]], dtype=dtype)


def test_health_and_metadata(served: Served) -> None:
    client = _triton(served.url)
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.get_server_metadata()["name"] == "treadle"
    assert client.is_model_ready("cancer")
    assert client.is_model_ready("cancer", "1")
    assert not client.is_model_ready("cancer", "7")
    meta = client.get_model_metadata("cancer")
    assert meta["versions"] == ["1"]
    assert len(meta["inputs"]) == 30
    assert meta["inputs"][0] == {"name": "mean radius", "datatype": "FP64", "shape": [-1]}
    assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba"]
    with pytest.raises(InferenceServerException, match="not served here"):
        client.get_model_metadata("nope")


@pytest.mark.parametrize("binary", [True, False])
def test_tabular_model_matches_in_process_predict(
    served: Served, cancer_model: Any, cancer_data: tuple[pd.DataFrame, np.ndarray], binary: bool
) -> None:
    X = cancer_data[0].iloc[:17]
    client = _triton(served.url)
    inp = httpclient.InferInput("features", list(X.shape), "FP64")
    inp.set_data_from_numpy(X.to_numpy(), binary_data=binary)
    outputs = [
        httpclient.InferRequestedOutput("predict", binary_data=binary),
        httpclient.InferRequestedOutput("predict_proba", binary_data=binary),
    ]
    result = client.infer("cancer", [inp], outputs=outputs, request_id=f"req-{binary}")
    assert result.get_response()["id"] == f"req-{binary}"
    assert result.get_response()["model_version"] == "1"
    np.testing.assert_array_equal(result.as_numpy("predict"), cancer_model.predict(X))
    np.testing.assert_allclose(result.as_numpy("predict_proba"), cancer_model.predict_proba(X), rtol=1e-12)


def test_default_outputs_come_back_binary(served: Served, cancer_model: Any, cancer_data: Any) -> None:
    X = cancer_data[0].iloc[:5].to_numpy().astype(np.float32)  # FP32 in: cast to the model's float64
    inp = httpclient.InferInput("x", list(X.shape), "FP32")
    inp.set_data_from_numpy(X)
    result = _triton(served.url).infer("cancer", [inp])  # no outputs named: tritonclient asks for binary
    assert result.get_output("predict")["parameters"]["binary_data_size"] == 5 * 8
    expected = cancer_model.predict(pd.DataFrame(X.astype(np.float64), columns=cancer_data[0].columns))
    np.testing.assert_array_equal(result.as_numpy("predict"), expected)


def test_one_input_per_column(served: Served, cancer_model: Any, cancer_data: Any) -> None:
    X = cancer_data[0].iloc[:3]
    inputs = []
    for column in X.columns:
        inp = httpclient.InferInput(column, [3], "FP64")
        inp.set_data_from_numpy(X[column].to_numpy(), binary_data=column.startswith("mean"))  # mixed on purpose
        inputs.append(inp)
    result = _triton(served.url).infer("cancer", inputs)
    np.testing.assert_array_equal(result.as_numpy("predict"), cancer_model.predict(X))


@pytest.mark.parametrize("binary", [True, False])
def test_every_datatype_round_trips(served: Served, binary: bool) -> None:
    tensors = {f"in_{dt.lower()}": (dt, _tensor(dt)) for dt in DTYPES}
    if not binary:  # JSON cannot carry arbitrary bytes, only text
        tensors["in_bytes"] = ("BYTES", np.array([["a", "b", "été"], ["c", "", "z"]], dtype=np.object_))
    inputs = []
    for name, (dt, arr) in tensors.items():
        inp = httpclient.InferInput(name, list(arr.shape), dt)
        inp.set_data_from_numpy(arr, binary_data=binary)
        inputs.append(inp)
    outputs = [httpclient.InferRequestedOutput(name, binary_data=binary) for name in tensors]
    result = _triton(served.url).infer("echo", inputs, outputs=outputs)
    for name, (dt, arr) in tensors.items():
        got = result.as_numpy(name)
        assert result.get_output(name)["datatype"] == dt, name
        assert got.shape == arr.shape, name
        if dt == "BYTES" and not binary:
            assert got.tolist() == arr.tolist(), name
        else:
            assert got.dtype == arr.dtype, name
            np.testing.assert_array_equal(got, arr, err_msg=name)


def test_nested_json_data_and_versioned_route(served: Served, cancer_model: Any, cancer_data: Any) -> None:
    X = cancer_data[0].iloc[:2]
    body = {"id": 42, "inputs": [{"name": "x", "shape": [2, 30], "datatype": "FP64", "data": X.to_numpy().tolist()}]}
    r = httpx.post(f"{served.url}/v2/models/cancer/versions/1/infer", json=body)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["id"] == "42"
    assert doc["model_name"] == "cancer"
    assert doc["outputs"][0] == {
        "name": "predict",
        "datatype": "INT64",
        "shape": [2],
        "data": cancer_model.predict(X).tolist(),
    }
    assert r.headers["x-request-id"] == "42"
    missing = httpx.post(f"{served.url}/v2/models/cancer/versions/9/infer", json=body)
    assert missing.status_code == 404
    assert "no version '9'" in missing.json()["error"]


def test_binary_outputs_requested_by_request_parameter(served: Served) -> None:
    body = {
        "inputs": [
            {"name": "a", "shape": [3], "datatype": "INT32", "data": [1, 2, 3]},
            {"name": "b", "shape": [1], "datatype": "BYTES", "data": ["hi"]},
        ],
        "parameters": {"binary_data_output": True},
    }
    r = httpx.post(f"{served.url}/v2/models/echo/infer", json=body)
    assert r.status_code == 200, r.text
    head = int(r.headers["inference-header-content-length"])
    doc = httpx.Response(200, content=r.content[:head]).json()
    sizes = [o["parameters"]["binary_data_size"] for o in doc["outputs"]]
    assert sizes == [12, 4 + 2]
    assert np.frombuffer(r.content[head : head + 12], dtype="<i4").tolist() == [1, 2, 3]
    assert r.content[head + 12 :] == b"\x02\x00\x00\x00hi"
