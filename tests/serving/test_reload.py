"""Hot reload: moving the alias under load swaps the served version with zero failed requests, every
answer comes from the version it reports, and a version that cannot load leaves the old one serving."""

from __future__ import annotations

import asyncio
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from tests.serving.runtime_models import generate_load, serving, wait_for
from treadle.client import Client
from treadle.errors import ModelError
from treadle.models import PythonModel, PythonModelContext, save_model
from treadle.rollout._spec import ModelSpec, ReplicaSpec
from treadle.serving._model import ModelEndpoint
from treadle.serving._reload import AliasWatcher, follows_alias
from treadle.serving._server import _watch

pytestmark = pytest.mark.anyio


class FailsToWarm(PythonModel):
    def predict(self, context: PythonModelContext, data: Any) -> Any:
        raise RuntimeError("this version is broken")


def _register(client: Client, model: Any, path: Path, example: Any) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a PythonModel from tests/: "modules no installed package provides"
        save_model(model, path, input_example=example)
    return int(client.register_model(str(path), "cancer").version)


@pytest.mark.slow
async def test_alias_move_under_load_swaps_with_zero_failures(
    serving_client: Client, cancer_data: tuple[pd.DataFrame, np.ndarray], cancer_model: Any, tmp_path: Path
) -> None:
    X, y = cancer_data
    # version 2 answers 1 for every row; version 1 answers 0 for these rows: each answer shows its model
    rows = X[cancer_model.predict(X) == 0].to_numpy()[:50]
    v2 = _register(
        serving_client, DummyClassifier(strategy="constant", constant=1).fit(X, y), tmp_path / "v2", X.head(5)
    )
    endpoint = ModelEndpoint(
        ModelSpec(name="cancer", uri="models:/cancer@champion", replicas=ReplicaSpec(min_replicas=1)), serving_client
    )
    seen: list[tuple[float, str]] = []
    with serving([endpoint], background=[_watch(endpoint, serving_client, 0.2)]) as url:
        assert endpoint.version == "1"
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:

            async def call(i: int) -> None:
                row = rows[i % len(rows)]
                body = {
                    "id": str(i),
                    "inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": row.tolist()}],
                }
                response = await http.post("/v2/models/cancer/infer", json=body)
                assert response.status_code == 200, response.text
                doc = response.json()
                answer = doc["outputs"][0]["data"][0]
                assert answer == (0 if doc["model_version"] == "1" else 1), doc  # the reported version answered
                seen.append((time.monotonic(), doc["model_version"]))

            stop_at: list[float] = []

            async def mover() -> None:
                await asyncio.sleep(1.0)
                await asyncio.to_thread(serving_client.set_alias, "cancer", "champion", v2)
                await wait_for(lambda: endpoint.version == str(v2), timeout=60)
                await asyncio.sleep(1.0)  # keep the load on while the old worker drains
                stop_at.append(time.monotonic())

            report, _ = await asyncio.gather(
                generate_load(call, concurrency=6, until=lambda: bool(stop_at)),
                mover(),
            )
    assert report.errors == [], report.errors[:3]
    versions = [v for _, v in seen]
    assert versions[0] == "1" and versions[-1] == str(v2)
    first_new = versions.index(str(v2))
    assert versions[first_new:].count("1") <= 6  # at most the requests already in flight at the swap
    assert report.ok > 50 and len(set(versions)) == 2


async def test_a_version_that_cannot_load_leaves_the_old_one_serving(
    serving_client: Client, cancer_data: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    X, _ = cancer_data
    endpoint = ModelEndpoint(
        ModelSpec(name="cancer", uri="models:/cancer@champion", replicas=ReplicaSpec(min_replicas=0)), serving_client
    )
    serving_client.set_alias("cancer", "champion", 1)
    await endpoint.start()
    watcher = AliasWatcher(endpoint, serving_client, interval_s=0.05, retry_failed_s=60)
    try:
        assert await watcher.check() is False  # nothing moved
        broken = _register(serving_client, FailsToWarm(), tmp_path / "broken", np.ones((2, 30)))
        serving_client.set_alias("cancer", "champion", broken)
        with pytest.raises(ModelError, match="broken"):
            await watcher.check()
        assert endpoint.version == "1" and watcher.swaps == 0
        assert await watcher.check() is False  # not retried at once
        watcher.start()  # the background loop logs the failure and keeps serving
        await asyncio.sleep(0.3)
        assert endpoint.executor is not None
        out = await endpoint.executor.run({"x": X.head(3).to_numpy()})
        assert out["predict"].shape == (3,)
        serving_client.set_alias("cancer", "champion", 1)
        await asyncio.sleep(0.2)
        assert watcher.swaps == 0 and endpoint.version == "1"
    finally:
        await watcher.stop()
        await endpoint.stop()
    assert follows_alias("models:/cancer@champion") and not follows_alias("models:/cancer/1")
    assert not follows_alias(str(tmp_path))
