"""The request log: every answered request reaches Parquet in the blob store, a full queue drops
and counts without blocking, and the log reads back as a DataFrame and as a dataset version."""

from __future__ import annotations

import asyncio
import json
import time
import warnings
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import treadle.datasets as tds
from treadle.client import Client
from treadle.models import save_model
from treadle.rollout import ModelSpec, ReplicaSpec
from treadle.serving._app import create_serving_app
from treadle.serving._model import ModelEndpoint
from treadle.serving._reqlog import RequestLogger, read_request_log, request_log_dataset, tensors_json
from treadle.serving._types import LogRecord
from treadle.testing.server import serve


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))


def _record(i: int, endpoint: str = "m", time_ms: int | None = None) -> LogRecord:
    return LogRecord(
        id=f"r{i}",
        time_ms=time_ms if time_ms is not None else 1_700_000_000_000 + i,
        endpoint=endpoint,
        model_version="3",
        inputs={"x": np.array([[i, i + 1]], dtype=np.float32)},
        outputs={"predict": np.array([i % 2])},
        latency_ms=1.5,
        status=200,
    )


@pytest.mark.slow
def test_every_request_answered_under_load_is_logged(client: Client, tmp_path: Path) -> None:
    X, y = load_breast_cancer(return_X_y=True)
    model = LogisticRegression(max_iter=5000).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save_model(model, tmp_path / "lr", input_example=X[:2])
    endpoint = ModelEndpoint(
        ModelSpec(name="lr", uri=str(tmp_path / "lr"), replicas=ReplicaSpec(min_replicas=0)), client
    )
    logger = RequestLogger(client, flush_rows=64, flush_interval_s=0.2)
    n, bad = 300, {7, 99, 250}

    async def load(url: str) -> list[int]:
        limit = asyncio.Semaphore(16)
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:

            async def one(i: int) -> int:
                row = X[i % len(X)].tolist()
                shape = [1, 30] if i not in bad else [1, 29]  # a few malformed requests: 400, logged too
                body = {
                    "id": f"req-{i}",
                    "inputs": [{"name": "X", "shape": shape, "datatype": "FP64", "data": row[: shape[1]]}],
                }
                async with limit:
                    return (await http.post("/v2/models/lr/infer", json=body)).status_code

            return await asyncio.gather(*(one(i) for i in range(n)))

    with serve(create_serving_app([endpoint], sink=logger)) as url:
        statuses = asyncio.run(load(url))
    logger.close()  # the app closes its sink at shutdown too; closing twice is harmless
    assert statuses.count(200) == n - len(bad) and statuses.count(400) == len(bad)

    log = read_request_log("lr", client)
    assert logger.dropped == 0 and logger.failed == 0
    assert len(log) == n == logger.written
    assert logger.parts > 1  # flushed by rows/interval, not once at the end
    assert sorted(log["id"]) == sorted(f"req-{i}" for i in range(n))
    assert list(log.columns) == [
        "id", "time", "endpoint", "model_version", "variant", "decision_id", "route",
        "status", "latency_ms", "error", "inputs", "outputs",
    ]  # fmt: skip
    assert log["time"].is_monotonic_increasing
    by_id = log.set_index("id")
    sent = json.loads(by_id.loc["req-5", "inputs"])
    np.testing.assert_allclose(np.asarray(sent["X"]).ravel(), X[5])
    answered = json.loads(by_id.loc["req-5", "outputs"])
    assert answered["predict"] == model.predict(X[5:6]).tolist()
    failed = by_id.loc["req-7"]
    assert failed["status"] == 400 and "30" in failed["error"] and pd.isna(failed["outputs"])
    assert set(log["model_version"]) == {"1"} and set(log["route"]) == {"primary"}
    assert (log["latency_ms"] > 0).all()


def test_a_full_queue_drops_and_counts_without_blocking(client: Client) -> None:
    logger = RequestLogger(client, max_queue=2, flush_rows=1000, flush_interval_s=0.5)
    n = 5_000
    start = time.perf_counter()
    for i in range(n):
        logger.log(_record(i))
    elapsed = time.perf_counter() - start
    logger.close()
    assert logger.dropped > 0
    assert logger.written + logger.dropped == n
    assert len(read_request_log("m", client)) == logger.written
    assert elapsed < 2.0, f"logging {n} records took {elapsed:.2f}s: log() must never wait"
    logger.log(_record(n))  # after close: counted as dropped, never raises
    assert logger.dropped + logger.written == n + 1


def test_time_range_and_endpoints_are_kept_apart(client: Client) -> None:
    logger = RequestLogger(client, flush_rows=10, flush_interval_s=5)
    t0 = 1_700_000_000_000
    for i in range(30):
        logger.log(_record(i, "a", t0 + i * 1000))
    for i in range(5):
        logger.log(_record(100 + i, "b", t0 + i))
    logger.close()
    assert len(read_request_log("a", client)) == 30 and len(read_request_log("b", client)) == 5
    window = read_request_log("a", client, since=t0 + 10_000, until=t0 + 19_000)
    assert list(window["id"]) == [f"r{i}" for i in range(10, 20)]
    assert read_request_log("nobody", client).empty


def test_the_log_becomes_a_dataset_version(client: Client) -> None:
    logger = RequestLogger(client, flush_rows=50, flush_interval_s=5)
    for i in range(120):
        logger.log(_record(i, "churn"))
    logger.close()
    version = request_log_dataset("churn", "churn-requests", client)
    assert version.version == 1 and version.num_rows == 120
    frame = tds.get("churn-requests", client=client).to_pandas()
    assert sorted(frame["id"]) == sorted(f"r{i}" for i in range(120))
    assert json.loads(frame.set_index("id").loc["r3", "inputs"]) == {"x": [[3.0, 4.0]]}
    more = RequestLogger(client, flush_interval_s=5)
    more.log(_record(500, "churn"))
    more.close()
    assert request_log_dataset("churn", "churn-requests", client).version == 2


def test_tensors_of_every_kind_become_json() -> None:
    text = tensors_json(
        {
            "s": np.array([b"caf\xc3\xa9", b"\xff"], dtype=object),
            "h": np.array([1.5], dtype=np.float16),
            "b": np.array([True, False]),
            "u": np.array(["x"]),
        }
    )
    assert json.loads(text) == {"s": ["café", "\ufffd"], "h": [1.5], "b": [True, False], "u": ["x"]}


def test_gc_keeps_the_log_parts(client: Client) -> None:
    logger = RequestLogger(client)
    logger.log(_record(1))
    logger.close()
    (part,) = client.rollout.list_log_parts("m")
    assert part.digest not in client.gc(dry_run=True, grace_s=0).unreferenced
