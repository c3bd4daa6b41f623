"""The MLflow-compatible REST API, so the unmodified ``mlflow`` client can use a treadle server.

``MLFLOW_TRACKING_URI=http://<treadle server>`` then writes treadle's own experiments, runs, metric
series, params, tags and artifacts (one store, one UI, one lineage graph). Modules:

- ``_wire``: the route table, request fields, proto-JSON values and MLflow's error format;
- ``_tracking``: experiments, runs, logging, metric history, search (``/api/2.0/mlflow/...``);
- ``_artifacts``: the proxied artifact service (``/api/2.0/mlflow-artifacts/artifacts/...``);
- ``_registry``: the model registry (``registered-models/*``, ``model-versions/*``) over treadle's registry;
- ``_logged_models``: MLflow 3 logged models (``logged-models/*``, ``runs/outputs``);
- ``_model_search``: the filters and ``order_by`` of ``logged-models/search`` (attributes, metrics, params, tags).

Every ``/api/2.0/mlflow/...`` and ``/api/3.0/mlflow/...`` request goes through one dispatcher
(:class:`MlflowLane`, an ASGI middleware behind the gateway) that looks the endpoint up in
``_wire.ROUTES`` (``{field}`` segments such as ``logged-models/{model_id}`` become request fields);
an unknown one is ``ENDPOINT_NOT_FOUND`` (404), which the client treats as "this server does not
have it" where it has fallbacks.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from fastapi import Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from treadle.client._backend import Backend
from treadle.server._paths import route_path
from treadle.server.mlflow import _logged_models, _registry, _tracking  # noqa: F401 - register their routes
from treadle.server.mlflow._artifacts import Location, add_resolver, artifacts_router
from treadle.server.mlflow._wire import ROUTES, Fields, Handler, as_mlflow, error, request_fields, route

_METHODS = ["GET", "POST", "PATCH", "DELETE", "PUT"]
T = TypeVar("T")


@route("GET", "server-info", versions=("3.0",))
def _server_info(backend: Backend, fields: Fields) -> dict[str, object]:
    del backend, fields
    return {
        "store_type": "treadle",
        "workspaces_enabled": True,  # mlflow >= 3.5 sends MLFLOW_WORKSPACE as X-MLflow-Workspace: a treadle workspace
        "multipart_uploads_enabled": False,
        "multipart_downloads_enabled": False,
    }


def lookup(method: str, version: str, path: str) -> tuple[Handler | None, dict[str, str]]:
    """The handler for a path, and the values of its ``{field}`` segments (``logged-models/{model_id}``)."""
    handler = ROUTES.get((method, version, path))
    if handler is not None:
        return handler, {}
    parts = path.split("/")
    for (m, v, template), candidate in ROUTES.items():
        if m != method or v != version or "{" not in template:
            continue
        pattern = template.split("/")
        if len(pattern) != len(parts):
            continue
        params: dict[str, str] = {}
        for want, got in zip(pattern, parts, strict=True):
            if want.startswith("{") and want.endswith("}"):
                params[want[1:-1]] = got
            elif want != got:
                break
        else:
            return candidate, params
    return None, {}


def _answer(handler: Handler, backend: Backend, fields: Fields) -> bytes:
    return orjson.dumps(handler(backend, fields))


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn`` in the event loop's thread pool with the caller's context (the gateway's caller).
    asyncio's executor directly: anyio's ``to_thread`` (Starlette's ``run_in_threadpool``) costs
    ~0.1 ms more a call in limiter and cancel-scope bookkeeping, a tenth of a small request."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(None, context.run, fn, *args)


async def respond(backend: Backend, request: Request, version: str, path: str) -> Response:
    """Answer one ``/api/{version}/mlflow/{path}`` request as MLflow would, errors included."""
    handler, params = lookup(request.method, version, path.strip("/"))
    if handler is None:
        return error("ENDPOINT_NOT_FOUND", f"no MLflow endpoint {request.method} /api/{version}/mlflow/{path}", 404)
    try:
        fields = {**await request_fields(request), **params}
        # serialised in the worker thread with orjson: a 100-run search page is ~100 KB of JSON
        return Response(await in_thread(_answer, handler, backend, fields), media_type="application/json")
    except Exception as exc:  # every error is answered as MLflow answers it
        return as_mlflow(exc)


_LANE = re.compile(r"^/api/(?P<version>[0-9.]+)/mlflow/(?P<path>.*)$")


class MlflowLane:
    """ASGI middleware that answers ``/api/{version}/mlflow/...`` before FastAPI's router.

    The mlflow client sends one small request per point it logs; FastAPI's route matching and
    dependency handling cost more than most of those requests' own work (~0.5 ms of ~1 ms), and
    the MLflow endpoints need none of it (one dispatcher, its own errors, not in the OpenAPI
    document). Sits behind the gateway, so authentication, roles and workspaces apply unchanged."""

    def __init__(self, app: ASGIApp, backend: Backend) -> None:
        self.app = app
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _METHODS:
            match = _LANE.match(route_path(scope))
            if match is not None:
                response = await respond(self.backend, Request(scope, receive), match["version"], match["path"])
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


__all__ = ["Location", "MlflowLane", "add_resolver", "artifacts_router", "in_thread", "route"]
