"""Regressions from a security review of access control, each against a real server with auth on:
a server ``root_path`` must not hide admin routes, malformed credentials are refused (never a 500),
Basic credentials a browser saved cannot be used by another site's page, the MLflow read table
cannot be steered by a path field, and an editor cannot get around a protected alias."""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from treadle import Client
from treadle.access import AccessService, Role, csrf_token
from treadle.server import create_app
from treadle.server._policy import required
from treadle.testing.server import free_port, serve, wait_until_up
from treadle.tracking import InputRef

PASSWORD = "review-Password-0f-everyone"
WS = "team"
ROLES: dict[str, Role | None] = {"root": None, "editor": "editor", "viewer": "viewer"}


@dataclass
class Env:
    url: str
    uri: str
    artifacts: str
    access: AccessService
    tokens: dict[str, str]

    def http(self, user: str | None = None, **kw: Any) -> httpx.Client:
        headers = dict(kw.pop("headers", {}))
        if user is not None:
            headers["authorization"] = f"Bearer {self.tokens[user]}"
        return httpx.Client(base_url=self.url, headers=headers, **kw)


def _setup(uri: str, artifacts: str) -> tuple[Any, AccessService, dict[str, str]]:
    app = create_app(uri, artifacts, auth=True)
    access: AccessService = app.state.hub.access
    access.create_workspace(WS)
    tokens = {}
    for user, role in ROLES.items():
        access.create_user(user, PASSWORD, admin=user == "root")
        if role is not None:
            access.set_member("default", user, role)
            access.set_member(WS, user, role)
        tokens[user] = access.create_token("review", user=user).secret
    return app, access, tokens


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("review")
    uri, artifacts = f"sqlite:///{root / 'main.db'}", str(root / "art")
    app, access, tokens = _setup(uri, artifacts)
    with serve(app) as url:
        yield Env(url, uri, artifacts, access, tokens)


def basic(user: str, secret: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --- a server root_path must not change what a route needs --------------------------------------
@pytest.fixture(scope="module")
def prefixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """The server as `uvicorn --root-path /treadle` runs it behind a proxy that strips the prefix:
    uvicorn puts the root path in front of every request path."""
    root = tmp_path_factory.mktemp("prefixed")
    uri, artifacts = f"sqlite:///{root / 'main.db'}", str(root / "art")
    app, access, tokens = _setup(uri, artifacts)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", root_path="/treadle")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url)  # /health is public again: it is found below the root path
        yield Env(url, uri, artifacts, access, tokens)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize("prefix", ["", f"/w/{WS}"])
def test_admin_operations_stay_admin_under_a_root_path(prefixed: Env, prefix: str) -> None:
    with prefixed.http("editor") as http:
        assert http.post(f"{prefix}/api/v1/tracking/create_experiment", json={"name": unique("e")}).status_code == 200
        for operation in ("tracking/purge_runs", "artifacts/gc", "webhooks/list_webhooks"):
            answer = http.post(f"{prefix}/api/v1/{operation}", json={})
            if operation.startswith("webhooks"):
                assert answer.status_code == 200  # a read stays a viewer's
            else:
                assert answer.status_code == 403, (operation, answer.text)
                assert "admin role" in answer.json()["error"]["message"]
    with prefixed.http("viewer") as http:
        denied = http.post(f"{prefix}/api/v1/tracking/create_experiment", json={"name": unique("v")})
        assert denied.status_code == 403
    with prefixed.http("root") as http:
        assert http.post(f"{prefix}/api/v1/tracking/purge_runs", json={}).status_code == 200
    entries = prefixed.access.list_audit(user="editor", limit=20)
    assert f"{prefix}/api/v1/tracking/purge_runs" in {e.path for e in entries if e.status == 403}


@pytest.mark.parametrize("prefix", ["", f"/w/{WS}"])
def test_mlflow_endpoints_under_a_root_path(prefixed: Env, prefix: str) -> None:
    """The MLflow endpoints skip FastAPI's router (server.mlflow.MlflowLane): they must still be found
    below a root path and a workspace prefix, and still be refused to a viewer."""
    name = unique("mlflow")
    with prefixed.http("editor") as http:
        made = http.post(f"{prefix}/api/2.0/mlflow/experiments/create", json={"name": name})
        assert made.status_code == 200, made.text
        found = http.get(f"{prefix}/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": name})
        assert found.json()["experiment"]["experiment_id"] == made.json()["experiment_id"]
        missing = http.get(f"{prefix}/api/2.0/mlflow/no/such/endpoint")
        assert missing.status_code == 404 and missing.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    with prefixed.http("viewer") as http:
        refused = http.post(f"{prefix}/api/2.0/mlflow/experiments/create", json={"name": unique("v")})
        assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"


def test_mlflow_handlers_run_with_the_callers_context() -> None:
    import asyncio
    import contextvars

    from treadle.server.mlflow import in_thread

    caller: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="nobody")

    async def request() -> tuple[str, bool]:
        caller.set("editor")  # as the gateway does before the app runs
        return await in_thread(lambda: (caller.get(), threading.current_thread() is threading.main_thread()))

    assert asyncio.run(request()) == ("editor", False)


