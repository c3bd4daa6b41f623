"""The access service on a real main store (SQLite and PostgreSQL): users, passwords, tokens,
ownership, workspaces and members, the audit log and UI sessions."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import inspect, select, text, update

from treadle.access import LOCAL, AccessService, Principal, reset_caller, set_caller
from treadle.access import _tables as t
from treadle.errors import AlreadyExists, Forbidden, InvalidArgument, NotFound
from treadle.store import Store, now_ms, pg_schema, workspace_uri

PASSWORD = "correct horse battery"
ACCESS_TABLES = (t.users, t.tokens, t.sessions, t.workspaces, t.members, t.audit)


@pytest.fixture
def store(main_store_uri: str) -> Iterator[Store]:
    s = Store(main_store_uri)
    yield s
    s.dispose()


@pytest.fixture
def access(store: Store) -> AccessService:
    return AccessService(store)


@contextmanager
def as_caller(user: str, admin: bool = False) -> Iterator[Principal]:
    principal = Principal(user=user, admin=admin, via="token")
    token = set_caller(principal)
    try:
        yield principal
    finally:
        reset_caller(token)


def dump_access_tables(store: Store) -> str:
    """Every row of every table of the store, as one string (to search for secrets)."""
    with store.read() as conn:
        names = inspect(conn).get_table_names()
        assert {table.name for table in ACCESS_TABLES} <= set(names)
        return "\n".join(repr(row) for name in names for row in conn.execute(text(f'SELECT * FROM "{name}"')))


def raw_database_bytes(store: Store) -> bytes:
    """A SQLite store's files as bytes (the database and its write-ahead log); b"" on PostgreSQL."""
    if store.dialect != "sqlite":
        return b""
    path = Path(store.uri.split(":///", 1)[1])
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


# --- users -----------------------------------------------------------------------------------
def test_create_get_list_users(access: AccessService) -> None:
    alice = access.create_user("alice", PASSWORD)
    assert (alice.name, alice.admin, alice.disabled, alice.has_password) == ("alice", False, False, True)
    root = access.create_user("root", admin=True)
    assert root.admin and not root.has_password  # token-only user
    assert access.get_user("alice") == alice
    assert [u.name for u in access.list_users()] == ["alice", "root"]
    with pytest.raises(NotFound):
        access.get_user("nobody")


def test_duplicate_user_is_already_exists(access: AccessService) -> None:
    access.create_user("alice", PASSWORD)
    with pytest.raises(AlreadyExists, match="alice"):
        access.create_user("alice", "another password")
    assert [u.name for u in access.list_users()] == ["alice"]


@pytest.mark.parametrize("password", ["", "short", "1234567"])
def test_short_password_is_invalid(access: AccessService, password: str) -> None:
    with pytest.raises(InvalidArgument, match="at least 8"):
        access.create_user("alice", password)
    assert access.list_users() == []  # nothing half-created


@pytest.mark.parametrize("name", ["local", "anonymous"])
def test_reserved_user_names(access: AccessService, name: str) -> None:
    with pytest.raises(InvalidArgument, match="reserved"):
        access.create_user(name, PASSWORD)


@pytest.mark.parametrize("name", ["", "with space", "-dash", "a/b"])
def test_invalid_user_names(access: AccessService, name: str) -> None:
    with pytest.raises(InvalidArgument):
        access.create_user(name, PASSWORD)


def test_password_is_stored_as_scrypt_never_plain(access: AccessService, store: Store) -> None:
    access.create_user("alice", PASSWORD)
    with store.read() as conn:
        stored = conn.execute(select(t.users.c.password_hash).where(t.users.c.name == "alice")).scalar_one()
    assert stored.startswith("scrypt$")
    assert len(stored.split("$")) == 6
    assert PASSWORD not in dump_access_tables(store)
    assert PASSWORD.encode() not in raw_database_bytes(store)
    # salted: the same password gives another hash
    access.create_user("bob", PASSWORD)
    with store.read() as conn:
        other = conn.execute(select(t.users.c.password_hash).where(t.users.c.name == "bob")).scalar_one()
    assert other != stored


