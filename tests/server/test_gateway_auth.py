"""The gateway with auth on, against a real server: who may call, what each role may do in a
workspace, sign-in rate limiting, CSRF for the UI's cookie, the audit log, and no secret in logs."""

from __future__ import annotations

import base64
import hashlib
import logging
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from treadle.access import AccessService, csrf_token
from treadle.access import _tables as t
from treadle.client._backend import Backend
from treadle.ops import operations
from treadle.server import create_app
from treadle.server._policy import ADMIN_OPERATIONS, READ_OPERATIONS, operation_need, required
from treadle.server._ratelimit import LoginLimiter
from treadle.store import now_ms
from treadle.testing.server import serve

PASSWORD = "s3cret-Password-of-everyone"
WS = "team"
USERS = {"root": None, "viewer": "viewer", "editor": "editor", "wsadmin": "admin", "outsider": None}


@dataclass
class Env:
    url: str
    access: AccessService
    app: Any
    tokens: dict[str, str]

    def client(self, user: str | None = None, *, basic: str | None = None, **kw: Any) -> httpx.Client:
        headers = dict(kw.pop("headers", {}))
        if user is not None:
            headers["authorization"] = f"Bearer {self.tokens[user]}"
        if basic is not None:
            headers["authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
        return httpx.Client(base_url=self.url, headers=headers, **kw)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("gateway")
    app = create_app(f"sqlite:///{root / 'main.db'}", str(root / "art"), auth=True)
    access: AccessService = app.state.hub.access
    access.create_workspace(WS)
    tokens = {}
    for user, role in USERS.items():
        access.create_user(user, PASSWORD, admin=user == "root")
        if role is not None:
            access.set_member(WS, user, role)  # type: ignore[arg-type]
        tokens[user] = access.create_token("test", user=user).secret
    with serve(app) as url:
        yield Env(url, access, app, tokens)


def op(
    http: httpx.Client, capability: str, operation: str, /, workspace: str | None = WS, **body: Any
) -> httpx.Response:
    prefix = f"/w/{workspace}" if workspace else ""
    return http.post(f"{prefix}/api/v1/{capability}/{operation}", json=body)


def unique(prefix: str) -> str:
    return f"{prefix}-{now_ms()}-{id(object())}"


# --- who is calling --------------------------------------------------------------------------
def test_public_routes_need_no_credentials(env: Env) -> None:
    with env.client() as http:
        assert http.get("/health").json() == {"status": "ok"}
        login = http.get("/login")
        assert login.status_code == 200 and "password" in login.text.lower()
        assert http.get("/version").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/tracking/search_runs"),
        ("POST", f"/w/{WS}/api/v1/tracking/search_runs"),
        ("POST", f"/w/{WS}/api/v1/tracking/create_experiment"),
        ("GET", f"/w/{WS}/api/v1/blobs/{'0' * 64}"),
        ("POST", "/api/v1/access/whoami"),
        ("GET", "/"),
    ],
)
def test_no_credentials_is_401_with_a_clear_message(env: Env, method: str, path: str) -> None:
    with env.client() as http:
        answer = http.request(method, path, json={} if method == "POST" else None)
    assert answer.status_code == 401
    assert "Bearer" in answer.headers["www-authenticate"] and "Basic" in answer.headers["www-authenticate"]
    error = answer.json()["error"]
    assert error["code"] == "UNAUTHORIZED" and "Authorization: Bearer" in error["message"]


def test_mlflow_paths_get_mlflow_shaped_errors(env: Env) -> None:
    with env.client() as http:
        answer = http.post("/api/2.0/mlflow/runs/search", json={})
    assert answer.status_code == 401 and answer.json()["error_code"] == "UNAUTHENTICATED"
    with env.client("viewer") as http:
        answer = http.post(f"/w/{WS}/api/2.0/mlflow/experiments/create", json={"name": unique("x")})
    assert answer.status_code == 403 and answer.json()["error_code"] == "PERMISSION_DENIED"


