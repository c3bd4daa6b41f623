"""The access service: users, API tokens, workspaces and their members, UI sessions, the audit log.

It lives in the main store, the control plane of every workspace. Operations that manage other
people (users, workspaces) need a server admin; members of a workspace are managed by its admins;
anyone signed in manages their own tokens. The server decides which role each route needs
(:mod:`treadle.server._policy`); this service checks only the "whose object is it" part, against
:func:`current_caller` (a local process with the database is an admin).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from typing import Any, ClassVar

from sqlalchemy import Connection, and_, delete, func, select, true, update
from sqlalchemy.exc import IntegrityError

from treadle.access import _secrets as sec
from treadle.access import _tables as t
from treadle.access._caller import current_caller
from treadle.access._records import (
    ROLE_RANK,
    ApiToken,
    AuditEntry,
    Member,
    NewToken,
    Principal,
    Role,
    User,
    Workspace,
)
from treadle.errors import AlreadyExists, Forbidden, InvalidArgument, NotFound
from treadle.names import check_name
from treadle.ops import Service, operation
from treadle.store import Store, check_workspace, now_ms, workspace_uri

MIN_PASSWORD = 8
SESSION_HOURS = 12
MAX_TOKEN_DAYS = 3650
TOUCH_EVERY_MS = 60_000  # how often a token's last_used_at is written


class AccessService(Service):
    """Users, tokens, workspaces, members, sessions and the audit log (module docstring)."""

    capability: ClassVar[str] = "access"

    def __init__(self, store: Store) -> None:
        self._store = store
        self._verified: dict[bytes, str] = {}  # see check_password

    def dispose(self) -> None:
        self._store.dispose()

    # --- who am I -------------------------------------------------------------------------
    @operation
    def whoami(self) -> Principal:
        """The caller as the server sees it."""
        return current_caller()

    # --- users ----------------------------------------------------------------------------
    @operation
    def create_user(self, name: str, password: str | None = None, admin: bool = False) -> User:
        """Create a user (``password`` for the UI and Basic auth; tokens work without one)."""
        _need_admin("create users")
        check_name(name, "user")
        if name in ("local", "anonymous"):
            raise InvalidArgument(f"{name!r} is reserved: pick another user name")
        stored = sec.hash_password(_check_password(password)) if password is not None else None
        try:
            with self._store.write() as conn:
                conn.execute(
                    t.users.insert().values(
                        name=name, password_hash=stored, admin=admin, disabled=False, created_at=now_ms()
                    )
                )
        except IntegrityError:
            raise AlreadyExists(f"user {name!r} already exists") from None
        return self.get_user(name)

    @operation
    def get_user(self, name: str) -> User:
        """One user."""
        _need_self_or_admin(name, "see other users")
        with self._store.read() as conn:
            row = conn.execute(select(t.users).where(t.users.c.name == name)).first()
        if row is None:
            raise NotFound(f"no user {name!r}")
        return _user(row)

    @operation
    def list_users(self) -> list[User]:
        """Every user, by name."""
        _need_admin("list users")
        with self._store.read() as conn:
            return [_user(r) for r in conn.execute(select(t.users).order_by(t.users.c.name))]

    @operation
    def update_user(
        self, name: str, admin: bool | None = None, disabled: bool | None = None, password: str | None = None
    ) -> User:
        """Change a user's admin flag, disable/enable them, or set a password (yours: any user)."""
        if admin is not None or disabled is not None:
            _need_admin("change admin rights or disable users")
        else:
            _need_self_or_admin(name, "change another user's password")
        values: dict[str, object] = {}
        if admin is not None:
            values["admin"] = admin
        if disabled is not None:
            values["disabled"] = disabled
        if password is not None:
            values["password_hash"] = sec.hash_password(_check_password(password))
        with self._store.write() as conn:
            user_id = _user_id(conn, name)
            if values:
                conn.execute(update(t.users).where(t.users.c.id == user_id).values(**values))
            if disabled or password is not None:  # sign them out everywhere
                conn.execute(delete(t.sessions).where(t.sessions.c.user_id == user_id))
        return self.get_user(name)

    @operation
    def delete_user(self, name: str) -> None:
        """Delete a user with their tokens, sessions and memberships (the audit log keeps their name)."""
        _need_admin("delete users")
        with self._store.write() as conn:
            conn.execute(delete(t.users).where(t.users.c.id == _user_id(conn, name)))

    # --- tokens ---------------------------------------------------------------------------
    @operation
    def create_token(self, name: str = "", user: str | None = None, expires_days: float | None = 90) -> NewToken:
        """A new API token for ``user`` (default: you); its secret is in the answer and nowhere else.

        ``expires_days=None`` makes a token that never expires."""
        owner = user or current_caller().user
        _need_self_or_admin(owner, "create tokens for other users")
        if expires_days is not None and not 0 < expires_days <= MAX_TOKEN_DAYS:
            raise InvalidArgument(f"expires_days must be in (0, {MAX_TOKEN_DAYS}] or null for no expiry")
        secret = sec.new_token()
        now = now_ms()
        expires = None if expires_days is None else now + int(expires_days * 86_400_000)
        with self._store.write() as conn:
            user_id = _user_id(conn, owner)
            token_id = conn.execute(
                t.tokens.insert()
                .values(
                    user_id=user_id,
                    name=name[:256],
                    prefix=secret[:12],
                    hash=sec.token_hash(secret),
                    created_at=now,
                    expires_at=expires,
                )
                .returning(t.tokens.c.id)
            ).scalar_one()
            token = self._tokens(conn, t.tokens.c.id == token_id)[0]
        return NewToken(token=token, secret=secret)

    @operation
    def list_tokens(self, user: str | None = None) -> list[ApiToken]:
        """Tokens of ``user`` (default: you; ``"*"`` for everyone's, admins only), newest first."""
        owner = user or current_caller().user
        where: Any = true()
        if owner == "*":
            _need_admin("list everyone's tokens")
        else:
            _need_self_or_admin(owner, "list other users' tokens")
            where = t.users.c.name == owner
        with self._store.read() as conn:
            return self._tokens(conn, where)

    @operation
    def revoke_token(self, token_id: int) -> ApiToken:
        """Revoke a token (yours, or anyone's for an admin); it stops working at once."""
        with self._store.write() as conn:
            found = self._tokens(conn, t.tokens.c.id == token_id)
            if not found:
                raise NotFound(f"no token {token_id}")
            _need_self_or_admin(found[0].user, "revoke other users' tokens")
            conn.execute(
                update(t.tokens)
                .where(t.tokens.c.id == token_id, t.tokens.c.revoked_at.is_(None))
                .values(revoked_at=now_ms())
            )
            return self._tokens(conn, t.tokens.c.id == token_id)[0]

    def _tokens(self, conn: Connection, where: Any) -> list[ApiToken]:
        q = (
            select(t.tokens, t.users.c.name.label("user"))
            .join(t.users, t.users.c.id == t.tokens.c.user_id)
            .where(where)
            .order_by(t.tokens.c.id.desc())
        )
        return [
            ApiToken(
                id=r.id,
                user=r.user,
                name=r.name,
                prefix=r.prefix,
                created_at=r.created_at,
                expires_at=r.expires_at,
                last_used_at=r.last_used_at,
                revoked_at=r.revoked_at,
            )
            for r in conn.execute(q)
        ]

    # --- workspaces and members -----------------------------------------------------------
    @operation
    def create_workspace(self, name: str, description: str = "") -> Workspace:
        """Create a workspace: its own database (or PostgreSQL schema) and blob root, empty."""
        _need_admin("create workspaces")
        check_workspace(name)
        try:
            with self._store.write() as conn:
                conn.execute(t.workspaces.insert().values(name=name, description=description, created_at=now_ms()))
        except IntegrityError:
            raise AlreadyExists(f"workspace {name!r} already exists") from None
        Store(workspace_uri(self._store.uri, name)).dispose()  # create and migrate its store now
        return self.get_workspace(name)

    @operation
    def get_workspace(self, name: str) -> Workspace:
        """One workspace (members and admins only)."""
        if self._role(current_caller(), name) is None:
            raise NotFound(f"no workspace {name!r} (or you are not a member)")
        with self._store.read() as conn:
            row = conn.execute(select(t.workspaces).where(t.workspaces.c.name == name)).first()
        if row is None:
            raise NotFound(f"no workspace {name!r}")
        return Workspace(name=row.name, description=row.description, created_at=row.created_at)

    @operation
    def list_workspaces(self) -> list[Workspace]:
        """The workspaces you can use (all of them for an admin)."""
        caller = current_caller()
        q = select(t.workspaces).order_by(t.workspaces.c.name)
        if not caller.admin:
            mine = (
                select(t.members.c.workspace_id)
                .join(t.users, t.users.c.id == t.members.c.user_id)
                .where(t.users.c.name == caller.user)
            )
            q = q.where(t.workspaces.c.id.in_(mine))
        with self._store.read() as conn:
            return [Workspace(name=r.name, description=r.description, created_at=r.created_at) for r in conn.execute(q)]

    @operation
    def set_member(self, workspace: str, user: str, role: Role) -> Member:
        """Give ``user`` ``role`` in ``workspace`` (replacing the one they had)."""
        self._need_workspace_admin(workspace)
        if role not in ROLE_RANK:
            raise InvalidArgument(f"role must be one of {sorted(ROLE_RANK)}, not {role!r}")
        with self._store.write() as conn:
            ws_id, user_id = _workspace_id(conn, workspace), _user_id(conn, user)
            conn.execute(delete(t.members).where(t.members.c.workspace_id == ws_id, t.members.c.user_id == user_id))
            conn.execute(t.members.insert().values(workspace_id=ws_id, user_id=user_id, role=role))
        return Member(workspace=workspace, user=user, role=role)

    @operation
    def remove_member(self, workspace: str, user: str) -> None:
        """Take ``user``'s role in ``workspace`` away."""
        self._need_workspace_admin(workspace)
        with self._store.write() as conn:
            ws_id, user_id = _workspace_id(conn, workspace), _user_id(conn, user)
            conn.execute(delete(t.members).where(t.members.c.workspace_id == ws_id, t.members.c.user_id == user_id))

    @operation
    def list_members(self, workspace: str) -> list[Member]:
        """Who holds which role in ``workspace`` (its admins and server admins)."""
        self._need_workspace_admin(workspace)
        q = (
            select(t.users.c.name, t.members.c.role)
            .join(t.members, t.members.c.user_id == t.users.c.id)
            .join(t.workspaces, t.workspaces.c.id == t.members.c.workspace_id)
            .where(t.workspaces.c.name == workspace)
            .order_by(t.users.c.name)
        )
        with self._store.read() as conn:
            _workspace_id(conn, workspace)
            return [Member(workspace=workspace, user=r.name, role=r.role) for r in conn.execute(q)]

    def role_of(self, user: str, workspace: str) -> Role | None:
        """``user``'s role in ``workspace`` (None: none, or no such workspace)."""
        q = (
            select(t.members.c.role)
            .join(t.users, t.users.c.id == t.members.c.user_id)
            .join(t.workspaces, t.workspaces.c.id == t.members.c.workspace_id)
            .where(t.users.c.name == user, t.workspaces.c.name == workspace)
        )
        with self._store.read() as conn:
            role = conn.execute(q).scalar()
        return role

    def workspace_exists(self, name: str) -> bool:
        with self._store.read() as conn:
            return conn.execute(select(t.workspaces.c.id).where(t.workspaces.c.name == name)).first() is not None

    def workspace_names(self) -> list[str]:
        with self._store.read() as conn:
            return list(conn.execute(select(t.workspaces.c.name).order_by(t.workspaces.c.name)).scalars())

    def _role(self, caller: Principal, workspace: str) -> str | None:
        return "admin" if caller.admin else self.role_of(caller.user, workspace)

    def _need_workspace_admin(self, workspace: str) -> None:
        if self._role(current_caller(), workspace) != "admin":
            raise Forbidden(f"managing the members of workspace {workspace!r} needs its admin role")

    # --- audit ----------------------------------------------------------------------------
    @operation
    def list_audit(
        self, workspace: str | None = None, user: str | None = None, before_id: int | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """Audited writes, newest first (``before_id`` pages back). Admins of a workspace see its entries."""
        if workspace is None:
            _need_admin("read the whole audit log (pass a workspace you administer)")
        else:
            self._need_workspace_admin(workspace)
        if not 1 <= limit <= 10_000:
            raise InvalidArgument("limit must be between 1 and 10000")
        a = t.audit
        q = select(a).order_by(a.c.id.desc()).limit(limit)
        if workspace is not None:
            q = q.where(a.c.workspace == workspace)
        if user is not None:
            q = q.where(a.c.user == user)
        if before_id is not None:
            q = q.where(a.c.id < before_id)
        with self._store.read() as conn:
            return [AuditEntry(**r._mapping) for r in conn.execute(q)]

    def record_audit(self, entries: list[dict[str, object]]) -> None:
        if entries:
            with self._store.write() as conn:
                conn.execute(t.audit.insert(), entries)

    # --- authentication (the server's gateway calls these; not remote operations) ---------
    def has_users(self) -> bool:
        with self._store.read() as conn:
            return bool(conn.execute(select(func.count()).select_from(t.users)).scalar())

    def check_password(self, name: str, password: str) -> Principal | None:
        """The user if ``password`` is theirs and they are enabled; else None.

        scrypt is slow on purpose, so a password verified once is remembered (keyed by an HMAC with a
        per-process key) for as long as the user's stored hash stays the same: a client sending Basic
        auth on every request pays one indexed read, and a password change takes effect at once."""
        row = None
        if "\x00" not in name:  # PostgreSQL text cannot hold NUL: no user has such a name
            with self._store.read() as conn:
                row = conn.execute(select(t.users).where(t.users.c.name == name)).first()
        if row is None or row.password_hash is None:
            sec.verify_password(password, _dummy_hash())  # the same cost whether or not the user exists
            return None
        key = hmac.new(_PROCESS_KEY, f"{name}\0{password}".encode(), hashlib.sha256).digest()
        if self._verified.get(key) != row.password_hash:
            if not sec.verify_password(password, row.password_hash):
                return None
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[key] = row.password_hash
        if row.disabled:
            return None
        return Principal(user=row.name, admin=row.admin, via="password")

    def check_token(self, secret: str, *, touch: bool = False) -> Principal | None:
        """The token's user if it is live (not revoked, not expired, user enabled); else None.

        ``touch`` records the use (at most once a minute per token: not a write per request)."""
        now = now_ms()
        q = (
            select(
                t.tokens.c.id,
                t.tokens.c.expires_at,
                t.tokens.c.revoked_at,
                t.tokens.c.last_used_at,
                t.users.c.name,
                t.users.c.admin,
            )
            .join(t.users, t.users.c.id == t.tokens.c.user_id)
            .where(t.tokens.c.hash == sec.token_hash(secret), t.users.c.disabled.is_(False))
        )
        with self._store.read() as conn:
            row = conn.execute(q).first()
        if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
            return None
        if touch and (row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY_MS):
            with self._store.write() as conn:
                conn.execute(update(t.tokens).where(t.tokens.c.id == row.id).values(last_used_at=now))
        return Principal(user=row.name, admin=row.admin, via="token", token_id=row.id)

    def create_session(self, user: str) -> str:
        """A new UI session for ``user``; returns the cookie value (stored only as a hash)."""
        secret = sec.new_token()
        now = now_ms()
        with self._store.write() as conn:
            conn.execute(delete(t.sessions).where(t.sessions.c.expires_at < now))
            conn.execute(
                t.sessions.insert().values(
                    user_id=_user_id(conn, user),
                    hash=sec.token_hash(secret),
                    created_at=now,
                    expires_at=now + SESSION_HOURS * 3_600_000,
                )
            )
        return secret

    def check_session(self, secret: str) -> Principal | None:
        q = (
            select(t.users.c.name, t.users.c.admin)
            .join(t.sessions, t.sessions.c.user_id == t.users.c.id)
            .where(
                and_(
                    t.sessions.c.hash == sec.token_hash(secret),
                    t.sessions.c.expires_at > now_ms(),
                    t.users.c.disabled.is_(False),
                )
            )
        )
        with self._store.read() as conn:
            row = conn.execute(q).first()
        return None if row is None else Principal(user=row.name, admin=row.admin, via="session")

    def end_session(self, secret: str) -> None:
        with self._store.write() as conn:
            conn.execute(delete(t.sessions).where(t.sessions.c.hash == sec.token_hash(secret)))


_PROCESS_KEY = secrets.token_bytes(32)


@functools.cache
def _dummy_hash() -> str:
    return sec.hash_password(str(time.time()))


def _need_admin(what: str) -> None:
    if not current_caller().admin:
        raise Forbidden(f"only a server admin may {what}")


def _need_self_or_admin(user: str, what: str) -> None:
    caller = current_caller()
    if not caller.admin and caller.user != user:
        raise Forbidden(f"only a server admin may {what}")


def _check_password(password: str | None) -> str:
    if password is None or len(password) < MIN_PASSWORD:
        raise InvalidArgument(f"a password needs at least {MIN_PASSWORD} characters")
    return password


def _user(row: object) -> User:
    r = row._mapping  # type: ignore[attr-defined]
    return User(
        name=r["name"],
        admin=r["admin"],
        disabled=r["disabled"],
        has_password=r["password_hash"] is not None,
        created_at=r["created_at"],
    )


def _user_id(conn: Connection, name: str) -> int:
    found = conn.execute(select(t.users.c.id).where(t.users.c.name == name)).scalar()
    if found is None:
        raise NotFound(f"no user {name!r}")
    return int(found)


def _workspace_id(conn: Connection, name: str) -> int:
    found = conn.execute(select(t.workspaces.c.id).where(t.workspaces.c.name == name)).scalar()
    if found is None:
        raise NotFound(f"no workspace {name!r}")
    return int(found)