def test_check_password(access: AccessService) -> None:
    access.create_user("alice", PASSWORD)
    access.create_user("tokens-only")
    found = access.check_password("alice", PASSWORD)
    assert found is not None and (found.user, found.admin, found.via) == ("alice", False, "password")
    assert access.check_password("alice", PASSWORD) == found  # the remembered verification agrees
    assert access.check_password("alice", PASSWORD + "x") is None
    assert access.check_password("alice", "") is None
    assert access.check_password("nobody", PASSWORD) is None
    assert access.check_password("tokens-only", PASSWORD) is None


def test_disabled_user_cannot_sign_in_until_enabled(access: AccessService) -> None:
    access.create_user("alice", PASSWORD)
    assert access.check_password("alice", PASSWORD) is not None  # remembered as verified
    assert access.update_user("alice", disabled=True).disabled
    assert access.check_password("alice", PASSWORD) is None
    access.update_user("alice", disabled=False)
    assert access.check_password("alice", PASSWORD) is not None


def test_password_change_takes_effect_at_once(access: AccessService) -> None:
    access.create_user("alice", PASSWORD)
    assert access.check_password("alice", PASSWORD) is not None
    access.update_user("alice", password="a brand new secret")
    assert access.check_password("alice", PASSWORD) is None  # the old one, though verified before
    assert access.check_password("alice", "a brand new secret") is not None
    with pytest.raises(InvalidArgument):
        access.update_user("alice", password="short")


def test_admin_flag_and_delete_user(access: AccessService) -> None:
    access.create_user("alice", PASSWORD)
    assert access.update_user("alice", admin=True).admin
    found = access.check_password("alice", PASSWORD)
    assert found is not None and found.admin
    secret = access.create_token(user="alice").secret
    access.delete_user("alice")
    with pytest.raises(NotFound):
        access.get_user("alice")
    assert access.check_token(secret) is None
    assert access.list_tokens("*") == []  # the tokens went with the user
    with pytest.raises(NotFound):
        access.delete_user("alice")


# --- tokens ----------------------------------------------------------------------------------
def test_token_secret_is_returned_once_and_only_its_hash_stored(access: AccessService, store: Store) -> None:
    access.create_user("alice", PASSWORD)
    new = access.create_token("ci", user="alice")
    secret = new.secret
    assert secret.startswith("tdl_") and len(secret) > 40
    assert (new.token.user, new.token.name, new.token.revoked_at) == ("alice", "ci", None)
    assert secret.startswith(new.token.prefix) and len(new.token.prefix) < len(secret)
    dumped = dump_access_tables(store)
    assert secret not in dumped
    assert secret.encode() not in raw_database_bytes(store)
    assert secret[len(new.token.prefix) :] not in dumped  # not even the part after the shown prefix
    with store.read() as conn:
        stored = conn.execute(select(t.tokens.c.hash).where(t.tokens.c.id == new.token.id)).scalar_one()
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    assert "secret" not in type(new.token).model_fields


def test_check_token(access: AccessService, store: Store) -> None:
    access.create_user("alice", PASSWORD)
    new = access.create_token(user="alice")
    found = access.check_token(new.secret)
    assert found is not None
    assert (found.user, found.admin, found.via, found.token_id) == ("alice", False, "token", new.token.id)
    assert access.check_token(new.secret + "x") is None
    assert access.check_token("tdl_" + "A" * 43) is None
    assert access.check_token("") is None
    assert access.list_tokens("alice")[0].last_used_at is None
    access.check_token(new.secret, touch=True)
    used = access.list_tokens("alice")[0].last_used_at
    assert used is not None
    access.check_token(new.secret, touch=True)  # within the minute: not written again
    assert access.list_tokens("alice")[0].last_used_at == used
    with store.write() as conn:
        conn.execute(update(t.tokens).where(t.tokens.c.id == new.token.id).values(last_used_at=used - 61_000))
    access.check_token(new.secret, touch=True)
    again = access.list_tokens("alice")[0].last_used_at
    assert again is not None and again >= used  # a minute later: written again


