"""Worker processes: a SIGKILLed worker is replaced within seconds and its requests retried, errors
cross the pipe as the same treadle errors, a request that kills every worker fails cleanly, and stop
drains what is in flight."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.serving.runtime_models import (
    CRASH,
    RAISE,
    FaultyModel,
    SlowSum,
    deadline,
    generate_load,
    save_python,
    serving,
    wait_for,
)
from treadle.client import Client
from treadle.errors import InvalidArgument, ModelError, TreadleError, Unavailable
from treadle.rollout._spec import ModelSpec, ReplicaSpec
from treadle.serving._model import ModelEndpoint
from treadle.serving._pool import ProcessPoolExecutor
from treadle.serving._worker import error_parts, rebuild_error

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_sigkill_a_worker_under_http_load(
    serving_client: Client, cancer_model_dir: Path, cancer_model: Any, cancer_data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X = cancer_data[0].to_numpy()
    expected = cancer_model.predict(cancer_data[0])
    spec = ModelSpec(name="cancer", uri=str(cancer_model_dir), replicas=ReplicaSpec(min_replicas=2), reload=False)
    endpoint = ModelEndpoint(spec, serving_client)
    recovered: list[float] = []
    with serving([endpoint]) as url:
        pool = endpoint.executor
        assert isinstance(pool, ProcessPoolExecutor)
        before = set(pool.pids())
        assert len(before) == 2
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:

            async def call(i: int) -> None:
                row = i % len(X)
                tensor = {"name": "x", "shape": [1, 30], "datatype": "FP64", "data": X[row].tolist()}
                response = await http.post("/v2/models/cancer/infer", json={"inputs": [tensor]})
                assert response.status_code == 200, response.text
                assert response.json()["outputs"][0]["data"] == [int(expected[row])]

            async def killer() -> None:
                await asyncio.sleep(1.5)
                await wait_for(lambda: pool.inflight > 0, 10, interval=0.001)  # kill it with requests in flight
                busiest = max(pool._workers, key=lambda w: len(w.inflight))
                assert busiest.process.pid is not None
                os.kill(busiest.process.pid, signal.SIGKILL)
                recovered.append(await wait_for(lambda: pool.replicas == 2 and set(pool.pids()) != before, 30))

            report, _ = await asyncio.gather(generate_load(call, concurrency=8, until=deadline(6.0)), killer())
    assert report.total > 200
    assert len(report.errors) / report.total < 0.001, report.errors[:3]
    assert pool.restarts == 1
    assert recovered and recovered[0] < 20  # a warm replacement within seconds (on a loaded 2-core box)


async def test_model_errors_and_a_request_that_kills_workers(tmp_path: Path) -> None:
    path = save_python(FaultyModel(), tmp_path / "faulty", width=3)
    pool = ProcessPoolExecutor(path, ReplicaSpec(min_replicas=2))
    await pool.start()
    try:
        with pytest.raises(ModelError, match="poison"):  # the model raised: the same treadle error here
            await pool.run({"x": np.array([[1.0, RAISE, 0.0]])})
        with pytest.raises(InvalidArgument, match=r"shape \(1, 5\)"):  # refused input names its shape
            await pool.run({"x": np.ones((1, 5))})
        good = [pool.run({"x": np.full((1, 3), float(i))}) for i in range(20)]
        deadly = pool.run({"x": np.array([[CRASH, 0.0, 0.0]])})
        results = await asyncio.gather(deadly, *good, return_exceptions=True)
        assert isinstance(results[0], Unavailable) and "twice" in str(results[0])  # retried once, then clean failure
        assert [r["predict"].tolist() for r in results[1:]] == [[3.0 * i] for i in range(20)]  # type: ignore[index]
        assert pool.restarts == 2
        await wait_for(lambda: pool.replicas == 2, timeout=20)
        assert (await pool.run({"x": np.ones((2, 3))}))["predict"].tolist() == [3.0, 3.0]
        # tensors too big for the event loop to send itself go through the writer threads, in order
        mixed = [np.full((20_000 if i % 3 == 0 else 1, 3), float(i)) for i in range(9)]
        answers = await asyncio.gather(*(pool.run({"x": x}) for x in mixed))
        for x, answer in zip(mixed, answers, strict=True):
            np.testing.assert_array_equal(answer["predict"], x.sum(axis=1))
    finally:
        await pool.stop()


async def test_the_only_worker_killed_mid_request_then_stop_drains(tmp_path: Path) -> None:
    path = save_python(SlowSum(0.25), tmp_path / "slow", width=2)
    pool = ProcessPoolExecutor(path, ReplicaSpec(min_replicas=1), per_worker=8)
    await pool.start()
    (pid,) = pool.pids()
    calls = [asyncio.ensure_future(pool.run({"x": np.full((1, 2), float(i))})) for i in range(4)]
    await wait_for(lambda: pool.inflight == 4, timeout=5)
    os.kill(pid, signal.SIGKILL)  # all four were on it: they wait for the replacement and run there
    results = await asyncio.gather(*calls)
    assert [r["predict"].tolist() for r in results] == [[2.0 * i] for i in range(4)]
    assert pool.restarts == 1 and pool.retries == 4 and pool.pids() != [pid]

    processes = [w.process for w in pool._workers]
    calls = [asyncio.ensure_future(pool.run({"x": np.full((1, 2), float(i))})) for i in range(4)]
    await wait_for(lambda: pool.inflight == 4, timeout=5)
    start = time.monotonic()
    await pool.stop()
    assert time.monotonic() - start >= 0.5  # it waited for the work (4 x 0.25 s on one worker)
    assert [c.result()["predict"].tolist() for c in calls] == [[2.0 * i] for i in range(4)]
    assert not any(p.is_alive() for p in processes)
    with pytest.raises(Unavailable):
        await pool.run({"x": np.ones((1, 2))})


async def test_a_model_that_cannot_load_fails_start_cleanly(tmp_path: Path) -> None:
    path = save_python(SlowSum(0.0), tmp_path / "broken", width=2)
    (path / "python_model.pkl").write_bytes(b"not a pickle")  # the digest check refuses it
    pool = ProcessPoolExecutor(path, ReplicaSpec(min_replicas=1))
    with pytest.raises(TreadleError) as info:
        await pool.start()
    assert "python_model.pkl" in str(info.value) or "digest" in str(info.value)
    assert pool.replicas == 0 and not any(w.process.is_alive() for w in pool._workers)


def test_rebuild_error_keeps_the_class_and_never_trusts_other_names() -> None:
    assert type(rebuild_error("InvalidArgument", "bad")) is InvalidArgument
    assert type(rebuild_error("Unavailable", "x")) is Unavailable
    assert type(rebuild_error("SystemExit", "x")) is ModelError  # not a treadle error: never raised as is
    assert type(rebuild_error("os", "x")) is ModelError


async def test_a_failed_startup_leaves_no_worker_process(tmp_path: Path, serving_client: Client) -> None:
    """One endpoint's worker cannot load the model while its neighbour starts its own: the app fails to
    start and the neighbour's workers (cancelled mid-start, or started) are stopped, not orphaned."""
    from treadle.serving._app import create_serving_app

    def workers() -> list[Any]:
        return [p for p in multiprocessing.active_children() if p.name.startswith("treadle-worker-")]

    assert not workers()
    good = ModelEndpoint(
        ModelSpec(name="good", uri=str(save_python(SlowSum(0.0), tmp_path / "good", width=2)), replicas=ReplicaSpec()),
        serving_client,
    )
    broken_dir = save_python(SlowSum(0.0), tmp_path / "broken", width=2)
    (broken_dir / "python_model.pkl").write_bytes(b"not a pickle")  # fails in its worker, while good's start
    broken = ModelEndpoint(ModelSpec(name="broken", uri=str(broken_dir), replicas=ReplicaSpec()), serving_client)
    app = create_serving_app([good, broken])
    with pytest.raises(TreadleError):
        async with app.router.lifespan_context(app):
            pytest.fail("the app started without its model")
    assert good.executor is None and not workers()


