"""``--backend ray`` on a local Ray cluster: Ray Serve replicas answer what the model answers in
process, behind our own HTTP server, with the replica counts the spec asks for."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.serving.runtime_models import save_logistic
from treadle.client import Client
from treadle.errors import InvalidArgument
from treadle.rollout import BatchingSpec, ModelSpec, ReplicaSpec
from treadle.serving._app import create_serving_app
from treadle.serving._executors import make_executor
from treadle.serving._model import ModelEndpoint
from treadle.serving._ray import RayExecutor, deployment_options, running_replicas
from treadle.testing.server import serve

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'treadle[ray]'")
    pytest.importorskip("ray.serve", reason="Ray Serve is part of the ray extra")
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)  # logical CPUs: room for replicas
    try:
        yield ray
    finally:
        from ray import serve

        serve.shutdown()
        ray.shutdown()


def test_replica_spec_maps_onto_serve_options() -> None:
    fixed = deployment_options(ModelSpec(name="m", uri="x", replicas=ReplicaSpec(min_replicas=2)), 0.5)
    assert fixed["num_replicas"] == 2 and "autoscaling_config" not in fixed
    assert fixed["ray_actor_options"] == {"num_cpus": 0.5}
    scaled = deployment_options(
        ModelSpec(name="m", uri="x", replicas=ReplicaSpec(min_replicas=1, max_replicas=4, target_inflight=3)), 1
    )
    auto = scaled["autoscaling_config"]
    assert (auto["min_replicas"], auto["max_replicas"], auto["target_ongoing_requests"]) == (1, 4, 3.0)
    assert "num_replicas" not in scaled


def test_ray_serve_replicas_predict_like_the_model_in_process(ray_cluster: Any, tmp_path: Path) -> None:
    lr = save_logistic(tmp_path / "lr")
    spec = ModelSpec(name="lr", uri=str(lr.path), replicas=ReplicaSpec(min_replicas=2))
    executor = make_executor(lr.path, spec, backend="ray")
    assert isinstance(executor, RayExecutor)

    async def scenario() -> None:
        await executor.start()
        try:
            assert executor.replicas == 2
            X = lr.X[:100]
            answers = await asyncio.gather(*(executor.run({"X": X[i : i + 10]}) for i in range(0, 100, 10)))
            got = np.concatenate([a["predict"] for a in answers])
            np.testing.assert_array_equal(got, lr.model.predict(X))
            proba = await executor.run({"X": X}, ["predict_proba"])
            np.testing.assert_allclose(proba["predict_proba"], lr.model.predict_proba(X))
            with pytest.raises(InvalidArgument, match="30"):
                await executor.run({"X": X[:, :5]})
            assert executor.metadata()["inputs"]
        finally:
            await executor.stop()
        assert running_replicas(executor.app_name) == 0

    asyncio.run(scenario())


def test_backend_ray_behind_our_http_server_with_autoscaling_and_batching(ray_cluster: Any, tmp_path: Path) -> None:
    lr = save_logistic(tmp_path / "lr")
    client = Client(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
    spec = ModelSpec(
        name="lr",
        uri=str(lr.path),
        replicas=ReplicaSpec(min_replicas=1, max_replicas=3, target_inflight=2),
        batching=BatchingSpec(max_batch_size=16, max_latency_ms=5),
    )
    endpoint = ModelEndpoint(spec, client, backend="ray")
    X = lr.X[:40]
    with serve(create_serving_app([endpoint])) as url:
        body = {"inputs": [{"name": "X", "shape": list(X.shape), "datatype": "FP64", "data": X.ravel().tolist()}]}
        response = httpx.post(f"{url}/v2/models/lr/infer", json=body, timeout=60)
        assert response.status_code == 200, response.text
        np.testing.assert_array_equal(response.json()["outputs"][0]["data"], lr.model.predict(X))
        bad = httpx.post(
            f"{url}/v2/models/lr/infer", json={"inputs": [{**body["inputs"][0], "shape": [40, 30], "data": [1.0]}]}
        )
        assert bad.status_code == 400
        assert endpoint.replicas == 1  # autoscaling starts at min_replicas
