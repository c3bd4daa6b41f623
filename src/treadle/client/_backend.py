"""Choosing a backend by URI: a local database + blob store, or a treadle server."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import httpx

from treadle.access import AccessService
from treadle.artifacts import ArtifactService, BlobStore, open_blob_store
from treadle.datasets import DatasetService
from treadle.errors import InvalidArgument, NotFound
from treadle.events import EventService
from treadle.features import FeatureService
from treadle.lineage import LineageService
from treadle.monitors import MonitorService
from treadle.ops import Service
from treadle.orchestration import PipelineService, ScheduleService
from treadle.registry import RegistryService, WebhookService
from treadle.rollout import RolloutService
from treadle.store import (
    DEFAULT_WORKSPACE,
    Store,
    is_sql_uri,
    main_uri,
    workspace_artifacts,
    workspace_of,
    workspace_online_store,
    workspace_uri,
)
from treadle.studies import StudyService
from treadle.tracking import TrackingService


@dataclass(frozen=True)
class Backend:
    """The services one URI gives: the same interface locally and over HTTP."""

    uri: str
    tracking: TrackingService
    lineage: LineageService
    events: EventService
    artifacts: ArtifactService
    registry: RegistryService
    webhooks: WebhookService
    datasets: DatasetService
    features: FeatureService
    rollout: RolloutService
    pipelines: PipelineService
    schedules: ScheduleService
    tuning: StudyService
    monitors: MonitorService
    access: AccessService  # users, tokens, workspaces: the main store's, whichever workspace this is
    blobs: BlobStore
    store: Store | None = None  # only for local backends
    workspace: str = DEFAULT_WORKSPACE

    def services(self) -> tuple[Service, ...]:
        """Every service this backend offers (the server mounts each one's operations)."""
        return (
            self.tracking,
            self.lineage,
            self.events,
            self.artifacts,
            self.registry,
            self.webhooks,
            self.datasets,
            self.features,
            self.rollout,
            self.pipelines,
            self.schedules,
            self.tuning,
            self.monitors,
        )


_cache: dict[tuple[str, str, str | None], Backend] = {}
_lock = threading.Lock()


def local_backend(uri: str, artifacts: str) -> Backend:
    """The services of the store ``uri`` (the main store, or a workspace's: see treadle.store)."""
    from treadle.config import Settings

    workspace = workspace_of(uri)
    control = Store(main_uri(uri))  # users, tokens, workspaces live in the main store
    store = control
    if workspace != DEFAULT_WORKSPACE:
        if not AccessService(control).workspace_exists(workspace):
            control.dispose()
            raise NotFound(f"no workspace {workspace!r}: create it with `treadle workspaces create {workspace}`")
        store = Store(uri)
    blobs = open_blob_store(artifacts)
    datasets = DatasetService(store, blobs)
    registry = RegistryService(store, blobs)
    online = workspace_online_store(Settings().online_store, workspace)
    return Backend(
        uri=uri,
        tracking=TrackingService(store, blobs),
        lineage=LineageService(store),
        events=EventService(store),
        artifacts=ArtifactService(store, blobs),
        registry=registry,
        webhooks=WebhookService(store),
        datasets=datasets,
        features=FeatureService(store, blobs, datasets, online),
        rollout=RolloutService(store, registry),
        pipelines=PipelineService(store, blobs),
        schedules=ScheduleService(store),
        tuning=StudyService(store),
        monitors=MonitorService(store),
        access=AccessService(control),
        blobs=blobs,
        store=store,
        workspace=workspace,
    )


def in_workspace(uri: str, artifacts: str, workspace: str | None) -> tuple[str, str]:
    """``uri`` and ``artifacts`` of ``workspace`` (None: as given). The workspace is part of the
    URI from here on, so processes handed the URI work in the same workspace."""
    if not workspace:
        return uri, artifacts
    scoped = workspace_uri(uri, workspace)
    if scoped.startswith(("http://", "https://")):
        return scoped, artifacts
    return scoped, workspace_artifacts(artifacts, workspace) if scoped != uri else artifacts


def remote_backend(uri: str, token: str | None = None) -> Backend:
    from treadle.client._remote import RemoteBlobStore, remote_service

    headers = {"authorization": f"Bearer {token}"} if token else {}
    http = httpx.Client(base_url=uri.rstrip("/"), headers=headers, timeout=httpx.Timeout(60.0, connect=5.0))
    return Backend(
        uri=uri,
        tracking=remote_service(http, TrackingService),
        lineage=remote_service(http, LineageService),
        events=remote_service(http, EventService),
        artifacts=remote_service(http, ArtifactService),
        registry=remote_service(http, RegistryService),
        webhooks=remote_service(http, WebhookService),
        datasets=remote_service(http, DatasetService),
        features=remote_service(http, FeatureService),
        rollout=remote_service(http, RolloutService),
        pipelines=remote_service(http, PipelineService),
        schedules=remote_service(http, ScheduleService),
        tuning=remote_service(http, StudyService),
        monitors=remote_service(http, MonitorService),
        access=remote_service(http, AccessService),
        blobs=RemoteBlobStore(http),
        workspace=workspace_of(uri),
    )


def get_backend(uri: str, artifacts: str, token: str | None = None, workspace: str | None = None) -> Backend:
    """One backend per (uri, artifacts, token) per process, so engines and connections are shared.

    ``workspace`` picks a workspace of the main store or server ``uri`` (see :func:`in_workspace`)."""
    uri, artifacts = in_workspace(uri, artifacts, workspace)
    key = (uri, artifacts, token)
    with _lock:
        backend = _cache.get(key)
        if backend is None:
            if uri.startswith(("http://", "https://")):
                backend = remote_backend(uri, token)
            elif is_sql_uri(uri):
                backend = local_backend(uri, artifacts)
            else:
                raise InvalidArgument(
                    f"TREADLE_URI {uri!r} is neither a database (sqlite:///..., postgresql+psycopg://...) "
                    "nor a server (http://host:port)"
                )
            _cache[key] = backend
        return backend


def reset_backends() -> None:
    """Drop cached backends (after a fork, or in tests)."""
    with _lock:
        for backend in _cache.values():
            if backend.store is not None:
                backend.store.dispose()
            if isinstance(backend.access, AccessService):
                backend.access.dispose()
        _cache.clear()
