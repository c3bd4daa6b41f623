"""Trials as Ray tasks (``executor="ray"``): the same worker code as the process pool, one task per
trial, on the cluster ``TREADLE_RAY_ADDRESS`` names or a local one. A task whose worker dies
(``ray.exceptions.WorkerCrashedError`` and friends) fails its trial; Ray starts new workers."""

from __future__ import annotations

import pickle
from typing import Any

from treadle.tuning._trial import Outcome
from treadle.tuning._workers import Task, WorkerInit

_studies: dict[tuple[str, str], Any] = {}  # per Ray worker process: (uri, study) -> (study, objective, client)


def _evaluate(init_bytes: bytes, task_bytes: bytes) -> bytes:
    """Runs in a Ray worker: open the study once per worker process, run one trial."""
    import sys

    import cloudpickle
    import optuna

    from treadle.client import Client
    from treadle.studies import journal_storage
    from treadle.tuning._trial import run_objective

    init: WorkerInit = cloudpickle.loads(init_bytes)
    key = (init.uri, init.study)
    if key not in _studies:
        sys.path[:0] = [p for p in init.sys_path if p not in sys.path]
        objective, sampler, pruner = cloudpickle.loads(init.payload)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        client = Client(init.uri, init.artifacts)
        storage = journal_storage(client.tuning, init.study)
        study = optuna.load_study(study_name=init.study, storage=storage, sampler=sampler, pruner=pruner)
        sampler.reseed_rng()
        _studies[key] = (study, objective, client)
    study, objective, client = _studies[key]
    task: Task = pickle.loads(task_bytes)
    outcome = run_objective(objective, optuna.Trial(study, task.trial_id), task.params, task.run, client)
    return pickle.dumps(outcome)


class RayPool:
    """At most ``n`` trials in flight as Ray tasks (the same interface as ``ProcessPool``)."""

    def __init__(self, n: int) -> None:
        from treadle.data._ray import init_ray

        self._ray = init_ray("ray", 'executor="ray"')
        self._n = n
        self._init: Any = None
        self._remote = self._ray.remote(num_cpus=1)(_evaluate)
        self._inflight: dict[Any, Task] = {}

    def start(self, init: WorkerInit) -> None:
        import cloudpickle

        self._init = self._ray.put(cloudpickle.dumps(init))

    @property
    def idle(self) -> int:
        return self._n - len(self._inflight)

    @property
    def busy(self) -> int:
        return len(self._inflight)

    def submit(self, task: Task) -> None:
        ref = self._remote.remote(self._init, pickle.dumps(task))
        self._inflight[ref] = task

    def wait(self, timeout: float | None = None) -> list[tuple[Task, Outcome]]:
        ready, _ = self._ray.wait(list(self._inflight), num_returns=1, timeout=timeout)
        done: list[tuple[Task, Outcome]] = []
        for ref in ready:
            task = self._inflight.pop(ref)
            try:
                outcome: Outcome = pickle.loads(self._ray.get(ref))
            except Exception as exc:  # the worker died or the task could not run
                outcome = Outcome(
                    "FAIL", error=f"trial {task.number} did not finish on Ray: {type(exc).__name__}: {exc}"[:4000]
                )
            done.append((task, outcome))
        return done

    def close(self) -> None:
        for ref in self._inflight:
            self._ray.cancel(ref, force=True)
