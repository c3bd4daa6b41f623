"""Property-based requests from the OpenAPI spec (schemathesis) against a server with auth on.

Three callers, each over its own server:

- an admin's token: the requests reach the handlers (the ``/api/v1/access/*`` operations too) and
  none gets a 5xx;
- no credentials: every operation that is not public answers 401 and changes nothing;
- a viewer's token: writes answer 403, reads answer, and nothing a viewer sends changes the
  workspace (its store, its blobs, users, workspaces or memberships).

And garbage in the gateway's own inputs (Authorization, session cookie, CSRF header, workspace
prefix or header) over a real server: refused, never a 5xx.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sqlite3
import tempfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx
import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.config import SchemathesisConfig  # noqa: E402

from treadle.access import AccessService  # noqa: E402
from treadle.errors import NotFound  # noqa: E402
from treadle.server import create_app  # noqa: E402
from treadle.server._policy import required  # noqa: E402
from treadle.testing.server import serve  # noqa: E402

pytestmark = pytest.mark.slow

ACCESS = "^/api/v1/access/"
# The only operations in the schema that answer without credentials (webhook triggers carry their own token).
PUBLIC = {("GET", "/health"), ("GET", "/version"), ("POST", "/pipelines/{name}/trigger")}
# Access operations that only a server admin (or a workspace admin) may call: never 2xx for a viewer.
ADMIN_ONLY_ACCESS = {
    "create_user",
    "delete_user",
    "list_users",
    "create_workspace",
    "set_member",
    "remove_member",
    "list_members",
    "list_audit",
}
NO_COVERAGE = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
# Tables a viewer may change: their own tokens, sessions, and the audit log of what they tried.
VIEWER_MAY_CHANGE = {"access_tokens", "access_sessions", "access_audit"}


@dataclass
class Server:
    """A server with auth on and one caller (``user`` None: nobody) whose token is kept alive."""

    root: Path
    app: Any
    user: str | None = None
    admin: bool = False
    secret: str = ""

    def schema(self, coverage: bool = False) -> Any:
        """The app's OpenAPI schema; ``coverage``: with schemathesis' coverage phase (dozens of explicit
        boundary examples per operation, whatever ``max_examples`` says) — worth it where handlers
        run that no other fuzz test reaches, too slow for passes the gateway answers."""
        config = None if coverage else NO_COVERAGE
        return schemathesis.openapi.from_asgi("/openapi.json", self.app, config=config)

    @property
    def access(self) -> AccessService:
        access: AccessService = self.app.state.hub.access
        return access

    def headers(self) -> dict[str, str]:
        """The caller's Authorization header, repairing what an earlier example did to them.

        The fuzzer calls revoke_token, update_user and delete_user with whatever it likes, so the
        caller may have lost their token, flag or account; put them back before each request."""
        if self.user is None:
            return {}
        principal = self.access.check_token(self.secret) if self.secret else None
        if principal is None or principal.admin != self.admin:
            try:
                self.access.get_user(self.user)
            except NotFound:
                self.access.create_user(self.user, admin=self.admin)
            self.access.update_user(self.user, admin=self.admin, disabled=False)
            if not self.admin:
                self.access.set_member("default", self.user, "viewer")
            self.secret = self.access.create_token("fuzz", user=self.user).secret
        return {"Authorization": f"Bearer {self.secret}"}

    def fingerprint(self, skip: Collection[str] = ()) -> dict[str, str]:
        """A digest of every table of the main store (but ``skip``) and of every blob file."""
        digests: dict[str, str] = {}
        db = sqlite3.connect(f"file:{self.root / 'treadle.db'}?mode=ro", uri=True)
        try:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            for table in tables:
                if table in skip:
                    continue
                rows = db.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()
                digests[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
        finally:
            db.close()
        files = sorted(
            (os.path.relpath(os.path.join(d, f), self.root), os.path.getsize(os.path.join(d, f)))
            for d, _, fs in os.walk(self.root / "art")
            for f in fs
        )
        digests["<blobs>"] = hashlib.sha256(repr(files).encode()).hexdigest()
        return digests


def _server(name: str, user: str | None = None, admin: bool = False) -> Server:
    root = Path(tempfile.mkdtemp(prefix=f"treadle-fuzz-auth-{name}-"))
    app = create_app(uri=f"sqlite:///{root / 'treadle.db'}", artifacts=str(root / "art"), auth=True)
    server = Server(root=root, app=app, user=user, admin=admin)
    server.access.create_user("someone-else", admin=True)  # a user who is not the caller, with a token
    server.access.create_token("theirs", user="someone-else")
    return server


# Unguessable names, so the fuzzer's random strings do not hit the callers themselves.
ADMIN = _server("admin", user="root-q7x2k", admin=True)
ANONYMOUS = _server("anonymous")
VIEWER = _server("viewer", user="viewer-m4p9z")


def _path(response: Any) -> str:
    return unquote(urlsplit(response.request.url).path)


# What the gateway says when it turns a caller away (a handler's own 401/403 says something else).
GATEWAY_REFUSALS = ("sign in:", "the token is not valid", "has no role in workspace", "this needs the ")


def _gateway_refused(response: Any) -> bool:
    if response.status_code not in (401, 403):
        return False
    try:
        message = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return True  # not the handlers' error shape: count it as refused
    return message.startswith(GATEWAY_REFUSALS) or "has no role" in message


def _no_server_error(case: Any, response: Any) -> None:
    assert response.status_code < 500, (
        f"{case.method} {_path(response)} -> {response.status_code}: {response.text[:300]}"
    )


# ------------------------------------------------------------------------------------ an admin
@ADMIN.schema(coverage=True).include(path_regex=ACCESS).parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_admin_access_operations_never_fail(case) -> None:  # type: ignore[no-untyped-def]
    response = case.call(headers=ADMIN.headers())
    _no_server_error(case, response)
    assert not _gateway_refused(response), response.text[:300]  # an admin reaches every handler


@ADMIN.schema().exclude(path_regex=ACCESS).parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_admin_requests_reach_handlers_without_server_errors(case) -> None:  # type: ignore[no-untyped-def]
    response = case.call(headers=ADMIN.headers())
    _no_server_error(case, response)
    assert not _gateway_refused(response), response.text[:300]


# ------------------------------------------------------------------------------- no credentials
@ANONYMOUS.schema().parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_credentials_get_401(case) -> None:  # type: ignore[no-untyped-def]
    before = ANONYMOUS.fingerprint()
    response = case.call()
    _no_server_error(case, response)
    if (case.method, case.operation.path) in PUBLIC:
        return
    assert response.status_code == 401, (
        f"{case.method} {_path(response)} -> {response.status_code}: {response.text[:300]}"
    )
    if case.method != "HEAD":  # a HEAD answer has no body
        assert response.json()["error"]["code"] == "UNAUTHORIZED"
    assert "Bearer" in " ".join(response.headers["www-authenticate"])
    assert ANONYMOUS.fingerprint() == before, f"{case.method} {_path(response)} changed the store without credentials"


# -------------------------------------------------------------------------------------- a viewer
@VIEWER.schema().parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_viewer_writes_get_403_and_change_nothing(case) -> None:  # type: ignore[no-untyped-def]
    headers = VIEWER.headers()
    before = VIEWER.fingerprint(skip=VIEWER_MAY_CHANGE)
    response = case.call(headers=headers)
    _no_server_error(case, response)
    path, status, what = _path(response), response.status_code, f"{case.method} {case.operation.path}"
    if path.startswith("/api/v1/access/"):
        operation = path.rsplit("/", 1)[1]
        if operation in ADMIN_ONLY_ACCESS:
            assert status in (400, 403, 422), f"{what} -> {status}: {response.text[:300]}"
        elif status < 300 and operation in ("create_token", "revoke_token"):
            answered = response.json()
            assert (answered.get("token") or answered)["user"] == VIEWER.user, answered
    else:
        need = required(case.method, path)
        if need in ("editor", "admin"):
            assert status == 403, f"{what} needs {need} -> {status}: {response.text[:300]}"
            assert response.json()["error"]["code"] == "FORBIDDEN"
        else:
            assert not _gateway_refused(response), f"{what} needs {need} -> {status}: {response.text[:300]}"
    assert VIEWER.fingerprint(skip=VIEWER_MAY_CHANGE) == before, f"{what} ({status}) from a viewer changed the store"


def test_the_policy_counts_known_writes_as_writes() -> None:
    """The viewer pass trusts the policy table for which routes are writes; spot-check that table."""
    for method, path in [
        ("POST", "/api/v1/tracking/create_run"),
        ("POST", "/api/v1/tracking/delete_run"),
        ("POST", "/api/v1/registry/set_alias"),
        ("POST", "/api/v1/registry/delete_model"),
        ("POST", "/api/v1/datasets/create_version"),
        ("POST", "/api/v1/features/push"),
        ("POST", "/api/v1/rollout/promote"),
        ("POST", "/api/v1/pipelines/claim_run"),
        ("POST", "/api/v1/schedules/fire"),
        ("POST", "/api/v1/monitors/record_window"),
        ("POST", "/api/v1/tuning/append_logs"),
        ("POST", "/api/v1/webhooks/deliver_pending"),
        ("PUT", "/api/v1/blobs/" + "0" * 64),
    ]:
        assert required(method, path) in ("editor", "admin"), (method, path)
    for method, path in [("POST", "/api/v1/artifacts/gc"), ("POST", "/api/v1/tracking/purge_runs")]:
        assert required(method, path) == "admin", (method, path)


# ----------------------------------------------------------------- the gateway's own inputs
_PRINTABLE = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
_CREDENTIALS = st.one_of(
    _PRINTABLE,
    st.builds(lambda s: f"Bearer {s}", _PRINTABLE),
    st.builds(lambda s: f"Bearer tdl_{s}", _PRINTABLE),
    st.builds(lambda b: "Basic " + base64.b64encode(b).decode(), st.binary(max_size=60)),
    st.builds(lambda u, p: "Basic " + base64.b64encode(f"{u}:{p}".encode()).decode(), _PRINTABLE, _PRINTABLE),
    st.builds(lambda s: f"Basic {s}", _PRINTABLE),
)
_PATHS = (
    "/api/v1/tracking/list_experiments",
    "/api/v1/access/whoami",
    "/api/v1/access/create_token",
    "/api/2.0/mlflow/experiments/search",
    "/api/2.0/mlflow/runs/create",
    "/api/2.0/mlflow-artifacts/artifacts/x.txt",
    "/api/v1/blobs/" + "0" * 64,
    "/metrics",
    "/",
    "/experiments",
    "/logout",
)


@pytest.fixture(scope="module")
def gateway_client() -> Iterator[httpx.Client]:
    """A real server (auth on, one admin who is not the caller) and an HTTP client to it."""
    with serve(_server("gateway").app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    path=st.sampled_from(_PATHS),
    workspace=st.one_of(st.none(), _PRINTABLE, st.sampled_from(["default", "team-a", "w" * 70])),
    prefixed=st.booleans(),
    authorization=st.one_of(st.none(), _CREDENTIALS),
    cookie=st.one_of(st.none(), _PRINTABLE),
    csrf=st.one_of(st.none(), _PRINTABLE),
    accept=st.sampled_from(["application/json", "text/html", "*/*"]),
)
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_gateway_turns_away_bad_credentials_without_server_errors(
    gateway_client: httpx.Client,
    method: str,
    path: str,
    workspace: str | None,
    prefixed: bool,
    authorization: str | None,
    cookie: str | None,
    csrf: str | None,
    accept: str,
) -> None:
    """Garbage in the Authorization, Cookie, CSRF and workspace inputs: refused, never a 5xx or a 2xx."""
    headers = {"accept": accept}  # (HTTP strips the ends of header values: so do we, up front)
    if authorization is not None:
        headers["authorization"] = authorization.strip()
    if cookie is not None:
        headers["cookie"] = f"treadle_session={cookie}".strip()
    if csrf is not None:
        headers["x-csrf-token"] = csrf.strip()
    url = path
    if workspace is not None and prefixed:
        url = f"/w/{quote(workspace, safe='')}{path}"
    elif workspace is not None:
        headers["x-treadle-workspace"] = workspace.strip()
    response = gateway_client.request(method, url, headers=headers, content=b"{}")
    assert response.status_code < 500, f"{method} {url} {headers} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code in (303, 400, 401, 404, 405, 429), (
        f"{method} {url} {headers} -> {response.status_code}: {response.text[:300]}"
    )
