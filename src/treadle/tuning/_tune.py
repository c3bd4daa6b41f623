"""``td.tune``: an Optuna study driven by ask-and-tell, its state in treadle's store, each trial a
nested tracked run, trials evaluated here or in worker processes / Ray tasks.

The driving process asks and tells every trial (it is the only one that samples when a space is
given), so its journal view is refreshed by its own writes and reads cost nothing in between;
workers open the study themselves for define-by-run suggestions and pruning decisions.
"""

from __future__ import annotations

import re
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import optuna
from optuna.distributions import BaseDistribution

from treadle.client import Client
from treadle.client import _fluent as fluent
from treadle.errors import InvalidArgument
from treadle.studies import flush_journal, journal_storage
from treadle.tracking import Run
from treadle.tuning import _study_run as sr
from treadle.tuning._factory import directions_of, make_pruner, make_sampler
from treadle.tuning._space import parse_space
from treadle.tuning._trial import Outcome, run_objective

Executor = Literal["process", "ray"]
_NAME = re.compile(r"[^A-Za-z0-9_.\-]+")


def tune(
    objective: Callable[..., Any],
    space: Mapping[str, Any] | None = None,
    n_trials: int = 100,
    sampler: str | optuna.samplers.BaseSampler = "tpe",
    pruner: str | optuna.pruners.BasePruner | None = None,
    direction: str = "minimize",
    directions: Sequence[str] | None = None,
    parallelism: int = 1,
    executor: Executor = "process",
    study_name: str | None = None,
    experiment: str | None = None,
    timeout_s: float | None = None,
    seed: int | None = None,
    client: Client | None = None,
) -> optuna.Study:
    """Optimise ``objective`` and return the Optuna study (``best_value``, ``best_params``, ``trials``).

    With ``space`` (see :mod:`treadle.tuning._space`) the objective is ``objective(params)`` (or
    ``objective(params, trial)`` to report intermediate values for pruning); without it,
    ``objective(trial)`` suggests its own parameters (define-by-run). It returns a float, or one
    float per direction for several ``directions``. ``study_name`` names the study; running again
    with the same name resumes it up to ``n_trials`` trials in total (trials a stopped session
    left running are marked FAIL). An objective that raises fails its trial and the study goes
    on. ``parallelism`` > 1 evaluates trials in that many worker processes (``executor="process"``:
    fresh interpreters, the objective cloudpickled; a worker that crashes fails its trial and is
    replaced) or Ray tasks (``executor="ray"``); with 1 they run in this process.

    Tracking: the study is a run (in ``experiment``, else the active run's experiment, else
    "tuning"; nested under the active fluent run if there is one) and each trial a nested run
    named ``trial-N`` with the trial's params, metric ``value`` (``value_0``, ``value_1``, ... for
    several objectives), the series ``intermediate_value`` and tags ``treadle.trial.study``,
    ``treadle.trial.number``, ``treadle.trial.state`` (and ``treadle.trial.error``). Inside the
    objective that run is the active fluent run, so ``td.log_metric`` lands in it.
    """
    if not callable(objective):
        raise InvalidArgument(f"objective must be callable, got {type(objective).__name__}")
    if not isinstance(n_trials, int) or n_trials < 1:
        raise InvalidArgument(f"n_trials must be a positive integer, got {n_trials!r}")
    if not isinstance(parallelism, int) or parallelism < 1:
        raise InvalidArgument(f"parallelism must be a positive integer, got {parallelism!r}")
    if executor not in ("process", "ray"):
        raise InvalidArgument(f"executor must be 'process' or 'ray', got {executor!r}")
    if timeout_s is not None and timeout_s <= 0:
        raise InvalidArgument(f"timeout_s must be positive, got {timeout_s!r}")
    client = client or fluent.get_client()
    dists = parse_space(space) if space is not None else None
    dirs = directions_of(direction, list(directions) if directions else None)
    sampler_obj = make_sampler(sampler, seed, dists, len(dirs))
    pruner_obj = make_pruner(pruner, len(dirs))
    name = study_name or _default_name(objective)
    init = _worker_init(client, name, objective, sampler_obj, pruner_obj) if parallelism > 1 else None
    pool = _pool(executor, parallelism) if init is not None else None  # workers import while we set up
    try:
        study = _open(client, name, dirs, sampler_obj, pruner_obj, buffered=pool is None)
        settings = {
            "treadle.study.sampler": sampler if isinstance(sampler, str) else type(sampler).__name__,
            "treadle.study.pruner": pruner if isinstance(pruner, str | None) else type(pruner).__name__,
            "treadle.study.directions": ",".join(dirs),
            "treadle.study.target_trials": n_trials,
        }
        parent = sr.study_run(client, name, experiment, settings)
        sr.fail_stale_trials(study, client, parent)
        flush_journal(study._storage)
    except BaseException:
        if pool is not None:
            pool.close()
        raise
    remaining = n_trials - len(study.get_trials(deepcopy=False))
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    status = "FAILED"
    study._stop_flag = False  # `study.stop()` (the grid sampler when its grid is done) ends the loop
    study._thread_local.in_optimize_loop = True  # ...as Optuna's own optimize loop allows it to
    try:
        driver = _Driver(study, client, parent, objective, dists)
        if pool is None:
            driver.serial(remaining, deadline)
        else:
            assert init is not None
            pool.start(init)
            driver.parallel(remaining, deadline, pool)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        study._thread_local.in_optimize_loop = False
        flush_journal(study._storage)
        sr.close_study_run(client, study, parent, status)
    return optuna.load_study(
        study_name=name, storage=journal_storage(client.tuning, name), sampler=sampler_obj, pruner=pruner_obj
    )


