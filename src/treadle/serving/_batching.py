"""Adaptive batching: concurrent small requests run as one model call, then split back.

Like Triton's dynamic batcher: a call joins the open batch for its *shape key* (tensor names,
dtypes, trailing shapes and requested outputs — only tensors that concatenate along axis 0 share a
batch). A batch is dispatched when it holds ``max_batch_size`` rows or ``max_latency_ms`` after its
first call arrived, whichever comes first; when the inner executor is already busy (every replica
has a batch, plus one waiting), the batch keeps growing until a slot frees, which is what makes
batches larger under load and costs nothing when idle. The wait is never a timeout: a request only
fails for the model's reasons.

One model call per batch means one bad request could fail its neighbours, so when a batch raises,
each of its requests is run again on its own and gets its own answer or error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from treadle.errors import ModelError
from treadle.rollout import BatchingSpec
from treadle.serving._types import Executor, Tensors


@dataclass(eq=False)
class _Item:
    inputs: Tensors
    outputs: list[str] | None
    rows: int
    future: asyncio.Future[Tensors]
    arrived: float  # loop time


@dataclass(eq=False)
class _Group:
    items: list[_Item] = field(default_factory=list)
    rows: int = 0
    timer: asyncio.TimerHandle | None = None
    dispatching: bool = False  # a task is waiting for a slot to dispatch this group


def batch_key(inputs: Tensors, outputs: list[str] | None) -> tuple[Hashable, int] | None:
    """The key under which ``inputs`` may share a batch, and its row count; None when it cannot batch."""
    rows: int | None = None
    parts: list[Hashable] = []
    for name, array in inputs.items():
        if array.ndim == 0 or (rows is not None and array.shape[0] != rows):
            return None
        rows = int(array.shape[0])
        parts.append((name, array.dtype.str, array.shape[1:]))
    if not rows:
        return None
    return (tuple(parts), tuple(outputs) if outputs is not None else None), rows


class BatchingExecutor(Executor):
    """Wraps any executor; ``on_batch(rows)`` is told the size of every model call (for metrics)."""

    def __init__(self, inner: Executor, spec: BatchingSpec, on_batch: Callable[[int], None] | None = None) -> None:
        self.inner = inner
        self.spec = spec
        self.on_batch = on_batch
        self._groups: dict[Hashable, _Group] = {}
        self._running = 0  # batches the inner executor is running
        self._slot_freed = asyncio.Condition()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.batches: list[int] = []  # recent batch sizes (bounded), for tests and debugging
        self._requests = 0
        set_demand = getattr(inner, "set_demand", None)
        if callable(set_demand):  # an autoscaled pool counts our requests, not our batches
            set_demand(lambda: self._requests)

    @property
    def replicas(self) -> int:
        return self.inner.replicas

    @property
    def inflight(self) -> int:
        """Requests accepted and not yet answered (queued here, or riding on a batch)."""
        return self._requests

    @property
    def queue_depth(self) -> int:
        return sum(len(g.items) for g in self._groups.values()) + self.inner.queue_depth

    @property
    def starting(self) -> int:
        return int(getattr(self.inner, "starting", 0))

    def metadata(self) -> dict[str, Any] | None:
        """The wrapped executor's model metadata (batching does not change the model's tensors)."""
        return self.inner.metadata()

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        while any(g.items for g in self._groups.values()) or self._tasks:  # drain what is queued here
            await asyncio.sleep(0.005)
        await self.inner.stop()

    async def run(self, inputs: Tensors, outputs: list[str] | None = None) -> Tensors:
        self._requests += 1
        try:
            return await self._run(inputs, outputs)
        finally:
            self._requests -= 1

    async def _run(self, inputs: Tensors, outputs: list[str] | None) -> Tensors:
        keyed = batch_key(inputs, outputs)
        if keyed is None or keyed[1] >= self.spec.max_batch_size:
            return await self._call(inputs, outputs, keyed[1] if keyed else 0)
        key, rows = keyed
        loop = asyncio.get_running_loop()
        item = _Item(inputs, outputs, rows, loop.create_future(), loop.time())
        group = self._groups.setdefault(key, _Group())
        if not group.items:
            group.timer = loop.call_at(item.arrived + self.spec.max_latency_ms / 1000, self._kick, key)
        group.items.append(item)
        group.rows += rows
        if group.rows >= self.spec.max_batch_size:
            self._kick(key)
        return await item.future

    async def _call(self, inputs: Tensors, outputs: list[str] | None, rows: int) -> Tensors:
        if self.on_batch is not None:
            self.on_batch(rows)
        self._record(rows)
        return await self.inner.run(inputs, outputs)

    def _record(self, rows: int) -> None:
        self.batches.append(rows)
        if len(self.batches) > 10_000:
            del self.batches[:5_000]

    def _kick(self, key: Hashable) -> None:
        group = self._groups.get(key)
        if group is None or not group.items or group.dispatching:
            return
        group.dispatching = True
        task = asyncio.ensure_future(self._dispatch(key, group))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _limit(self) -> int:
        return max(1, self.inner.replicas) + 1

    async def _dispatch(self, key: Hashable, group: _Group) -> None:
        async with self._slot_freed:
            await self._slot_freed.wait_for(lambda: self._running < self._limit())
            self._running += 1
        try:
            items = self._take(key, group)
            await self._run_batch(items)
        finally:
            async with self._slot_freed:
                self._running -= 1
                self._slot_freed.notify_all()

    def _take(self, key: Hashable, group: _Group) -> list[_Item]:
        """Up to ``max_batch_size`` rows from the group; re-arm the timer for what remains."""
        taken: list[_Item] = []
        rows = 0
        while group.items and rows + group.items[0].rows <= self.spec.max_batch_size:
            item = group.items.pop(0)
            rows += item.rows
            if not item.future.done():  # skip callers that gave up
                taken.append(item)
        group.rows -= rows
        group.dispatching = False
        if group.timer is not None:
            group.timer.cancel()
            group.timer = None
        if group.items:
            loop = asyncio.get_running_loop()
            deadline = group.items[0].arrived + self.spec.max_latency_ms / 1000
            if group.rows >= self.spec.max_batch_size or deadline <= loop.time():
                self._kick(key)
            else:
                group.timer = loop.call_at(deadline, self._kick, key)
        else:
            self._groups.pop(key, None)
        return taken

    async def _run_batch(self, items: list[_Item]) -> None:
        if not items:
            return
        if len(items) == 1:
            await self._one(items[0])
            return
        names = list(items[0].inputs)
        inputs = {n: np.concatenate([i.inputs[n] for i in items], axis=0) for n in names}
        total = sum(i.rows for i in items)
        try:
            result = await self._call(inputs, items[0].outputs, total)
            parts = split_rows(result, [i.rows for i in items])
        except Exception:  # find the culprit: every request runs alone and gets its own answer
            await asyncio.gather(*(self._one(i) for i in items))
            return
        for item, part in zip(items, parts, strict=True):
            if not item.future.done():
                item.future.set_result(part)

    async def _one(self, item: _Item) -> None:
        try:
            result = await self._call(item.inputs, item.outputs, item.rows)
        except BaseException as exc:
            if not item.future.done():
                item.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            if not item.future.done():
                item.future.set_result(result)


def split_rows(outputs: Tensors, counts: list[int]) -> list[Tensors]:
    """Split every output along axis 0 into pieces of ``counts`` rows, in order."""
    total = sum(counts)
    bounds = np.cumsum(counts)[:-1]
    pieces: list[Tensors] = [{} for _ in counts]
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            raise ModelError(f"output {name!r} has {array.shape[0] if array.ndim else 0} rows for a batch of {total}")
        for piece, part in zip(pieces, np.split(array, bounds), strict=True):
            piece[name] = part
    return pieces
