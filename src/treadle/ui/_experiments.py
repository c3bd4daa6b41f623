"""Pages: the experiments list and one experiment's runs table (filter, sort, columns, paging)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from treadle.errors import InvalidArgument, NotFound
from treadle.tracking import RunPage
from treadle.ui._render import error_page, render
from treadle.ui._table import PAGE_SIZE, TableState, available_columns

if TYPE_CHECKING:
    from treadle.client._backend import Backend


def missing_experiment(request: Request, experiment_id: str) -> HTMLResponse:
    return error_page(request, 404, "Experiment not found", f"There is no experiment with id {experiment_id!r}.")


def experiments_router(backend: Backend) -> APIRouter:
    router = APIRouter()
    tracking = backend.tracking

    @router.get("/", response_class=HTMLResponse)
    def experiments(request: Request) -> HTMLResponse:
        return render(request, "experiments.html", experiments=tracking.list_experiments())

    def table_context(request: Request, state: TableState) -> dict[str, Any]:
        error = None
        try:
            page = tracking.search_runs(
                experiment_ids=[state.experiment_id], filter=state.filter or None,
                order_by=[state.order_by] if state.order_by else None,
                max_results=PAGE_SIZE, page_token=state.page_token or None,
            )
        except InvalidArgument as exc:
            error, page = exc.message, RunPage(runs=[])
        columns = state.columns(page.runs)
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return {
            "state": state, "page": page, "columns": columns, "error": error,
            "available": available_columns(page.runs, also=columns),
            "chosen": {c.spec for c in columns}, "push_url": state.page_url(root),
        }

    def load_state(
        experiment_id: str, filter: str | None, order_by: str | None, cols: list[str] | None,
        page_token: str | None, prev: str | None,
    ) -> TableState:
        return TableState.from_query(experiment_id, filter, order_by, cols, page_token, prev)

    @router.get("/experiments/{experiment_id}", response_class=HTMLResponse)
    def experiment(
        request: Request, experiment_id: str, filter: str | None = None, order_by: str | None = None,
        cols: list[str] | None = Query(None), page_token: str | None = None, prev: str | None = None,
    ) -> HTMLResponse:
        try:
            exp = tracking.get_experiment(experiment_id)
        except NotFound:
            return missing_experiment(request, experiment_id)
        state = load_state(exp.id, filter, order_by, cols, page_token, prev)
        return render(request, "experiment.html", experiment=exp, **table_context(request, state))

    @router.get("/experiments/{experiment_id}/runs", response_class=HTMLResponse)
    def runs_fragment(
        request: Request, experiment_id: str, filter: str | None = None, order_by: str | None = None,
        cols: list[str] | None = Query(None), page_token: str | None = None, prev: str | None = None,
    ) -> HTMLResponse:
        """The runs panel alone, for htmx; ``HX-Push-Url`` names the linkable full page."""
        try:
            exp = tracking.get_experiment(experiment_id)
        except NotFound:
            return missing_experiment(request, experiment_id)
        state = load_state(exp.id, filter, order_by, cols, page_token, prev)
        context = table_context(request, state)
        headers = {"HX-Push-Url": context["push_url"], "Vary": "HX-Request"}
        return render(request, "_runs_panel.html", headers=headers, experiment=exp, **context)

    return router