class _Driver:
    """Asks, dispatches and tells trials, keeping each trial's run in step."""

    def __init__(
        self,
        study: optuna.Study,
        client: Client,
        parent: Run,
        objective: Callable[..., Any],
        dists: dict[str, BaseDistribution] | None,
    ) -> None:
        self.study, self.client, self.parent, self.objective, self.dists = study, client, parent, objective, dists

    def _ask(self) -> tuple[optuna.Trial, Run]:
        trial = self.study.ask(self.dists) if self.dists is not None else self.study.ask()
        return trial, sr.start_trial_run(self.client, self.parent, trial.number)

    def _stopped(self, deadline: float | None) -> bool:
        return self.study._stop_flag or (deadline is not None and time.monotonic() >= deadline)

    def serial(self, remaining: int, deadline: float | None) -> None:
        for _ in range(remaining):
            if self._stopped(deadline):
                return
            trial, run = self._ask()
            params = dict(trial.params) if self.dists is not None else None
            try:
                outcome = run_objective(self.objective, trial, params, run, self.client)
            except BaseException:  # KeyboardInterrupt, SystemExit: record the trial, then stop
                sr.finish_trial(self.study, trial.number, run, Outcome("FAIL", error="interrupted"), self.client)
                raise
            sr.finish_trial(self.study, trial.number, run, outcome, self.client)
            flush_journal(self.study._storage)  # one journal write per trial

    def parallel(self, remaining: int, deadline: float | None, pool: Any) -> None:
        from treadle.tuning._workers import Task

        runs: dict[int, Run] = {}
        try:
            while True:
                while remaining > 0 and pool.idle and not self._stopped(deadline):
                    trial, run = self._ask()
                    runs[trial.number] = run
                    params = dict(trial.params) if self.dists is not None else None
                    pool.submit(Task(trial._trial_id, trial.number, run, params))
                    remaining -= 1
                if not pool.busy:
                    return
                for task, outcome in pool.wait(timeout=1.0):
                    sr.finish_trial(self.study, task.number, runs.pop(task.number), outcome, self.client)
        finally:
            pool.close()
            for number, run in runs.items():  # interrupted: what was running failed
                sr.finish_trial(self.study, number, run, Outcome("FAIL", error="interrupted"), self.client)
            flush_journal(self.study._storage)


def _open(
    client: Client,
    name: str,
    dirs: list[str],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    buffered: bool,
) -> optuna.Study:
    # Serial: this process is the study's one writer, so its journal writes wait for each told trial.
    # Parallel: workers write intermediate values too, so every write goes straight to the store.
    storage = journal_storage(client.tuning, name, fresh_reads=False, buffered=buffered)
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        directions=dirs,  # type: ignore[arg-type]  # checked by directions_of
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    flush_journal(storage)
    have = [d.name.lower() for d in study.directions]
    if have != dirs:
        raise InvalidArgument(
            f"study {name!r} exists with directions {have}, not {dirs}: pass the same directions to resume it, "
            "or another study_name"
        )
    return study


def _worker_init(
    client: Client,
    name: str,
    objective: Callable[..., Any],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
) -> Any:
    import cloudpickle

    from treadle.tuning._workers import WorkerInit

    try:
        payload = cloudpickle.dumps((objective, sampler, pruner))
    except Exception as exc:
        raise InvalidArgument(
            f"parallelism > 1 sends the objective to worker processes, but it cannot be pickled: {exc} "
            "(define it at module level, or keep what it captures picklable)"
        ) from exc
    artifacts = getattr(client.blobs, "url", None)  # a local blob store; a server keeps its own
    return WorkerInit(uri=client.uri, artifacts=artifacts, study=name, payload=payload, sys_path=list(sys.path))


def _pool(executor: str, n: int) -> Any:
    if executor == "ray":
        from treadle.tuning._ray import RayPool

        return RayPool(n)
    from treadle.tuning._workers import ProcessPool

    return ProcessPool(n)


def _default_name(objective: Callable[..., Any]) -> str:
    base = _NAME.sub("-", getattr(objective, "__name__", "study")).strip("-") or "study"
    return f"{base}-{uuid.uuid4().hex[:8]}"