def test_browser_pages_redirect_to_login(env: Env) -> None:
    with env.client(headers={"accept": "text/html"}) as http:
        answer = http.get(f"/w/{WS}/models")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/login?next=/w/{WS}/models"


def test_bearer_and_basic_credentials(env: Env) -> None:
    for client in (
        env.client("editor"),
        env.client(basic=f"editor:{PASSWORD}"),
        env.client(basic=f"editor:{env.tokens['editor']}"),
    ):
        with client as http:
            me = op(http, "access", "whoami", workspace=None)
            assert me.status_code == 200, me.text
            assert me.json()["user"] == "editor"
            assert op(http, "tracking", "search_runs").status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer tdl_not-a-real-token-at-all-000000000000000000",
        "Bearer",
        "Basic " + base64.b64encode(f"editor:{PASSWORD}x".encode()).decode(),
        "Basic " + base64.b64encode(f"nobody:{PASSWORD}".encode()).decode(),
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Digest username=editor",
    ],
)
def test_bad_credentials_are_401(env: Env, authorization: str) -> None:
    with env.client(headers={"authorization": authorization}) as http:
        answer = op(http, "tracking", "search_runs")
    assert answer.status_code == 401
    assert "www-authenticate" in answer.headers
    assert answer.json()["error"]["message"]
    env.app.state.hub.limiter = LoginLimiter()  # the wrong passwords here must not lock anyone out


def test_using_a_token_records_when(env: Env) -> None:
    new = env.access.create_token("used", user="viewer")
    assert env.access.list_tokens("viewer")[0].last_used_at is None
    with env.client(headers={"authorization": f"Bearer {new.secret}"}) as http:
        assert op(http, "tracking", "search_runs").status_code == 200
    used = next(tok for tok in env.access.list_tokens("viewer") if tok.id == new.token.id).last_used_at
    assert used is not None and used >= new.token.created_at


def test_a_token_is_only_good_as_its_own_users_basic_password(env: Env) -> None:
    with env.client(basic=f"viewer:{env.tokens['editor']}") as http:
        assert op(http, "tracking", "search_runs").status_code == 401


def test_revoked_token_is_refused_on_the_next_request(env: Env) -> None:
    new = env.access.create_token("short-lived", user="editor")
    with env.client(headers={"authorization": f"Bearer {new.secret}"}) as http:
        assert op(http, "tracking", "search_runs").status_code == 200
        env.access.revoke_token(new.token.id)
        answer = op(http, "tracking", "search_runs")
        assert answer.status_code == 401 and "revoked" in answer.json()["error"]["message"]
    with env.client(basic=f"editor:{new.secret}") as http:
        assert op(http, "tracking", "search_runs").status_code == 401


def test_expired_token_is_refused(env: Env) -> None:
    new = env.access.create_token("expiring", user="editor")
    with env.client(headers={"authorization": f"Bearer {new.secret}"}) as http:
        assert op(http, "tracking", "search_runs").status_code == 200
        with env.access._store.write() as conn:
            conn.execute(update(t.tokens).where(t.tokens.c.id == new.token.id).values(expires_at=now_ms() - 1))
        assert op(http, "tracking", "search_runs").status_code == 401


def test_disabled_user_is_refused(env: Env) -> None:
    env.access.create_user("temp", PASSWORD)
    env.access.set_member(WS, "temp", "editor")
    secret = env.access.create_token(user="temp").secret
    with env.client(headers={"authorization": f"Bearer {secret}"}) as http:
        assert op(http, "tracking", "search_runs").status_code == 200
        env.access.update_user("temp", disabled=True)
        assert op(http, "tracking", "search_runs").status_code == 401
    with env.client(basic=f"temp:{PASSWORD}") as http:
        assert op(http, "tracking", "search_runs").status_code == 401
    env.app.state.hub.limiter = LoginLimiter()


