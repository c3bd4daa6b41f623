"""Pages: the experiments list and one experiment's runs table (filter, sort, columns, paging)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from treadle.errors import InvalidArgument, NotFound
from treadle.tracking import Experiment, RunPage
from treadle.ui._render import error_page, render, root_of
from treadle.ui._table import PAGE_SIZE, TableState, available_columns

if TYPE_CHECKING:
    from treadle.client._backend import Backend


def table_state(
    experiment_id: str,
    filter: str | None = None,
    order_by: str | None = None,
    cols: list[str] | None = Query(None),
    page_token: str | None = None,
    prev: str | None = None,
) -> TableState:
    """The runs table's state from the query string (``cols`` repeated or comma-joined)."""
    return TableState.from_query(experiment_id, filter, order_by, cols, page_token, prev)


def plausible_id(experiment_id: str) -> bool:
    """Experiment ids are 64-bit integers; anything else cannot exist (and must not reach SQL)."""
    try:
        return 0 <= int(experiment_id) < 2**63
    except ValueError:
        return False


def missing_experiment(request: Request, experiment_id: str) -> HTMLResponse:
    return error_page(request, 404, "Experiment not found", f"There is no experiment with id {experiment_id!r}.")


def experiments_router(backend: Backend) -> APIRouter:
    router = APIRouter()
    tracking = backend.tracking

    @router.get("/", response_class=HTMLResponse)
    def experiments(request: Request) -> HTMLResponse:
        return render(request, "experiments.html", experiments=tracking.list_experiments())

    def panel(request: Request, exp: Experiment, state: TableState) -> dict[str, Any]:
        """One page of runs (``max_results`` of them, never all) and what the panel shows of it."""
        error = None
        try:
            page = tracking.search_runs(
                experiment_ids=[exp.id],
                filter=state.filter or None,
                order_by=[state.order_by] if state.order_by else None,
                max_results=PAGE_SIZE,
                page_token=state.page_token or None,
            )
        except InvalidArgument as exc:  # a bad filter, order or page token: say so inline
            error, page = exc.message, RunPage(runs=[])
        columns = state.columns(page.runs)
        root = root_of(request)
        return {
            "experiment": exp,
            "state": state,
            "page": page,
            "columns": columns,
            "error": error,
            "available": available_columns(page.runs, also=columns),
            "chosen": {c.spec for c in columns},
            "push_url": state.page_url(root),
        }

    def find(experiment_id: str) -> Experiment | None:
        if not plausible_id(experiment_id):
            return None
        try:
            return tracking.get_experiment(experiment_id)
        except NotFound:
            return None

    @router.get("/experiments/{experiment_id}", response_class=HTMLResponse)
    def experiment(request: Request, state: TableState = Depends(table_state)) -> HTMLResponse:
        exp = find(state.experiment_id)
        if exp is None:
            return missing_experiment(request, state.experiment_id)
        return render(request, "experiment.html", **panel(request, exp, replace(state, experiment_id=exp.id)))

    @router.get("/experiments/{experiment_id}/runs", response_class=HTMLResponse)
    def runs_fragment(request: Request, state: TableState = Depends(table_state)) -> HTMLResponse:
        """The runs panel alone, for htmx; ``HX-Push-Url`` names the linkable full page."""
        exp = find(state.experiment_id)
        if exp is None:
            return missing_experiment(request, state.experiment_id)
        context = panel(request, exp, replace(state, experiment_id=exp.id))
        headers = {"HX-Push-Url": context["push_url"]}
        return render(request, "_runs_panel.html", headers=headers, **context)

    return router
