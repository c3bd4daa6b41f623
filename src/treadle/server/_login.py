"""The UI's sign-in: ``GET/POST /login`` and ``POST /logout``.

A successful sign-in sets the session cookie (HttpOnly, SameSite=Lax, Secure over https); the
login form itself is protected from cross-site posting by a double-submit cookie. Failed attempts
are rate-limited per user name and per client (:class:`LoginLimiter`), answered 429 when over.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from treadle.access._service import SESSION_HOURS
from treadle.errors import InvalidArgument
from treadle.server._gateway import SESSION_COOKIE
from treadle.server._hub import WorkspaceHub
from treadle.ui._forms import read_form
from treadle.ui._render import render

LOGIN_CSRF_COOKIE = "treadle_login_csrf"


def _safe_next(value: str | None, home: str = "/") -> str:
    # Only a path on this server: never an absolute or scheme-relative URL (an open redirect).
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return home
    return value


def _home(request: Request) -> str:
    """The UI's front page: below the server's root path (and the /w/<workspace> the form was under)."""
    return str(request.scope.get("root_path", "")).rstrip("/") + "/"


def login_router(hub: WorkspaceHub) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def page(
        request: Request, status: int = 200, error: str = "", user: str = "", next_: str | None = None
    ) -> HTMLResponse:
        """The sign-in form; ``next_``: where to go after (a re-shown form keeps the one it was posted with)."""
        token = secrets.token_urlsafe(24)
        response = render(
            request,
            "login.html",
            status=status,
            error=error,
            user=user,
            next=_safe_next(next_ if next_ is not None else request.query_params.get("next"), _home(request)),
            login_csrf=token,
        )
        _set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
        return response

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        if not hub.auth:
            return RedirectResponse(_safe_next(request.query_params.get("next"), _home(request)), status_code=303)
        return page(request)

    @router.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        if not hub.auth:
            return RedirectResponse("/", status_code=303)
        try:
            form = await read_form(request)
        except InvalidArgument as exc:
            return page(request, 400, str(exc))
        expected = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
        if not expected or not hmac.compare_digest(form.get("csrf_token", "").encode(), expected.encode()):
            return page(request, 403, "the form expired: sign in again", next_=form.get("next"))
        user, password = form.get("user", ""), form.get("password", "")
        client = request.client.host if request.client else ""
        wait = hub.limiter.retry_after(user, client)
        if wait:
            response = page(request, 429, f"too many failed sign-ins: try again in {wait} s", user, form.get("next"))
            response.headers["retry-after"] = str(wait)
            return response
        principal = await run_in_threadpool(hub.access.check_password, user, password)
        if principal is None:
            hub.limiter.failed(user, client)
            return page(request, 401, "wrong user name or password", user, form.get("next"))
        hub.limiter.succeeded(user)
        session = await run_in_threadpool(hub.access.create_session, principal.user)
        target = _safe_next(form.get("next"), _home(request))
        signed_in = RedirectResponse(target, status_code=303)
        _set_cookie(request, signed_in, SESSION_COOKIE, session, max_age=SESSION_HOURS * 3600)
        signed_in.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return signed_in

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        session = request.cookies.get(SESSION_COOKIE)
        if session:
            await run_in_threadpool(hub.access.end_session, session)
        response = RedirectResponse(f"{_home(request)}login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return router


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
