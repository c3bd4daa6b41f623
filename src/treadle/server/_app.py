"""The FastAPI application: derived operation routes, blob routes, health, UI."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from treadle.client._backend import Backend, get_backend
from treadle.config import Settings
from treadle.errors import InvalidArgument
from treadle.features import online_router
from treadle.registry import WebhookDispatcher
from treadle.server._blobs import blob_router
from treadle.server._errors import install_error_handlers
from treadle.server._metrics import metrics_router
from treadle.server._operations import service_router
from treadle.server._triggers import trigger_router
from treadle.server.mlflow import mlflow_router


def create_app(uri: str | None = None, artifacts: str | None = None) -> FastAPI:
    """A server over a local store (``uri`` a database; defaults from ``TREADLE_*``)."""
    from treadle import __version__

    settings = Settings()
    uri = uri or settings.uri
    if uri.startswith(("http://", "https://")):
        raise InvalidArgument(
            "a treadle server serves a database, not another server: set TREADLE_URI to sqlite:/// or postgresql+psycopg://"
        )
    backend: Backend = get_backend(uri, artifacts or settings.artifacts)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # A new dispatcher per start-up: test clients may run the lifespan more than once.
        dispatcher = WebhookDispatcher(backend.webhooks, settings.webhook_interval_s)
        if settings.webhook_interval_s > 0:
            dispatcher.start()
        scheduler = None
        if settings.scheduler:  # on for `treadle server` (see run_server); any number of workers share a lease
            from treadle.pipelines._scheduler import Scheduler

            scheduler = Scheduler(
                uri,
                artifacts or settings.artifacts,
                poll_s=settings.scheduler_poll_s,
                max_concurrent=settings.scheduler_max_concurrent,
            ).start()
        yield
        if scheduler is not None:
            scheduler.stop()
        if settings.webhook_interval_s > 0:
            dispatcher.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="treadle",
        version=__version__,
        description="treadle's HTTP API. Every operation is `POST /api/v1/<capability>/<operation>` "
        "with a JSON body of its arguments; blobs stream through `/api/v1/blobs/{sha256}`.",
    )
    backend.features.accept_code = settings.server_accept_code  # see Settings.server_accept_code
    app.state.backend = backend
    install_error_handlers(app)
    for service in backend.services():
        app.include_router(service_router(service))
    app.include_router(blob_router(backend.artifacts))
    app.include_router(trigger_router(backend.schedules))  # POST /pipelines/{name}/trigger (webhook token)
    app.include_router(metrics_router(backend.monitors))  # GET /metrics: Prometheus gauges of the monitors
    app.include_router(online_router(lambda: backend.features))  # POST /features/online, the fast lookup path
    app.include_router(mlflow_router(backend))  # /api/2.0/mlflow/..., /api/2.0/mlflow-artifacts/...: the mlflow client

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
