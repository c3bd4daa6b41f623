"""Bad input, unknown models, oversized bodies and failing models: clear JSON errors, and the server lives on."""

from __future__ import annotations

import gzip
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.serving.conftest import INLINE, Served, serving_url
from tests.serving.runtime_models import ExitingModel, save_python
from treadle.rollout import ModelSpec
from treadle.serving._model import ModelEndpoint


def _infer(url: str, model: str, inputs: list[dict[str, Any]], **extra: Any) -> httpx.Response:
    return httpx.post(f"{url}/v2/models/{model}/infer", json={"inputs": inputs, **extra})


def _error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and isinstance(body["error"], str)
    return str(body["error"])


def test_wrong_width_names_the_input_and_the_expected_shape(served: Served) -> None:
    r = _infer(served.url, "cancer", [{"name": "rows", "shape": [2, 5], "datatype": "FP64", "data": [0.0] * 10}])
    message = _error(r, 400)
    assert "input 'rows'" in message and "[-1, 30]" in message


def test_missing_column_names_it(served: Served, cancer_data: Any) -> None:
    X = cancer_data[0].iloc[:2].drop(columns=["mean radius"])
    r = httpx.post(f"{served.url}/invocations", json={"dataframe_records": X.to_dict(orient="records")})
    message = _error(r, 400)
    assert "'mean radius' is missing" in message


def test_wrong_dtype_names_the_column_and_the_dtype(served: Served, cancer_data: Any) -> None:
    X = cancer_data[0].iloc[:1]
    inputs = [{"name": c, "shape": [1], "datatype": "FP64", "data": [float(X[c].iloc[0])]} for c in X.columns]
    inputs[3] = {"name": inputs[3]["name"], "shape": [1], "datatype": "BYTES", "data": ["big"]}
    message = _error(_infer(served.url, "cancer", inputs), 400)
    assert "'mean area'" in message and "expected float64" in message


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([{"name": "a", "shape": [2], "datatype": "FP128", "data": [1, 2]}], "input 'a' has unknown datatype 'FP128'"),
        ([{"name": "a", "shape": [3], "datatype": "INT32", "data": [1, 2]}], "input 'a' has 2 elements, but shape [3]"),
        ([{"name": "a", "shape": [2], "datatype": "INT8", "data": [1, 300]}], "outside the range of INT8"),
        ([{"name": "a", "shape": [2], "datatype": "INT64", "data": [1, 2.5]}], "fractional"),
        ([{"name": "a", "shape": [1], "datatype": "FP32", "data": ["x"]}], "input 'a' is FP32"),
        ([{"name": "a", "shape": [-1], "datatype": "FP32", "data": [1]}], "input 'a' needs 'shape'"),
        ([{"name": "a", "shape": [2], "datatype": "FP32", "data": [1, None]}], "must be numbers (got nulls"),
        ([{"name": "a", "shape": [2], "datatype": "FP32", "data": [1e308, 1]}], "outside the range of FP32"),
        ([{"name": "a", "shape": [2], "datatype": "FP16", "data": [70000, 1]}], "outside the range of FP16"),
        ([{"name": "a", "shape": [2], "datatype": "BOOL", "data": ["true", "false"]}], "must be numbers (got strings)"),
        ([{"name": "a", "shape": [0], "datatype": "FP32", "data": []}], "input 'a' has no rows"),
        ([{"name": "a", "shape": [1], "datatype": "FP32"}], "input 'a' has neither 'data'"),
        ([], "non-empty 'inputs'"),
    ],
)
def test_malformed_tensors_are_400s_naming_the_input(served: Served, inputs: Any, message: str) -> None:
    assert message in _error(_infer(served.url, "echo", inputs), 400)