def test_token_is_used_via_the_sdk(env: Env) -> None:
    from treadle import Client

    client = Client(env.url, token=env.tokens["editor"], workspace=WS)
    assert client.workspace == WS
    exp = client.create_experiment(unique("sdk"))
    assert client.tracking.get_experiment(exp.id).name == exp.name
    assert client.access.whoami().user == "editor"


# --- the role matrix --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seeded(env: Env) -> dict[str, Any]:
    """An experiment, a run, a blob and a registered model version in the workspace (by its editor)."""
    with env.client("editor") as http:
        exp = op(http, "tracking", "create_experiment", name=unique("matrix")).json()
        run = op(http, "tracking", "create_run", experiment_id=exp["id"]).json()
        data = b"flavor: sklearn\n"
        digest = hashlib.sha256(data).hexdigest()
        assert http.put(f"/w/{WS}/api/v1/blobs/{digest}", content=data).status_code == 201
        files = [{"path": "model/treadle-model.yaml", "digest": digest, "size": len(data)}]
        assert op(http, "tracking", "add_artifacts", run_id=run["id"], files=files).status_code == 200
        version = op(http, "registry", "create_version", name=unique("model"), source=f"runs:/{run['id']}/model")
        assert version.status_code == 200, version.text
    return {"experiment": exp, "run": run, "digest": digest, "model": version.json()["name"]}


def _blob() -> tuple[str, bytes]:
    data = unique("blob").encode()
    return hashlib.sha256(data).hexdigest(), data


def test_viewer_reads_but_cannot_write(env: Env, seeded: dict[str, Any]) -> None:
    with env.client("viewer") as http:
        runs = op(http, "tracking", "search_runs", experiment_ids=[seeded["experiment"]["id"]])
        assert runs.status_code == 200 and [r["id"] for r in runs.json()["runs"]] == [seeded["run"]["id"]]
        assert http.get(f"/w/{WS}/api/v1/blobs/{seeded['digest']}").content == b"flavor: sklearn\n"
        assert http.head(f"/w/{WS}/api/v1/blobs/{seeded['digest']}").status_code == 200
        assert op(http, "registry", "get_model", name=seeded["model"]).status_code == 200
        assert http.post(f"/w/{WS}/api/2.0/mlflow/runs/search", json={}).status_code == 200
        latest = http.post(
            f"/w/{WS}/api/2.0/mlflow/registered-models/get-latest-versions", json={"name": seeded["model"]}
        )
        assert latest.status_code == 200, latest.text
        assert http.get(f"/w/{WS}/").status_code == 200

        denied = op(http, "tracking", "create_experiment", name=unique("nope"))
        assert denied.status_code == 403
        assert "editor role" in denied.json()["error"]["message"] and "viewer" in denied.json()["error"]["message"]
        digest, data = _blob()
        assert http.put(f"/w/{WS}/api/v1/blobs/{digest}", content=data).status_code == 403
        assert op(http, "tracking", "log_batch", run_id=seeded["run"]["id"], params={"a": "1"}).status_code == 403
        mlflow = http.post(f"/w/{WS}/api/2.0/mlflow/runs/create", json={"experiment_id": seeded["experiment"]["id"]})
        assert mlflow.status_code == 403
        assert op(http, "artifacts", "gc").status_code == 403
    with env.client("editor") as http:  # nothing the viewer tried happened
        assert http.head(f"/w/{WS}/api/v1/blobs/{digest}").status_code == 404
        run = op(http, "tracking", "get_run", run_id=seeded["run"]["id"]).json()
        assert run["params"] == {}
        runs = op(http, "tracking", "search_runs", experiment_ids=[seeded["experiment"]["id"]]).json()["runs"]
        assert len(runs) == 1


