"""Page: one feature view (``?version=N`` for an older one) — schema, entities and join keys, source,
TTL, tags, versions with what changed, freshness and the last materialization, lineage, and for an
on-demand view its sources and transform. A small POST runs a skew check (online against offline for
50 sampled entities): htmx gets the result table back, a plain form post the whole page with it.

Unknown views and versions get the 404 page, never a server error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from treadle.errors import NotFound, TreadleError
from treadle.features import FeatureViewRecord
from treadle.ui._feature_info import describe_source, fmt_span, fmt_ttl, parse_version, transform_info, version_changes
from treadle.ui._feature_lineage import view_lineage
from treadle.ui._features import FEATURES_BACK, freshness_by_view
from treadle.ui._forms import is_htmx, same_origin
from treadle.ui._render import error_page, render, root_of

if TYPE_CHECKING:
    from treadle.client._backend import Backend

SKEW_SAMPLE = 50


def feature_view_router(backend: Backend) -> APIRouter:
    router = APIRouter()
    service = backend.features

    def find(request: Request, name: str, raw: str) -> FeatureViewRecord | HTMLResponse:
        """The view at ``raw`` (latest when empty), or the 404 page for an unknown view or version."""
        try:
            latest = service.get_view(name)
        except NotFound:
            message = f"There is no feature view named {name!r}."
            return error_page(request, 404, "Feature view not found", message, back=FEATURES_BACK)
        if not raw.strip():
            return latest
        number = parse_version(raw)
        try:
            if number is None:
                raise NotFound(raw)
            return service.get_view(name, number)
        except NotFound:
            back = (f"/features/views/{latest.name}", latest.name)
            message = f"Feature view {name!r} has no version {raw!r} (latest is v{latest.latest_version})."
            return error_page(request, 404, "Version not found", message, back=back)

    def context(request: Request, view: FeatureViewRecord) -> dict[str, Any]:
        root = root_of(request)
        spec = view.spec
        versions = service.view_versions(view.name)
        entities = {e.name: e for e in service.list_entities()}
        stored = view.kind == "feature_view"
        fresh, fresh_error = freshness_by_view(service, [view.name]) if stored else ({}, None)
        return {
            "view": view,
            "spec": spec,
            "stored": stored,
            "entities": [(name, entities.get(name)) for name in view.entities],
            "source": describe_source(spec.get("source"), root),
            "batch_source": describe_source(spec.get("batch_source"), root),
            "ttl": fmt_ttl(spec.get("ttl_seconds")),
            "transform": transform_info(spec),
            "versions": versions[::-1],
            "changes": version_changes(versions),
            "freshness": fresh.get(view.name),
            "fresh_error": fresh_error,
            "lineage": view_lineage(backend, view.name, view.version, root),
            "span": fmt_span,
            "skew": None,
            "skew_error": None,
            "skew_sample": SKEW_SAMPLE,
        }

    @router.get("/features/views/{name}", response_class=HTMLResponse)
    def view_page(request: Request, name: str, version: str = "") -> HTMLResponse:
        found = find(request, name, version)
        if isinstance(found, HTMLResponse):
            return found
        return render(request, "feature_view.html", **context(request, found))

    def skew(request: Request, name: str) -> HTMLResponse:
        found = find(request, name, "")
        if isinstance(found, HTMLResponse):
            return found
        report, problem = None, None
        try:
            report = service.skew_check(found.name, sample=SKEW_SAMPLE)
        except TreadleError as exc:
            problem = exc.message
        except Exception as exc:  # a source that cannot be read from here: say why, inline
            problem = f"{type(exc).__name__}: {exc}"
        if is_htmx(request):
            return render(request, "_feature_skew.html", skew=report, skew_error=problem, view=found)
        page = context(request, found) | {"skew": report, "skew_error": problem}
        return render(request, "feature_view.html", status=200 if report else 400, **page)

    @router.post("/features/views/{name}/skew", response_class=HTMLResponse)
    async def skew_form(request: Request, name: str) -> HTMLResponse:
        if not same_origin(request):
            return error_page(
                request, 403, "Refused", "This form can only be sent from treadle's own pages.", back=FEATURES_BACK
            )
        response: HTMLResponse = await run_in_threadpool(skew, request, name)
        return response

    return router
