"""Pages: the pipelines (last run, schedules), one pipeline (its DAG before any run, steps, runs,
schedules), and one pipeline run (the DAG coloured by step status, the step table with cached markers,
links to each step's tracked run and outputs, and step logs).

While a run is QUEUED or RUNNING its live panel re-fetches itself from ``/pipelines/runs/{id}/live``
every few seconds (htmx); the fragment of a finished run carries no polling attribute, so the page
stops asking once the run is over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import escape

from treadle.errors import NotFound
from treadle.orchestration import TERMINAL_RUN, PipelineRunDetail, Schedule
from treadle.ui._pipelines_view import run_dag, spec_dag, step_log, step_rows
from treadle.ui._render import error_page, render, root_of
from treadle.ui._runs import file_url

if TYPE_CHECKING:
    from treadle.client._backend import Backend

PIPELINES_BACK = ("/pipelines", "pipelines")
REFRESH_S = 2  # how often an open run page re-fetches a live run
MAX_RUNS = 100  # runs listed on a pipeline's page, newest first
RECENT_RUNS = 20  # runs listed under the pipelines table


def describe_schedule(s: Schedule) -> str:
    """A schedule in one line, the way the CLI would have created it."""
    if s.kind == "cron":
        return f"cron {s.cron}" + (f" ({s.timezone})" if s.timezone != "UTC" else "")
    if s.kind == "event":
        where = " ".join(f"{k}={v}" for k, v in sorted(s.filter.items()))
        return "on " + ", ".join(s.events) + (f" where {where}" if where else "")
    if s.kind == "pipeline":
        return f"after {s.upstream} succeeds"
    return "webhook"


def pipelines_router(backend: Backend) -> APIRouter:
    router = APIRouter()
    pipelines, schedules = backend.pipelines, backend.schedules

    def schedules_of(name: str | None = None) -> dict[str, list[Schedule]]:
        out: dict[str, list[Schedule]] = {}
        for s in schedules.list_schedules(pipeline=name):
            out.setdefault(s.pipeline, []).append(s)
        return out

    def live_context(request: Request, detail: PipelineRunDetail) -> dict[str, Any]:
        root = root_of(request)
        return {
            "detail": detail,
            "prun": detail.run,
            "live": detail.run.status not in TERMINAL_RUN,
            "refresh_s": REFRESH_S,
            "dag": run_dag(root, detail),
            "steps": step_rows(backend, root, detail),
            "counts": {st: sum(1 for s in detail.steps if s.status == st) for st in {s.status for s in detail.steps}},
        }

    def missing_run(request: Request, run_id: str) -> HTMLResponse:
        message = f"There is no pipeline run with id {run_id!r}. List runs with: treadle pipelines list"
        return error_page(request, 404, "Pipeline run not found", message, back=PIPELINES_BACK)

    @router.get("/pipelines", response_class=HTMLResponse)
    def pipelines_page(request: Request) -> HTMLResponse:
        return render(
            request,
            "pipelines.html",
            pipelines=pipelines.list_pipelines(),
            schedules=schedules_of(),
            recent=pipelines.list_runs(limit=RECENT_RUNS),
            describe=describe_schedule,
        )

    @router.get("/pipelines/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: str) -> HTMLResponse:
        try:
            detail = pipelines.get_run_detail(run_id)
        except NotFound:
            return missing_run(request, run_id)
        return render(request, "pipeline_run.html", **live_context(request, detail))

    @router.get("/pipelines/runs/{run_id}/live", response_class=HTMLResponse)
    def live_fragment(request: Request, run_id: str) -> HTMLResponse:
        """The live panel alone (DAG + steps), for htmx polling."""
        try:
            detail = pipelines.get_run_detail(run_id)
        except NotFound:
            message = escape(f"Pipeline run {run_id!r} no longer exists.")
            return HTMLResponse(f'<p class="alert" role="alert">{message}</p>', status_code=404)
        return render(request, "pipeline_run_live.html", **live_context(request, detail))

    @router.get("/pipelines/runs/{run_id}/steps/{step}/log", response_class=HTMLResponse)
    def step_log_page(request: Request, run_id: str, step: str) -> HTMLResponse:
        """A step's captured stdout/stderr/logging (the tail; the file itself is a download)."""
        try:
            detail = pipelines.get_run_detail(run_id)
        except NotFound:
            return missing_run(request, run_id)
        found = next((s for s in detail.steps if s.step == step), None)
        back = (f"/pipelines/runs/{quote(run_id, safe='')}", f"run {run_id[:8]}")
        if found is None or found.run_id is None:
            why = "has no step" if found is None else "has not started step"
            return error_page(request, 404, "No log", f"Pipeline run {run_id!r} {why} {step!r}.", back=back)
        try:
            text, cut = step_log(backend, found.run_id)
        except NotFound:
            message = f"Step {step!r} has not written a log yet (its run is {found.run_id})."
            return error_page(request, 404, "No log yet", message, back=back)
        download = file_url(root_of(request), found.run_id, "logs/step.log", download=True)
        return render(request, "pipeline_log.html", prun=detail.run, step=found, text=text, cut=cut, download=download)

    @router.get("/pipelines/{name}", response_class=HTMLResponse)
    def pipeline_page(request: Request, name: str) -> HTMLResponse:
        try:
            pipe = pipelines.get_pipeline(name)
        except NotFound:
            message = f"There is no pipeline named {name!r}. Run one to register it: treadle pipelines run FILE.py:NAME"
            return error_page(request, 404, "Pipeline not found", message, back=PIPELINES_BACK)
        return render(
            request,
            "pipeline.html",
            pipe=pipe,
            spec=pipe.spec,
            dag=spec_dag(root_of(request), pipe.spec),
            runs=pipelines.list_runs(pipeline=name, limit=MAX_RUNS),
            schedules=schedules_of(name).get(name, []),
            describe=describe_schedule,
        )

    return router
