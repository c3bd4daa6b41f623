"""Adaptive batching: batched answers equal unbatched ones, batches form under concurrency, shapes that
cannot share a batch stay apart, and one bad request never fails its neighbours."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from tests.serving.runtime_models import FaultyModel, SlowSum, save_logistic, save_python
from treadle.errors import InvalidArgument, ModelError
from treadle.rollout._spec import BatchingSpec, ModelSpec, ReplicaSpec
from treadle.serving._batching import BatchingExecutor, batch_key, split_rows
from treadle.serving._executors import make_executor
from treadle.serving._inline import InlineExecutor
from treadle.serving._pool import ProcessPoolExecutor

pytestmark = pytest.mark.anyio


async def test_batched_equals_unbatched_under_concurrency(tmp_path: Path) -> None:
    lr = save_logistic(tmp_path / "lr")
    sizes: list[int] = []
    spec = ModelSpec(
        name="lr",
        uri=str(lr.path),
        batching=BatchingSpec(max_batch_size=32, max_latency_ms=20),
        replicas=ReplicaSpec(min_replicas=0),
    )
    batched = make_executor(lr.path, spec, on_batch=sizes.append)
    assert isinstance(batched, BatchingExecutor) and isinstance(batched.inner, InlineExecutor)
    plain = InlineExecutor(lr.path)
    await batched.start()
    await plain.start()
    try:
        # 1-row and 3-row requests; the default output, predict_proba (2-D), or both at once; all concurrently
        outs: list[list[str] | None] = [["predict_proba"], None, ["predict", "predict_proba"], None]
        requests = [(lr.X[i : i + 1 + 2 * (i % 3 == 0)], outs[i % 4]) for i in range(240)]
        got = await asyncio.gather(*(batched.run({"x": x}, out) for x, out in requests))
        want = [await plain.run({"x": x}, out) for x, out in requests]
    finally:
        await batched.stop()
        await plain.stop()
    for (x, out), g, w in zip(requests, got, want, strict=True):
        assert list(g) == list(w) == (out or ["predict"])
        for name in g:
            assert g[name].shape[0] == x.shape[0]
            np.testing.assert_allclose(g[name], w[name], rtol=1e-12, atol=1e-15)  # BLAS may sum in another order
        if out is None:
            np.testing.assert_array_equal(g["predict"], lr.model.predict(x))
    assert sum(sizes) == sum(x.shape[0] for x, _ in requests)  # every row ran exactly once
    assert max(sizes) > 1 and len(sizes) < len(requests) / 2  # real batches formed
    assert max(sizes) <= 32


async def test_mixed_shapes_and_dtypes_are_never_mixed_in_one_batch(tmp_path: Path) -> None:
    path = save_python(SlowSum(0.002), tmp_path / "sum", width=None)
    sizes: list[int] = []
    executor = BatchingExecutor(InlineExecutor(path), BatchingSpec(max_batch_size=64, max_latency_ms=30), sizes.append)
    await executor.start()
    rng = np.random.default_rng(0)
    inputs = []
    for i in range(90):
        width = (3, 4, 6)[i % 3]  # the model sums any width; the batcher must not concatenate them
        dtype = np.float32 if i % 2 else np.float64
        inputs.append({"x": rng.normal(size=(1 + i % 2, width)).astype(dtype)})
    try:
        got = await asyncio.gather(*(executor.run(x) for x in inputs))
    finally:
        await executor.stop()
    for x, g in zip(inputs, got, strict=True):
        np.testing.assert_allclose(g["predict"], x["x"].astype(np.float64).sum(axis=1), rtol=1e-6)
    assert len({batch_key(x, None)[0] for x in inputs}) == 6  # type: ignore[index]
    assert max(sizes) > 2  # requests of one shape still batched together


async def test_one_bad_request_does_not_fail_its_batch(tmp_path: Path) -> None:
    path = save_python(FaultyModel(), tmp_path / "faulty", width=3)
    executor = BatchingExecutor(InlineExecutor(path), BatchingSpec(max_batch_size=16, max_latency_ms=50))
    await executor.start()
    rows = [np.full((1, 3), float(i)) for i in range(12)]
    rows[5] = np.array([[1.0, -1.0, 2.0]])  # poison: the model raises on it
    try:
        results = await asyncio.gather(*(executor.run({"x": r}) for r in rows), return_exceptions=True)
        wrong_width = await asyncio.gather(executor.run({"x": np.ones((1, 3))}), return_exceptions=True)
    finally:
        await executor.stop()
    assert isinstance(results[5], ModelError) and "poison" in str(results[5])
    for i, r in enumerate(results):
        if i != 5:
            assert not isinstance(r, BaseException), r
            np.testing.assert_array_equal(r["predict"], [3.0 * i])
    assert not isinstance(wrong_width[0], BaseException)
    assert max(executor.batches) > 1  # the good requests did share a batch first


async def test_wait_is_bounded_by_max_latency_not_a_timeout(tmp_path: Path) -> None:
    path = save_python(SlowSum(0.0), tmp_path / "sum", width=2)
    executor = BatchingExecutor(InlineExecutor(path), BatchingSpec(max_batch_size=1000, max_latency_ms=150))
    await executor.start()
    try:
        start = time.monotonic()
        alone = await executor.run({"x": np.ones((1, 2))})  # nobody joins: dispatched at the deadline
        waited = time.monotonic() - start
        big = await executor.run({"x": np.ones((1000, 2))})  # a full batch by itself: no wait
        assert time.monotonic() - start - waited < 0.15
    finally:
        await executor.stop()
    np.testing.assert_array_equal(alone["predict"], [2.0])
    assert big["predict"].shape == (1000,)
    assert 0.14 <= waited < 2.0


async def test_scalar_and_ragged_inputs_bypass_batching(tmp_path: Path) -> None:
    assert batch_key({"x": np.float64(1.0).reshape(())}, None) is None
    assert batch_key({"a": np.ones((2, 1)), "b": np.ones((3, 1))}, None) is None
    assert batch_key({"x": np.ones((0, 3))}, None) is None
    key, rows = batch_key({"a": np.ones((2, 3)), "b": np.ones(2, dtype=np.int32)}, ["predict"])  # type: ignore[misc]
    assert rows == 2 and key != batch_key({"a": np.ones((2, 3)), "b": np.ones(2)}, ["predict"])[0]  # type: ignore[index]
    parts = split_rows({"p": np.arange(6)}, [1, 2, 3])
    assert [p["p"].tolist() for p in parts] == [[0], [1, 2], [3, 4, 5]]
    with pytest.raises(ModelError, match="rows for a batch of 6"):
        split_rows({"p": np.arange(5)}, [1, 2, 3])
    path = save_python(SlowSum(0.0), tmp_path / "sum", width=2)
    executor = BatchingExecutor(InlineExecutor(path), BatchingSpec(max_batch_size=8, max_latency_ms=5))
    await executor.start()
    try:
        with pytest.raises(InvalidArgument):  # ragged inputs reach the model's own check, unbatched
            await executor.run({"a": np.ones((2, 2)), "b": np.ones((3, 2))})
    finally:
        await executor.stop()


@pytest.mark.slow
async def test_batching_over_worker_processes(tmp_path: Path) -> None:
    lr = save_logistic(tmp_path / "lr")
    pool = ProcessPoolExecutor(lr.path, ReplicaSpec(min_replicas=1))
    executor = BatchingExecutor(pool, BatchingSpec(max_batch_size=16, max_latency_ms=10))
    await executor.start()
    try:
        calls = [asyncio.ensure_future(executor.run({"x": lr.X[i : i + 1]})) for i in range(400)]
        await asyncio.sleep(0)
        # the autoscaler sees 400 requests waiting, not the few batch calls the pool holds
        assert pool.demand == executor.inflight == 400 and pool.inflight <= 3
        got = await asyncio.gather(*calls)
        assert pool.demand == 0
    finally:
        await executor.stop()
    np.testing.assert_array_equal(np.concatenate([g["predict"] for g in got]), lr.model.predict(lr.X[:400]))
    assert max(executor.batches) > 1 and sum(executor.batches) == 400
    assert pool.replicas == 0  # stopped


def test_make_executor_picks_by_spec(tmp_path: Path) -> None:
    path = tmp_path / "m"
    inline = ModelSpec(name="m", uri=str(path), replicas=ReplicaSpec(min_replicas=0))
    assert type(make_executor(path, inline)) is InlineExecutor  # min_replicas 0: inside the server process
    pooled = make_executor(path, ModelSpec(name="m", uri=str(path), replicas=ReplicaSpec(min_replicas=2)))
    assert type(pooled) is ProcessPoolExecutor and pooled.spec.min_replicas == 2
    batched = make_executor(path, inline.model_copy(update={"batching": BatchingSpec()}))
    assert type(batched) is BatchingExecutor and type(batched.inner) is InlineExecutor
    with pytest.raises(InvalidArgument, match="unknown serving backend 'k8s'"):
        make_executor(path, inline, backend="k8s")
