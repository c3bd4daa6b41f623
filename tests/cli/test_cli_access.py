"""``treadle users / tokens / workspaces / audit / whoami``, locally and against a server with sign-in on;
and ``treadle server`` deciding when sign-in is on (and refusing to start with it on and no users)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.helpers import Invoke, Ok, assert_user_error
from treadle.client._backend import reset_backends
from treadle.server import auth_required, create_app
from treadle.testing.server import serve

PASSWORD = "correct horse battery"


@pytest.fixture
def server(store_env: Path) -> Iterator[str]:
    """A real server with sign-in on, over the store the local CLI commands use."""
    app = create_app(f"sqlite:///{store_env / 't.db'}", str(store_env / "art"), auth=True)
    with serve(app) as url:
        yield url
    reset_backends()


@pytest.fixture
def as_token(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make the following CLI calls send ``secret`` as TREADLE_TOKEN (None: no token)."""

    def use(secret: str | None) -> None:
        if secret is None:
            monkeypatch.delenv("TREADLE_TOKEN", raising=False)
        else:
            monkeypatch.setenv("TREADLE_TOKEN", secret)

    return use


def new_token(ok: Ok, *args: str) -> dict[str, Any]:
    """``treadle tokens create --json ARGS``: the token's fields and its secret."""
    made: dict[str, Any] = json.loads(ok("tokens", "create", "--json", *args))
    return made


def whoami_status(url: str, secret: str) -> int:
    return httpx.post(f"{url}/api/v1/access/whoami", json={}, headers={"authorization": f"Bearer {secret}"}).status_code


