"""Pages: the feature store — feature views and entities (with a search box), and one entity with the
views that use it. One view's page is in :mod:`treadle.ui._feature_view`.

Unknown entities get the 404 page. Freshness comes from the online side's bookkeeping; when it cannot
be read (definitions that do not load here) the pages say so instead of failing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from treadle.errors import NotFound, TreadleError
from treadle.features import FeatureService, FeatureViewRecord
from treadle.ui._feature_info import describe_source, entity_matches, fmt_span, fmt_ttl, view_matches
from treadle.ui._render import error_page, render, root_of

if TYPE_CHECKING:
    from treadle.client._backend import Backend

FEATURES_BACK = ("/features", "features")


def missing_entity(request: Request, name: str) -> HTMLResponse:
    return error_page(request, 404, "Entity not found", f"There is no entity named {name!r}.", back=FEATURES_BACK)


def freshness_by_view(service: FeatureService, views: list[str] | None = None) -> tuple[dict[str, Any], str | None]:
    """{view name: ViewFreshness} for stored (not on-demand) views, or the reason it cannot be read."""
    try:
        return {f.view: f for f in service.freshness(views)}, None
    except TreadleError as exc:
        return {}, exc.message


def view_rows(views: list[FeatureViewRecord], root: str) -> list[dict[str, Any]]:
    """What a row of a views table shows beside the record: the source in words and the TTL."""
    return [
        {
            "v": v,
            "source": describe_source(v.spec.get("source"), root),
            "ttl": fmt_ttl(v.spec.get("ttl_seconds")) if v.kind == "feature_view" else "",
            "on_demand": v.kind != "feature_view",
        }
        for v in views
    ]


def features_router(backend: Backend) -> APIRouter:
    router = APIRouter()
    service = backend.features

    @router.get("/features", response_class=HTMLResponse)
    def features(request: Request, q: str = "") -> HTMLResponse:
        query = q.strip()
        views = [v for v in service.list_views() if not query or view_matches(v, query)]
        entities = [e for e in service.list_entities() if not query or entity_matches(e, query)]
        fresh, fresh_error = freshness_by_view(service)
        return render(
            request, "features.html", views=view_rows(views, root_of(request)), entities=entities, q=q,
            searched=bool(query), fresh=fresh, fresh_error=fresh_error, span=fmt_span,
        )  # fmt: skip

    @router.get("/features/entities/{name}", response_class=HTMLResponse)
    def entity_page(request: Request, name: str) -> HTMLResponse:
        try:
            entity = service.get_entity(name)
        except NotFound:
            return missing_entity(request, name)
        views = service.list_views(entity=entity.name)
        names = [v.name for v in views if v.kind == "feature_view"]
        fresh, fresh_error = freshness_by_view(service, names) if names else ({}, None)
        return render(
            request, "feature_entity.html", entity=entity, views=view_rows(views, root_of(request)),
            fresh=fresh, fresh_error=fresh_error, span=fmt_span,
        )  # fmt: skip

    return router
