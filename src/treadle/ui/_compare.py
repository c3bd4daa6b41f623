"""Page: compare 2-10 runs (param/metric/tag diff tables, overlaid metric charts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from treadle.errors import NotFound
from treadle.tracking import Run
from treadle.ui._render import error_page, render
from treadle.ui._table import split_list

if TYPE_CHECKING:
    from treadle.client._backend import Backend

MIN_RUNS, MAX_RUNS = 2, 10
# Ten colors that stay apart on white (Tableau 10); run i gets COLORS[i] in tables and charts.
COLORS = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)


@dataclass(frozen=True)
class DiffRow:
    key: str
    values: list[Any]  # one per run, None where the run lacks the key

    @property
    def differs(self) -> bool:
        return len({repr(v) for v in self.values}) > 1


def diff_rows(dicts: list[dict[str, Any]]) -> list[DiffRow]:
    keys = sorted({k for d in dicts for k in d})
    return [DiffRow(k, [d.get(k) for d in dicts]) for k in keys]


def shared_metric_keys(runs: list[Run]) -> list[str]:
    """Metric keys logged by at least two of the runs (what an overlay can compare)."""
    counts: dict[str, int] = {}
    for r in runs:
        for k in r.metrics:
            counts[k] = counts.get(k, 0) + 1
    return sorted(k for k, n in counts.items() if n >= 2)


def compare_router(backend: Backend) -> APIRouter:
    router = APIRouter()
    tracking = backend.tracking

    @router.get("/compare", response_class=HTMLResponse)
    def compare(request: Request, runs: list[str] = Query(default=[])) -> HTMLResponse:
        ids = list(dict.fromkeys(split_list(runs)))
        if not MIN_RUNS <= len(ids) <= MAX_RUNS:
            return error_page(
                request,
                400,
                "Pick 2 to 10 runs",
                f"Compare takes {MIN_RUNS} to {MAX_RUNS} different runs; got {len(ids)}. "
                "Tick the runs in an experiment's table, then press Compare.",
            )
        loaded: list[Run] = []
        missing: list[str] = []
        for run_id in ids:
            try:
                loaded.append(tracking.get_run(run_id))
            except NotFound:
                missing.append(run_id)
        if missing:
            return error_page(request, 404, "Run not found", f"These runs do not exist: {', '.join(missing)}.")
        user_tags = [{k: v for k, v in r.tags.items() if not k.startswith("treadle.")} for r in loaded]
        return render(
            request,
            "compare.html",
            runs=loaded,
            colors=COLORS,
            chart_runs=[{"id": r.id, "name": r.name, "color": c} for r, c in zip(loaded, COLORS, strict=False)],
            params=diff_rows([r.params for r in loaded]),
            metrics=diff_rows([r.metrics for r in loaded]),
            tags=diff_rows(user_tags),
            chart_keys=shared_metric_keys(loaded),
        )

    return router
