"""The models a deployment endpoint has loaded, shared between its revisions.

A new revision often changes only weights: its variants' models are the ones already loaded. The
pool keys each loaded :class:`ModelEndpoint` by (URI, batching, replicas) and hands the same one to
the next revision, so a weight change loads nothing. An alias URI (``models:/churn@champion``) is
reused only while the alias still names the version loaded; :meth:`ModelPool.refresh_aliases`
hot-reloads such models in place when the alias moves between revisions (load and warm the new
version, then :meth:`ModelEndpoint.swap`, which drains the old one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from treadle.rollout import DeploymentSpec, ModelSpec
from treadle.serving._model import ModelEndpoint
from treadle.serving._reload import AliasWatcher, follows_alias

if TYPE_CHECKING:
    from treadle.client import Client
    from treadle.serving._metrics import ServingMetrics

log = logging.getLogger(__name__)

_Key = tuple[str, str, str]  # (model URI, batching, replicas)


def _key(spec: DeploymentSpec, uri: str) -> _Key:
    batching = spec.batching.model_dump_json() if spec.batching is not None else ""
    return (uri, batching, spec.replicas.model_dump_json())


class ModelPool:
    """Loaded models by key. Not thread safe: the deployment endpoint calls it under its swap lock."""

    def __init__(
        self, deployment: str, client: Client, *, backend: str = "local", metrics: ServingMetrics | None = None
    ) -> None:
        self.deployment = deployment
        self.client = client
        self.backend = backend
        self.metrics = metrics
        self._models: dict[_Key, ModelEndpoint] = {}
        self._running: list[ModelEndpoint] = []  # every started model not stopped yet (incl. stale ones)
        self._watchers: dict[int, AliasWatcher] = {}  # id(endpoint) -> its reload watcher

    async def acquire(self, spec: DeploymentSpec) -> tuple[dict[str, ModelEndpoint], ModelEndpoint | None]:
        """The variant models and the shadow model ``spec`` needs, loading the missing ones first
        (all at once; if any fails, none is kept and the error is raised)."""
        wanted = {v.name: _key(spec, v.model) for v in spec.variants}
        shadow = _key(spec, spec.shadow.model) if spec.shadow is not None else None
        names = {key: f"{self.deployment}:{variant}" for variant, key in reversed(wanted.items())}
        if shadow is not None:
            names.setdefault(shadow, f"{self.deployment}:shadow")
        fresh: dict[_Key, ModelEndpoint] = {}
        for key, name in names.items():
            current = self._models.get(key)
            if current is None or await self._stale(current):
                fresh[key] = ModelEndpoint(
                    ModelSpec(name=name, uri=key[0], batching=spec.batching, replicas=spec.replicas),
                    self.client,
                    backend=self.backend,
                    metrics=self.metrics,
                )
        results = await asyncio.gather(*(ep.start() for ep in fresh.values()), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            await asyncio.gather(*(ep.stop() for ep in fresh.values()), return_exceptions=True)
            raise failed[0]
        self._models.update(fresh)
        self._running.extend(fresh.values())
        return {v: self._models[k] for v, k in wanted.items()}, (self._models[shadow] if shadow is not None else None)

    async def _stale(self, endpoint: ModelEndpoint) -> bool:
        """Whether an alias model no longer serves the version its alias names."""
        if not follows_alias(endpoint.spec.uri):
            return False
        from treadle.client._models import resolve_version

        try:
            version = await asyncio.to_thread(resolve_version, self.client, endpoint.spec.uri)
        except Exception:
            log.warning("could not resolve %s; keeping the loaded model", endpoint.spec.uri, exc_info=True)
            return False
        return endpoint.resolved_version is not None and int(version.version) != endpoint.resolved_version

    def release(self, in_use: Iterable[ModelEndpoint]) -> list[ModelEndpoint]:
        """Forget every model not in ``in_use`` and return them (the caller stops them)."""
        keep = {id(ep) for ep in in_use}
        retired = [ep for ep in self._running if id(ep) not in keep]
        self._running = [ep for ep in self._running if id(ep) in keep]
        self._models = {k: ep for k, ep in self._models.items() if id(ep) in keep}
        self._watchers = {k: w for k, w in self._watchers.items() if k in keep}
        return retired

    async def refresh_aliases(self, endpoints: Iterable[ModelEndpoint]) -> list[str]:
        """Hot-reload alias models whose alias moved (:class:`AliasWatcher` checks, one poll each);
        returns the URIs reloaded. A version that fails to load leaves the old one serving."""
        reloaded: list[str] = []
        for ep in {id(e): e for e in endpoints}.values():
            if not (ep.spec.reload and follows_alias(ep.spec.uri)):
                continue
            watcher = self._watchers.get(id(ep))
            if watcher is None:
                watcher = self._watchers[id(ep)] = AliasWatcher(ep, self.client)
            try:
                if await watcher.check():
                    reloaded.append(ep.spec.uri)
            except Exception as exc:
                log.warning("reloading %s failed, still serving version %s: %s", ep.spec.uri, ep.version, exc)
        return reloaded

    async def close(self) -> None:
        models, self._running, self._models, self._watchers = self._running, [], {}, {}
        await asyncio.gather(*(ep.stop() for ep in models), return_exceptions=True)
