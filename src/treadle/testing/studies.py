"""Studies conformance: Optuna journals in treadle's store, numbered appends, summaries kept up
to date, and Optuna studies over them that several storages (processes) share. Every backend
(SQLite, PostgreSQL, HTTP) runs it with a ``client`` fixture."""

from __future__ import annotations

import math
import threading
import uuid

import optuna
import pytest
from optuna.trial import TrialState

from treadle import Client
from treadle.errors import InvalidArgument, NotFound
from treadle.studies import journal_storage, open_study

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _name() -> str:
    return f"study-{uuid.uuid4().hex[:10]}"


def _create(name: str, directions: list[int] | None = None) -> dict[str, object]:
    return {"op_code": 0, "worker_id": "w", "study_name": name, "directions": directions or [1]}


def test_appends_are_numbered_and_read_back_in_order(client: Client) -> None:
    name = _name()
    assert client.tuning.read_logs(name) == []  # an unknown study is an empty journal
    assert client.tuning.append_logs(name, [_create(name)]) == 0
    logs = [{"op_code": 2, "worker_id": "w", "study_id": 0, "user_attr": {"k": i}} for i in range(5)]
    assert client.tuning.append_logs(name, logs[:2]) == 1
    assert client.tuning.append_logs(name, logs[2:]) == 3
    assert client.tuning.read_logs(name) == [_create(name), *logs]
    assert client.tuning.read_logs(name, after=2) == logs[2:]
    assert client.tuning.read_logs(name, after=0, limit=2) == logs[:2]


def test_bad_appends_are_refused(client: Client) -> None:
    name = _name()
    with pytest.raises(NotFound, match=name):
        client.tuning.append_logs(name, [{"op_code": 4, "worker_id": "w", "study_id": 0}])
    with pytest.raises(InvalidArgument, match="cannot create study 'other'"):
        client.tuning.append_logs(name, [_create("other")])
    with pytest.raises(InvalidArgument, match="directions"):
        client.tuning.append_logs(name, [_create(name, [7])])
    with pytest.raises(InvalidArgument, match="1 to 256 characters"):
        client.tuning.append_logs("x" * 300, [_create("x" * 300)])
    with pytest.raises(InvalidArgument, match="at least one"):
        client.tuning.append_logs(name, [])
    with pytest.raises(InvalidArgument, match="limit"):
        client.tuning.read_logs(name, limit=0)
    assert client.tuning.read_logs(name) == []  # nothing of a refused append was written


def test_malformed_operations_are_refused_not_server_errors(client: Client) -> None:
    name = _name()
    with pytest.raises(InvalidArgument, match="directions"):
        client.tuning.append_logs(name, [{**_create(name), "directions": []}])  # no objective to draw
    client.tuning.append_logs(name, [_create(name)])
    for bad in ({"state": [1]}, {"state": 1, "values": 5}, {"state": 1, "values": {"a": 1}}):
        with pytest.raises(InvalidArgument, match="state"):
            client.tuning.append_logs(name, [{"op_code": 6, "worker_id": "w", "trial_id": 0, **bad}])
    for op_code in (99, -1, "4", None):
        with pytest.raises(InvalidArgument, match="op_code"):
            client.tuning.append_logs(name, [{"op_code": op_code, "worker_id": "w"}])
    huge = {"op_code": 4, "worker_id": "w", "study_id": 0, "state": 1, "value": 10**400}
    assert client.tuning.append_logs(name, [huge]) == 1  # past float's range: the best is +inf, not a crash
    assert client.tuning.get_study(name).best_value == math.inf