def test_editor_writes_but_cannot_govern(env: Env, seeded: dict[str, Any]) -> None:
    with env.client("editor") as http:
        assert op(http, "tracking", "create_experiment", name=unique("ed")).status_code == 200
        digest, data = _blob()
        assert http.put(f"/w/{WS}/api/v1/blobs/{digest}", content=data).status_code == 201
        mlflow = http.post(f"/w/{WS}/api/2.0/mlflow/runs/create", json={"experiment_id": seeded["experiment"]["id"]})
        assert mlflow.status_code == 200, mlflow.text
        gc = op(http, "artifacts", "gc", dry_run=True)
        assert gc.status_code == 403 and "admin role" in gc.json()["error"]["message"]
        approve = op(http, "registry", "approve_version", name=seeded["model"], version=1)
        assert approve.status_code == 403
        assert op(http, "tracking", "purge_runs").status_code == 403
        assert op(http, "registry", "get_version", name=seeded["model"], version=1).json()["approval"] == "pending"


def test_workspace_admin_governs(env: Env, seeded: dict[str, Any]) -> None:
    with env.client("wsadmin") as http:
        assert op(http, "artifacts", "gc", dry_run=True).status_code == 200
        approved = op(http, "registry", "approve_version", name=seeded["model"], version=1, reason="ok")
        assert approved.status_code == 200 and approved.json()["approval"] == "approved"
        assert op(http, "tracking", "create_experiment", name=unique("adm")).status_code == 200
        # ... of this workspace only: the default workspace is not theirs
        assert op(http, "tracking", "search_runs", workspace=None).status_code == 403


def test_server_admin_does_everything_everywhere(env: Env, seeded: dict[str, Any]) -> None:
    with env.client("root") as http:
        for workspace in (WS, None):
            assert (
                op(http, "tracking", "create_experiment", workspace=workspace, name=unique("root")).status_code == 200
            )
            assert op(http, "artifacts", "gc", workspace=workspace, dry_run=True).status_code == 200
            assert op(http, "tracking", "search_runs", workspace=workspace).status_code == 200
        assert op(http, "registry", "reject_version", name=seeded["model"], version=1).status_code == 200
        assert op(http, "access", "list_users", workspace=None).status_code == 200
        # a workspace that does not exist is a 404 for an admin (they may know)
        assert op(http, "tracking", "search_runs", workspace="ghost").status_code == 404


def test_outsider_has_no_role(env: Env) -> None:
    with env.client("outsider") as http:
        for workspace in (WS, "ghost", None):
            answer = op(http, "tracking", "search_runs", workspace=workspace)
            assert answer.status_code == 403
            assert "has no role" in answer.json()["error"]["message"]
        assert http.get(f"/w/{WS}/models").status_code == 403
        # their own account still works: the access service needs only a signed-in user
        assert op(http, "access", "whoami", workspace=None).json()["user"] == "outsider"
        assert op(http, "access", "list_workspaces", workspace=None).json() == []
        assert op(http, "access", "list_users", workspace=None).status_code == 403


def test_workspace_header_is_the_same_as_the_prefix(env: Env) -> None:
    with env.client("viewer", headers={"x-treadle-workspace": WS}) as http:
        assert http.post("/api/v1/tracking/search_runs", json={}).status_code == 200
        assert http.post("/api/v1/tracking/create_experiment", json={"name": unique("h")}).status_code == 403
    with env.client("viewer", headers={"x-treadle-workspace": "Not_Valid"}) as http:
        assert http.post("/api/v1/tracking/search_runs", json={}).status_code == 400


