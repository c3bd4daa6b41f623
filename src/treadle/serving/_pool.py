"""Replicas as worker processes: least-in-flight dispatch, crash replacement, one retry, drain.

Why processes: a Python model's predict holds the GIL, so N replicas in one process run one at a
time. Each worker (:mod:`treadle.serving._worker`) is started with the ``spawn`` context, loads the
model once, and answers over a pipe (:mod:`treadle.serving._replica` keeps the event loop off it).

Dispatch: a request goes to the ready worker with the fewest requests in flight, at most
``per_worker`` at a time (one running plus one waiting in the pipe hides the pipe's latency); the
rest wait in a FIFO queue (``queue_depth``), so a worker that was just added takes queued work at
once and a crash loses little. A worker whose pipe reaches EOF has died: it is replaced, and its
in-flight requests — predictions are idempotent — go back to the front of the queue once; a request
whose second worker dies too fails with :class:`~treadle.errors.Unavailable`. Only the oldest
in-flight call of a dead worker was running (a worker answers in order), so only it counts the
crash against itself: a request that kills workers cannot use up its innocent neighbours' retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from treadle.errors import TreadleError, Unavailable
from treadle.rollout import ReplicaSpec
from treadle.serving._replica import Replica
from treadle.serving._types import Executor, Tensors
from treadle.serving._worker import rebuild_error

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Call:
    id: int
    inputs: Tensors
    outputs: list[str] | None
    future: asyncio.Future[Tensors]
    crashes: int = 0  # workers that died while running this call


class ProcessPoolExecutor(Executor):
    """``replicas.min_replicas`` (at least one) worker processes, grown and shrunk by the autoscaler."""

    def __init__(
        self,
        model_dir: str | Path,
        replicas: ReplicaSpec | None = None,
        *,
        per_worker: int = 2,
        start_timeout_s: float = 120.0,
        drain_timeout_s: float = 30.0,
        autoscale_interval_s: float = 0.25,
    ) -> None:
        self.model_dir = str(model_dir)
        self.spec = replicas or ReplicaSpec.model_validate({})
        self.per_worker = per_worker
        self.start_timeout_s = start_timeout_s
        self.drain_timeout_s = drain_timeout_s
        self.autoscale_interval_s = autoscale_interval_s
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: list[Replica] = []
        self._queue: deque[_Call] = deque()
        self._calls = 0  # accepted and not yet answered
        self._ids = itertools.count()
        self._numbers = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._idle = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._autoscaler: Any = None
        self._metadata: dict[str, Any] | None = None
        self._demand: Callable[[], int] | None = None
        self.restarts = 0  # workers replaced after a crash
        self.retries = 0  # requests sent again after the worker running them died
        self._failures = 0  # consecutive workers that died before they were ready (backs off restarts)

    # --- what metrics and the autoscaler read -------------------------------------------------
    @property
    def replicas(self) -> int:
        return sum(1 for w in self._workers if w.state == "ready")

    @property
    def starting(self) -> int:
        return sum(1 for w in self._workers if w.state == "starting")

    @property
    def inflight(self) -> int:
        return self._calls

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def demand(self) -> int:
        """Requests waiting for this pool, as the autoscaler counts them (see :meth:`set_demand`)."""
        return self._demand() if self._demand is not None else self._calls

    def set_demand(self, source: Callable[[], int]) -> None:
        """Count demand with ``source``: a wrapper that holds requests before they reach the pool (adaptive
        batching sends a batch of many requests as one call) reports them here, so the autoscaler
        sees requests, not batches."""
        self._demand = source

    def metadata(self) -> dict[str, Any]:
        """The model's OIP inputs/outputs, as the first warm worker reported them."""
        if self._metadata is None:
            raise Unavailable(f"the model at {self.model_dir} is not loaded yet (start() the executor first)")
        return self._metadata

    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.state == "ready" and w.process.pid is not None]

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start ``min_replicas`` workers and wait until every one has loaded and warmed the model."""
        self._loop = asyncio.get_running_loop()
        self._idle.set()
        workers: list[Replica] = []
        try:
            for _ in range(max(1, self.spec.min_replicas)):
                workers.append(await self._spawn())
            async with asyncio.timeout(self.start_timeout_s):
                await asyncio.gather(*(w.ready for w in workers))
        except BaseException as exc:
            await self._shutdown(drain=False)
            if isinstance(exc, TimeoutError):
                raise Unavailable(f"model workers did not start within {self.start_timeout_s:.0f}s") from None
            raise
        if self.spec.upper > max(1, self.spec.min_replicas):
            from treadle.serving._autoscale import Autoscaler

            self._autoscaler = Autoscaler(self, self.spec, interval_s=self.autoscale_interval_s)
            self._autoscaler.start()

    async def stop(self) -> None:
        """Refuse new work, let in-flight requests finish (up to ``drain_timeout_s``), stop workers."""
        await self._shutdown(drain=True)

    async def _shutdown(self, *, drain: bool) -> None:
        self._stopping = True
        if self._autoscaler is not None:
            await self._autoscaler.stop()
        if drain:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.drain_timeout_s):
                    await self._idle.wait()
        for call in list(self._queue):
            self._fail(call, Unavailable("the model is shutting down"))
        self._queue.clear()
        await asyncio.gather(*(self._retire(w) for w in list(self._workers)))
        for task in list(self._tasks):
            task.cancel()

    # --- requests -------------------------------------------------------------------------------
    async def run(self, inputs: Tensors, outputs: list[str] | None = None) -> Tensors:
        if self._stopping or self._loop is None:
            raise Unavailable("the model is not running (stopped or not started)")
        call = _Call(next(self._ids), inputs, outputs, self._loop.create_future())
        self._calls += 1
        self._idle.clear()
        self._queue.append(call)
        self._pump()
        try:
            return await call.future
        finally:
            self._calls -= 1
            if self._calls == 0:
                self._idle.set()

    def _pump(self) -> None:
        """Hand queued calls to the least busy ready workers while any has room."""
        while self._queue:
            ready = [w for w in self._workers if w.state == "ready" and len(w.inflight) < self.per_worker]
            if not ready:
                return
            worker = min(ready, key=lambda w: len(w.inflight))
            call = self._queue.popleft()
            if call.future.done():  # its caller gave up (cancelled)
                continue
            worker.inflight[call.id] = call
            worker.idle.clear()
            worker.send(("run", call.id, call.inputs, call.outputs))

    def _fail(self, call: _Call, exc: BaseException) -> None:
        if not call.future.done():
            call.future.set_exception(exc)

    # --- workers --------------------------------------------------------------------------------
    async def add_worker(self) -> None:
        """Start one more worker (the autoscaler's scale-up); it takes work once warm."""
        if not self._stopping:
            await self._spawn()

    async def remove_worker(self) -> bool:
        """Drain and stop the least busy ready worker (the autoscaler's scale-down)."""
        ready = [w for w in self._workers if w.state == "ready"]
        if len(ready) <= 1 or self._stopping:
            return False
        await self._retire(min(ready, key=lambda w: len(w.inflight)))
        return True

    async def _spawn(self) -> Replica:
        """Start a worker. Its process starts on a thread that a cancelled caller cannot stop, so the
        worker is registered by a callback, never by the (cancellable) caller: a stop always finds it."""
        spawning = asyncio.ensure_future(
            Replica.spawn(self._ctx, self.model_dir, next(self._numbers), self._on_message, self._on_exit)
        )
        spawning.add_done_callback(self._adopt)
        return await asyncio.shield(spawning)

    def _adopt(self, spawning: asyncio.Future[Replica]) -> None:
        if spawning.cancelled() or spawning.exception() is not None:
            return
        worker = spawning.result()
        if self._stopping:  # stopped while it started: nobody will retire it, so end it now
            worker.state = "draining"
            worker.process.kill()
        else:
            self._workers.append(worker)

    def _on_message(self, worker: Replica, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            if worker.state == "starting":
                worker.state = "ready"
            self._metadata = message[2]
            if not worker.ready.done():
                worker.ready.set_result(None)
        elif kind == "failed":
            if not worker.ready.done():
                worker.ready.set_exception(rebuild_error(message[1], message[2]))
        elif kind in ("ok", "err"):
            call = worker.inflight.pop(message[1], None)
            if not worker.inflight:
                worker.idle.set()
            if call is not None and not call.future.done():
                if kind == "ok":
                    call.future.set_result(message[2])
                else:
                    call.future.set_exception(rebuild_error(message[2], message[3]))
        self._pump()

    def _on_exit(self, worker: Replica) -> None:
        """A worker's pipe closed: retry its calls once elsewhere and replace it unless retired."""
        if worker in self._workers:
            self._workers.remove(worker)
        retired = worker.state == "draining" or self._stopping
        was_ready = worker.state in ("ready", "draining")
        worker.state = "dead"
        worker.close()
        worker.idle.set()
        if not worker.ready.done():
            worker.ready.set_exception(
                Unavailable(f"model worker exited with code {worker.process.exitcode} while starting")
            )
        calls = list(worker.inflight.values())  # in the order sent; a worker answers in that order
        worker.inflight.clear()
        if calls:
            calls[0].crashes += 1  # only the oldest was running; the rest waited in the pipe, blameless
        for call in reversed(calls):
            if call.crashes < 2 and not self._stopping:
                self._queue.appendleft(call)
                self.retries += 1
            else:
                self._fail(call, Unavailable("the model worker died while running this request, twice; not retrying"))
        if not retired:
            log.warning(
                "model worker %s exited (code %s); starting a replacement", worker.process.name, worker.process.exitcode
            )
            self.restarts += 1
            self._failures = 0 if was_ready else self._failures + 1
            self._background(self._replace(backoff=min(30.0, 0.5 * 2**self._failures) if self._failures else 0.0))
        self._pump()

    async def _replace(self, backoff: float) -> None:
        """Start a replacement; if it cannot start and no worker is left, fail the waiting calls."""
        await asyncio.sleep(backoff)
        if self._stopping:
            return
        worker = await self._spawn()
        try:
            await asyncio.wait_for(asyncio.shield(worker.ready), self.start_timeout_s)
        except (TreadleError, TimeoutError) as exc:
            log.error("replacement model worker failed to start: %s", exc)
            if not any(w.state in ("ready", "starting") for w in self._workers):
                while self._queue:
                    self._fail(self._queue.popleft(), Unavailable(f"no model worker is running: {exc}"))
            if worker.state == "starting":  # hung while loading: stop it; its exit schedules the next try
                worker.process.kill()

    async def _retire(self, worker: Replica) -> None:
        """Stop sending work to ``worker``, wait for its in-flight calls, then stop its process."""
        if worker.state == "dead":
            return
        if worker.state == "starting":  # nothing to drain, and loading may take long: end it now
            worker.process.kill()
        worker.state = "draining"
        self._pump()
        if worker.inflight:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.drain_timeout_s):
                    await worker.idle.wait()
        worker.send(("stop",))
        reader = worker.reader  # it ends at the worker's EOF, once the process has exited
        assert reader is not None
        await asyncio.to_thread(reader.join, 5)
        if reader.is_alive():
            worker.process.kill()
            await asyncio.to_thread(reader.join, 10)

    def _background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and not self._stopping:
            log.error("starting a replacement model worker failed: %s", task.exception())