def test_public_pages_and_sign_out_under_a_root_path(prefixed: Env) -> None:
    with prefixed.http() as http:
        assert http.get("/health").json() == {"status": "ok"}
        login = http.get("/login")
        assert login.status_code == 200 and 'action="/treadle/login"' in login.text
        page = http.get("/models", headers={"accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "/treadle/login?next=/treadle/models"
    session = prefixed.access.create_session("editor")
    with prefixed.http(cookies={"treadle_session": session}) as http:
        out = http.post("/logout", data={"csrf_token": csrf_token(session)})
    assert out.status_code == 303 and out.headers["location"] == "/treadle/login"
    assert prefixed.access.check_session(session) is None
    with prefixed.http() as http:  # signing in without a `next` lands on the UI below the root path
        token = http.get("/login").cookies["treadle_login_csrf"]
        signed = http.post("/login", data={"csrf_token": token, "user": "viewer", "password": PASSWORD})
        assert signed.status_code == 303 and signed.headers["location"] == "/treadle/"
        for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            token = http.get("/login").cookies["treadle_login_csrf"]
            form = {"csrf_token": token, "user": "viewer", "password": PASSWORD, "next": evil}
            assert http.post("/login", data=form).headers["location"] == "/treadle/"


# --- malformed credentials are refused, never a 500 --------------------------------------------
@pytest.mark.parametrize(
    "authorization",
    [
        b"Basic \xe9\xe9\xe9\xe9",  # not ASCII: base64 refuses it with a ValueError
        b"Basic " + base64.b64encode(b"\xff\xfe:password"),  # not UTF-8
        b"Basic " + base64.b64encode(b"nocolon"),
        b"Basic",
        b"Bearer",
        b"Bearer \xe9",
        b"Basic " + base64.b64encode(b"u:" + b"x" * 20_000),
    ],
)
def test_malformed_authorization_is_401(env: Env, authorization: bytes) -> None:
    with env.http() as http:
        answer = http.post("/api/v1/tracking/search_runs", json={}, headers={b"authorization": authorization})
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "UNAUTHORIZED"


def test_non_ascii_csrf_tokens_are_403(env: Env) -> None:
    session = env.access.create_session("editor")
    with env.http(cookies={"treadle_session": session}) as http:
        header = http.post(
            "/api/v1/tracking/create_experiment", json={"name": unique("c")}, headers={b"x-csrf-token": b"\xe9t\xe9"}
        )
        assert header.status_code == 403 and "CSRF" in header.json()["error"]["message"]
        form = http.post(
            "/api/v1/tracking/create_experiment",
            content="csrf_token=%C3%A9t%C3%A9",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert form.status_code == 403 and "CSRF" in form.json()["error"]["message"]
        good = http.post(
            "/api/v1/tracking/create_experiment",
            json={"name": unique("c")},
            headers={"x-csrf-token": csrf_token(session)},
        )
        assert good.status_code == 200


def test_non_ascii_login_csrf_is_refused_with_the_form(env: Env) -> None:
    for cookie, field in ((b"\xe9", "abc"), (b"abc", "\u00e9t\u00e9")):
        with env.http() as http:
            answer = http.post(
                "/login",
                data={"csrf_token": field, "user": "editor", "password": PASSWORD},
                headers={b"cookie": b"treadle_login_csrf=" + cookie},
            )
        assert answer.status_code == 403 and "the form expired" in answer.text
        assert "treadle_session" not in answer.cookies


def test_nul_in_names_and_paths_on_postgresql(pg_url: str, tmp_path: Any) -> None:
    """PostgreSQL text cannot hold NUL: a user name or a path with one must not reach a query."""
    app, access, tokens = _setup(pg_url, str(tmp_path / "art"))
    with serve(app) as url:
        with httpx.Client(base_url=url) as http:
            answer = http.post("/api/v1/tracking/search_runs", json={}, headers=basic("edi\x00tor", PASSWORD))
            assert answer.status_code == 401 and "wrong user name or password" in answer.text
        headers = {"authorization": f"Bearer {tokens['editor']}"}
        with httpx.Client(base_url=url, headers=headers) as http:
            missing = http.post("/api/v1/tracking/create_experiment%00", json={"name": "x"})
            assert missing.status_code == 404
    entries = access.list_audit(user="editor", limit=5)
    assert entries and entries[0].path == "/api/v1/tracking/create_experiment\\x00"
    assert entries[0].status == 404


# --- Basic credentials a browser saved cannot be used by another site ----------------------------
@pytest.mark.parametrize(
    "browser",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site", "origin": "https://other.example"},
    ],
)
def test_cross_site_writes_with_basic_credentials_are_refused(env: Env, browser: dict[str, str]) -> None:
    name = unique("csrf-basic")
    body = f'{{"name": "{name}"}}'
    with env.http(headers={**basic("editor", PASSWORD), **browser, "content-type": "text/plain"}) as http:
        forged = http.post("/api/2.0/mlflow/experiments/create", content=body)
        assert forged.status_code == 403 and forged.json()["error_code"] == "PERMISSION_DENIED"
        assert "another site" in forged.json()["message"]
        forged_v1 = http.post("/api/v1/tracking/create_experiment", content=body)
        assert forged_v1.status_code == 403
        assert http.post("/api/v1/tracking/search_runs", json={}).status_code == 403  # any non-GET
        assert http.get("/api/2.0/mlflow/experiments/search").status_code == 200  # reads are fine
    with env.http("editor") as http:
        found = http.get("/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": name})
    assert found.status_code == 404  # nothing was created


def test_basic_credentials_from_clients_and_same_origin_pages_still_write(env: Env) -> None:
    host = env.url.split("://", 1)[1]
    for extra in ({}, {"origin": env.url, "sec-fetch-site": "same-origin"}):
        with env.http(headers={**basic("editor", PASSWORD), **extra}) as http:
            made = http.post("/api/2.0/mlflow/experiments/create", json={"name": unique("ok")})
            assert made.status_code == 200, made.text
    # a token is never sent by a browser on its own: another site's page cannot use one
    with env.http("editor", headers={"origin": "https://evil.example", "host": host}) as http:
        assert http.post("/api/2.0/mlflow/experiments/create", json={"name": unique("tok")}).status_code == 200


# --- the MLflow read table cannot be steered by a path field -------------------------------------
def test_mlflow_write_with_a_search_like_field_is_a_write(env: Env) -> None:
    path = "/api/2.0/mlflow/logged-models/search-anything/params"
    assert required("POST", path) == "editor"
    assert required("POST", "/api/2.0/mlflow/runs/search") == "viewer"
    with env.http("viewer") as http:
        answer = http.post(path, json={"params": [{"key": "k", "value": "v"}]})
    assert answer.status_code == 403 and answer.json()["error_code"] == "PERMISSION_DENIED"


# --- an editor cannot get around a protected alias -----------------------------------------------
def _registered(env: Env) -> str:
    """A model with an approved v1 that holds the protected alias ``prod``, and an unapproved v2."""
    local = Client(env.uri, env.artifacts)
    name = unique("guarded")
    for _ in range(2):
        exp = local.tracking.create_experiment(unique("reg"))
        run = local.tracking.create_run(exp.id)
        local.log_text(run.id, "flavor: python\nrequirements: []\n", "model/treadle-model.yaml")
        local.log_bytes(run.id, uuid.uuid4().bytes, "model/model.pkl")
        local.tracking.log_inputs(run.id, [InputRef(uri="s3://data/train.parquet", name="train")])
        local.registry.create_version(name, f"runs:/{run.id}/model")
    local.registry.approve_version(name, 1, actor="lead")
    local.registry.set_alias(name, "prod", 1)
    local.registry.protect_alias(name, "prod")
    return name


def _prod(env: Env, name: str) -> tuple[int | None, bool]:
    alias = next(a for a in Client(env.uri, env.artifacts).registry.list_aliases(name) if a.alias == "prod")
    return alias.version, alias.protected


def test_deleting_a_protected_alias_keeps_its_protection(env: Env) -> None:
    name = _registered(env)
    with env.http("editor") as http:
        moved = http.post("/api/v1/registry/set_alias", json={"name": name, "alias": "prod", "version": 2})
        assert moved.status_code == 400 and "protected" in moved.text
        assert http.post("/api/v1/registry/delete_alias", json={"name": name, "alias": "prod"}).status_code == 200
        assert _prod(env, name) == (None, True)
        again = http.post("/api/v1/registry/set_alias", json={"name": name, "alias": "prod", "version": 2})
        assert again.status_code == 400 and "protected" in again.text
        # the MLflow API the same way
        via_mlflow = http.post(
            "/api/2.0/mlflow/registered-models/alias", json={"name": name, "alias": "prod", "version": "2"}
        )
        assert via_mlflow.status_code == 400 and "protected" in via_mlflow.text
    assert _prod(env, name) == (None, True)
    with env.http("editor") as http:
        ok = http.post("/api/v1/registry/set_alias", json={"name": name, "alias": "prod", "version": 1})
    assert ok.status_code == 200 and _prod(env, name) == (1, True)  # the approved version may take it back


def test_a_model_with_protected_aliases_is_not_deleted(env: Env) -> None:
    name = _registered(env)
    with env.http("editor") as http:
        gone = http.post("/api/v1/registry/delete_model", json={"name": name})
        assert gone.status_code == 400 and "protected aliases prod" in gone.text
        mlflow_gone = http.request("DELETE", "/api/2.0/mlflow/registered-models/delete", json={"name": name})
        assert mlflow_gone.status_code == 400 and mlflow_gone.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert _prod(env, name) == (1, True)  # refused before any alias was touched
    with env.http("root") as http:  # an admin lifts the protection; then the model can go
        lifted = http.post("/api/v1/registry/protect_alias", json={"name": name, "alias": "prod", "protected": False})
        assert lifted.status_code == 200
    with env.http("editor") as http:
        assert http.post("/api/v1/registry/delete_model", json={"name": name}).status_code == 200