def test_revoked_token_stops_working_at_once(access: AccessService) -> None:
    access.create_user("alice", PASSWORD)
    keep, drop = access.create_token("keep", user="alice"), access.create_token("drop", user="alice")
    assert access.check_token(drop.secret) is not None
    revoked = access.revoke_token(drop.token.id)
    assert revoked.revoked_at is not None
    assert access.check_token(drop.secret) is None
    assert access.check_token(keep.secret) is not None
    assert access.revoke_token(drop.token.id).revoked_at == revoked.revoked_at  # revoking again keeps the time
    with pytest.raises(NotFound):
        access.revoke_token(987654)


def test_expired_token_is_refused(access: AccessService, store: Store) -> None:
    access.create_user("alice", PASSWORD)
    instant = access.create_token(user="alice", expires_days=1e-12)  # expires the moment it is made
    assert instant.token.expires_at is not None
    assert access.check_token(instant.secret) is None
    later = access.create_token(user="alice", expires_days=30)
    assert later.token.expires_at is not None and later.token.expires_at > now_ms() + 29 * 86_400_000
    assert access.check_token(later.secret) is not None
    with store.write() as conn:
        conn.execute(update(t.tokens).where(t.tokens.c.id == later.token.id).values(expires_at=now_ms() - 1000))
    assert access.check_token(later.secret) is None
    forever = access.create_token(user="alice", expires_days=None)
    assert forever.token.expires_at is None and access.check_token(forever.secret) is not None


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_token_expiry_out_of_range(access: AccessService, days: float) -> None:
    access.create_user("alice", PASSWORD)
    with pytest.raises(InvalidArgument, match="expires_days"):
        access.create_token(user="alice", expires_days=days)
    assert access.list_tokens("alice") == []


def test_disabled_users_tokens_are_refused(access: AccessService) -> None:
    access.create_user("alice", PASSWORD)
    new = access.create_token(user="alice")
    access.update_user("alice", disabled=True)
    assert access.check_token(new.secret) is None
    access.update_user("alice", disabled=False)
    assert access.check_token(new.secret) is not None


def test_list_tokens_never_shows_secrets(access: AccessService) -> None:
    access.create_user("alice", PASSWORD)
    access.create_user("bob", PASSWORD)
    secrets = [access.create_token(f"t{i}", user="alice").secret for i in range(3)]
    secrets.append(access.create_token("b", user="bob").secret)
    mine = access.list_tokens("alice")
    assert [tok.name for tok in mine] == ["t2", "t1", "t0"]  # newest first
    everyone = access.list_tokens("*")
    assert len(everyone) == 4 and {tok.user for tok in everyone} == {"alice", "bob"}
    shown = "".join(tok.model_dump_json() for tok in everyone)
    for secret in secrets:
        assert secret not in shown


def test_token_for_unknown_user(access: AccessService) -> None:
    with pytest.raises(NotFound):
        access.create_token(user="nobody")


# --- ownership ---------------------------------------------------------------------------------
def test_local_process_is_admin(access: AccessService) -> None:
    assert access.whoami() == LOCAL
    with as_caller("alice") as alice:
        assert access.whoami() == alice


def test_non_admin_cannot_manage_users(access: AccessService) -> None:
    access.create_user("alice", PASSWORD)
    access.create_user("bob", PASSWORD)
    with as_caller("alice"):
        with pytest.raises(Forbidden):
            access.list_users()
        with pytest.raises(Forbidden):
            access.create_user("mallory", PASSWORD)
        with pytest.raises(Forbidden):
            access.get_user("bob")
        with pytest.raises(Forbidden):
            access.update_user("alice", admin=True)
        with pytest.raises(Forbidden):
            access.update_user("bob", disabled=True)
        with pytest.raises(Forbidden):
            access.update_user("bob", password="taken over!")
        with pytest.raises(Forbidden):
            access.delete_user("bob")
        with pytest.raises(Forbidden):
            access.create_workspace("mine")
        assert access.get_user("alice").name == "alice"
        access.update_user("alice", password="my new password")
    assert not access.get_user("alice").admin
    assert not access.get_user("bob").disabled
    assert access.check_password("bob", PASSWORD) is not None
    assert access.check_password("alice", "my new password") is not None
    assert [u.name for u in access.list_users()] == ["alice", "bob"]


