"""The FastAPI application: derived operation routes, blob routes, health, UI — per workspace —
behind the gateway (auth, workspaces, audit: :mod:`treadle.server._gateway`)."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from treadle.client._backend import Backend, get_backend
from treadle.config import Settings
from treadle.errors import InvalidArgument
from treadle.features import online_router
from treadle.server._blobs import blob_router
from treadle.server._errors import install_error_handlers
from treadle.server._gateway import Gateway
from treadle.server._hub import WorkspaceHub
from treadle.server._login import login_router
from treadle.server._metrics import metrics_router
from treadle.server._operations import service_router
from treadle.server._triggers import trigger_router
from treadle.server.mlflow import MlflowLane, artifacts_router
from treadle.store import DEFAULT_WORKSPACE, workspace_of

DESCRIPTION = (
    "treadle's HTTP API. Every operation is `POST /api/v1/<capability>/<operation>` with a JSON body of "
    "its arguments; blobs stream through `/api/v1/blobs/{sha256}`. A workspace other than `default` is "
    "addressed with the path prefix `/w/<workspace>` or the `X-Treadle-Workspace` header. With auth on, "
    "send `Authorization: Bearer <token>` or Basic `user:password`."
)


def create_app(uri: str | None = None, artifacts: str | None = None, *, auth: bool | None = None) -> FastAPI:
    """A server over a main store (``uri`` a database; defaults from ``TREADLE_*``) and its workspaces.

    ``auth``: require sign-in (default ``TREADLE_AUTH``; ``treadle server --auth``)."""
    settings = Settings()
    if auth is not None:
        settings = settings.model_copy(update={"auth": auth})
    uri = uri or settings.uri
    artifacts = artifacts or settings.artifacts
    if uri.startswith(("http://", "https://")):
        raise InvalidArgument(
            "a treadle server serves a database, not another server: set TREADLE_URI to sqlite:/// or postgresql+psycopg://"
        )
    if workspace_of(uri) != DEFAULT_WORKSPACE:
        raise InvalidArgument("serve the main store: its workspaces are served with it, under /w/<workspace>")
    backend: Backend = get_backend(uri, artifacts)
    hub = WorkspaceHub(uri, artifacts, settings, backend.access, lambda b: build_app(b, settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        hub.start(backend)  # per start-up: test clients may run the lifespan more than once
        yield
        hub.stop()

    app = build_app(backend, settings, lifespan=lifespan)
    app.include_router(service_router(backend.access))  # /api/v1/access/...: the control plane's
    app.include_router(login_router(hub))
    app.add_middleware(Gateway, hub=hub)
    app.state.hub = hub
    return app


def build_app(backend: Backend, settings: Settings, lifespan: Any = None) -> FastAPI:
    """Every route over one workspace's services (no gateway: the root app's gateway sends requests here)."""
    from treadle import __version__

    app = FastAPI(lifespan=lifespan, title="treadle", version=__version__, description=DESCRIPTION)
    backend.features.accept_code = settings.server_accept_code  # see Settings.server_accept_code
    app.state.backend = backend
    install_error_handlers(app)
    # The mlflow client's many small requests skip the router (which tries routes in order).
    app.add_middleware(MlflowLane, backend=backend)  # /api/2.0/mlflow/..., /api/3.0/mlflow/...
    app.include_router(artifacts_router(backend))  # /api/2.0/mlflow-artifacts/... (FastAPI routes: streamed bodies)
    for service in backend.services():
        app.include_router(service_router(service))
    app.include_router(blob_router(backend.artifacts))
    app.include_router(trigger_router(backend.schedules))  # POST /pipelines/{name}/trigger (webhook token)
    app.include_router(metrics_router(backend.monitors))  # GET /metrics: Prometheus gauges of the monitors
    app.include_router(online_router(lambda: backend.features))  # POST /features/online, the fast lookup path

    @app.get("/health", tags=["server"])
    def health() -> dict[str, str]:
        """Liveness and store reachability."""
        backend.events.read(limit=1)
        return {"status": "ok"}

    @app.get("/version", tags=["server"])
    def version() -> dict[str, str]:
        from treadle.store import head_revision

        return {"version": __version__, "schema": head_revision()}

    from treadle.ui import ui_router

    app.include_router(ui_router(backend))
    ui_static(app)
    return app


def ui_static(app: FastAPI) -> None:
    from fastapi.staticfiles import StaticFiles

    from treadle.ui import STATIC_DIR

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (multi-worker servers read their config from env)."""
    logging.basicConfig(level=os.environ.get("TREADLE_LOG_LEVEL", "INFO"))
    logging.getLogger("alembic").setLevel(logging.WARNING)  # schema checks are not news
    return create_app()
