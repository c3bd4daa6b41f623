"""Pages: the deployments (canary, A/B, bandit), and one deployment with its traffic split, live
statistics, guardrails, automation settings, revision history and its registry alias history.

The statistics panel is re-fetched by htmx every few seconds from ``/deployments/{name}/stats`` (a
fragment), so a page left open follows a running experiment. Two POST routes promote a variant or
roll the deployment back, acting as the signed-in user (``ui`` without sign-in): htmx posts get the
page's panel back with the outcome inline; plain form posts are redirected to the page (303), or get
it back with the error (400).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import escape

from treadle.errors import NotFound, TreadleError
from treadle.rollout import Deployment, RolloutService
from treadle.ui._deployment_view import alias_history, live_context, weight_shares
from treadle.ui._forms import actor_of, form_post, is_htmx
from treadle.ui._render import error_page, render, root_of

if TYPE_CHECKING:
    from treadle.client._backend import Backend

DEPLOYMENTS_BACK = ("/deployments", "deployments")
REFRESH_S = 3  # how often an open page re-fetches the live statistics
MAX_HISTORY = 500  # revisions shown, newest first


def missing_deployment(request: Request, name: str) -> HTMLResponse:
    message = f"There is no deployment named {name!r}. Create one with: treadle deploy apply FILE"
    return error_page(request, 404, "Deployment not found", message, back=DEPLOYMENTS_BACK)


def _promote(rollout: RolloutService, name: str, form: dict[str, str], actor: str) -> str:
    variant = form.get("variant") or None  # empty: the current winner
    done = rollout.promote(name, variant, actor=actor, reason=form.get("reason") or None)
    return f"Promoted: revision {done.revision} sends all traffic to {done.spec.control.model}."


def _rollback(rollout: RolloutService, name: str, form: dict[str, str], actor: str) -> str:
    before = rollout.get_deployment(name)
    done = rollout.rollback(name, actor=actor, reason=form.get("reason") or None)
    if done.revision == before.revision:
        return f"Revision {done.revision} is already rolled back."
    return f"Rolled back: revision {done.revision} sends all traffic to {done.spec.control.name}."


def deployments_router(backend: Backend) -> APIRouter:
    router = APIRouter()
    rollout, registry = backend.rollout, backend.registry

    def page_context(dep: Deployment) -> dict[str, Any]:
        """Everything the deployment page and its panel show, for the current revision."""
        history = rollout.deployment_history(dep.name)
        model, moves, no_moves = alias_history(registry, dep)
        return {
            **live_context(dep, rollout.get_stats(dep.name, dep.revision)),
            "history": history[:MAX_HISTORY],
            "history_total": len(history),
            "alias_model": model,
            "alias_moves": moves,
            "no_moves": no_moves,
            "refresh_s": REFRESH_S,
        }

    @router.get("/deployments", response_class=HTMLResponse)
    def deployments(request: Request) -> HTMLResponse:
        rows = []
        for dep in rollout.list_deployments():
            try:
                stats = rollout.get_stats(dep.name, dep.revision)
            except NotFound:  # deleted since it was listed
                continue
            rows.append({"dep": dep, "shares": weight_shares(dep), "requests": sum(v.requests for v in stats.variants)})
        return render(request, "deployments.html", rows=rows)

    @router.get("/deployments/{name}", response_class=HTMLResponse)
    def deployment_page(request: Request, name: str) -> HTMLResponse:
        try:
            dep = rollout.get_deployment(name)
        except NotFound:
            return missing_deployment(request, name)
        return render(request, "deployment.html", flash=None, form_error=None, **page_context(dep))

    @router.get("/deployments/{name}/stats", response_class=HTMLResponse)
    def stats_fragment(request: Request, name: str, seen: int | None = None) -> HTMLResponse:
        """The live statistics panel alone (htmx polls it with the revision the page shows as ``seen``)."""
        try:
            dep = rollout.get_deployment(name)
            stats = rollout.get_stats(name, dep.revision)
        except NotFound:
            message = escape(f"Deployment {name!r} no longer exists.")
            return HTMLResponse(f'<p class="alert" role="alert">{message}</p>', status_code=404)
        return render(request, "_deployment_stats.html", **live_context(dep, stats, seen))

    def respond(request: Request, name: str, apply: Callable[[dict[str, str]], str], form: dict[str, str] | None,
                bad: str | None) -> Response:  # fmt: skip
        try:
            rollout.get_deployment(name)
        except NotFound:
            return missing_deployment(request, name)
        flash, form_error = None, bad
        if form is not None:
            try:
                flash = apply(form)
            except TreadleError as exc:
                form_error = exc.message
        if not is_htmx(request) and form_error is None:
            return RedirectResponse(f"{root_of(request)}/deployments/{quote(name, safe='')}", status_code=303)
        context = page_context(rollout.get_deployment(name))
        if not is_htmx(request):
            return render(request, "deployment.html", status=400, flash=None, form_error=form_error, **context)
        return render(request, "_deployment_panel.html", flash=flash, form_error=form_error, **context)

    async def change(request: Request, name: str, apply: Callable[[dict[str, str]], str]) -> Response:
        """Run ``apply(form)`` for a same-origin form post, off the event loop; answer htmx or a plain form."""
        return await form_post(request, DEPLOYMENTS_BACK, lambda form, bad: respond(request, name, apply, form, bad))

    @router.post("/deployments/{name}/promote", response_class=HTMLResponse)
    async def promote_form(request: Request, name: str) -> Response:
        return await change(request, name, lambda form: _promote(rollout, name, form, actor_of(request)))

    @router.post("/deployments/{name}/rollback", response_class=HTMLResponse)
    async def rollback_form(request: Request, name: str) -> Response:
        return await change(request, name, lambda form: _rollback(rollout, name, form, actor_of(request)))

    return router
