"""Autoscaling: a pool grows toward max_replicas under a concurrent load that exceeds the in-flight
target and shrinks back to min_replicas once the load is gone, without failing a request."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from tests.serving.runtime_models import SlowSum, generate_load, save_python, wait_for
from treadle.rollout._spec import ModelSpec, ReplicaSpec
from treadle.serving._autoscale import Autoscaler
from treadle.serving._executors import make_executor
from treadle.serving._pool import ProcessPoolExecutor

pytestmark = pytest.mark.anyio


@pytest.mark.slow
async def test_replicas_follow_the_load_up_and_back_down(tmp_path: Path) -> None:
    path = save_python(SlowSum(0.05), tmp_path / "slow", width=2)
    spec = ReplicaSpec(min_replicas=1, max_replicas=3, target_inflight=2, scale_down_delay_s=1.0)
    pool = make_executor(path, ModelSpec(name="slow", uri=str(path), replicas=spec))
    assert isinstance(pool, ProcessPoolExecutor)
    await pool.start()
    peak: list[int] = []
    stop = asyncio.Event()

    async def call(i: int) -> None:
        out = await pool.run({"x": np.full((1, 2), float(i))})
        assert out["predict"].tolist() == [2.0 * i]

    async def watch() -> None:
        await wait_for(lambda: pool.replicas == 3, timeout=60)  # 12 clients / 2 per worker: up to the max
        peak.append(pool.replicas)
        await asyncio.sleep(0.5)
        stop.set()

    try:
        assert pool.replicas == 1
        report, _ = await asyncio.gather(generate_load(call, concurrency=12, until=stop.is_set), watch())
        assert report.errors == [] and report.ok > 20
        assert peak == [3] and pool.replicas == 3  # never past max_replicas
        idle_since = time.monotonic()
        await wait_for(lambda: pool.replicas == 1, timeout=30)  # idle: one worker at a time, down to min
        assert time.monotonic() - idle_since >= 2 * spec.scale_down_delay_s  # each removal waited the delay
        await asyncio.sleep(1.5)
        assert pool.replicas == 1 and pool.starting == 0  # never below min_replicas
        out = await pool.run({"x": np.ones((1, 2))})
        assert out["predict"].tolist() == [2.0]
    finally:
        await pool.stop()
    scaler = pool._autoscaler
    assert isinstance(scaler, Autoscaler)
    assert [n for _, n in scaler.history] == [2, 3, 2, 1]
