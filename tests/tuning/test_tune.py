"""td.tune end to end on a SQLite store: results, tracked trial runs, pruning, several objectives,
failures, resume, samplers, and bad input."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import treadle.client as td
from treadle.client import Client
from treadle.errors import InvalidArgument, NotFound
from treadle.studies import open_study
from treadle.tuning import load_study, tune

SPACE = {"x": (-5.0, 5.0), "n": (1, 4), "kind": ["a", "b"]}


def quadratic(params: dict[str, object]) -> float:
    x = float(params["x"])  # type: ignore[arg-type]
    return (x - 1.0) ** 2 + int(params["n"]) + (0.5 if params["kind"] == "b" else 0.0)  # type: ignore[call-overload]


def _trial_runs(client: Client, study: str) -> list[td.Run]:  # type: ignore[name-defined]
    return client.search_runs(filter=f"tags.`treadle.trial.study` = '{study}'", max_results=1000).runs


def test_space_objective_finds_the_minimum_and_tracks_every_trial(client: Client) -> None:
    study = tune(quadratic, SPACE, n_trials=25, seed=1, study_name="quad", client=client)
    assert len(study.trials) == 25 and all(t.state == TrialState.COMPLETE for t in study.trials)
    assert study.best_value == min(t.value for t in study.trials)  # type: ignore[type-var]
    assert set(study.best_params) == {"x", "n", "kind"} and study.best_value < 3.0
    summary = client.tuning.get_study("quad")
    assert (summary.n_trials, summary.n_complete, summary.best_value) == (25, 25, study.best_value)
    parent = client.get_run(summary.run_id)  # type: ignore[arg-type]
    assert parent.status == "FINISHED" and parent.tags["treadle.study"] == "quad"
    assert parent.metrics["best_value"] == study.best_value
    runs = _trial_runs(client, "quad")
    assert len(runs) == 25 and {r.parent_id for r in runs} == {parent.id}
    best = next(r for r in runs if r.tags["treadle.trial.number"] == str(study.best_trial.number))
    assert best.metrics["value"] == study.best_value and best.status == "FINISHED"
    assert best.params == {k: str(v) for k, v in study.best_params.items()}
    assert best.tags["treadle.trial.state"] == "COMPLETE"


def test_define_by_run_objective_logs_into_its_trial_run(client: Client) -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 2.0)
        td.log_metric("inside", x * 10)
        return x

    study = tune(objective, n_trials=5, sampler="random", seed=0, study_name="dbr", direction="maximize")
    assert study.best_value == max(t.value for t in study.trials)  # type: ignore[type-var]
    for run in _trial_runs(client, "dbr"):
        assert math.isclose(run.metrics["inside"], 10 * float(run.params["x"]))
    assert td.active_run() is None  # the trial runs were only borrowed


def test_pruning_stops_bad_trials_and_records_intermediate_values(client: Client) -> None:
    def objective(params: dict[str, float], trial: optuna.Trial) -> float:
        value = 0.0
        for step in range(10):
            value = params["slope"] + 1.0 / (step + 1)  # learning curves that improve
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned
        return value

    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    space = {"slope": (0.0, 1.0)}
    study = tune(objective, space, n_trials=20, pruner=pruner, seed=3, study_name="pr", client=client)
    states = [t.state for t in study.trials]
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states
    assert client.tuning.get_study("pr").n_pruned == states.count(TrialState.PRUNED)
    pruned = next(t for t in study.trials if t.state == TrialState.PRUNED)
    run = next(r for r in _trial_runs(client, "pr") if r.tags["treadle.trial.number"] == str(pruned.number))
    assert run.tags["treadle.trial.state"] == "PRUNED"
    history = client.get_metric_history(run.id, "intermediate_value")
    assert history.steps == sorted(pruned.intermediate_values) and len(history.steps) < 10
    with pytest.raises(InvalidArgument, match="unknown pruner"):
        tune(objective, space, n_trials=1, pruner="sometimes", client=client)


def test_several_objectives_give_the_pareto_front(client: Client) -> None:
    def objective(params: dict[str, float]) -> tuple[float, float]:
        return params["x"], (1.0 - params["x"]) ** 2

    study = tune(objective, {"x": (0.0, 1.0)}, n_trials=12, directions=["minimize", "minimize"], seed=0, client=client)
    front = study.best_trials
    assert front and all(t.state == TrialState.COMPLETE for t in front)
    for t in front:  # nothing dominates a Pareto-optimal trial
        assert not any(o.values[0] <= t.values[0] and o.values[1] < t.values[1] for o in study.trials if o.values)
    run = _trial_runs(client, study.study_name)[0]
    assert {"value_0", "value_1"} <= set(run.metrics)
    with pytest.raises(InvalidArgument, match="one objective"):
        tune(objective, {"x": (0.0, 1.0)}, n_trials=1, directions=["minimize", "maximize"], pruner="median")


def test_a_raising_objective_fails_its_trial_and_the_study_goes_on(client: Client) -> None:
    def objective(params: dict[str, float]) -> float:
        if params["x"] > 0.5:
            raise ValueError(f"x too large: {params['x']}")
        return params["x"]

    study = tune(objective, {"x": (0.0, 1.0)}, n_trials=10, seed=2, sampler="random", study_name="f", client=client)
    states = [t.state for t in study.trials]
    assert len(states) == 10 and TrialState.FAIL in states and TrialState.COMPLETE in states
    failed = [r for r in _trial_runs(client, "f") if r.tags["treadle.trial.state"] == "FAIL"]
    assert len(failed) == states.count(TrialState.FAIL)
    assert all(r.status == "FAILED" and "x too large" in r.tags["treadle.trial.error"] for r in failed)
    assert client.tuning.get_study("f").n_failed == len(failed)


def test_resume_continues_to_n_trials_and_fails_trials_of_a_dead_session(client: Client) -> None:
    first = tune(quadratic, SPACE, n_trials=4, seed=0, study_name="res", client=client)
    assert len(first.trials) == 4
    # A session that died mid-trial: its trial stays RUNNING in the journal, its run RUNNING.
    dead = open_study(client.tuning, "res")
    orphan = dead.ask()
    parent_id = client.tuning.get_study("res").run_id
    exp = client.get_run(parent_id).experiment_id  # type: ignore[arg-type]
    orphan_run = client.tracking.create_run(exp, name=f"trial-{orphan.number}", parent_id=parent_id)
    study = tune(quadratic, SPACE, n_trials=9, seed=0, study_name="res", client=client)
    assert len(study.trials) == 9
    assert study.trials[orphan.number].state == TrialState.FAIL
    assert client.get_run(orphan_run.id).status == "FAILED"
    assert [t.number for t in study.trials if t.state == TrialState.RUNNING] == []
    assert client.tuning.get_study("res").run_id == parent_id  # the same study run, reopened
    assert load_study("res").best_value == study.best_value
    with pytest.raises(InvalidArgument, match="directions"):
        tune(quadratic, SPACE, n_trials=10, direction="maximize", study_name="res", client=client)


@pytest.mark.parametrize("sampler", ["random", "grid", "cmaes", "tpe"])
def test_samplers(client: Client, sampler: str) -> None:
    space = {"x": (0, 3), "y": [0.5, 1.5]} if sampler == "grid" else {"x": (0.0, 3.0), "y": (0.0, 2.0)}
    study = tune(lambda p: p["x"] + p["y"], space, n_trials=8, sampler=sampler, seed=0, client=client)
    assert len(study.trials) == 8 and study.best_value == min(t.value for t in study.trials)  # type: ignore[type-var]
    if sampler == "grid":  # 4 x 2 points, each once
        assert sorted((t.params["x"], t.params["y"]) for t in study.trials) == [
            (x, y) for x in range(4) for y in (0.5, 1.5)
        ]


@pytest.mark.slow
def test_gp_sampler(client: Client) -> None:
    study = tune(lambda p: (p["x"] - 0.3) ** 2, {"x": (0.0, 1.0)}, n_trials=12, sampler="gp", seed=0, client=client)
    assert study.best_value < 0.05


def test_bad_input_is_refused_before_any_trial(client: Client) -> None:
    with pytest.raises(InvalidArgument, match="n_trials"):
        tune(quadratic, SPACE, n_trials=0, client=client)
    with pytest.raises(InvalidArgument, match="parallelism"):
        tune(quadratic, SPACE, parallelism=0, client=client)
    with pytest.raises(InvalidArgument, match="executor"):
        tune(quadratic, SPACE, executor="threads", client=client)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="unknown sampler 'annealing'"):
        tune(quadratic, SPACE, sampler="annealing", client=client)
    with pytest.raises(InvalidArgument, match="direction"):
        tune(quadratic, SPACE, direction="down", client=client)
    with pytest.raises(InvalidArgument, match="grid search needs a finite grid"):
        tune(quadratic, SPACE, sampler="grid", client=client)
    with pytest.raises(InvalidArgument, match="grid sampler needs a space"):
        tune(lambda t: 0.0, sampler="grid", client=client)
    with pytest.raises(InvalidArgument, match="'x'"):
        tune(quadratic, {"x": (3.0, 1.0)}, client=client)
    with pytest.raises(InvalidArgument, match="callable"):
        tune("not a function", SPACE, client=client)  # type: ignore[arg-type]
    assert client.tuning.list_studies() == []
    with pytest.raises(NotFound, match="nothing"):
        load_study("nothing", client=client)


def test_timeout_stops_starting_trials(client: Client) -> None:
    import time

    def slow(params: dict[str, float]) -> float:
        time.sleep(0.2)
        return params["x"]

    study = tune(slow, {"x": (0.0, 1.0)}, n_trials=50, timeout_s=0.5, study_name="slow", client=client)
    assert 1 <= len(study.trials) <= 5 and client.tuning.get_study("slow").n_complete == len(study.trials)


def test_an_objective_may_stop_the_study(client: Client) -> None:
    def objective(trial: optuna.Trial) -> float:
        if trial.number == 2:
            trial.study.stop()
        return trial.suggest_float("x", 0, 1)

    assert len(tune(objective, n_trials=10, client=client).trials) == 3


def test_tune_through_a_server(tmp_path: Path) -> None:
    from treadle.server import create_app
    from treadle.testing.server import serve

    app = create_app(uri=f"sqlite:///{tmp_path / 'server.db'}", artifacts=str(tmp_path / "server-art"))
    with serve(app) as url:
        remote = Client(url)

        def objective(params: dict[str, float], trial: optuna.Trial) -> float:
            trial.report(params["x"] * 2, 0)
            td.log_metric("seen", params["x"], run_id=td.active_run().id)  # type: ignore[union-attr]
            return params["x"]

        study = tune(objective, {"x": (0.0, 1.0)}, n_trials=4, study_name="remote", client=remote)
        assert len(study.trials) == 4 and remote.tuning.get_study("remote").n_complete == 4
        runs = _trial_runs(remote, "remote")
        assert len(runs) == 4 and all(r.metrics["value"] * 2 == r.metrics["intermediate_value"] for r in runs)
        assert load_study("remote", client=remote).best_value == study.best_value


def test_the_store_knows_every_optuna_journal_operation() -> None:
    from optuna.storages.journal._storage import JournalOperation

    from treadle.studies._service import MAX_OP_CODE

    assert max(JournalOperation) == MAX_OP_CODE  # a newer Optuna's operations must not be refused by append_logs