# --- rate limiting ----------------------------------------------------------------------------
def test_wrong_passwords_are_rate_limited(env: Env) -> None:
    env.access.create_user("victim", PASSWORD)
    env.access.set_member(WS, "victim", "viewer")
    hub = env.app.state.hub
    hub.limiter = LoginLimiter()
    try:
        with env.client(basic="victim:wrong-password") as http:
            for _ in range(5):
                assert op(http, "tracking", "search_runs").status_code == 401
            limited = op(http, "tracking", "search_runs")
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 0
        assert limited.json()["error"]["code"] == "TOO_MANY_ATTEMPTS"
        with env.client(basic=f"victim:{PASSWORD}") as http:
            assert op(http, "tracking", "search_runs").status_code == 429  # the right password too, for now
        victim_token = env.access.create_token(user="victim").secret
        with env.client(headers={"authorization": f"Bearer {victim_token}"}) as http:
            assert op(http, "tracking", "search_runs").status_code == 200  # tokens are not rate-limited
        with env.client(basic=f"viewer:{PASSWORD}") as http:
            assert op(http, "tracking", "search_runs").status_code == 200  # another user from this client
    finally:
        hub.limiter = LoginLimiter()
    with env.client(basic=f"victim:{PASSWORD}") as http:  # the window passed (here: a new limiter)
        assert op(http, "tracking", "search_runs").status_code == 200


def test_ui_login_is_rate_limited(env: Env) -> None:
    hub = env.app.state.hub
    hub.limiter = LoginLimiter()
    try:
        with env.client() as http:
            token = http.get("/login").cookies["treadle_login_csrf"]
            for _ in range(5):
                form = {"csrf_token": token, "user": "editor", "password": "wrong-password"}
                failed = http.post("/login", data=form)
                assert failed.status_code == 401
                token = failed.cookies["treadle_login_csrf"]  # each form has a fresh token
            limited = http.post("/login", data={"csrf_token": token, "user": "editor", "password": PASSWORD})
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
            assert "treadle_session" not in limited.cookies
    finally:
        hub.limiter = LoginLimiter()


# --- CSRF for the UI's session cookie --------------------------------------------------------
def test_session_cookie_writes_need_the_csrf_token(env: Env) -> None:
    session = env.access.create_session("editor")
    with env.client(cookies={"treadle_session": session}) as http:
        assert http.get(f"/w/{WS}/").status_code == 200  # GETs need no token
        assert http.get(f"/w/{WS}/api/v1/blobs/{'0' * 64}").status_code == 404  # (signed in: no 401)
        posted_read = op(http, "tracking", "search_runs")
        assert posted_read.status_code == 403  # every cookie POST needs it, reads included
        refused = [unique("csrf"), unique("csrf")]
        missing = op(http, "tracking", "create_experiment", name=refused[0])
        assert missing.status_code == 403 and "CSRF" in missing.json()["error"]["message"]
        wrong = http.post(
            f"/w/{WS}/api/v1/tracking/create_experiment",
            json={"name": refused[1]},
            headers={"x-csrf-token": csrf_token(env.access.create_session("editor"))},  # another session's
        )
        assert wrong.status_code == 403
        name = unique("csrf")
        ok = http.post(
            f"/w/{WS}/api/v1/tracking/create_experiment",
            json={"name": name},
            headers={"x-csrf-token": csrf_token(session)},
        )
        assert ok.status_code == 200, ok.text
    with env.client("editor") as http:
        assert op(http, "tracking", "get_experiment_by_name", name=name).status_code == 200
        for never in refused:
            assert op(http, "tracking", "get_experiment_by_name", name=never).status_code == 404
    # a urlencoded form carries it as a field (what the UI's forms do)
    with env.client(cookies={"treadle_session": session}) as http:
        form = http.post("/logout", data={"csrf_token": "wrong"})
        assert form.status_code == 403
        assert env.access.check_session(session) is not None
        out = http.post("/logout", data={"csrf_token": csrf_token(session)})
        assert out.status_code == 303
    assert env.access.check_session(session) is None
    with env.client(cookies={"treadle_session": session}) as http:
        assert http.get(f"/w/{WS}/api/v1/blobs/{'0' * 64}").status_code == 401  # signed out


def test_bearer_requests_need_no_csrf_token_even_with_a_cookie(env: Env) -> None:
    session = env.access.create_session("viewer")
    with env.client("editor", cookies={"treadle_session": session}) as http:
        answer = op(http, "tracking", "create_experiment", name=unique("bearer"))
    assert answer.status_code == 200  # the header decides; the (viewer's) cookie is ignored


