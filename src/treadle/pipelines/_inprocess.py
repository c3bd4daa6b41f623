"""``executor="inprocess"`` (the default): steps run on threads of the driver process.

No pickling, no process start: the cheapest way to run a step (the per-step overhead target is
10 ms, nearly all of it the bookkeeping writes). ``max_parallel`` defaults to 1: steps share the
interpreter (and its GIL), so parallel threads help only steps that wait on I/O; use the process
or Ray executor for CPU-bound branches. Each step thread logs to its own step run (the fluent API's
active run is per thread while a step runs) and captures only its own output.

A thread cannot be killed, so ``cancel`` (a timeout) abandons the attempt: its result is ignored
while it runs on in the background and a fresh worker takes its place. Use ``executor="process"``
when a step must really be stopped.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import ClassVar

from treadle.pipelines._task import StepOutcome, StepTask
from treadle.pipelines._task_run import run_task
from treadle.pipelines.base import Executor

_Job = tuple[StepTask, "Future[StepOutcome]"] | None  # None tells a worker to exit


class InProcessExecutor(Executor):
    name: ClassVar[str] = "inprocess"
    reports_start: ClassVar[bool] = True  # futures turn running when a worker picks the step up

    def __init__(self, max_parallel: int | None = None) -> None:
        self.max_parallel = max(1, max_parallel or 1)
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._abandoned: set[Future[StepOutcome]] = set()
        self._workers = 0
        self._closed = False

    def _spawn(self) -> None:
        self._workers += 1
        threading.Thread(target=self._work, name="treadle-inprocess-step", daemon=True).start()

    def submit(self, task: StepTask) -> Future[StepOutcome]:
        if self._closed:
            raise RuntimeError("the in-process executor is closed")
        future: Future[StepOutcome] = Future()
        with self._lock:
            if self._workers < self.max_parallel:  # workers start lazily and are reused
                self._spawn()
        self._jobs.put((task, future))
        return future

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            task, future = job
            with self._lock:  # atomic with cancel(): a step is either abandoned running or never run
                try:
                    started = future.set_running_or_notify_cancel()
                except RuntimeError:  # already resolved: cancelled before it started
                    started = False
            if started:
                try:
                    outcome = run_task(task)
                except BaseException as exc:  # run_task reports step errors itself; this one is ours
                    with self._lock:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    with self._lock:
                        if not future.done():  # not abandoned meanwhile
                            future.set_result(outcome)
            with self._lock:
                if future in self._abandoned:  # a replacement took this worker's place: leave
                    self._abandoned.discard(future)
                    return

    def cancel(self, future: Future[StepOutcome]) -> None:
        """Abandon the step: a thread cannot be stopped, so a fresh worker takes its place and the
        old one exits when the step returns (its outcome is ignored)."""
        with self._lock:
            if future.running() and future not in self._abandoned:
                self._abandoned.add(future)
                self._workers -= 1
                if not self._closed:
                    self._spawn()
            if not future.done():
                future.set_exception(TimeoutError("abandoned: the in-process executor cannot stop a running step"))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for _ in range(self._workers):
                self._jobs.put(None)
            self._workers = 0
