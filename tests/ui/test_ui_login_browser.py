"""Sign-in, roles, CSRF and workspaces in headless Chromium, against a real server with auth on.
Set ``TREADLE_UI_SHOTS=<dir>`` to save screenshots."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.ui.helpers import Seeded, log_model_files, seed, shot
from treadle import Client
from treadle.server import create_app
from treadle.testing.server import serve

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "correct-horse-1"
# What Chromium logs for a fetch or page answered 4xx: expected where a test provokes a refusal.
REFUSED = re.compile(r"Failed to load resource: the server responded with a status of (401|403|429)")


@dataclass
class AuthServer:
    url: str
    data: Seeded
    access: Any  # the server's AccessService


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """A real server with auth on over a seeded store; users: vera (viewer), eddie (editor), wanda
    (viewer in default and team-a), lock (for the lock-out test); workspaces team-a and team-b."""
    data = seed(tmp_path_factory.mktemp("ui-login"))
    app = create_app(uri=data.uri, artifacts=data.artifacts, auth=True)
    access = app.state.hub.access
    for name in ("vera", "eddie", "wanda", "lock", "sam"):
        access.create_user(name, password=PASSWORD)
    access.create_workspace("team-a")
    access.create_workspace("team-b")
    for user, role in (("vera", "viewer"), ("eddie", "editor"), ("wanda", "viewer"), ("lock", "viewer")):
        access.set_member("default", user, role)
    access.set_member("default", "sam", "editor")
    access.set_member("team-a", "wanda", "viewer")
    team_a = Client(uri=data.uri, artifacts=data.artifacts, workspace="team-a")
    team_a.create_experiment("team-a-exp", description="only in team-a")
    Client(uri=data.uri, artifacts=data.artifacts, workspace="team-b").create_experiment("team-b-exp")
    with serve(app) as url:
        yield AuthServer(url, data, access)


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """``new_page()``: a page in a context (cookies) of its own; JavaScript errors fail the test, except
    the console lines Chromium writes for responses a test expects to be refused."""
    contexts: list[Any] = []
    errors: list[str] = []

    def make() -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "console", lambda m: errors.append(m.text) if m.type == "error" and not REFUSED.search(m.text) else None
        )
        page.set_default_timeout(10_000)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors: {errors}"


def sign_in(page: Any, user: str, password: str = PASSWORD) -> None:
    page.locator("#login-user").fill(user)
    page.locator("#login-password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def signed_in(page: Any, server: AuthServer, user: str, path: str = "/") -> Any:
    page.goto(server.url + path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    sign_in(page, user)
    expect(page.locator("#signed-in-as")).to_have_text(user)
    return page


def fresh_model(data: Seeded) -> str:
    client = Client(uri=data.uri, artifacts=data.artifacts)
    name = f"m-{uuid.uuid4().hex[:8]}"
    uri = log_model_files(client, data.model_run)
    for _ in range(2):
        client.registry.create_version(name, uri)
    return name


def registry(server: AuthServer) -> Any:
    return Client(uri=server.data.uri, artifacts=server.data.artifacts).registry


def test_sign_in_lands_on_the_page_asked_for(new_page: Any, server: AuthServer) -> None:
    page = new_page()
    page.goto(server.url + "/")
    expect(page).to_have_url(server.url + "/login?next=/")
    page.goto(server.url + "/models/churn")
    expect(page).to_have_url(server.url + "/login?next=/models/churn")
    expect(page.locator("h1")).to_have_text("Sign in to treadle")
    expect(page.locator("header nav")).to_have_count(0)  # nothing to browse before signing in
    shot(page, "login")

    sign_in(page, "vera", "not-her-password")
    expect(page.locator("#login-error")).to_have_text("wrong user name or password")
    expect(page).to_have_url(server.url + "/login")
    expect(page.locator("#login-user")).to_have_value("vera")  # kept; the password is not
    expect(page.locator("#login-password")).to_have_value("")
    shot(page, "login-wrong-password")

    sign_in(page, "vera")
    expect(page).to_have_url(server.url + "/models/churn")  # the `next` the form carried
    expect(page.locator("h1")).to_have_text("churn")
    expect(page.locator("#signed-in-as")).to_have_text("vera")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    shot(page, "signed-in")

    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["treadle_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["path"] == "/"
    assert "treadle_login_csrf" not in cookies  # the sign-in form's own token is dropped
    assert page.evaluate("document.cookie") == ""  # HttpOnly: scripts cannot read the session


def test_viewer_is_refused_a_change_an_editor_makes(new_page: Any, server: AuthServer) -> None:
    name = fresh_model(server.data)
    viewer = signed_in(new_page(), server, "vera", f"/models/{name}")
    expect(viewer).to_have_url(f"{server.url}/models/{name}")
    expect(viewer.locator("#versions tr[data-version]")).to_have_count(2)  # a viewer reads the registry
    form = viewer.locator("#alias-form")
    form.locator('input[name="alias"]').fill("champion")
    form.locator('select[name="version"]').select_option("1")
    with viewer.expect_response(lambda r: r.url.endswith("/aliases")) as answer:
        form.get_by_role("button", name="Set alias").click()
    assert answer.value.status == 403
    expect(viewer.locator("#notice #denied")).to_contain_text("this needs the editor role in workspace 'default'")
    expect(viewer.locator("#alias-form")).to_be_visible()  # the panel stays; the refusal shows above it
    shot(viewer, "viewer-refused")
    assert registry(server).list_aliases(name) == []

    editor = signed_in(new_page(), server, "eddie", f"/models/{name}")
    form = editor.locator("#alias-form")
    form.locator('input[name="alias"]').fill("champion")
    form.locator('select[name="version"]').select_option("1")
    form.locator('input[name="reason"]').fill("first good model")
    with editor.expect_request(lambda r: r.url.endswith("/aliases")) as sent:
        form.get_by_role("button", name="Set alias").click()
    token = form.locator('input[name="csrf_token"]').get_attribute("value")
    assert token and sent.value.headers.get("x-csrf-token") == token  # htmx sends it from <body hx-headers>
    expect(editor.locator("#flash")).to_have_text("champion now points at v1.")
    expect(editor.locator("#alias-history li").first).to_contain_text("eddie set champion → v1")
    expect(editor.locator("#notice #denied")).to_have_count(0)
    assert [(a.alias, a.version) for a in registry(server).list_aliases(name)] == [("champion", 1)]


def test_a_form_post_needs_the_sessions_csrf_token(new_page: Any, server: AuthServer) -> None:
    name = fresh_model(server.data)
    page = signed_in(new_page(), server, "sam", f"/models/{name}")
    token = page.locator('#alias-form input[name="csrf_token"]').get_attribute("value")
    assert token and re.fullmatch(r"[0-9a-f]{64}", token)
    target = f"{server.url}/models/{name}/aliases"
    fields = {"action": "set", "alias": "champion", "version": "1"}

    missing = page.request.post(target, form=fields, max_redirects=0)
    assert missing.status == 403 and "CSRF token" in missing.text()
    wrong_field = page.request.post(target, form={**fields, "csrf_token": "0" * 64}, max_redirects=0)
    assert wrong_field.status == 403
    wrong_header = page.request.post(target, form=fields, headers={"X-CSRF-Token": "0" * 64}, max_redirects=0)
    assert wrong_header.status == 403 and "does not match this session" in wrong_header.text()
    assert registry(server).list_aliases(name) == []

    done = page.request.post(target, form={**fields, "csrf_token": token}, max_redirects=0)
    assert done.status == 303  # a plain form post is sent back to the model page
    assert [(a.alias, a.version) for a in registry(server).list_aliases(name)] == [("champion", 1)]
    by_header = page.request.post(target, form={**fields, "version": "2"}, headers={"X-CSRF-Token": token})
    assert by_header.ok  # what htmx sends (hx-headers on <body>)
    assert registry(server).list_aliases(name)[0].version == 2


def test_five_wrong_passwords_lock_the_user_out(new_page: Any, server: AuthServer) -> None:
    page = new_page()
    page.goto(server.url + "/login")
    for _ in range(5):
        sign_in(page, "lock", "not-the-password")
        expect(page.locator("#login-error")).to_have_text("wrong user name or password")
    with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as answer:
        sign_in(page, "lock")  # even the right password, for now
    assert answer.value.status == 429
    assert answer.value.headers["retry-after"].isdigit()
    expect(page.locator("#login-error")).to_contain_text("too many failed sign-ins: try again in")
    expect(page.locator("#signed-in-as")).to_have_count(0)
    shot(page, "login-locked")


def test_sign_out_ends_the_session(new_page: Any, server: AuthServer) -> None:
    page = signed_in(new_page(), server, "vera")
    session = next(c["value"] for c in page.context.cookies() if c["name"] == "treadle_session")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(server.url + "/login")
    assert "treadle_session" not in {c["name"] for c in page.context.cookies()}
    page.goto(server.url + "/")
    expect(page).to_have_url(server.url + "/login?next=/")
    # The session is ended on the server too, not only forgotten by this browser.
    old = httpx.get(server.url + "/", cookies={"treadle_session": session}, headers={"accept": "text/html"})
    assert old.status_code == 303 and old.headers["location"] == "/login?next=/"


def test_workspace_switcher(new_page: Any, server: AuthServer) -> None:
    page = signed_in(new_page(), server, "wanda")
    expect(page.locator("#experiments")).to_contain_text("vision")
    switcher = page.locator("#workspace-switcher")
    expect(switcher.locator("summary .current")).to_have_text("default")
    switcher.locator("summary").click()
    expect(switcher.locator("li a")).to_have_text(["default", "team-a"])  # not team-b: not hers
    shot(page, "workspace-switcher")
    switcher.get_by_role("link", name="team-a").click()
    expect(page).to_have_url(server.url + "/w/team-a/")
    expect(page.locator("#workspace-switcher summary .current")).to_have_text("team-a")
    expect(page.locator("#experiments tbody tr")).to_have_count(1)
    expect(page.locator("#experiments")).to_contain_text("team-a-exp")
    expect(page.locator("#experiments")).not_to_contain_text("vision")
    expect(page.locator("#signed-in-as")).to_have_text("wanda")
    page.get_by_role("link", name="Models", exact=True).click()
    expect(page).to_have_url(server.url + "/w/team-a/models")
    expect(page.get_by_role("link", name="Models", exact=True)).to_have_attribute("aria-current", "page")

    page.goto(server.url + "/w/team-b/")  # a workspace she is not in
    expect(page.locator("h1")).to_have_text("Not allowed")
    expect(page.locator(".error-page")).to_contain_text("'wanda' has no role in workspace 'team-b'")
    page.locator("#workspace-switcher summary").click()
    page.locator("#workspace-switcher").get_by_role("link", name="default").click()
    expect(page).to_have_url(server.url + "/")
    expect(page.locator("#experiments")).to_contain_text("vision")
