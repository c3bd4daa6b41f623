"""The workspaces a server serves: one app (routes over that workspace's own store) per workspace.

The ``default`` workspace is the root app itself. Another workspace's app is built on first use
(or at start-up, for those that exist then) with its background workers: the webhook dispatcher
and the pipeline scheduler, each over that workspace's store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp

from treadle.access import AccessService
from treadle.client._backend import Backend, get_backend, in_workspace
from treadle.config import Settings
from treadle.registry import WebhookDispatcher
from treadle.server._ratelimit import LoginLimiter
from treadle.store import DEFAULT_WORKSPACE


class Workers:
    """The background loops of one workspace's store."""

    def __init__(self, backend: Backend, uri: str, artifacts: str, settings: Settings) -> None:
        self._dispatcher = WebhookDispatcher(backend.webhooks, settings.webhook_interval_s)
        self._scheduler: Any = None
        self._args = (uri, artifacts, settings)

    def start(self) -> Workers:
        uri, artifacts, settings = self._args
        if settings.webhook_interval_s > 0:
            self._dispatcher.start()
        if settings.scheduler:  # on for `treadle server` (see run_server); any number of workers share a lease
            from treadle.pipelines._scheduler import Scheduler

            self._scheduler = Scheduler(
                uri,
                artifacts,
                poll_s=settings.scheduler_poll_s,
                max_concurrent=settings.scheduler_max_concurrent,
            ).start()
        return self

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.stop()
        if self._args[2].webhook_interval_s > 0:
            self._dispatcher.stop()


class WorkspaceHub:
    """Apps per workspace, the access service (the control plane) and the sign-in limiter."""

    def __init__(
        self, uri: str, artifacts: str, settings: Settings, access: AccessService, build: Callable[[Backend], ASGIApp]
    ) -> None:
        self.uri, self.artifacts, self.settings = uri, artifacts, settings
        self.access = access
        self.auth = settings.auth
        self.limiter = LoginLimiter()
        self._build = build
        self._apps: dict[str, ASGIApp] = {}
        self._workers: list[Workers] = []
        self._running = False
        self._lock = threading.Lock()

    def start(self, root: Backend) -> None:
        with self._lock:
            self._running = True
            self._workers.append(Workers(root, self.uri, self.artifacts, self.settings).start())
        for name in self.access.workspace_names():
            if name != DEFAULT_WORKSPACE:
                self.app_for(name)

    def stop(self) -> None:
        with self._lock:
            self._running = False
            workers, self._workers = self._workers, []
        for w in workers:
            w.stop()

    def app_for(self, workspace: str) -> ASGIApp | None:
        """The app of a non-default workspace (None when there is no such workspace)."""
        app = self._apps.get(workspace)
        if app is not None:
            return app
        if not self.access.workspace_exists(workspace):
            return None
        with self._lock:
            app = self._apps.get(workspace)
            if app is None:
                uri, artifacts = in_workspace(self.uri, self.artifacts, workspace)
                backend = get_backend(uri, artifacts)
                app = self._apps[workspace] = self._build(backend)
                if self._running:
                    self._workers.append(Workers(backend, uri, artifacts, self.settings).start())
        return app
