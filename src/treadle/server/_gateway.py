"""The gateway: every request passes here first (an ASGI middleware around the root app).

It picks the request's workspace (a ``/w/<name>`` path prefix or an ``X-Treadle-Workspace``
header; ``default`` otherwise), and, with auth on, finds the caller (Bearer token, Basic
user:password or user:token, or the UI's session cookie), checks the role the route needs in that
workspace (:mod:`treadle.server._policy`), checks the CSRF token of cookie-authenticated writes,
hands the request to the workspace's app and writes an audit entry for each write. Unauthenticated
requests get 401, unauthorised ones 403 — for a workspace the caller is not in, whether or not it
exists, so names do not leak. Credentials are never logged.
"""

from __future__ import annotations

import base64
import hmac
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from treadle.access import ANONYMOUS, Principal, csrf_token, reset_caller, set_caller
from treadle.server._hub import WorkspaceHub
from treadle.server._paths import route_path
from treadle.server._policy import PUBLIC, SAFE_METHODS, SIGNED_IN, is_write, required
from treadle.store import DEFAULT_WORKSPACE, WORKSPACE_RE, now_ms

SESSION_COOKIE = "treadle_session"
WORKSPACE_HEADER = "x-treadle-workspace"
MLFLOW_WORKSPACE_HEADER = "x-mlflow-workspace"  # what mlflow >= 3.5 sends for MLFLOW_WORKSPACE / set_workspace
SERVER_SCOPE = "*"  # the audit log's workspace for server-level writes (users, tokens, workspaces)
_ROOT_ONLY = ("/api/v1/access/", "/login", "/logout")  # served by the root app whatever the workspace
_SHARED = (*_ROOT_ONLY, "/static/")  # the same in every workspace: never looks the workspace up
MAX_FORM = 1 << 20