# --- the audit log ----------------------------------------------------------------------------
def test_writes_are_audited_reads_are_not(env: Env) -> None:
    before = env.access.list_audit(limit=1)
    since = before[0].id if before else 0
    name = unique("audited")
    with env.client("editor") as http:
        assert op(http, "tracking", "create_experiment", name=name).status_code == 200
        assert op(http, "tracking", "search_runs").status_code == 200
        assert http.get(f"/w/{WS}/").status_code == 200
    with env.client("viewer") as http:
        assert op(http, "tracking", "create_experiment", name=unique("denied")).status_code == 403
        assert op(http, "tracking", "search_runs").status_code == 200
    with env.client("root") as http:
        assert op(http, "access", "create_token", workspace=None, name="audited").status_code == 200
        assert op(http, "access", "list_tokens", workspace=None).status_code == 200
    new = [e for e in env.access.list_audit(limit=100) if e.id > since]
    seen = sorted((e.user, e.workspace, e.operation, e.status, e.method) for e in new)
    assert seen == [
        ("editor", WS, "tracking.create_experiment", 200, "POST"),
        ("root", "*", "access.create_token", 200, "POST"),  # server-level: workspace "*"
        ("viewer", WS, "tracking.create_experiment", 403, "POST"),
    ]
    entry = next(e for e in new if e.user == "editor")
    assert entry.path == f"/w/{WS}/api/v1/tracking/create_experiment" and entry.remote == "127.0.0.1"
    # a workspace admin reads their workspace's audit log through the API
    with env.client("wsadmin") as http:
        listed = http.post("/api/v1/access/list_audit", json={"workspace": WS})
    assert listed.status_code == 200
    assert {e["workspace"] for e in listed.json()} == {WS}


