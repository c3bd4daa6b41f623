"""The tracked side of a study: its parent run, one nested run per trial, stale trials of a dead session."""

from __future__ import annotations

import logging
import time
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from treadle.client import Client
from treadle.client import _fluent as fluent
from treadle.errors import NotFound
from treadle.tracking import Metric, Run
from treadle.tuning._trial import Outcome

log = logging.getLogger("treadle.tuning")
STUDY_TAG = "treadle.study"
TRIAL_STUDY_TAG = "treadle.trial.study"
DEFAULT_EXPERIMENT = "tuning"


def study_run(client: Client, name: str, experiment: str | None, settings: dict[str, Any]) -> Run:
    """The study's parent run: reopened when the study resumes, else created (nested under the
    active fluent run, if any, so a tuning step of a pipeline nests under the step's run)."""
    summary = client.tuning.get_study(name)
    if summary.run_id is not None:
        try:
            run = client.tracking.update_run(summary.run_id, status="RUNNING")
            client.log_batch(run.id, tags=settings)
            return run
        except NotFound:
            pass  # its run was purged: start a new one
    parent = fluent.active_run()
    if parent is not None and fluent.get_client().uri != client.uri:
        parent = None  # the active run lives in another store: do not nest across stores
    if experiment is not None:
        experiment_id = client.get_or_create_experiment(experiment).id
    elif parent is not None:
        experiment_id = parent.run.experiment_id
    else:
        experiment_id = client.get_or_create_experiment(DEFAULT_EXPERIMENT).id
    run = client.tracking.create_run(
        experiment_id,
        name=name,
        parent_id=parent.id if parent is not None else None,
        tags={STUDY_TAG: name, **{k: str(v) for k, v in settings.items()}},
    )
    client.tuning.set_study_run(name, run.id)
    return run


def start_trial_run(client: Client, parent: Run, number: int) -> Run:
    """The trial's run, nested under the study run. Its tags come with the one ``log_batch`` at the
    end (a tag upsert costs as much as the rest of ``create_run``): RUNNING trial runs are found
    by their parent."""
    return client.tracking.create_run(parent.experiment_id, name=f"trial-{number}", parent_id=parent.id)


def finish_trial(study: optuna.Study, number: int, run: Run, outcome: Outcome, client: Client) -> FrozenTrial:
    """Tell Optuna, then record the trial in its run: one ``log_batch`` and one ``end_run``."""
    if outcome.state == "COMPLETE":
        frozen = study.tell(number, outcome.values)
    else:
        frozen = study.tell(number, state=TrialState[outcome.state])
    now = int(time.time() * 1000)
    metrics: list[Metric] = []
    if frozen.values is not None:
        keys = ["value"] if len(frozen.values) == 1 else [f"value_{i}" for i in range(len(frozen.values))]
        metrics += [Metric(key=k, value=v, step=0, timestamp=now) for k, v in zip(keys, frozen.values, strict=True)]
    metrics += [
        Metric(key="intermediate_value", value=v, step=s, timestamp=now)
        for s, v in sorted(frozen.intermediate_values.items())
    ]
    tags = {
        TRIAL_STUDY_TAG: study.study_name,
        "treadle.trial.number": str(number),
        "treadle.trial.state": frozen.state.name,
    }
    if outcome.error:
        tags["treadle.trial.error"] = outcome.error
    client.log_batch(run.id, metrics=metrics, params=frozen.params, tags=tags)
    client.tracking.end_run(run.id, "FAILED" if frozen.state == TrialState.FAIL else "FINISHED")
    return frozen


def fail_stale_trials(study: optuna.Study, client: Client, parent: Run) -> int:
    """Trials left RUNNING by a session that stopped (a crash, a kill): FAIL them and their runs.

    One session drives a study at a time (its workers included), so at the start of a session
    every RUNNING trial is stale.
    """
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    if stale:
        log.warning(
            "study %s: marked %d trial(s) left running by a stopped session as FAIL", study.study_name, len(stale)
        )
        page = client.search_runs(
            [parent.experiment_id],
            filter=f"attributes.parent_id = '{parent.id}' and attributes.status = 'RUNNING'",
        )
        for run in page.runs:
            tags = {TRIAL_STUDY_TAG: study.study_name, "treadle.trial.state": "FAIL"}
            client.log_batch(run.id, tags={**tags, "treadle.trial.error": "its session stopped"})
            client.tracking.end_run(run.id, "FAILED")
    return len(stale)


def close_study_run(client: Client, study: optuna.Study, run: Run, status: str) -> None:
    """Record the best trial(s) on the study run and end it."""
    tags: dict[str, Any] = {"treadle.study.n_trials": len(study.trials)}
    metrics: list[Metric] = []
    try:
        if len(study.directions) == 1:
            best = study.best_trial
            metrics.append(Metric(key="best_value", value=float(best.value), step=len(study.trials)))  # type: ignore[arg-type]
            tags["treadle.study.best_trial"] = best.number
            tags.update({f"best.{k}": v for k, v in best.params.items()})
        else:
            tags["treadle.study.pareto_front"] = ",".join(str(t.number) for t in study.best_trials)
    except ValueError:
        pass  # no complete trial yet
    client.log_batch(run.id, metrics=metrics, tags=tags)
    client.tracking.end_run(run.id, status)  # type: ignore[arg-type]