# --- local: the CLI as the database's admin ------------------------------------------------------
def test_users_lifecycle(cli: Invoke, ok: Ok) -> None:
    made = cli("users", "create", "ada", "--admin", "--password-stdin", input=PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    assert "Created admin ada" in made.stdout
    # the prompt asks twice, hides what is typed, and writes to stderr (stdout stays clean)
    bob = cli("users", "create", "bob", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert bob.exit_code == 0, bob.output
    assert PASSWORD not in bob.output
    assert "Repeat for confirmation" in bob.stderr and "Password" not in bob.stdout
    ok("users", "create", "ci-bot", "--no-password")

    users = {u["name"]: u for u in json.loads(ok("users", "list", "--json"))}
    assert sorted(users) == ["ada", "bob", "ci-bot"]
    assert users["ada"]["admin"] and not users["bob"]["admin"]
    assert users["bob"]["has_password"] and not users["ci-bot"]["has_password"]
    table = ok("users", "list")
    assert "3 users" in table and "ci-bot" in table

    assert "is disabled" in ok("users", "disable", "bob")
    assert json.loads(ok("users", "show", "bob", "--json"))["disabled"] is True
    assert "disabled" in ok("users", "show", "bob")
    ok("users", "enable", "bob")
    ok("users", "grant-admin", "bob")
    assert json.loads(ok("users", "show", "bob", "--json")) | {"created_at": 0} == {
        "name": "bob",
        "admin": True,
        "disabled": False,
        "has_password": True,
        "created_at": 0,
        "live_tokens": 0,
    }
    ok("users", "revoke-admin", "bob")
    assert json.loads(ok("users", "show", "bob", "--json"))["admin"] is False

    ok("users", "set-password", "ci-bot", "--password-stdin", input="a new password\n")
    assert json.loads(ok("users", "show", "ci-bot", "--json"))["has_password"] is True

    refused = cli("users", "delete", "bob", input="n\n")
    assert refused.exit_code == 1
    assert "bob" in ok("users", "list")
    assert "Deleted user bob" in ok("users", "delete", "bob", "--yes")
    assert_user_error(cli("users", "show", "bob"), "no user 'bob'")


def test_user_mistakes_exit_1_without_traceback(cli: Invoke, ok: Ok) -> None:
    assert_user_error(cli("users", "create", "eve", "--password-stdin", input="short\n"), "at least 8 characters")
    assert_user_error(cli("users", "create", "eve", "--password-stdin", input="\n"), "--password-stdin read no")
    assert_user_error(cli("users", "create", "eve", "--no-password", "--role", "editor"), "--role needs --workspace")
    ok("users", "create", "eve", "--no-password")
    assert_user_error(cli("users", "create", "eve", "--no-password"), "already exists")
    assert_user_error(cli("users", "create", "local", "--no-password"), "reserved")
    assert_user_error(cli("users", "disable", "nobody"), "no user 'nobody'")
    assert_user_error(cli("tokens", "revoke", "999"), "no token 999")
    assert_user_error(cli("tokens", "create"), "--user NAME")
    assert_user_error(cli("tokens", "create", "-u", "eve", "--no-expiry", "--expires-days", "3"), "not both")
    assert_user_error(cli("workspaces", "members", "nope"), "no workspace 'nope'")
    assert_user_error(cli("--workspace", "nope", "whoami"), "no workspace 'nope'")
    bad_role = cli("workspaces", "add-member", "default", "eve", "--role", "owner")
    assert bad_role.exit_code == 2 and "Traceback" not in bad_role.output


def test_create_user_with_a_workspace_role(ok: Ok) -> None:
    ok("workspaces", "create", "vision", "--description", "image models")
    out = ok("users", "create", "kim", "--no-password", "--workspace", "vision", "--role", "editor")
    assert "kim is editor in workspace vision" in out
    assert json.loads(ok("workspaces", "members", "vision", "--json")) == [
        {"workspace": "vision", "user": "kim", "role": "editor"}
    ]
    ok("users", "create", "lee", "--no-password", "--workspace", "vision")  # no --role: viewer
    roles = {m["user"]: m["role"] for m in json.loads(ok("workspaces", "members", "vision", "--json"))}
    assert roles == {"kim": "editor", "lee": "viewer"}


def test_workspaces(ok: Ok) -> None:
    ok("users", "create", "kim", "--no-password")
    ok("users", "create", "lee", "--no-password")
    assert "Created workspace vision" in ok("workspaces", "create", "vision", "-d", "image models")
    ok("workspaces", "add-member", "vision", "kim", "--role", "viewer")
    ok("workspaces", "add-member", "vision", "lee", "--role", "admin")
    assert "kim is editor in workspace vision" in ok("workspaces", "set-role", "vision", "kim", "--role", "editor")
    members = ok("workspaces", "members", "vision")
    assert "2 members of workspace vision" in members
    rows = {line.split()[1]: line.split()[3] for line in members.splitlines() if "kim" in line or "lee" in line}
    assert rows == {"kim": "editor", "lee": "admin"}
    roles = {m["user"]: m["role"] for m in json.loads(ok("workspaces", "members", "vision", "--json"))}
    assert roles == {"kim": "editor", "lee": "admin"}
    ok("workspaces", "remove-member", "vision", "kim")
    assert [m["user"] for m in json.loads(ok("workspaces", "members", "vision", "--json"))] == ["lee"]

    listed = {w["name"]: w["description"] for w in json.loads(ok("workspaces", "list", "--json"))}
    assert listed == {"default": "the main store", "vision": "image models"}
    assert "vision" in ok("workspaces", "list") and "image models" in ok("workspaces", "list")
    # the global --workspace picks the workspace's own store
    me = json.loads(ok("--workspace", "vision", "whoami", "--json"))
    assert me["workspace"] == "vision" and me["user"] == "local" and me["admin"] is True
    assert "/.workspaces/vision/" in me["uri"]


def test_token_secret_is_printed_once(cli: Invoke, ok: Ok) -> None:
    ok("users", "create", "ada", "--admin", "--no-password")
    shown = cli("tokens", "create", "--user", "ada", "--name", "laptop", "--expires-days", "7")
    assert shown.exit_code == 0, shown.output
    secret = next(line for line in shown.stdout.splitlines() if line.startswith("tdl_"))
    assert "cannot be shown again" in shown.stdout
    quiet = cli("tokens", "create", "-q", "--user", "ada", "--no-expiry")
    assert quiet.exit_code == 0 and quiet.stdout.count("\n") == 1 and quiet.stdout.startswith("tdl_")
    listed = json.loads(ok("tokens", "list", "--json"))  # on a database: everyone's
    assert [(t["name"], t["state"], t["expires_at"] is None) for t in listed] == [
        ("", "live", True),
        ("laptop", "live", False),
    ]
    assert all(secret not in json.dumps(t) for t in listed) and secret.startswith(listed[1]["prefix"])
    table = ok("tokens", "list", "--user", "ada")
    assert "laptop" in table and secret not in table


# --- against a server with sign-in on -------------------------------------------------------------
def test_token_authenticates_until_revoked(cli: Invoke, ok: Ok, server: str, as_token: Any) -> None:
    ok("users", "create", "ada", "--admin", "--password-stdin", input=PASSWORD + "\n")
    made = new_token(ok, "--user", "ada", "--name", "ci")
    assert made["user"] == "ada" and made["secret"].startswith("tdl_")
    assert whoami_status(server, made["secret"]) == 200

    as_token(made["secret"])
    me = json.loads(ok("--uri", server, "whoami", "--json"))
    assert (me["user"], me["admin"], me["via"], me["token_id"]) == ("ada", True, "token", made["id"])

    as_token(None)
    assert f"Revoked token {made['id']} (ci) of ada" in ok("tokens", "revoke", str(made["id"]))
    assert whoami_status(server, made["secret"]) == 401
    as_token(made["secret"])
    assert_user_error(cli("--uri", server, "whoami"), "not valid")
    states = {t["id"]: t["state"] for t in json.loads(ok("tokens", "list", "--all", "--json"))}
    assert states == {made["id"]: "revoked"}


def test_remote_admin_and_member(cli: Invoke, ok: Ok, server: str, as_token: Any) -> None:
    ok("users", "create", "ada", "--admin", "--no-password")
    admin = new_token(ok, "--user", "ada")["secret"]
    as_token(None)
    assert_user_error(cli("--uri", server, "users", "list"), "sign in")  # no token at all

    as_token(admin)
    remote = ("--uri", server)
    ok(*remote, "users", "create", "carol", "--password-stdin", input=PASSWORD + "\n")
    ok(*remote, "workspaces", "create", "team", "-d", "the team")
    ok(*remote, "workspaces", "add-member", "team", "carol", "--role", "editor")
    assert "carol" in ok(*remote, "users", "list")
    assert json.loads(ok(*remote, "workspaces", "members", "team", "--json")) == [
        {"workspace": "team", "user": "carol", "role": "editor"}
    ]
    assert {w["name"] for w in json.loads(ok(*remote, "workspaces", "list", "--json"))} == {"default", "team"}
    carol = json.loads(ok(*remote, "tokens", "create", "--json", "--user", "carol", "-n", "for carol"))
    own = cli(*remote, "tokens", "create", "-q")  # your own token: no --user needed over HTTP
    assert own.exit_code == 0 and whoami_status(server, own.stdout.strip()) == 200
    assert [t["user"] for t in json.loads(ok(*remote, "tokens", "list", "--json"))] == ["ada", "ada"]

    # carol: a member of "team" only, not a server admin
    as_token(carol["secret"])
    for args, what in [
        (("users", "list"), "only a server admin may list users"),
        (("users", "create", "mallory", "--no-password"), "only a server admin may create users"),
        (("users", "grant-admin", "carol"), "only a server admin"),
        (("workspaces", "create", "mine"), "only a server admin may create workspaces"),
        (("tokens", "list", "--all"), "only a server admin"),
        (("tokens", "create", "--user", "ada"), "only a server admin"),
        (("audit",), "only a server admin"),
        (("workspaces", "members", "team"), "needs its admin role"),
    ]:
        assert_user_error(cli(*remote, *args), what)
    me = json.loads(ok(*remote, "whoami", "--json"))
    assert (me["user"], me["admin"]) == ("carol", False)
    assert [w["name"] for w in json.loads(ok(*remote, "workspaces", "list", "--json"))] == ["team"]
    assert [t["name"] for t in json.loads(ok(*remote, "tokens", "list", "--json"))] == ["for carol"]
    # her own password she may change
    ok(*remote, "users", "set-password", "carol", "--password-stdin", input="another password\n")
    assert httpx.post(f"{server}/api/v1/access/whoami", json={}, auth=("carol", "another password")).status_code == 200
    # and the global --workspace sends her to the team's store
    me = json.loads(ok(*remote, "--workspace", "team", "whoami", "--json"))
    assert me["workspace"] == "team" and me["uri"] == f"{server}/w/team"


def test_audit_shows_writes_over_http(cli: Invoke, ok: Ok, server: str, as_token: Any) -> None:
    ok("users", "create", "ada", "--admin", "--no-password")
    ok("users", "create", "kim", "--no-password", "--workspace", "default", "--role", "viewer")
    admin = new_token(ok, "--user", "ada")["secret"]
    as_token(admin)
    ok("--uri", server, "experiments", "create", "audited")
    as_token(new_token(ok, "--user", "kim")["secret"])
    denied = cli("--uri", server, "experiments", "create", "not-allowed")
    assert denied.exit_code == 1 and "editor role" in denied.stderr
    as_token(None)

    def entries() -> list[dict[str, Any]]:
        return [e for e in json.loads(ok("audit", "--json")) if e["operation"] == "tracking.create_experiment"]

    deadline = time.monotonic() + 15  # the server records the entry after it has answered
    while len(entries()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    got = [(e["user"], e["workspace"], e["method"], e["status"]) for e in entries()]
    assert got == [("kim", "default", "POST", 403), ("ada", "default", "POST", 200)]
    only_ada = json.loads(ok("audit", "--user", "ada", "--workspace", "default", "--limit", "5", "--json"))
    assert only_ada and {e["user"] for e in only_ada} == {"ada"}
    table = ok("audit", "--user", "kim")
    assert "tracking.create_experiment" in table and "403" in table and "kim" in table
    assert len(json.loads(ok("audit", "--limit", "1", "--json"))) == 1
    # an admin reads the same log over HTTP
    as_token(admin)
    remote = json.loads(ok("--uri", server, "audit", "--user", "kim", "--json"))
    assert [(e["operation"], e["status"]) for e in remote] == [("tracking.create_experiment", 403)]


# --- treadle server: when sign-in is on --------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "auth", "insecure", "expected"),
    [
        ("127.0.0.1", False, False, False),
        ("127.8.0.1", False, False, False),
        ("::1", False, False, False),
        ("localhost", False, False, False),
        ("0.0.0.0", False, False, True),
        ("::", False, False, True),
        ("192.168.1.20", False, False, True),
        ("ml.example.com", False, False, True),
        ("0.0.0.0", False, True, False),
        ("127.0.0.1", True, False, True),
        ("0.0.0.0", True, True, True),  # asking for sign-in wins
    ],
)
def test_auth_required(host: str, auth: bool, insecure: bool, expected: bool) -> None:
    assert auth_required(host, auth=auth, insecure=insecure) is expected


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace the blocking uvicorn start with a recorder of what ``treadle server`` would serve."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("treadle.server.run_server", lambda **kwargs: calls.append(kwargs))
    return calls


def test_server_off_loopback_refuses_to_start_without_users(cli: Invoke, ok: Ok, started: list[dict[str, Any]]) -> None:
    assert_user_error(cli("server", "--host", "0.0.0.0"), "treadle users create", "--admin")
    assert_user_error(cli("server", "--auth"), "treadle users create")
    assert started == []
    # loopback without --auth, or --insecure, serves without sign-in
    ok("server", "--port", "9999")
    ok("server", "--host", "0.0.0.0", "--insecure")
    assert [(c["host"], c["auth"]) for c in started] == [("127.0.0.1", False), ("0.0.0.0", False)]
    # with an admin, the same command starts with sign-in on
    ok("users", "create", "ada", "--admin", "--no-password")
    assert "sign-in required" in ok("server", "--host", "0.0.0.0")
    assert started[-1]["host"] == "0.0.0.0" and started[-1]["auth"] is True