def test_summaries_follow_the_journal(client: Client) -> None:
    name = _name()
    study = optuna.create_study(study_name=name, storage=journal_storage(client.tuning, name), direction="maximize")
    for value in (1.0, 3.0, 2.0):
        study.enqueue_trial({"x": value})
    study.optimize(lambda t: t.suggest_float("x", 0, 5), n_trials=3)
    pruned = study.ask()
    study.tell(pruned, state=TrialState.PRUNED)
    failed = study.ask()
    study.tell(failed, state=TrialState.FAIL)
    study.ask()  # left running
    summary = client.tuning.get_study(name)
    assert summary.directions == ["maximize"]
    assert (summary.n_trials, summary.n_complete, summary.n_pruned, summary.n_failed) == (6, 3, 1, 1)
    assert summary.n_running == 1
    assert summary.best_value == 3.0 == study.best_value
    assert name in [s.name for s in client.tuning.list_studies()]
    exp = client.tracking.create_experiment(f"exp-{uuid.uuid4().hex[:8]}")
    run = client.tracking.create_run(exp.id)
    assert client.tuning.set_study_run(name, run.id).run_id == run.id
    client.tuning.delete_study(name)
    with pytest.raises(NotFound, match=name):
        client.tuning.get_study(name)
    with pytest.raises(NotFound):
        client.tuning.delete_study(name)
    with pytest.raises(NotFound):
        client.tuning.set_study_run(name, run.id)
    assert client.tuning.read_logs(name) == []


def test_optuna_studies_round_trip_through_the_store(client: Client) -> None:
    name = _name()
    study = optuna.create_study(
        study_name=name, storage=journal_storage(client.tuning, name), directions=["minimize", "maximize"]
    )

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_categorical("kind", ["a", "b"])
        trial.set_user_attr("note", "n")
        return x, x**2

    study.optimize(objective, n_trials=6)
    again = open_study(client.tuning, name)
    assert [t.params for t in again.trials] == [t.params for t in study.trials]
    assert [t.values for t in again.trials] == [t.values for t in study.trials]
    assert {t.number for t in again.best_trials} == {t.number for t in study.best_trials}
    assert again.trials[0].user_attrs == {"note": "n"}
    with pytest.raises(NotFound, match="nope"):
        open_study(client.tuning, "nope")


def test_intermediate_values_keep_nan_and_infinity(client: Client) -> None:
    name = _name()
    study = optuna.create_study(study_name=name, storage=journal_storage(client.tuning, name))
    trial = study.ask()
    trial.report(math.inf, 0)
    trial.report(math.nan, 1)
    study.tell(trial, 1.5)
    back = open_study(client.tuning, name).trials[0].intermediate_values
    assert back[0] == math.inf and math.isnan(back[1])


def test_storages_see_each_others_writes(client: Client) -> None:
    """Two storages stand for two processes: each append lands after the other's, and a storage
    that only re-reads on its own writes (``fresh_reads=False``) catches up at its next write."""
    name = _name()
    a = optuna.create_study(study_name=name, storage=journal_storage(client.tuning, name))
    driver = optuna.load_study(study_name=name, storage=journal_storage(client.tuning, name, fresh_reads=False))
    b = optuna.load_study(study_name=name, storage=journal_storage(client.tuning, name))
    a.tell(a.ask({"x": optuna.distributions.FloatDistribution(0, 1)}), 0.5)
    b.tell(b.ask(), 0.25)
    assert len(driver.trials) == 0  # its view moves only with its own writes
    driver.tell(driver.ask(), 1.0)
    assert [t.value for t in driver.trials] == [0.5, 0.25, 1.0]
    assert [t.value for t in a.trials] == [0.5, 0.25, 1.0]
    assert client.tuning.get_study(name).n_complete == 3


def test_concurrent_appends_never_lose_or_reuse_a_number(client: Client) -> None:
    name = _name()
    client.tuning.append_logs(name, [_create(name)])
    firsts: list[int] = []
    lock = threading.Lock()

    def writer(w: int) -> None:
        for i in range(10):
            first = client.tuning.append_logs(
                name, [{"op_code": 2, "worker_id": f"w{w}", "study_id": 0, "user_attr": {"i": i}}] * 2
            )
            with lock:
                firsts.append(first)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(firsts) == list(range(1, 81, 2))
    assert len(client.tuning.read_logs(name)) == 81
