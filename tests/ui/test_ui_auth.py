"""The UI with sign-in and workspaces, over HTTP (no browser): what every page gets in its context
(user, sign-out, CSRF token on every form, the workspace switcher, nav highlighting under
``/w/<workspace>``), how the gateway's refusals look to a page and to htmx, and who UI changes are
recorded as."""

from __future__ import annotations

import re
import uuid
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from tests.ui.helpers import Seeded, log_model_files
from treadle import Client
from treadle.access import ANONYMOUS, Principal
from treadle.server import create_app
from treadle.ui._render import page_context

PASSWORD = "correct-horse-1"
HTML = {"accept": "text/html"}


class Forms(HTMLParser):
    """Every <form> of a page: its method, action and the hidden csrf_token value (None: absent)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"method": (a.get("method") or "get").lower(), "action": a.get("action"), "csrf": None})
        elif tag == "input" and a.get("name") == "csrf_token" and self.forms:
            self.forms[-1]["csrf"] = a.get("value")


def forms_of(html: str) -> list[dict[str, Any]]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


def sign_in(c: TestClient, user: str, password: str = PASSWORD, next_: str = "/") -> Any:
    page = c.get("/login", params={"next": next_})
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    return c.post(
        "/login",
        data={"user": user, "password": password, "csrf_token": token.group(1), "next": next_},
        follow_redirects=False,
    )


def fresh_model(data: Seeded, workspace: str | None = None) -> str:
    client = Client(uri=data.uri, artifacts=data.artifacts, workspace=workspace)
    run = client.tracking.create_run(client.create_experiment(f"e-{uuid.uuid4().hex[:6]}").id).id
    name = f"m-{uuid.uuid4().hex[:8]}"
    uri = log_model_files(client, run)
    for _ in range(2):
        client.registry.create_version(name, uri)
    return name


@pytest.fixture(scope="module")
def app(data: Seeded) -> Any:
    app = create_app(uri=data.uri, artifacts=data.artifacts, auth=True)
    access = app.state.hub.access
    for name, admin in (("vera", False), ("eddie", False), ("ada", False), ("root", True)):
        access.create_user(name, password=PASSWORD, admin=admin)
    access.create_workspace("team-a")
    access.create_workspace("team-b")
    access.set_member("default", "vera", "viewer")
    access.set_member("default", "eddie", "editor")
    access.set_member("team-a", "eddie", "editor")
    access.set_member("default", "ada", "admin")
    Client(uri=data.uri, artifacts=data.artifacts, workspace="team-a").create_experiment("team-a-exp")
    return app


@pytest.fixture
def as_user(app: Any) -> Any:
    """``as_user(name)``: a TestClient (cookies of its own) signed in as ``name``."""

    def make(name: str) -> TestClient:
        c = TestClient(app)
        assert sign_in(c, name).status_code == 303
        return c

    return make


def csrf_of(html: str) -> str:
    found = re.search(r'hx-headers:inherited=\'\{"X-CSRF-Token": "([0-9a-f]+)"\}\'', html)
    assert found is not None, "the body carries no CSRF header for htmx"
    return found.group(1)


# --- the render context ------------------------------------------------------------------------


def request_for(path: str, root_path: str = "", state: dict[str, Any] | None = None) -> Request:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": path,
        "root_path": root_path,
        "headers": [],
        "query_string": b"",
    }
    if state is not None:
        scope["state"] = state
    return Request(scope)


def test_page_context_without_gateway_state() -> None:
    ctx = page_context(request_for("/models/churn"))
    assert (ctx["root"], ctx["site"], ctx["path"]) == ("", "", "/models/churn")
    assert (ctx["csrf"], ctx["principal"], ctx["auth"], ctx["workspace"]) == ("", None, False, "default")
    assert ctx["workspaces"]() == []  # no app, no access service: nothing to list


def test_page_context_under_a_workspace_prefix() -> None:
    alice = Principal(user="alice", admin=False, via="session")
    state = {"principal": alice, "workspace": "team-a", "auth": True, "csrf_token": "abc"}
    ctx = page_context(request_for("/proxy/w/team-a/models", "/proxy/w/team-a", state))
    assert ctx["root"] == "/proxy/w/team-a"
    assert ctx["site"] == "/proxy"  # /login, /logout and the other workspaces hang off the server's root
    assert ctx["path"] == "/models"  # relative to root: what the nav highlights
    assert (ctx["csrf"], ctx["principal"], ctx["auth"], ctx["workspace"]) == ("abc", alice, True, "team-a")
    assert page_context(request_for("/w/team-a", "/w/team-a", state))["path"] == "/"


def test_page_context_with_the_workspace_in_a_header_keeps_root() -> None:
    ctx = page_context(request_for("/models", "", {"principal": ANONYMOUS, "workspace": "team-a", "auth": False}))
    assert (ctx["root"], ctx["site"], ctx["path"]) == ("", "", "/models")


# --- pages when signed in ----------------------------------------------------------------------


def test_signed_in_page_shows_user_sign_out_and_csrf(as_user: Any) -> None:
    c = as_user("vera")
    page = c.get("/", headers=HTML)
    assert page.status_code == 200
    assert re.search(r'id="signed-in-as"[^>]*>vera<', page.text)
    token = csrf_of(page.text)
    signout = [f for f in forms_of(page.text) if f["action"] == "/logout"]
    assert signout == [{"method": "post", "action": "/logout", "csrf": token}]


def test_every_post_form_carries_the_csrf_token(as_user: Any, data: Seeded) -> None:
    c = as_user("eddie")
    for path in ("/models/churn", "/models/fraud"):
        page = c.get(path, headers=HTML)
        token = csrf_of(page.text)
        posts = [f for f in forms_of(page.text) if f["method"] == "post"]
        assert len(posts) >= 3  # approval forms, the alias form, sign out
        assert all(f["csrf"] == token for f in posts), posts


def test_nav_highlights_under_a_workspace(as_user: Any) -> None:
    c = as_user("eddie")
    page = c.get("/w/team-a/models", headers=HTML)
    assert page.status_code == 200
    current = re.findall(r'<a href="([^"]+)" aria-current="page">', page.text)
    assert current == ["/w/team-a/models"]
    assert 'action="/logout"' in page.text  # sign out lives on the root app: no /w prefix


def test_switcher_lists_only_the_callers_workspaces(as_user: Any) -> None:
    page = as_user("eddie").get("/w/team-a/", headers=HTML).text
    switcher = re.search(r'<details class="workspaces" id="workspace-switcher">.*?</details>', page, re.S)
    assert switcher is not None
    links = re.findall(r'<a href="([^"]+)"( aria-current="true")?>([^<]+)</a>', switcher.group(0))
    assert links == [("/", "", "default"), ("/w/team-a/", ' aria-current="true"', "team-a")]
    assert "team-a-exp" in page

    viewer = as_user("vera").get("/", headers=HTML).text  # in default only: nothing to switch to
    assert 'id="workspace-switcher"' not in viewer
    admin = as_user("root").get("/", headers=HTML).text  # a server admin uses every workspace
    assert re.findall(r'<li><a href="[^"]+"[^>]*>([^<]+)</a></li>', admin) == ["default", "team-a", "team-b"]


def test_login_page_has_no_nav_or_account(app: Any) -> None:
    with TestClient(app) as c:
        page = c.get("/login")
    assert page.status_code == 200
    assert "<nav>" not in page.text and 'id="workspace-switcher"' not in page.text
    assert 'class="login-form"' in page.text and 'autocomplete="current-password"' in page.text


# --- refusals as a page sees them --------------------------------------------------------------


def test_viewer_form_post_gets_a_403_page(as_user: Any) -> None:
    c = as_user("vera")
    token = csrf_of(c.get("/models/churn", headers=HTML).text)
    plain = c.post("/models/churn/aliases", data={"alias": "x", "version": "1", "csrf_token": token}, headers=HTML)
    assert plain.status_code == 403
    assert plain.headers["content-type"].startswith("text/html")
    assert "<h1>Not allowed</h1>" in plain.text and "needs the editor role" in plain.text
    assert re.search(r'id="signed-in-as"[^>]*>vera<', plain.text)  # still shows who you are

    htmx = c.post(
        "/models/churn/aliases",
        data={"alias": "x", "version": "1"},
        headers={**HTML, "hx-request": "true", "x-csrf-token": token},
    )
    assert htmx.status_code == 403
    assert (htmx.headers["hx-retarget"], htmx.headers["hx-reswap"]) == ("#notice", "innerHTML")
    assert htmx.text.startswith('<div class="alert denied" role="alert" id="denied">this needs the editor role')

    api = c.post("/api/v1/registry/set_alias", json={}, headers={"x-csrf-token": token})
    assert api.status_code == 403 and api.json()["error"]["code"] == "FORBIDDEN"  # the API still answers JSON


def test_a_workspace_you_are_not_in_is_a_403_page(as_user: Any) -> None:
    page = as_user("vera").get("/w/team-b/", headers=HTML)
    assert page.status_code == 403
    assert "has no role in workspace" in page.text and "<h1>Not allowed</h1>" in page.text
    assert "team-b" not in re.findall(r"<li><a[^>]*>([^<]+)</a></li>", page.text)


def test_htmx_without_a_session_is_sent_to_login(app: Any) -> None:
    with TestClient(app) as c:
        r = c.post(
            "/w/team-a/models/churn/aliases",
            data={"alias": "x"},
            headers={**HTML, "hx-request": "true", "hx-current-url": "http://testserver/w/team-a/models/churn"},
        )
    assert r.status_code == 401
    assert r.headers["hx-redirect"] == "/login?next=/w/team-a/models/churn"


# --- changes made through the UI ---------------------------------------------------------------


def test_changes_are_recorded_as_the_signed_in_user(as_user: Any, data: Seeded) -> None:
    name = fresh_model(data)
    c = as_user("eddie")
    token = csrf_of(c.get(f"/models/{name}", headers=HTML).text)
    r = c.post(f"/models/{name}/aliases", data={"alias": "champion", "version": "1", "csrf_token": token})
    assert r.status_code == 200  # followed the 303 back to the model page
    moves = Client(uri=data.uri, artifacts=data.artifacts).registry.get_alias_history(name)
    assert [(m.alias, m.actor) for m in moves] == [("champion", "eddie")]


def test_protecting_an_alias_takes_a_workspace_admin(as_user: Any, data: Seeded) -> None:
    name = fresh_model(data)
    registry = Client(uri=data.uri, artifacts=data.artifacts).registry
    registry.approve_version(name, 1)  # only an approved version's alias can be protected
    registry.set_alias(name, "champion", 1)
    form = {"alias": "champion", "action": "protect"}

    editor = as_user("eddie")
    token = csrf_of(editor.get(f"/models/{name}", headers=HTML).text)
    refused = editor.post(f"/models/{name}/aliases", data={**form, "csrf_token": token}, headers=HTML)
    assert refused.status_code == 403 and "Only an admin of this workspace can protect an alias." in refused.text
    assert not registry.list_aliases(name)[0].protected

    admin = as_user("ada")
    token = csrf_of(admin.get(f"/models/{name}", headers=HTML).text)
    done = admin.post(f"/models/{name}/aliases", data={**form, "csrf_token": token})
    assert done.status_code == 200
    assert registry.list_aliases(name)[0].protected


# --- without sign-in ---------------------------------------------------------------------------


def test_auth_off_pages_have_no_account_but_switch_workspaces(data: Seeded, app: Any) -> None:
    with TestClient(create_app(uri=data.uri, artifacts=data.artifacts, auth=False)) as c:
        page = c.get("/", headers=HTML).text
        inside = c.get("/w/team-a/models", headers=HTML).text
    assert 'id="signed-in-as"' not in page and "/logout" not in page and "hx-headers" not in page
    assert re.findall(r'<li><a href="([^"]+)"', page) == ["/", "/w/team-a/", "/w/team-b/"]
    assert re.findall(r'<a href="([^"]+)" aria-current="page">', inside) == ["/w/team-a/models"]
    assert re.search(r'class="current">team-a<', inside)
