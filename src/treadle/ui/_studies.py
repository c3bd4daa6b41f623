"""Pages: the tuning studies (counts, best value) and one study (optimization history, parallel
coordinates, parameter importance, the Pareto front of a multi-objective study, and its trials
linking each trial's nested tracked run).

The list reads the service's summary rows; a study page opens the study with Optuna over the
journal (:func:`treadle.studies.open_study`) and computes the charts on the server.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import optuna
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from optuna.trial import FrozenTrial, TrialState

from treadle.errors import NotFound
from treadle.studies import StudySummary, open_study
from treadle.ui._render import error_page, render
from treadle.ui._studies_charts import (
    history,
    importance_bars,
    intermediate_values,
    parallel_coordinates,
    pareto_front,
)

if TYPE_CHECKING:
    from treadle.client._backend import Backend

log = logging.getLogger(__name__)
STUDIES_BACK = ("/studies", "studies")
MAX_TRIALS_TABLE = 500  # newest trials listed; the charts use them all
MAX_CHART_TRIALS = 2000
MAX_IMPORTANCE_TRIALS = 300
REFRESH_S = 5  # while trials are running, the open page re-fetches its panel this often
TRIAL_TAG = "treadle.trial.number"  # td.tune tags each trial's run, nested under the study's run
MAX_TRIAL_RUNS = 10_000


def trial_runs(backend: Backend, study_run: str | None) -> dict[int, str]:
    """Trial number -> its tracked run id, from the runs nested under the study's run."""
    if not study_run:
        return {}
    found: dict[int, str] = {}
    token: str | None = None
    while len(found) < MAX_TRIAL_RUNS:
        page = backend.tracking.search_runs(
            filter=f"attributes.parent_id = '{study_run}'", order_by=["attributes.start_time ASC"],
            max_results=1000, page_token=token,
        )  # fmt: skip
        for run in page.runs:  # a number seen twice (a resumed trial): the later run wins
            number = run.tags.get(TRIAL_TAG, "")
            if number.isdigit():
                found[int(number)] = run.id
        token = page.next_page_token
        if token is None:
            break
    return found


def objective_names(study: optuna.Study) -> list[str]:
    names = study.metric_names
    n = len(study.directions)
    return (
        list(names)
        if names and len(names) == n
        else (["objective"] if n == 1 else [f"objective {i}" for i in range(n)])
    )


def importances(study: optuna.Study, trials: list[FrozenTrial]) -> tuple[dict[str, float] | None, str | None]:
    """(param -> importance, None) or (None, why there are none); multi-objective: for the first objective.

    fANOVA (a random forest's variance decomposition) ranks parameters well even on small studies,
    but its cost grows fast with the trials (minutes at 2000), so it looks at the latest
    ``MAX_IMPORTANCE_TRIALS`` completed ones. ``optuna.importance`` also imports scikit-learn
    (seconds, once per process): two reasons the page fetches this chart separately."""
    import optuna.importance as importance

    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if len(complete) < 2 or not any(t.params for t in complete):
        return None, "Parameter importance needs at least two completed trials with parameters."
    if len(complete) > MAX_IMPORTANCE_TRIALS:
        study = optuna.create_study(directions=study.directions)  # in memory: the latest trials only
        study.add_trials(complete[-MAX_IMPORTANCE_TRIALS:])
    target = None if len(study.directions) == 1 else (lambda t: t.values[0])
    evaluator = importance.FanovaImportanceEvaluator(n_trees=16, max_depth=8, seed=0)
    try:
        found = importance.get_param_importances(study, evaluator=evaluator, target=target)
    except (ValueError, RuntimeError) as exc:  # e.g. every trial sampled the same values
        log.debug("no parameter importance for %s: %s", study.study_name, exc)
        return None, f"Parameter importance is not available yet: {exc}"
    return {k: float(v) for k, v in found.items()}, None


def charts(study: optuna.Study, trials: list[FrozenTrial]) -> dict[str, Any]:
    names = objective_names(study)
    direction = study.directions[0].name.lower()
    params = sorted({p for t in trials for p in t.params})
    out: dict[str, Any] = {
        "objectives": names,
        "history": history(trials, direction, 0, names[0]),
        "intermediate": intermediate_values(trials) if any(t.intermediate_values for t in trials) else None,
        "parallel": parallel_coordinates(trials, params, direction, 0, names[0]) if params else None,
        "pareto": None,
        "pareto_numbers": [],
    }
    if len(names) > 1:
        best = study.best_trials
        out["pareto"] = pareto_front(trials, best, names)
        out["pareto_numbers"] = sorted(t.number for t in best)
    return out


def best_of(study: optuna.Study) -> FrozenTrial | None:
    if len(study.directions) > 1:
        return None
    try:
        return study.best_trial
    except ValueError:  # no completed trial yet
        return None


def studies_router(backend: Backend) -> APIRouter:
    router = APIRouter()
    tuning = backend.tuning

    @router.get("/studies", response_class=HTMLResponse)
    def studies_page(request: Request) -> HTMLResponse:
        return render(request, "studies.html", studies=tuning.list_studies())

    def missing(request: Request, name: str) -> HTMLResponse:
        message = (
            f"There is no study named {name!r}. Start one with td.tune(...) or: treadle tune run FILE.py:objective"
        )
        return error_page(request, 404, "Study not found", message, back=STUDIES_BACK)

    @router.get("/studies/{name}/importance", response_class=HTMLResponse)
    def importance_fragment(request: Request, name: str) -> HTMLResponse:
        """The parameter-importance chart alone (the study page loads it after itself)."""
        try:
            study = open_study(tuning, name)
        except NotFound:
            return missing(request, name)
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        imp, note = importances(study, trials)
        chart = importance_bars(imp) if imp else Markup('<p class="chart-note">{}</p>').format(note)
        if imp and len(trials) > MAX_IMPORTANCE_TRIALS:
            chart += Markup('<p class="chart-note">From the latest {} completed trials.</p>').format(
                MAX_IMPORTANCE_TRIALS
            )
        return HTMLResponse(chart)

    @router.get("/studies/{name}", response_class=HTMLResponse)
    def study_page(request: Request, name: str) -> HTMLResponse:
        try:
            summary: StudySummary = tuning.get_study(name)
            study = open_study(tuning, name)
        except NotFound:
            return missing(request, name)
        trials = study.get_trials(deepcopy=False)
        chart_trials = trials[-MAX_CHART_TRIALS:]
        runs = trial_runs(backend, summary.run_id)
        rows = [(t, runs.get(t.number)) for t in reversed(trials[-MAX_TRIALS_TABLE:])]
        params = sorted({p for t, _ in rows for p in t.params})
        return render(
            request,
            "study.html",
            summary=summary,
            study=study,
            best=best_of(study),
            rows=rows,
            params=params,
            more_trials=len(trials) > MAX_TRIALS_TABLE,
            refresh_s=REFRESH_S,
            **charts(study, chart_trials),
        )

    return router