def test_binary_size_mismatch_is_a_400(served: Served) -> None:
    head = b'{"inputs":[{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}'
    headers = {"inference-header-content-length": str(len(head))}
    short = httpx.post(f"{served.url}/v2/models/echo/infer", content=head + b"\0" * 4, headers=headers)
    assert "binary_data_size 8 runs past the end" in _error(short, 400)
    wrong = head.replace(b"8}", b"6}")
    r = httpx.post(
        f"{served.url}/v2/models/echo/infer",
        content=wrong + b"\0" * 6,
        headers={"inference-header-content-length": str(len(wrong))},
    )
    assert "6 bytes of binary data, expected 8" in _error(r, 400)
    flags = b'{"inputs":[{"name":"f","shape":[2],"datatype":"BOOL","parameters":{"binary_data_size":2}}]}'
    r = httpx.post(
        f"{served.url}/v2/models/echo/infer",
        content=flags + b"\x01\x02",
        headers={"inference-header-content-length": str(len(flags))},
    )
    assert "input 'f' is BOOL: each binary element must be the byte 0 or 1" in _error(r, 400)
    truthy = flags.replace(b'"binary_data_size":2', b'"binary_data_size":true')
    r = httpx.post(
        f"{served.url}/v2/models/echo/infer",
        content=truthy + b"\x01",
        headers={"inference-header-content-length": str(len(truthy))},
    )
    assert "binary_data_size must be a byte count, got True" in _error(r, 400)
    assert "not valid JSON" in _error(httpx.post(f"{served.url}/v2/models/echo/infer", content=b"{nope"), 400)


def test_malformed_binary_headers_are_400s_never_500s(served: Served) -> None:
    """Inference-Header-Content-Length that is no ASCII number (``²`` passes str.isdigit) or lies."""
    host, port = served.url.removeprefix("http://").split(":")
    body = b'{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]}]}'
    for value in (b"\xb2", b"-1", b"0x10", b"99999"):
        request = (
            b"POST /v2/models/echo/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Length: %d\r\nInference-Header-Content-Length: %s\r\n\r\n" % (len(body), value)
        )
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(request + body)
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.split(b" ", 2)[1] == b"400", answer
        assert b"Inference-Header-Content-Length" in payload


def test_ragged_and_empty_tables_are_400s(served: Served, cancer_data: Any) -> None:
    ragged = httpx.post(f"{served.url}/invocations", json={"dataframe_split": {"data": [[1], [2, 3]]}})
    assert "same number of values (got [1, 2])" in _error(ragged, 400)
    X = cancer_data[0]
    empty = [{"name": "rows", "shape": [0, X.shape[1]], "datatype": "FP64", "data": []}]
    assert "input 'rows' has no rows" in _error(_infer(served.url, "cancer", empty), 400)


def test_unknown_models_and_routes_are_404s(served: Served) -> None:
    r = _infer(served.url, "nope", [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}])
    assert "model 'nope' is not served here (serving: cancer, echo)" in _error(r, 404)
    assert "nope" in _error(httpx.get(f"{served.url}/v2/models/nope"), 404)
    assert "no such route" in _error(httpx.get(f"{served.url}/v3/whatever"), 404)
    assert _error(httpx.get(f"{served.url}/v2/models/echo/infer"), 405)


def test_feedback_without_a_deployment_is_a_404(served: Served) -> None:
    r = httpx.post(f"{served.url}/feedback", json={"decision_id": "d/1/a/x", "reward": 1})
    assert "takes no feedback" in _error(r, 404)


def test_model_error_is_a_500_with_the_request_id_and_the_server_keeps_serving(served: Served) -> None:
    boom = [
        {"name": "boom", "shape": [1], "datatype": "INT32", "data": [1]},
        {"name": "a", "shape": [1], "datatype": "INT32", "data": [1]},
    ]
    r = _infer(served.url, "echo", boom, id="req-boom-1")
    message = _error(r, 500)
    assert "RuntimeError: boom was requested" in message
    assert "(request id req-boom-1)" in message
    assert r.headers["x-request-id"] == "req-boom-1"
    r = httpx.post(
        f"{served.url}/v2/models/echo/infer", json={"inputs": boom}, headers={"x-request-id": "from-header-7"}
    )
    assert "(request id from-header-7)" in _error(r, 500)
    anonymous = _error(_infer(served.url, "echo", boom), 500)
    assert "(request id " in anonymous
    ok = _infer(served.url, "echo", [{"name": "a", "shape": [2], "datatype": "INT32", "data": [4, 5]}])
    assert ok.status_code == 200
    assert ok.json()["outputs"][0]["data"] == [4, 5]
    assert httpx.get(f"{served.url}/v2/health/ready").status_code == 200


