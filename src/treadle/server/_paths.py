"""The path a request's routes match."""

from __future__ import annotations

from starlette.types import Scope


def route_path(scope: Scope) -> str:
    """The request path below the server's ``root_path`` (uvicorn --root-path puts it in ``path`` too):
    the policy must classify the path the routes will match, or a prefix would hide admin routes."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :] or "/"
    return path