def test_users_manage_only_their_own_tokens(access: AccessService) -> None:
    access.create_user("alice", PASSWORD)
    access.create_user("bob", PASSWORD)
    bobs = access.create_token("bobs", user="bob")
    with as_caller("alice"):
        with pytest.raises(Forbidden):
            access.create_token("for-bob", user="bob")
        with pytest.raises(Forbidden):
            access.list_tokens("bob")
        with pytest.raises(Forbidden):
            access.list_tokens("*")
        with pytest.raises(Forbidden):
            access.revoke_token(bobs.token.id)
        mine = access.create_token("mine")
        assert mine.token.user == "alice"
        assert [tok.name for tok in access.list_tokens()] == ["mine"]
        assert access.revoke_token(mine.token.id).revoked_at is not None
    assert access.check_token(bobs.secret) is not None
    assert [tok.name for tok in access.list_tokens("bob")] == ["bobs"]
    with as_caller("root", admin=True):  # a server admin manages anyone's
        assert access.revoke_token(bobs.token.id).revoked_at is not None
        assert access.create_token(user="alice").token.user == "alice"


def test_workspace_admin_manages_only_their_workspace(access: AccessService) -> None:
    for name in ("alice", "bob", "carol"):
        access.create_user(name, PASSWORD)
    access.create_workspace("team-a")
    access.create_workspace("team-b")
    access.set_member("team-a", "alice", "admin")
    access.set_member("team-b", "alice", "editor")
    with as_caller("alice"):
        assert access.set_member("team-a", "bob", "viewer").role == "viewer"
        assert access.set_member("team-a", "bob", "editor").role == "editor"  # replaces the role
        assert [(m.user, m.role) for m in access.list_members("team-a")] == [("alice", "admin"), ("bob", "editor")]
        with pytest.raises(Forbidden):
            access.set_member("team-b", "bob", "viewer")  # only an editor there
        with pytest.raises(Forbidden):
            access.set_member("team-b", "alice", "admin")  # no promoting yourself
        with pytest.raises(Forbidden):
            access.list_members("team-b")
        with pytest.raises(Forbidden):
            access.remove_member("team-b", "alice")
        with pytest.raises(InvalidArgument, match="role"):
            access.set_member("team-a", "carol", cast(Any, "owner"))
        with pytest.raises(NotFound):
            access.set_member("team-a", "nobody", "viewer")
        access.remove_member("team-a", "bob")
        assert [m.user for m in access.list_members("team-a")] == ["alice"]
    assert access.role_of("alice", "team-b") == "editor"
    assert access.role_of("bob", "team-b") is None
    assert access.role_of("bob", "team-a") is None
    assert access.role_of("alice", "no-such") is None


def test_list_workspaces_shows_only_the_callers(access: AccessService) -> None:
    access.create_user("alice", PASSWORD)
    access.create_user("bob", PASSWORD)
    access.create_workspace("team-a", "A's")
    access.create_workspace("team-b")
    access.set_member("team-a", "alice", "viewer")
    assert [w.name for w in access.list_workspaces()] == ["default", "team-a", "team-b"]  # local: all
    with as_caller("alice"):
        assert [(w.name, w.description) for w in access.list_workspaces()] == [("team-a", "A's")]
        assert access.get_workspace("team-a").name == "team-a"
        with pytest.raises(NotFound):
            access.get_workspace("team-b")
        with pytest.raises(NotFound):
            access.get_workspace("no-such")  # the same answer: no existence leak
    with as_caller("bob"):
        assert access.list_workspaces() == []
    with as_caller("root", admin=True):
        assert [w.name for w in access.list_workspaces()] == ["default", "team-a", "team-b"]


def test_create_workspace(access: AccessService, store: Store, main_store_uri: str, tmp_path: Path) -> None:
    created = access.create_workspace("team-a", "the A team")
    assert (created.name, created.description) == ("team-a", "the A team")
    assert access.workspace_exists("team-a") and not access.workspace_exists("team-b")
    assert access.workspace_names() == ["default", "team-a"]
    with pytest.raises(AlreadyExists):
        access.create_workspace("team-a")
    for bad in ("Team", "1a", "a_b", "", "x" * 64):
        with pytest.raises(InvalidArgument):
            access.create_workspace(bad)
    # the workspace's own store exists, migrated, at once
    if store.dialect == "sqlite":
        assert (tmp_path / ".workspaces" / "team-a" / "main.db").is_file()
    else:
        with store.read() as conn:
            tables = set(inspect(conn).get_table_names(schema=pg_schema("team-a")))
        assert {"experiments", "runs", "model_versions"} <= tables
    ws = Store(workspace_uri(main_store_uri, "team-a"))
    ws.dispose()