class Denied(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class Gateway:
    def __init__(self, app: ASGIApp, hub: WorkspaceHub) -> None:
        self.app = app
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)  # what the routes match: without the server's own root_path
        workspace, rest = _split_workspace(path)
        headers = Headers(scope=scope)
        if workspace is None:
            workspace = headers.get(WORKSPACE_HEADER) or headers.get(MLFLOW_WORKSPACE_HEADER) or DEFAULT_WORKSPACE
        if not self.hub.auth and workspace == DEFAULT_WORKSPACE and rest == path:
            await self.app(scope, receive, send)  # the embedded, single-user case: nothing to decide
            return
        method: str = scope["method"]
        principal: Principal | None = None
        need = PUBLIC
        session: str | None = None
        try:
            if not WORKSPACE_RE.match(workspace):
                raise Denied(400, "INVALID_ARGUMENT", f"invalid workspace name {workspace!r}")
            need = required(method, rest)
            if self.hub.auth and need == PUBLIC and workspace != DEFAULT_WORKSPACE and not _public_anywhere(rest):
                need = "viewer"  # a workspace's /health or /openapi.json would tell anyone whether it exists
            if self.hub.auth and need != PUBLIC:
                if method not in SAFE_METHODS and _basic_from_another_site(headers):
                    raise Denied(
                        403,
                        "FORBIDDEN",
                        "a write with Basic credentials from another site's page is refused (a browser sends "
                        "saved credentials by itself): sign in to the UI, or send a token",
                    )
                caller, session = await run_in_threadpool(self._authenticate, headers, _client(scope))
                principal = caller
                await run_in_threadpool(self._authorise, caller, need, workspace)
            else:
                principal = ANONYMOUS
            target = self.app
            if workspace != DEFAULT_WORKSPACE and not rest.startswith(_SHARED):
                found = await run_in_threadpool(self.hub.app_for, workspace)
                if found is None:
                    raise Denied(404, "NOT_FOUND", f"no workspace {workspace!r}")
                target = found
            if session is not None and method not in SAFE_METHODS:
                receive = await _check_csrf(scope, receive, headers, csrf_token(session))
        except Denied as denied:
            htmx = headers.get("hx-request") == "true"
            if _from_page(scope, headers, rest) and (htmx or not (denied.status == 401 and method == "GET")):
                page = {"principal": principal, "workspace": workspace, "auth": self.hub.auth}
                if session is not None:
                    page["csrf_token"] = csrf_token(session)  # the page's sign-out form needs it
                await self._deny_page(scope, send, headers, path[: len(path) - len(rest)], denied, page)
            else:
                await _deny(scope, send, headers, rest, denied)
            if self.hub.auth and principal is not None and is_write(method, rest, need):
                await run_in_threadpool(self._audit, principal, workspace, method, path, rest, denied.status, scope)
            return
        if rest != path:  # /w/<name>/...: the app sees the prefix as its mount path (links keep it)
            scope = dict(scope, root_path=scope.get("root_path", "") + path[: len(path) - len(rest)])
        state = scope.setdefault("state", {})
        state.update(principal=principal, workspace=workspace, auth=self.hub.auth)
        if session is not None:
            state["csrf_token"] = csrf_token(session)
        assert principal is not None
        token = set_caller(principal)
        status = 500
        try:

            async def sending(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            await target(scope, receive, sending)
        finally:
            reset_caller(token)
            if self.hub.auth and is_write(method, rest, need):
                await run_in_threadpool(self._audit, principal, workspace, method, path, rest, status, scope)

    async def _deny_page(
        self,
        scope: Scope,
        send: Send,
        headers: Headers,
        prefix: str,
        denied: Denied,
        state: dict[str, Any],
    ) -> None:
        """A refusal for the UI: an HTML page (htmx: a notice), or for an htmx request that is not signed
        in, a redirect to the login page (a plain 401 would be swapped into the page)."""
        root = scope.get("root_path", "")
        if denied.status == 401 and headers.get("hx-request") == "true":
            back = urlsplit(headers.get("hx-current-url", "")).path or "/"
            location = f"{root}/login?next={quote(back, safe='/')}"
            await _send(send, 401, b"", {"hx-redirect": location})
            return
        from starlette.requests import Request
        from starlette.responses import Response

        from treadle.ui._render import denied_page

        principal = state["principal"]
        request = Request(dict(scope, root_path=root + prefix, state=state))

        def render() -> Response:
            token = set_caller(principal) if principal is not None else None  # whose workspaces the page lists
            try:
                return denied_page(request, denied.status, denied.message)
            finally:
                if token is not None:
                    reset_caller(token)

        page = await run_in_threadpool(render)
        extra = {k: v for k, v in page.headers.items() if k != "content-length"}
        await _send(send, denied.status, bytes(page.body), {**extra, **denied.headers})

    # --- who is calling -----------------------------------------------------------------------
    def _authenticate(self, headers: Headers, client: str) -> tuple[Principal, str | None]:
        access = self.hub.access
        header = headers.get("authorization")
        if header:
            scheme, _, credentials = header.partition(" ")
            scheme = scheme.lower()
            if scheme == "bearer":
                principal = access.check_token(credentials.strip(), touch=True)
                if principal is None:
                    raise Denied(401, "UNAUTHORIZED", "the token is not valid (unknown, revoked or expired)")
                return principal, None
            if scheme == "basic":
                return self._basic(credentials.strip(), client), None
            raise Denied(401, "UNAUTHORIZED", f"unsupported authorization scheme {scheme!r}: use Bearer or Basic")
        session = _cookie(headers, SESSION_COOKIE)
        if session:
            principal = access.check_session(session)
            if principal is not None:
                return principal, session
            raise Denied(401, "UNAUTHORIZED", "your session has ended: sign in again")
        raise Denied(
            401,
            "UNAUTHORIZED",
            "sign in: send `Authorization: Bearer <token>` (TREADLE_TOKEN, MLFLOW_TRACKING_TOKEN) or Basic "
            "user:password (MLFLOW_TRACKING_USERNAME/PASSWORD)",
        )

    def _basic(self, credentials: str, client: str) -> Principal:
        try:
            user, sep, secret = base64.b64decode(credentials, validate=True).decode().partition(":")
        except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 (UnicodeDecodeError)
            user, sep, secret = "", "", ""
        if not sep or not user:
            raise Denied(401, "UNAUTHORIZED", "malformed Basic credentials: send base64(user:password)")
        if secret.startswith("tdl_"):  # a token as the password (what git-style clients send)
            principal = self.hub.access.check_token(secret, touch=True)
            if principal is None or principal.user != user:
                raise Denied(401, "UNAUTHORIZED", "the token is not valid for this user")
            return principal
        limiter = self.hub.limiter
        wait = limiter.retry_after(user, client)
        if wait:
            raise Denied(
                429, "TOO_MANY_ATTEMPTS", f"too many failed sign-ins: try again in {wait} s", {"retry-after": str(wait)}
            )
        principal = self.hub.access.check_password(user, secret)
        if principal is None:
            limiter.failed(user, client)
            raise Denied(401, "UNAUTHORIZED", "wrong user name or password")
        limiter.succeeded(user)
        return principal

    def _authorise(self, principal: Principal, need: str, workspace: str) -> None:
        if need == SIGNED_IN or principal.admin:
            return
        granted = self.hub.access.role_of(principal.user, workspace)
        if granted is None:
            raise Denied(403, "FORBIDDEN", f"{principal.user!r} has no role in workspace {workspace!r}")
        if not principal.has(need, granted):
            raise Denied(
                403,
                "FORBIDDEN",
                f"this needs the {need} role in workspace {workspace!r}; {principal.user!r} is {granted}",
            )

    def _audit(
        self, principal: Principal, workspace: str, method: str, path: str, rest: str, status: int, scope: Scope
    ) -> None:
        operation = ""
        if rest.startswith("/api/v1/"):
            operation = ".".join(rest[len("/api/v1/") :].split("/")[:2])
        elif "/mlflow/" in rest:
            operation = "mlflow:" + rest.split("/mlflow/", 1)[1]
        elif "/mlflow-artifacts/" in rest:  # the mlflow client's artifact uploads and deletes
            operation = "mlflow-artifacts:" + rest.split("/mlflow-artifacts/", 1)[1]
        entry = {
            "at": now_ms(),
            "user": principal.user,
            # Users, tokens and workspaces are the server's, not the workspace's the request named.
            "workspace": SERVER_SCOPE if rest.startswith(_ROOT_ONLY) else workspace,
            "method": method,
            "path": _printable(path)[:2048],
            "operation": _printable(operation)[:256],
            "status": status,
            "remote": _client(scope)[:128],
        }
        self.hub.access.record_audit([entry])


def _public_anywhere(rest: str) -> bool:
    # Served the same for every workspace name (no lookup), or carrying its own credential (a
    # pipeline's webhook trigger: its token; a workspace that does not exist still answers 404 there).
    return rest.startswith(_SHARED) or rest.endswith("/trigger")


def _printable(text: str) -> str:
    return text.replace("\x00", "\\x00")  # PostgreSQL text cannot hold NUL (a %00 in a path)


def _basic_from_another_site(headers: Headers) -> bool:
    """Whether a request with Basic credentials comes from another site's page: a browser that once
    answered the Basic prompt sends those credentials with any site's form or fetch by itself, so such
    writes need the same protection as the session cookie's (non-browser clients send no Origin)."""
    if headers.get("authorization", "")[:6].lower() != "basic ":
        return False
    if headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        return True
    origin = headers.get("origin")
    if origin is None:
        return False
    hosts = {headers.get("host", ""), headers.get("x-forwarded-host", "")} - {""}
    return origin == "null" or urlsplit(origin).netloc not in hosts


def _split_workspace(path: str) -> tuple[str | None, str]:
    if not path.startswith("/w/"):
        return None, path
    name, slash, rest = path[3:].partition("/")
    return name, slash + rest if slash else "/"


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def _cookie(headers: Headers, name: str) -> str | None:
    return cookie_parser(headers.get("cookie", "")).get(name) or None


async def _check_csrf(scope: Scope, receive: Receive, headers: Headers, expected: str) -> Receive:
    """Cookie-authenticated writes must carry the session's CSRF token (header or form field)."""
    sent = headers.get("x-csrf-token")
    if sent is not None:
        if not hmac.compare_digest(sent.encode(), expected.encode()):  # str: ASCII only (else TypeError)
            raise Denied(403, "FORBIDDEN", "the CSRF token does not match this session: reload the page")
        return receive
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
        if len(body) > MAX_FORM:
            raise Denied(413, "PAYLOAD_TOO_LARGE", "form too large")
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    field = (
        parse_qs(body.decode("utf-8", "replace")).get("csrf_token", [""])[0]
        if kind == "application/x-www-form-urlencoded"
        else ""
    )
    if not field or not hmac.compare_digest(field.encode(), expected.encode()):
        raise Denied(403, "FORBIDDEN", "this form needs its CSRF token (reload the page and send it again)")
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _deny(scope: Scope, send: Send, headers: Headers, rest: str, denied: Denied) -> None:
    extra = dict(denied.headers)
    status = denied.status
    mlflow = "/mlflow/" in rest or rest.startswith("/api/2.0/mlflow-artifacts")
    if mlflow and status == 429:
        # the mlflow client retries a 429 (7 times, sleeping Retry-After each): a locked-out sign-in
        # would stall it for half an hour; a 401 with the wait in the message fails it at once
        status = 401
    if status == 401 and _wants_page(scope, headers, rest):
        root = scope.get("root_path", "")
        await _send(send, 303, b"", {"location": f"{root}/login?next={quote(scope['path'], safe='/')}"})
        return
    if status == 401:
        extra["www-authenticate"] = 'Bearer realm="treadle", Basic realm="treadle"'
    if mlflow:
        code = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "RESOURCE_DOES_NOT_EXIST"}.get(
            status, "INVALID_PARAMETER_VALUE" if status < 500 else "INTERNAL_ERROR"
        )
        body: dict[str, Any] = {"error_code": code, "message": denied.message}
    else:
        body = {"error": {"code": denied.code, "message": denied.message}}
    await _send(send, status, orjson.dumps(body), {"content-type": "application/json", **extra})


def _from_page(scope: Scope, headers: Headers, rest: str) -> bool:
    """A request from the UI in a browser (a page, a form, htmx), which gets HTML rather than JSON."""
    return (
        not rest.startswith(("/api/", "/metrics"))
        and "authorization" not in headers
        and (headers.get("hx-request") == "true" or "text/html" in headers.get("accept", ""))
    )


def _wants_page(scope: Scope, headers: Headers, rest: str) -> bool:
    return (
        scope["method"] == "GET"
        and "text/html" in headers.get("accept", "")
        and not rest.startswith(("/api/", "/metrics"))
        and "authorization" not in headers
    )


async def _send(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw: list[Any] = [(k.encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
