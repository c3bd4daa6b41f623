"""Running one trial's objective, in the driving process or in a worker: the same code either way.

The objective runs with the trial's tracked run as the active fluent run, so ``td.log_metric``
inside it lands in that run. Its outcome (values, or pruned, or the error) is returned as a
plain picklable :class:`Outcome`; the driver tells Optuna and finishes the run.
"""

from __future__ import annotations

import inspect
import logging
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import optuna

from treadle.client import Client
from treadle.client import _fluent as fluent
from treadle.tracking import Run

log = logging.getLogger("treadle.tuning")
State = Literal["COMPLETE", "PRUNED", "FAIL"]
MAX_ERROR = 4000


@dataclass
class Outcome:
    """What an objective did: its values (COMPLETE), PRUNED, or FAIL with the error text."""

    state: State
    values: list[float] | None = None
    error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    intermediate: dict[int, float] = field(default_factory=dict)


def call_objective(objective: Callable[..., Any], trial: optuna.Trial, params: dict[str, Any] | None) -> Any:
    """``objective(trial)`` define-by-run; with a space ``objective(params)`` or ``objective(params, trial)``."""
    if params is None:
        return objective(trial)
    if _wants_trial(objective):
        return objective(params, trial)
    return objective(params)


def run_objective(
    objective: Callable[..., Any], trial: optuna.Trial, params: dict[str, Any] | None, run: Run, client: Client
) -> Outcome:
    """Run the objective for ``trial`` inside its tracked run; never raises for the objective's errors."""
    try:
        with active_trial_run(run, client):
            result = call_objective(objective, trial, params)
        outcome = Outcome("COMPLETE", values=_values(result))
    except optuna.TrialPruned:
        outcome = Outcome("PRUNED")
    except Exception as exc:  # the study goes on; the trial records why it failed
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        log.warning("trial %d failed: %s", trial.number, text)
        outcome = Outcome("FAIL", error=(text + "\n" + traceback.format_exc())[-MAX_ERROR:])
    outcome.params = dict(trial.params)
    return outcome


@contextmanager
def active_trial_run(run: Run, client: Client) -> Iterator[None]:
    """Make ``run`` the active fluent run while the objective runs (without ending it).

    When the fluent SDK points at another backend than the study's, it is pointed at the
    study's for the duration (with its own metric batcher), so ``td.log_metric`` follows the run.
    """
    state = fluent._current()
    with state.lock:
        if state.client is None:
            state.client = client
        swapped = state.client._backend is not client._backend
        if swapped:
            saved = (state.client, state.batcher, state.experiment_id)
            state.client, state.batcher = client, None
    active = fluent.ActiveRun(run, None)
    state.runs.append(active)
    try:
        yield
    finally:
        if active in state.runs:
            state.runs.remove(active)
        try:
            fluent.flush()
        finally:
            if swapped:
                with state.lock:
                    if state.batcher is not None:
                        state.batcher.close()
                    state.client, state.batcher, state.experiment_id = saved


def _values(result: Any) -> list[float]:
    if isinstance(result, Sequence) and not isinstance(result, str):
        values = [float(v) for v in result]
    else:
        values = [float(result)]
    return values


def _wants_trial(objective: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(objective).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)
