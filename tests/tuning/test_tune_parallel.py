"""Trials in worker processes and Ray tasks: real parallelism, crashed workers, define-by-run."""

from __future__ import annotations

import itertools
import os
import time

import optuna
import pytest
from optuna.trial import TrialState

import treadle.client as td
from treadle.client import Client
from treadle.tuning import tune

pytestmark = pytest.mark.slow


def busy(params: dict[str, float]) -> float:
    """Burn ~0.4 s of CPU and say which process did it, and when."""
    start = time.time()
    end = time.process_time() + 0.4
    while time.process_time() < end:
        pass
    td.set_tags({"pid": os.getpid(), "start": start, "end": time.time()})
    return params["x"]


def _runs(client: Client, study: str) -> list[td.Run]:  # type: ignore[name-defined]
    return client.search_runs(filter=f"tags.`treadle.trial.study` = '{study}'").runs


def test_two_worker_processes_evaluate_trials_at_the_same_time(client: Client) -> None:
    study = tune(busy, {"x": (0.0, 1.0)}, n_trials=6, parallelism=2, study_name="par", client=client)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 6
    runs = _runs(client, "par")
    pids = {r.tags["pid"] for r in runs}
    assert len(pids) == 2 and str(os.getpid()) not in pids  # two workers, neither is this process
    spans = sorted((float(r.tags["start"]), float(r.tags["end"])) for r in runs)
    overlaps = sum(1 for a, b in itertools.pairwise(spans) if b[0] < a[1])
    assert overlaps >= 2  # CPU-bound trials ran side by side, not one after another


def crashy(trial: optuna.Trial) -> float:
    x = trial.suggest_int("x", 0, 9)
    if trial.number == 1:
        os._exit(3)  # the worker dies mid-trial
    trial.report(float(x), 0)
    return float(x)


def test_a_crashed_worker_fails_its_trial_and_is_replaced(client: Client) -> None:
    study = tune(crashy, n_trials=5, parallelism=2, study_name="crash", sampler="random", client=client)
    states = [t.state for t in study.trials]
    assert states[1] == TrialState.FAIL and states.count(TrialState.COMPLETE) == 4
    failed = next(r for r in _runs(client, "crash") if r.tags["treadle.trial.number"] == "1")
    assert failed.status == "FAILED" and "exited with status 3" in failed.tags["treadle.trial.error"]
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert all(t.intermediate_values == {0: t.params["x"]} for t in done)  # define-by-run in the workers


def test_ray_tasks(client: Client) -> None:
    pytest.importorskip("ray")
    study = tune(crashy_free, {"x": (0, 5)}, n_trials=4, parallelism=2, executor="ray", study_name="ray", client=client)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    assert len(_runs(client, "ray")) == 4


def crashy_free(params: dict[str, int]) -> float:
    td.log_metric("seen", params["x"])
    return float(params["x"])
