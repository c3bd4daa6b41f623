"""``treadle serve``: targets (URIs, serving files), the app it builds, and the real command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from treadle.cli import app as cli_app
from treadle.client import Client
from treadle.errors import InvalidArgument
from treadle.serving._server import model_name, model_spec, read_serving_file, serving_app, uvicorn_options
from treadle.testing.server import free_port, serve, wait_until_up


def test_model_names_and_specs_from_uris() -> None:
    assert model_name("models:/churn@champion") == "churn"
    assert model_name("models:/churn/3") == "churn"
    assert model_name("runs:/0123456789abcdef0123456789abcdef/model") == "model"
    assert model_name("/tmp/some dir/my model/") == "my-model"
    spec = model_spec("models:/churn@champion", workers=0, batch_size=8, max_latency_ms=3)
    assert spec.name == "churn" and spec.replicas.min_replicas == 0
    assert spec.batching is not None and spec.batching.max_batch_size == 8 and spec.batching.max_latency_ms == 3
    assert model_spec("models:/churn/3").batching is None
    assert set(uvicorn_options()) == {"loop", "http"}  # uvloop and httptools are core dependencies


def test_serving_file_serves_each_model(
    tmp_path: Path, serving_client: Client, echo_model_dir: Path, cancer_model: Any, cancer_data: Any
) -> None:
    path = tmp_path / "serving.yaml"
    path.write_text(
        "models:\n"
        "  - {name: cancer, uri: 'models:/cancer@champion', replicas: {min_replicas: 0}}\n"
        f"  - {{name: echo, uri: '{echo_model_dir}', replicas: {{min_replicas: 0}}}}\n"
        "graphs:\n"
        "  - {name: voted, kind: ensemble, members: [cancer, cancer], combine: vote}\n"
    )
    specs, graphs = read_serving_file(path)
    assert [s.name for s in specs] == ["cancer", "echo"] and len(graphs) == 1
    X = cancer_data[0].iloc[:3]
    with serve(serving_app(str(path), client=serving_client)) as url:
        assert httpx.get(f"{url}/v2/health/ready").status_code == 200
        r = httpx.post(f"{url}/invocations?model=cancer", json={"dataframe_split": X.to_dict(orient="split")})
        assert r.json() == {"predictions": cancer_model.predict(X).tolist()}
        body = {"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [2.5]}]}
        assert httpx.post(f"{url}/v2/models/echo/infer", json=body).json()["outputs"][0]["data"] == [2.5]
        assert httpx.get(f"{url}/v2/models").json()["models"][0] == {"name": "cancer", "versions": ["1"], "ready": True}
        voted = httpx.post(f"{url}/invocations?model=voted", json={"dataframe_split": X.to_dict(orient="split")})
        assert voted.json() == {"predictions": cancer_model.predict(X).tolist()}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models: []\n", "needs a 'models:' list"),
        ("models:\n  - {name: a, uri: x}\nextra: 1\n", "unknown key 'extra'"),
        ("models:\n  - {name: a}\n", "bad model entry"),
        ("models: [\n", "not valid YAML"),
    ],
)
def test_bad_serving_files_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InvalidArgument, match=message):
        read_serving_file(path)


def test_cli_refuses_deployment_without_a_name() -> None:
    result = CliRunner().invoke(cli_app, ["serve", "deployment"])
    assert result.exit_code == 1
    assert "treadle serve deployment NAME" in result.output
    helptext = CliRunner().invoke(cli_app, ["serve", "--help"]).output
    for option in ("--port", "--workers", "--max-replicas", "--batch-size", "--max-latency-ms", "--backend"):
        assert option in helptext


@pytest.mark.slow
def test_treadle_serve_command_answers(
    tmp_path: Path, cancer_model_dir: Path, cancer_model: Any, cancer_data: Any
) -> None:
    uri, artifacts = f"sqlite:///{tmp_path / 'cli.db'}", str(tmp_path / "artifacts")
    client = Client(uri, artifacts)
    client.set_alias("cancer", "champion", client.register_model(str(cancer_model_dir), "cancer").version)
    port = free_port()
    cmd = [str(Path(sys.executable).parent / "treadle"), "--uri", uri, "--artifacts", artifacts, "serve"]
    cmd += ["models:/cancer@champion", "--port", str(port), "--workers", "0", "--no-reload"]
    env = {**os.environ, "TREADLE_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until_up(f"http://127.0.0.1:{port}", timeout=60)
        X = cancer_data[0].iloc[:4]
        r = httpx.post(f"http://127.0.0.1:{port}/invocations", json={"dataframe_records": X.to_dict(orient="records")})
        assert r.json() == {"predictions": cancer_model.predict(X).tolist()}
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=30)[0].decode()
    assert "serving models:/cancer@champion as 'cancer'" in out


def test_cli_refuses_targets_that_do_not_exist(tmp_path: Path) -> None:
    base = ["--uri", f"sqlite:///{tmp_path / 'x.db'}", "--artifacts", str(tmp_path / "a"), "serve"]
    result = CliRunner().invoke(cli_app, [*base, str(tmp_path / "missing")])
    assert result.exit_code == 1 and "nothing to serve at" in result.output
    result = CliRunner().invoke(cli_app, [*base, "models:/ghost@champion"])
    assert result.exit_code == 1 and "ghost" in result.output
