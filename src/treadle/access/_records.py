"""Records of access control: users, API tokens, workspaces, members, the audit log, the caller."""

from __future__ import annotations

from typing import Literal

from treadle.records import Record

Role = Literal["viewer", "editor", "admin"]
ROLE_RANK: dict[str, int] = {"viewer": 1, "editor": 2, "admin": 3}
DEFAULT_WORKSPACE = "default"


class User(Record):
    name: str
    admin: bool  # a server admin: every role in every workspace, and manages users and workspaces
    disabled: bool
    has_password: bool
    created_at: int


class ApiToken(Record):
    """A token as listed: never its secret (only the first characters, to tell tokens apart)."""

    id: int
    user: str
    name: str
    prefix: str
    created_at: int
    expires_at: int | None
    last_used_at: int | None
    revoked_at: int | None


class NewToken(Record):
    """A token just created: ``secret`` is shown this once and stored only as a hash."""

    token: ApiToken
    secret: str


class Workspace(Record):
    name: str
    description: str
    created_at: int


class Member(Record):
    workspace: str
    user: str
    role: Role


class AuditEntry(Record):
    """One write a server accepted or refused: who, in which workspace, what, when, and the status."""

    id: int
    at: int
    user: str
    workspace: str
    method: str
    path: str
    operation: str
    status: int
    remote: str


class Principal(Record):
    """Who is calling. ``local`` is a process with the database itself (the CLI, the SDK, tests)."""

    user: str
    admin: bool
    via: Literal["token", "password", "session", "local", "anonymous"]
    token_id: int | None = None

    def has(self, role: str, granted: str | None) -> bool:
        """Whether this caller, holding ``granted`` in a workspace, may do what needs ``role``."""
        if self.admin:
            return True
        return granted is not None and ROLE_RANK[granted] >= ROLE_RANK[role]


LOCAL = Principal(user="local", admin=True, via="local")
ANONYMOUS = Principal(user="anonymous", admin=True, via="anonymous")  # a server with auth off
