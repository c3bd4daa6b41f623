"""Autoscaling a worker pool on in-flight requests per worker, like Ray Serve's ongoing-requests target.

The signal is the mean number of accepted, unanswered requests (queued or running) per ready
worker — requests, not model calls: with adaptive batching every request waiting in or riding on a
batch counts, so set ``target_inflight`` near ``max_batch_size`` for batched models. Above
``target_inflight`` the pool grows to the number of workers that would bring it back to the target
(``ceil(in_flight / target)``, up to ``ReplicaSpec.upper``), counting workers still starting, so a
slow model load does not trigger a second wave of spawns. Below half the target for
``scale_down_delay_s`` without interruption, the least busy worker is drained and stopped, down to
``min_replicas``. The gap between the two thresholds and the delay keep the pool from flapping
under a steady load that sits near the target.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import Protocol

from treadle.rollout import ReplicaSpec

log = logging.getLogger(__name__)


class Scalable(Protocol):
    @property
    def replicas(self) -> int: ...

    @property
    def starting(self) -> int: ...

    @property
    def demand(self) -> int: ...

    async def add_worker(self) -> None: ...

    async def remove_worker(self) -> bool: ...


class Autoscaler:
    """An asyncio task that samples ``pool`` every ``interval_s`` and adds or removes one worker."""

    def __init__(self, pool: Scalable, spec: ReplicaSpec, *, interval_s: float = 0.25) -> None:
        self.pool = pool
        self.spec = spec
        self.interval_s = interval_s
        self.lower = max(1, spec.min_replicas)
        self.upper = max(self.lower, spec.upper)
        self._low_since: float | None = None
        self._task: asyncio.Task[None] | None = None
        self.history: list[tuple[float, int]] = []  # (monotonic time, replicas) after each change

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="treadle-autoscaler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def load(self) -> float:
        """Mean in-flight requests per ready worker."""
        return self.pool.demand / max(1, self.pool.replicas)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.step(time.monotonic())
            except Exception:  # a failed spawn must not end autoscaling; the next tick tries again
                log.exception("autoscaler step failed")

    async def step(self, now: float) -> None:
        """One decision: scale up, scale down, or wait."""
        load, ready, starting = self.load(), self.pool.replicas, self.pool.starting
        if load > self.spec.target_inflight:
            self._low_since = None
            desired = min(self.upper, math.ceil(self.pool.demand / self.spec.target_inflight))
            for _ in range(desired - ready - starting):
                log.info(
                    "autoscaler: %.1f in flight per worker > %.1f, adding a worker", load, self.spec.target_inflight
                )
                starting += 1
                self.history.append((now, ready + starting))
                await self.pool.add_worker()
            return
        if load >= self.spec.target_inflight / 2 or ready <= self.lower:
            self._low_since = None
            return
        if self._low_since is None:
            self._low_since = now
        elif now - self._low_since >= self.spec.scale_down_delay_s:
            self._low_since = None
            log.info(
                "autoscaler: %.1f in flight per worker for %.0fs, removing a worker", load, self.spec.scale_down_delay_s
            )
            self.history.append((now, ready - 1))  # recorded first: draining the worker takes a while
            if not await self.pool.remove_worker():
                self.history.pop()
