"""Running a model inside the server process, on worker threads.

The cheapest executor: no process hop, no copy. Predictions run on anyio's worker threads so the
event loop keeps answering while numpy/sklearn release the GIL. It is what ``min_replicas: 0``
selects, and what tests and single-model laptops use.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.to_thread

from treadle.errors import Unavailable
from treadle.serving._runner import ModelRunner
from treadle.serving._types import Executor, Tensors


class InlineExecutor(Executor):
    """One :class:`ModelRunner` shared by up to ``max_threads`` concurrent predictions."""

    def __init__(
        self, model_dir: str | Path, *, max_threads: int = 8, uri: str | None = None, artifacts: str | None = None
    ) -> None:
        self.model_dir = Path(model_dir)
        self._uri = uri
        self._artifacts = artifacts
        self._limiter: anyio.CapacityLimiter | None = None
        self._max_threads = max_threads
        self._runner: ModelRunner | None = None
        self._inflight = 0
        self._stopping = False
        self._idle: anyio.Event | None = None

    @property
    def runner(self) -> ModelRunner:
        if self._runner is None:
            raise Unavailable(f"the model at {self.model_dir} is not loaded yet (start() the executor first)")
        return self._runner

    async def start(self) -> None:
        """Load and warm the model off the event loop."""
        if self._runner is not None:
            return
        self._limiter = anyio.CapacityLimiter(self._max_threads)

        def load() -> ModelRunner:
            runner = ModelRunner(self.model_dir, uri=self._uri, artifacts=self._artifacts)
            runner.warm()
            return runner

        self._runner = await anyio.to_thread.run_sync(load)

    async def run(self, inputs: Tensors, outputs: list[str] | None = None) -> Tensors:
        if self._stopping:
            raise Unavailable(f"the model at {self.model_dir} is shutting down")
        runner = self.runner
        self._inflight += 1
        try:
            return await anyio.to_thread.run_sync(runner.run, inputs, outputs, limiter=self._limiter)
        finally:
            self._inflight -= 1
            if self._inflight == 0 and self._idle is not None:
                self._idle.set()

    async def stop(self) -> None:
        """Refuse new calls, wait for the in-flight ones, then drop the model."""
        self._stopping = True
        if self._inflight:
            self._idle = anyio.Event()
            await self._idle.wait()
        self._runner = None

    @property
    def inflight(self) -> int:
        return self._inflight

    @property
    def queue_depth(self) -> int:
        limiter = self._limiter
        return 0 if limiter is None else int(limiter.statistics().tasks_waiting)

    def metadata(self) -> dict[str, object]:
        """The loaded model's OIP inputs/outputs."""
        return self.runner.metadata()
