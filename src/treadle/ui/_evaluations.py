"""Pages: evaluation runs (``td.evaluate``), one evaluation (metrics, slices, baseline, gate, plots,
explanations), a side-by-side comparison of 2-5, and a model's metric history across versions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from treadle.errors import NotFound
from treadle.ui._evaluations_data import (
    BLESSING,
    EXPLANATIONS,
    REPORT,
    Evaluation,
    best_index,
    evaluation_runs,
    get_evaluation,
    order_metrics,
    plots,
    read_json,
)
from treadle.ui._evaluations_history import history_context
from treadle.ui._evaluations_view import changes, explanations, gate, inputs, pretty_slice, slice_rows
from treadle.ui._render import error_page, render, root_of

if TYPE_CHECKING:
    from treadle.client._backend import Backend

BACK = ("/evaluations", "evaluations")
MAX_LIST_METRICS = 6  # metric columns on the list page
MIN_COMPARE, MAX_COMPARE = 2, 5
GATED_TAG, TASK_TAG = "treadle.evaluation.gated", "treadle.evaluation.task"
EMPTY_HINT = 'td.evaluate("models:/NAME/1", data=frame, targets="label")'


def list_columns(evals: list[Evaluation]) -> list[str]:
    """The overall metrics most runs have, well-known ones first."""
    seen: dict[str, int] = {}
    for ev in evals:
        for m in ev.overall:
            seen[m] = seen.get(m, 0) + 1
    common = sorted(order_metrics(list(seen)), key=lambda m: -seen[m])[:MAX_LIST_METRICS]  # stable: known first
    return order_metrics(common)


def compare_context(evals: list[Evaluation]) -> dict[str, Any]:
    """Rows of (metric, values per run, best positions) for the overall metrics and every slice metric."""
    metrics = order_metrics({m for ev in evals for m in ev.overall})
    rows = []
    for m in metrics:
        values = [ev.overall.get(m) for ev in evals]
        rows.append((m, values, best_index(values, m)))
    slice_rows = []
    for label in sorted({s for ev in evals for s in ev.slices}):
        for m in order_metrics({m for ev in evals for m in ev.slices.get(label, {})}):
            values = [ev.slices.get(label, {}).get(m) for ev in evals]
            slice_rows.append((pretty_slice(label), m, values, best_index(values, m)))
    return {"evals": evals, "rows": rows, "slice_rows": slice_rows}


def evaluations_router(backend: Backend) -> APIRouter:
    router = APIRouter()

    @router.get("/evaluations", response_class=HTMLResponse)
    def evaluations_page(request: Request, model: str = "") -> HTMLResponse:
        evals = evaluation_runs(backend, model or None)
        models = sorted({ev.model for ev in evaluation_runs(backend)} - {""}) if model else None
        return render(
            request,
            "evaluations.html",
            evals=evals,
            columns=list_columns(evals),
            model=model,
            models=models if models is not None else sorted({ev.model for ev in evals} - {""}),
            hint=EMPTY_HINT,
            max_compare=MAX_COMPARE,
        )

    @router.get("/evaluations/compare", response_class=HTMLResponse)
    def compare_page(request: Request, runs: list[str] = Query(default=[])) -> HTMLResponse:
        ids = list(dict.fromkeys(r.strip() for raw in runs for r in raw.split(",") if r.strip()))
        if not MIN_COMPARE <= len(ids) <= MAX_COMPARE:
            message = (
                f"Pick between {MIN_COMPARE} and {MAX_COMPARE} evaluations to compare ({len(ids)} selected): "
                "tick them on the evaluations page, then press Compare."
            )
            return error_page(request, 400, "Choose 2 to 5 evaluations", message, back=BACK)
        evals = []
        for run_id in ids:
            try:
                evals.append(get_evaluation(backend, run_id))
            except NotFound as exc:
                return error_page(request, 404, "Evaluation not found", exc.message, back=BACK)
        return render(request, "evaluations_compare.html", **compare_context(evals))

    @router.get("/evaluations/{run_id}", response_class=HTMLResponse)
    def evaluation_page(request: Request, run_id: str) -> HTMLResponse:
        try:
            ev = get_evaluation(backend, run_id)
        except NotFound as exc:
            message = exc.message if "not an evaluation" in exc.message else f"There is no run with id {run_id!r}."
            return error_page(request, 404, "Evaluation not found", message, back=BACK)
        report = read_json(backend, run_id, REPORT)
        passed, checks, reasons = gate(read_json(backend, run_id, BLESSING))
        slice_metrics, slices = slice_rows(ev, report)
        root = root_of(request)
        version_url = (
            f"{root}/models/{quote(ev.model)}/versions/{quote(ev.version)}"
            if ev.model and ev.version.isdigit()
            else None
        )
        links = [link for link in inputs(backend, run_id, root) if link.url != version_url]
        return render(
            request,
            "evaluation.html",
            ev=ev,
            blessed=ev.blessed if passed is None else passed,
            checks=checks,
            reasons=reasons,
            gated=ev.run.tags.get(GATED_TAG, "true" if checks else "false") == "true",
            changes=changes(ev, report),
            slice_metrics=slice_metrics,
            slices=slices,
            task=report.get("task") if isinstance(report, dict) else ev.run.tags.get(TASK_TAG),
            rows=report.get("rows") if isinstance(report, dict) else None,
            plots=plots(backend, run_id),
            explain=explanations(read_json(backend, run_id, EXPLANATIONS)),
            links=links,
            version_url=version_url,
        )

    @router.get("/models/{name}/history", response_class=HTMLResponse)
    def history_page(request: Request, name: str, by: str = "version") -> HTMLResponse:
        evals = evaluation_runs(backend, name)
        registered = True
        try:
            backend.registry.get_model(name)
        except NotFound:
            registered = False
        if not evals and not registered:
            message = f"There is no registered model named {name!r} and no evaluation of it."
            return error_page(request, 404, "Model not found", message, back=("/models", "models"))
        mode = "run" if by == "run" else "version"
        return render(request, "model_history.html", name=name, registered=registered, by=mode,
                      hint=EMPTY_HINT.replace("NAME", name), **history_context(evals, mode))  # fmt: skip

    return router