# --- audit -----------------------------------------------------------------------------------
def _audit(n: int, user: str, workspace: str) -> dict[str, object]:
    return {
        "at": now_ms(),
        "user": user,
        "workspace": workspace,
        "method": "POST",
        "path": f"/api/v1/tracking/op{n}",
        "operation": f"tracking.op{n}",
        "status": 200,
        "remote": "127.0.0.1",
    }


def test_audit_list_filter_and_page(access: AccessService) -> None:
    access.record_audit([_audit(i, "alice" if i % 2 else "bob", "team-a" if i < 6 else "team-b") for i in range(10)])
    access.record_audit([])  # nothing to write is fine
    everything = access.list_audit()
    assert [e.operation for e in everything] == [f"tracking.op{i}" for i in reversed(range(10))]  # newest first
    assert [e.operation for e in access.list_audit(workspace="team-b")] == [f"tracking.op{i}" for i in (9, 8, 7, 6)]
    assert {e.user for e in access.list_audit(user="alice")} == {"alice"}
    assert len(access.list_audit(user="alice")) == 5
    assert [e.operation for e in access.list_audit(workspace="team-a", user="bob")] == [
        "tracking.op4",
        "tracking.op2",
        "tracking.op0",
    ]
    first = access.list_audit(limit=4)
    second = access.list_audit(limit=4, before_id=first[-1].id)
    third = access.list_audit(limit=4, before_id=second[-1].id)
    assert [e.id for e in first + second + third] == [e.id for e in everything]
    assert len(third) == 2
    for limit in (0, 10_001):
        with pytest.raises(InvalidArgument):
            access.list_audit(limit=limit)


def test_audit_is_read_by_admins(access: AccessService) -> None:
    access.create_user("alice", PASSWORD)
    access.create_workspace("team-a")
    access.create_workspace("team-b")
    access.set_member("team-a", "alice", "admin")
    access.set_member("team-b", "alice", "editor")
    access.record_audit([_audit(1, "bob", "team-a"), _audit(2, "bob", "team-b")])
    with as_caller("alice"):
        assert [e.workspace for e in access.list_audit(workspace="team-a")] == ["team-a"]
        with pytest.raises(Forbidden):
            access.list_audit()
        with pytest.raises(Forbidden):
            access.list_audit(workspace="team-b")


# --- sessions --------------------------------------------------------------------------------
def test_sessions(access: AccessService, store: Store) -> None:
    access.create_user("alice", PASSWORD)
    access.create_user("root", admin=True)
    secret = access.create_session("alice")
    assert secret not in dump_access_tables(store)
    assert secret.encode() not in raw_database_bytes(store)
    found = access.check_session(secret)
    assert found is not None and (found.user, found.admin, found.via) == ("alice", False, "session")
    other = access.create_session("root")
    root = access.check_session(other)
    assert root is not None and root.admin
    assert access.check_session(secret + "x") is None
    access.end_session(secret)
    assert access.check_session(secret) is None
    assert access.check_session(other) is not None  # only that one ended
    with pytest.raises(NotFound):
        access.create_session("nobody")


def test_expired_session(access: AccessService, store: Store) -> None:
    access.create_user("alice", PASSWORD)
    secret = access.create_session("alice")
    with store.write() as conn:
        conn.execute(update(t.sessions).values(expires_at=now_ms() - 1))
    assert access.check_session(secret) is None
    access.create_session("alice")  # creating a session sweeps the expired ones
    with store.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM access_sessions")).scalar() == 1


def test_disabling_or_new_password_ends_sessions(access: AccessService) -> None:
    access.create_user("alice", PASSWORD)
    first = access.create_session("alice")
    access.update_user("alice", password="changed password")
    assert access.check_session(first) is None
    second = access.create_session("alice")
    access.update_user("alice", disabled=True)
    assert access.check_session(second) is None
    access.update_user("alice", disabled=False)
    assert access.check_session(second) is None  # ended, not just paused