@pytest.mark.parametrize("rid", ["line\nbreak", "\u00fcml\u00e4ut \U0001f600", "a\r\nSet-Cookie: x=1"])
def test_request_ids_that_cannot_be_headers_are_echoed_in_the_body_only(served: Served, rid: str) -> None:
    ok = _infer(served.url, "echo", [{"name": "a", "shape": [1], "datatype": "INT32", "data": [1]}], id=rid)
    assert ok.status_code == 200 and ok.json()["id"] == rid
    assert "x-request-id" not in ok.headers and "set-cookie" not in ok.headers
    boom = [
        {"name": "boom", "shape": [1], "datatype": "INT32", "data": [1]},
        {"name": "a", "shape": [1], "datatype": "INT32", "data": [1]},
    ]
    assert f"(request id {rid})" in _error(_infer(served.url, "echo", boom, id=rid), 500)


@pytest.fixture(scope="module")
def tiny(echo_model_dir: Path, serving_client: Any) -> Iterator[str]:
    echo = ModelEndpoint(ModelSpec(name="echo", uri=str(echo_model_dir), replicas=INLINE), serving_client)
    with serving_url([echo], max_body_bytes=1024) as (url, _):
        yield url


def test_oversized_bodies_are_413s(tiny: str) -> None:
    big = [{"name": "a", "shape": [400], "datatype": "FP32", "data": [1.5] * 400}]
    assert "at most 1024" in _error(_infer(tiny, "echo", big), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        yield b'{"inputs": [{"name": "a", "shape": [400], "datatype": "FP32", "data": ['
        yield b"1.5, " * 399 + b"1.5]}]}"

    r = httpx.post(f"{tiny}/v2/models/echo/infer", content=chunks())
    assert "over this server's limit of 1024" in _error(r, 413)
    bomb = gzip.compress(
        b'{"inputs": [{"name": "a", "shape": [1], "datatype": "BYTES", "data": ["' + b"x" * 50_000 + b'"]}]}'
    )
    assert len(bomb) < 1024
    r = httpx.post(f"{tiny}/v2/models/echo/infer", content=bomb, headers={"content-encoding": "gzip"})
    assert "decompressed request body is over" in _error(r, 413)
    small = gzip.compress(b'{"inputs": [{"name": "a", "shape": [2], "datatype": "FP32", "data": [1, 2]}]}')
    r = httpx.post(f"{tiny}/v2/models/echo/infer", content=small, headers={"content-encoding": "gzip"})
    assert r.status_code == 200
    np.testing.assert_array_equal(r.json()["outputs"][0]["data"], [1.0, 2.0])


def test_a_model_calling_sys_exit_is_a_json_500_and_the_server_lives_on(
    tmp_path: Path, serving_client: Any, echo_model_dir: Path
) -> None:
    path = save_python(ExitingModel(), tmp_path / "exit", width=None)
    exiting = ModelEndpoint(ModelSpec(name="exit", uri=str(path), replicas=INLINE), serving_client)
    echo = ModelEndpoint(ModelSpec(name="echo", uri=str(echo_model_dir), replicas=INLINE), serving_client)
    with serving_url([exiting, echo]) as (url, _):
        inputs = [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}]
        message = _error(_infer(url, "exit", inputs, id="bye-1"), 500)
        assert "the model raised SystemExit: 4" in message and "(request id bye-1)" in message
        assert _infer(url, "echo", inputs).status_code == 200