# --- secrets never reach the logs -------------------------------------------------------------
def test_credentials_are_never_logged(
    env: Env, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "propagate", True)
        monkeypatch.setattr(logger, "level", logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    session = env.access.create_session("editor")
    bad_password = "wrong-but-still-secret-pw"
    fake_token = "tdl_" + "Z" * 43
    secrets = [PASSWORD, bad_password, fake_token, session, csrf_token(session), *env.tokens.values()]
    with env.client(basic=f"editor:{PASSWORD}") as http:
        assert op(http, "tracking", "search_runs").status_code == 200
        created = op(http, "access", "create_token", workspace=None, name="logged?")
        secrets.append(created.json()["secret"])
        user_password = "a-new-users-password"
        secrets.append(user_password)
    with env.client("root") as http:
        assert op(http, "access", "create_user", workspace=None, name=unique("u"), password=user_password).is_success
        assert op(http, "access", "create_user", workspace=None, name="x y", password=user_password).status_code == 400
    with env.client(basic=f"editor:{bad_password}") as http:
        assert op(http, "tracking", "search_runs").status_code == 401
    for token in (fake_token, env.tokens["editor"]):
        with env.client(headers={"authorization": f"Bearer {token}"}) as http:
            op(http, "tracking", "create_experiment", name=unique("log"))
    with env.client(cookies={"treadle_session": session}) as http:
        assert op(http, "tracking", "create_experiment", name=unique("log")).status_code == 403
    env.app.state.hub.limiter = LoginLimiter()
    logged = caplog.text + "".join(repr(r.__dict__) for r in caplog.records)
    out, err = capfd.readouterr()
    assert caplog.records, "nothing was logged at all: the check would prove nothing"
    for secret in secrets:
        for where in (logged, out, err):
            assert secret not in where
            assert base64.b64encode(f"editor:{secret}".encode()).decode() not in where


# --- the policy table ------------------------------------------------------------------------
def _all_operations() -> dict[str, dict[str, str]]:
    """Every operation of every mounted service: capability -> operation -> the role it needs."""
    found: dict[str, dict[str, str]] = {}
    for tp in typing.get_type_hints(Backend).values():
        if isinstance(tp, type) and hasattr(tp, "capability"):
            found[tp.capability] = {name: operation_need(tp.capability, name) for name in operations(tp)}
    return found


WRITE_PREFIXES = (
    "create_",
    "delete_",
    "set_",
    "update_",
    "log_",
    "add_",
    "remove_",
    "record_",
    "revoke_",
    "purge_",
    "apply_",
    "approve_",
    "reject_",
    "archive_",
    "restore_",
    "register_",
    "mark_",
    "append_",
    "put_",
    "push",
    "materialize",
    "promote",
    "rollback",
    "fire",
    "trigger",
    "claim_",
    "finish_",
    "start_",
    "cancel_",
    "resume_",
    "end_",
    "acquire_",
    "release_",
)

# Every operation a viewer may call, listed so that a reviewer sees each one (and a new read-only
# operation shows up here when it is added).
VIEWER_OPERATIONS = {
    "access": {"get_user", "get_workspace", "list_audit", "list_members", "list_tokens", "list_users"}
    | {"list_workspaces", "whoami"},
    "artifacts": {"list_files", "stat"},
    "datasets": {"diff", "file_index", "get_dataset", "list_files", "list_versions", "missing_blobs", "resolve"}
    | {"sample", "search", "usage"},
    "events": {"read"},
    "features": {"freshness", "get_entity", "get_online_features", "get_view", "list_entities", "list_views"}
    | {"skew_check", "view_versions"},
    "lineage": {"downstream", "find_node", "get_node", "list_nodes", "subgraph", "upstream"},
    "monitors": {"alert_states", "count_labels", "due_monitors", "get_labels", "get_monitor", "list_monitors"}
    | {"list_windows"},
    "pipelines": {"find_cached", "get_pipeline", "get_run", "get_run_detail", "list_pipelines", "list_queued"}
    | {"list_runs"},
    "registry": {"get_alias_history", "get_model", "get_version", "get_version_by_alias", "get_version_needs"}
    | {"list_aliases", "list_version_files", "resolve_version", "search_models", "search_versions"},
    "rollout": {"bandit_state", "deployment_history", "get_deployment", "get_stats", "list_deployments"}
    | {"list_log_parts"},
    "schedules": {"get_schedule", "list_schedules", "verify_webhook"},
    "tracking": {"get_experiment", "get_experiment_by_name", "get_metric_history", "get_run", "list_artifacts"}
    | {"list_experiments", "search_runs"},
    "tuning": {"get_study", "list_studies", "read_logs"},
    "webhooks": {"list_deliveries", "list_webhooks"},
}


def test_every_operation_is_classified_and_no_write_is_a_read() -> None:
    found = _all_operations()
    assert set(found) >= {"tracking", "registry", "datasets", "rollout", "access", "artifacts"}
    for capability, ops in found.items():
        for name, need in ops.items():
            assert need in ("viewer", "editor", "admin"), (capability, name, need)
            if name.startswith(WRITE_PREFIXES):
                assert need != "viewer", f"{capability}.{name} writes but a viewer may call it"
    reads = {cap: {name for name, need in ops.items() if need == "viewer"} for cap, ops in found.items()}
    assert {cap: names for cap, names in reads.items() if names} == VIEWER_OPERATIONS


def test_policy_lists_name_real_operations() -> None:
    found = _all_operations()
    for key in READ_OPERATIONS | ADMIN_OPERATIONS:
        capability, name = key.split(".")
        assert name in found.get(capability, {}), f"the policy names {key}, which no service has"
    assert found["artifacts"]["gc"] == "admin" and found["registry"]["approve_version"] == "admin"


@pytest.mark.parametrize(
    ("method", "path", "need"),
    [
        ("GET", "/health", "public"),
        ("GET", "/login", "public"),
        ("POST", "/login", "public"),
        ("GET", "/static/app.css", "public"),
        ("POST", "/pipelines/nightly/trigger", "public"),
        ("POST", "/logout", "signed-in"),
        ("POST", "/api/v1/access/create_token", "signed-in"),
        ("POST", "/api/v1/tracking/search_runs", "viewer"),
        ("POST", "/api/v1/tracking/create_experiment", "editor"),
        ("POST", "/api/v1/artifacts/gc", "admin"),
        ("POST", "/api/v1/no_such/thing", "editor"),  # unknown: a write
        ("POST", "/api/v1/tracking/get_run/extra", "editor"),
        ("GET", "/api/v1/blobs/" + "0" * 64, "viewer"),
        ("HEAD", "/api/v1/blobs/" + "0" * 64, "viewer"),
        ("PUT", "/api/v1/blobs/" + "0" * 64, "editor"),
        ("POST", "/api/v1/blobs/" + "0" * 64, "editor"),
        ("POST", "/api/2.0/mlflow/runs/search", "viewer"),
        ("POST", "/api/2.0/mlflow/runs/create", "editor"),
        ("POST", "/api/2.0/mlflow/runs/log-batch", "editor"),
        ("POST", "/api/2.0/mlflow/registered-models/create", "editor"),
        ("GET", "/api/2.0/mlflow/registered-models/search", "viewer"),
        ("POST", "/api/2.0/mlflow/registered-models/get-latest-versions", "viewer"),  # MlflowClient POSTs it
        ("POST", "/api/2.0/mlflow/registered-models/rename", "editor"),
        ("PUT", "/api/2.0/mlflow-artifacts/artifacts/x/y", "editor"),
        ("DELETE", "/api/2.0/mlflow-artifacts/artifacts/x/y", "editor"),
        ("GET", "/models", "viewer"),
        ("POST", "/models/m/versions/1/approval", "admin"),
        ("POST", "/deployments/d/rollback", "editor"),
        ("POST", "/features/online", "viewer"),
    ],
)
def test_required_role_per_route(method: str, path: str, need: str) -> None:
    assert required(method, path) == need


def test_every_mounted_route_needs_a_role_or_is_public(env: Env) -> None:
    from fastapi.routing import APIRoute

    for route in env.app.routes:
        if not isinstance(route, APIRoute):
            continue
        for method in route.methods or ():
            need = required(method, route.path)
            if route.path.startswith("/api/v1/") and method == "POST" and route.path.count("/") == 4:
                capability, name = route.path.split("/")[3:5]
                expected = "signed-in" if capability == "access" else operation_need(capability, name)
                assert need == expected, route.path
            elif need == "public":
                assert route.path in {"/health", "/version", "/login", "/openapi.json", "/docs", "/redoc"} or (
                    route.path.endswith("/trigger") or route.path.startswith("/docs")
                ), f"{method} {route.path} is public"


# --- no workspace name leaks to someone without a role -----------------------------------------
@pytest.mark.parametrize("path", ["/health", "/version", "/openapi.json", "/docs", "/", "/api/v1/blobs/" + "0" * 64])
def test_anonymous_cannot_tell_whether_a_workspace_exists(env: Env, path: str) -> None:
    with env.client() as http:
        real, ghost = http.get(f"/w/{WS}{path}"), http.get(f"/w/ghost{path}")
    assert real.status_code == ghost.status_code == 401
    assert real.json() == ghost.json()


def test_shared_routes_under_a_workspace(env: Env) -> None:
    with env.client() as http:
        for ws in (WS, "ghost"):
            assert http.get(f"/w/{ws}/static/treadle.css").status_code == 200  # the login page's assets
            assert http.get(f"/w/{ws}/login").status_code == 200
    with env.client("viewer") as http:
        assert http.get(f"/w/{WS}/health").json() == {"status": "ok"}
        assert (
            http.get("/w/ghost/health").status_code == 403
        )  # the same as for a real one of which they are not a member
    with env.client("outsider") as http:
        assert http.get(f"/w/{WS}/health").status_code == 403
