"""Choosing a backend by URI: a local database + blob store, or a treadle server."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import httpx

from treadle.artifacts import ArtifactService, BlobStore, open_blob_store
from treadle.datasets import DatasetService
from treadle.errors import InvalidArgument
from treadle.events import EventService
from treadle.features import FeatureService
from treadle.lineage import LineageService
from treadle.monitors import MonitorService
from treadle.ops import Service
from treadle.orchestration import PipelineService, ScheduleService
from treadle.registry import RegistryService, WebhookService
from treadle.rollout import RolloutService
from treadle.store import Store, is_sql_uri
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
    blobs: BlobStore
    store: Store | None = None  # only for local backends

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
    from treadle.config import Settings

    store = Store(uri)
    blobs = open_blob_store(artifacts)
    datasets = DatasetService(store, blobs)
    registry = RegistryService(store, blobs)
    return Backend(
        uri=uri,
        tracking=TrackingService(store, blobs),
        lineage=LineageService(store),
        events=EventService(store),
        artifacts=ArtifactService(store, blobs),
        registry=registry,
        webhooks=WebhookService(store),
        datasets=datasets,
        features=FeatureService(store, blobs, datasets, Settings().online_store),
        rollout=RolloutService(store, registry),
        pipelines=PipelineService(store, blobs),
        schedules=ScheduleService(store),
        tuning=StudyService(store),
        monitors=MonitorService(store),
        blobs=blobs,
        store=store,
    )


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
        blobs=RemoteBlobStore(http),
    )


def get_backend(uri: str, artifacts: str, token: str | None = None) -> Backend:
    """One backend per (uri, artifacts) per process, so engines and connections are shared."""
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
        _cache.clear()
