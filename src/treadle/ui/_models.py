"""Pages: the registered models, and one model (versions, approval, aliases and their history).

Two small POST routes change the registry from the model page, acting as the signed-in user (``ui``
without sign-in): set/delete/protect an alias, approve/reject a version; protecting an alias takes a
workspace admin, as the API's ``protect_alias`` does. htmx posts get the model panel back (with the outcome inline);
plain form posts are redirected to the page (303), or get it back with the error (400).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from treadle.errors import Forbidden, InvalidArgument, NotFound
from treadle.registry import RegisteredModel, RegistryService
from treadle.ui._forms import actor_of, form_post, is_htmx, positive_int, workspace_admin
from treadle.ui._render import denied_page, error_page, render, root_of

if TYPE_CHECKING:
    from treadle.client._backend import Backend

MODELS_BACK = ("/models", "models")
MAX_MODELS = 1000
MAX_VERSIONS = 1000
MAX_HISTORY = 500  # alias moves shown, newest first


def missing_model(request: Request, name: str) -> HTMLResponse:
    return error_page(
        request, 404, "Model not found", f"There is no registered model named {name!r}.", back=MODELS_BACK
    )


def model_context(registry: RegistryService, model: RegisteredModel) -> dict[str, Any]:
    """What the model page and its panel show: versions, aliases, and every alias move, newest first."""
    versions = registry.search_versions(name=model.name, include_archived=True, max_results=MAX_VERSIONS)
    moves = registry.get_alias_history(model.name)
    return {
        "model": model,
        "versions": versions,
        "versions_cut": len(versions) >= MAX_VERSIONS,
        "active_versions": [v.version for v in versions if v.lifecycle == "active"],
        "aliases": registry.list_aliases(model.name),
        "history": moves[::-1][:MAX_HISTORY],
        "history_total": len(moves),
    }


def _alias_change(registry: RegistryService, name: str, form: dict[str, str], actor: str, admin: bool) -> str:
    """Apply the alias form as ``actor``; returns what happened (InvalidArgument/NotFound for bad input,
    Forbidden for protecting without being a workspace ``admin``)."""
    action = form.get("action", "set")
    alias = form.get("alias", "")
    reason = form.get("reason") or None
    if not alias:
        raise InvalidArgument("enter an alias name, e.g. champion")
    if action == "set":
        version = positive_int(form.get("version"), "version")
        moved = registry.set_alias(name, alias, version, actor=actor, reason=reason)
        return f"{alias} now points at v{moved.version}."
    if action == "delete":
        registry.delete_alias(name, alias, actor=actor, reason=reason)
        return f"Deleted alias {alias}."
    if action in ("protect", "unprotect"):
        if not admin:
            raise Forbidden(f"only an admin of this workspace can {action} an alias")
        registry.protect_alias(name, alias, action == "protect", actor=actor)
        return f"{alias} is {'now protected' if action == 'protect' else 'no longer protected'}."
    raise InvalidArgument(f"unknown alias action {action!r}")


def _approval_change(registry: RegistryService, name: str, version: int, form: dict[str, str], actor: str) -> str:
    decision = form.get("decision", "")
    reason = form.get("reason") or None
    if decision == "approve":
        done = registry.approve_version(name, version, actor=actor, reason=reason)
    elif decision == "reject":
        done = registry.reject_version(name, version, actor=actor, reason=reason)
    else:
        raise InvalidArgument(f"decision must be approve or reject, not {decision!r}")
    return f"v{version} {done.approval}."


def models_router(backend: Backend) -> APIRouter:
    router = APIRouter()
    registry = backend.registry

    @router.get("/models", response_class=HTMLResponse)
    def models(request: Request, archived: bool = False) -> HTMLResponse:
        found = registry.search_models(include_archived=archived, max_results=MAX_MODELS)
        return render(request, "models.html", models=found, archived=archived, limit=MAX_MODELS)

    @router.get("/models/{name}", response_class=HTMLResponse)
    def model_page(request: Request, name: str) -> HTMLResponse:
        try:
            model = registry.get_model(name)
        except NotFound:
            return missing_model(request, name)
        return render(request, "model.html", flash=None, form_error=None, **model_context(registry, model))

    def respond(request: Request, name: str, apply: Any, form: dict[str, str] | None, bad: str | None) -> Response:
        try:
            model = registry.get_model(name)
        except NotFound:
            return missing_model(request, name)
        flash, form_error = None, bad
        if form is not None:
            try:
                flash = apply(form)
            except Forbidden as exc:
                return denied_page(request, 403, exc.message)
            except (InvalidArgument, NotFound) as exc:
                form_error = exc.message
        if not is_htmx(request) and form_error is None:
            return RedirectResponse(f"{root_of(request)}/models/{quote(name)}", status_code=303)
        context = model_context(registry, registry.get_model(model.name))
        if not is_htmx(request):
            return render(request, "model.html", status=400, flash=None, form_error=form_error, **context)
        return render(request, "_model_panel.html", flash=flash, form_error=form_error, **context)

    async def change(request: Request, name: str, apply: Any) -> Response:
        """Run ``apply(form)`` for a same-origin form post, off the event loop; answer htmx or a plain form."""
        return await form_post(request, MODELS_BACK, lambda form, bad: respond(request, name, apply, form, bad))

    @router.post("/models/{name}/aliases", response_class=HTMLResponse)
    async def alias_form(request: Request, name: str) -> Response:
        def apply(form: dict[str, str]) -> str:
            admin = form.get("action") in ("protect", "unprotect") and workspace_admin(request, backend.access)
            return _alias_change(registry, name, form, actor_of(request), admin)

        return await change(request, name, apply)

    @router.post("/models/{name}/versions/{version}/approval", response_class=HTMLResponse)
    async def approval_form(request: Request, name: str, version: str) -> Response:
        def apply(form: dict[str, str]) -> str:
            return _approval_change(registry, name, positive_int(version, "version"), form, actor_of(request))

        return await change(request, name, apply)

    return router
