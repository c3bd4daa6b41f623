"""``executor="ray"``: each step a Ray task, on the cluster already initialised, ``TREADLE_RAY_ADDRESS``,
or a local one (:func:`treadle.data._ray.init_ray`).

A step's ``resources`` become the task's ``num_cpus`` / ``num_gpus`` / ``memory``, so Ray places it
on a node that has them. Ray's own retries are off (``max_retries=0``): the engine retries steps
itself, with the step's backoff, and records every attempt. ``cancel`` is ``ray.cancel(force=True)``
(the worker process is killed); a worker that dies fails the future with :class:`StepLost`.

Requirements: a step with ``requirements`` runs under the cached virtualenv's Python built by
:func:`treadle.pipelines._envs.step_python` (Ray's ``runtime_env={"py_executable": ...}``), the same
venv the process executor uses. The venv lives on the driver's disk, so this works on a local Ray
cluster (and on a cluster whose nodes share that path); a multi-node cluster without a shared
``$TREADLE_CACHE`` should bake the requirements into its worker image instead.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import Future
from typing import Any, ClassVar

import cloudpickle

from treadle.data._ray import init_ray
from treadle.pipelines._envs import step_python
from treadle.pipelines._process import StepLost, user_paths
from treadle.pipelines._task import StepOutcome, StepTask
from treadle.pipelines.base import Executor

_RESOLVE = threading.Lock()


def _run_on_worker(runner: bytes, task: StepTask, paths: list[str]) -> StepOutcome:
    """The Ray task: put the driver's user paths on ``sys.path`` (step functions pickled by reference
    import from there), then run the step with ``runner`` (None: ``run_task``)."""
    for path in paths:
        if path not in sys.path:
            sys.path.append(path)
    fn = cloudpickle.loads(runner)
    if fn is None:
        from treadle.pipelines._task_run import run_task

        fn = run_task
    outcome: StepOutcome = fn(task)
    return outcome


def _resolve(future: Future[StepOutcome], result: StepOutcome | BaseException) -> None:
    """Resolve ``future`` unless something (cancel, the worker's answer) already did: both may race."""
    with _RESOLVE:
        if future.done():
            return
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


class RayExecutor(Executor):
    """Steps as Ray tasks; ``runner`` is what the task calls (default: ``run_task``)."""

    name: ClassVar[str] = "ray"

    def __init__(self, max_parallel: int | None = None, *, runner: Any = None) -> None:
        self._ray = init_ray("ray", 'executor="ray"')
        cpus = int(self._ray.cluster_resources().get("CPU", 0)) or os.cpu_count() or 1
        self.max_parallel = max(1, max_parallel or cpus)
        self._runner = cloudpickle.dumps(runner)
        self._remote = self._ray.remote(_run_on_worker)
        self._refs: dict[int, tuple[Any, StepTask]] = {}  # id(our future) -> (ObjectRef, task)

    def _options(self, task: StepTask) -> dict[str, Any]:
        res = task.step.resources
        options: dict[str, Any] = {
            "num_cpus": float(res.get("cpus", 1)),
            "num_gpus": float(res.get("gpus", 0)),
            "max_retries": 0,
            "retry_exceptions": False,
            "name": f"treadle-step-{task.step.name}",
        }
        if res.get("memory_mb"):
            options["memory"] = int(float(res["memory_mb"]) * 2**20)
        return options

    def submit(self, task: StepTask) -> Future[StepOutcome]:
        future: Future[StepOutcome] = Future()
        if task.step.requirements:  # building the venv may take a while: not on the engine's thread
            threading.Thread(target=self._start, args=(task, future), daemon=True).start()
        else:
            self._start(task, future)
        return future

    def _start(self, task: StepTask, future: Future[StepOutcome]) -> None:
        try:
            options = self._options(task)
            if task.step.requirements:
                python = step_python(task.step.requirements, step=task.step.name)
                options["runtime_env"] = {"py_executable": str(python)}
            if future.done():  # cancelled while its venv was being built
                return
            ref = self._remote.options(**options).remote(self._runner, task, user_paths())
        except Exception as exc:  # the engine records it as the step's failure
            _resolve(future, exc)
            return
        self._refs[id(future)] = (ref, task)
        if future.done():  # cancelled while it was being submitted
            self._ray.cancel(ref, force=True)
        ref.future().add_done_callback(lambda done: self._settle(task, future, done))

    def _settle(self, task: StepTask, future: Future[StepOutcome], done: Future[Any]) -> None:
        self._refs.pop(id(future), None)
        exc = done.exception()
        _resolve(future, done.result() if exc is None else self._lost(task, exc))

    def _lost(self, task: StepTask, exc: BaseException) -> StepLost:
        errors = self._ray.exceptions
        what = f"step {task.step.name!r}"
        if isinstance(exc, errors.TaskCancelledError):
            return StepLost(f"{what} was cancelled")
        if isinstance(exc, errors.OutOfMemoryError):
            return StepLost(f"{what}: Ray killed its worker for using too much memory; raise its resources memory_mb")
        if isinstance(exc, errors.WorkerCrashedError | errors.NodeDiedError | errors.LocalRayletDiedError):
            return StepLost(f"{what}: its Ray worker died before reporting a result ({type(exc).__name__})")
        if isinstance(exc, errors.RayTaskError):
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            return StepLost(f"{what}: the Ray task failed: {type(cause).__name__}: {cause}")
        return StepLost(f"{what}: Ray lost it: {type(exc).__name__}: {exc}")

    def cancel(self, future: Future[StepOutcome]) -> None:
        found = self._refs.pop(id(future), None)
        if found is None:
            _resolve(future, StepLost("the step was cancelled"))
            return
        ref, task = found
        self._ray.cancel(ref, force=True)
        _resolve(future, StepLost(f"step {task.step.name!r} was cancelled"))

    def close(self) -> None:
        for ref, _ in list(self._refs.values()):
            self._ray.cancel(ref, force=True)
        self._refs.clear()