def test_ray_replicas_report_errors_as_the_pool_does(tmp_path: Path) -> None:
    """A Ray replica answers every treadle error by class (an Unavailable stays a 503, not a ModelError)."""
    from treadle.serving._ray import ModelReplica

    replica = ModelReplica(str(save_python(FaultyModel(), tmp_path / "faulty", width=2)))
    kind, *parts = replica.predict({"x": np.full((1, 2), RAISE)}, None)
    assert kind == "error" and type(rebuild_error(*parts)) is ModelError
    kind, *parts = replica.predict({"x": np.ones((0, 2))}, None)
    assert kind == "error" and type(rebuild_error(*parts)) is InvalidArgument
    assert type(rebuild_error(*error_parts(Unavailable("feature store down")))) is Unavailable


async def test_a_cancelled_spawn_never_leaves_an_orphan_worker(tmp_path: Path) -> None:
    """Cancel an add_worker once its process has started (the autoscaler stopping, a failed startup):
    the pool still knows that worker, and stopping the pool stops it."""

    def workers() -> set[int | None]:
        return {p.pid for p in multiprocessing.active_children() if p.name.startswith("treadle-worker-")}

    pool = ProcessPoolExecutor(save_python(SlowSum(0.0), tmp_path / "m", width=2), ReplicaSpec(min_replicas=1))
    await pool.start()
    before = workers()
    adding = asyncio.ensure_future(pool.add_worker())
    while workers() == before:  # the process is up; the task is still inside Replica.spawn
        await asyncio.sleep(0)
    adding.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await adding
    await asyncio.sleep(0.2)
    assert workers() <= {w.process.pid for w in pool._workers}  # no started worker unknown to the pool
    await pool.stop()
    assert not workers()
