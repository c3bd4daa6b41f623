"""Access control: users, API tokens, workspaces and roles, UI sessions and the audit log.

The service keeps the state in the main store; the server's gateway (:mod:`treadle.server._gateway`)
authenticates each request, picks its workspace and checks the role its route needs.
"""

from treadle.access._caller import current_caller, reset_caller, set_caller
from treadle.access._records import (
    ANONYMOUS,
    DEFAULT_WORKSPACE,
    LOCAL,
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
from treadle.access._secrets import csrf_token
from treadle.access._service import AccessService

__all__ = [
    "ANONYMOUS",
    "DEFAULT_WORKSPACE",
    "LOCAL",
    "ROLE_RANK",
    "AccessService",
    "ApiToken",
    "AuditEntry",
    "Member",
    "NewToken",
    "Principal",
    "Role",
    "User",
    "Workspace",
    "csrf_token",
    "current_caller",
    "reset_caller",
    "set_caller",
]
