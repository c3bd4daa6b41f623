"""Which role each route needs: the one table the gateway consults for every request.

``PUBLIC`` routes answer without credentials (health, the login page, static files, the API
schema, webhook triggers, which carry their own token); ``SIGNED_IN`` routes need a user but no
workspace role (the access service: your tokens, your workspaces; it checks ownership itself).
Everything else needs ``viewer`` (reads), ``editor`` (writes) or ``admin`` (destructive or
governing writes) in the request's workspace. Unknown operations count as writes: a new read that
nobody classified is refused to viewers rather than a new write being allowed to them.
"""

from __future__ import annotations

import re
from typing import Literal

Need = Literal["public", "signed-in", "viewer", "editor", "admin"]
PUBLIC: Need = "public"
SIGNED_IN: Need = "signed-in"

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Operations (POST /api/v1/<capability>/<operation>) that only read.
READ_PREFIXES = ("get_", "list_", "search", "find_", "read", "resolve", "count_")
READ_OPERATIONS = frozenset(
    {
        "artifacts.stat",
        "datasets.missing_blobs",
        "datasets.file_index",
        "datasets.usage",
        "datasets.diff",
        "datasets.sample",
        "features.freshness",
        "features.skew_check",
        "features.view_versions",
        "lineage.upstream",
        "lineage.downstream",
        "lineage.subgraph",
        "monitors.alert_states",
        "monitors.due_monitors",
        "rollout.deployment_history",
        "rollout.bandit_state",
        "schedules.verify_webhook",
    }
)
# Writes that govern or destroy rather than add: a workspace's admins only.
ADMIN_OPERATIONS = frozenset(
    {
        "artifacts.gc",
        "tracking.purge_runs",
        "registry.approve_version",
        "registry.reject_version",
        "registry.protect_alias",
        "webhooks.create_webhook",
        "webhooks.delete_webhook",
    }
)

# MLflow's POST routes that only read (its searches and batch gets are POSTs). Whole last segments
# only: a write route whose path holds a {field} (logged-models/{model_id}/params) must not pass for
# a read because of what a caller puts in that field.
_MLFLOW_READS = re.compile(r"(^|/)(search|get|get-history|get-history-bulk-interval|get-by-name|get-latest-versions)$")
_PUBLIC_PATHS = frozenset({"/health", "/version", "/login", "/openapi.json", "/docs", "/redoc", "/favicon.ico"})
_PUBLIC_PREFIXES = ("/static/", "/docs/")
_TRIGGER = re.compile(r"^/pipelines/[^/]+/trigger$")
# The UI's POST forms: which role each needs (anything else posted to the UI: editor).
_UI_FORMS = (
    (re.compile(r"^/features/views/[^/]+/skew$"), "viewer"),
    (re.compile(r"^/models/[^/]+/versions/[^/]+/approval$"), "admin"),
)


def operation_need(capability: str, name: str) -> Need:
    key = f"{capability}.{name}"
    if key in ADMIN_OPERATIONS:
        return "admin"
    if key in READ_OPERATIONS or name.startswith(READ_PREFIXES) or name == "whoami":
        return "viewer"
    return "editor"


def required(method: str, path: str) -> Need:
    """The role ``method path`` needs (``path`` without any ``/w/<workspace>`` prefix)."""
    if path in _PUBLIC_PATHS or path.startswith(_PUBLIC_PREFIXES) or (method == "POST" and _TRIGGER.match(path)):
        return PUBLIC
    if path == "/logout":
        return SIGNED_IN
    if path.startswith("/api/v1/access/"):
        return SIGNED_IN
    if path.startswith("/api/v1/") and method == "POST":
        parts = path[len("/api/v1/") :].split("/")
        if len(parts) == 2 and parts[0] != "blobs":
            return operation_need(parts[0], parts[1])
    if method in SAFE_METHODS:
        return "viewer"
    if path.startswith(("/api/2.0/mlflow/", "/api/3.0/mlflow/")):
        tail = path.split("/mlflow/", 1)[1].strip("/")
        return "viewer" if method == "POST" and _MLFLOW_READS.search(tail) else "editor"
    if path == "/features/online":
        return "viewer"  # a lookup, posted for its body
    for pattern, need in _UI_FORMS:
        if pattern.match(path):
            return need  # type: ignore[return-value]
    return "editor"


def is_write(method: str, path: str, need: Need) -> bool:
    """Whether a request changes something (what the audit log records)."""
    if method in SAFE_METHODS or need in (PUBLIC, "viewer"):
        return False
    if path.startswith("/api/v1/access/"):
        return operation_need("access", path.rsplit("/", 1)[-1]) != "viewer"
    return True
