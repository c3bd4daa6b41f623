"""One served model: resolve its URI through the registry, fetch it, run it on an executor.

``start`` resolves ``models:/name@alias`` (or a version, a ``runs:/`` URI, a folder) to files,
checks the manifest against the digest the registry recorded, and builds the executor
``make_executor`` picks for the :class:`~treadle.rollout.ModelSpec`. ``swap`` replaces the executor
atomically for hot reload: new requests go to the new version at once, the old one drains.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from treadle.errors import CorruptBlob, Unavailable
from treadle.models import read_manifest
from treadle.rollout import ModelSpec
from treadle.serving._types import Endpoint, Executor, InferRequest, InferResult

if TYPE_CHECKING:
    from treadle.client import Client
    from treadle.serving._metrics import ServingMetrics

log = logging.getLogger("treadle.serving")

SKLEARN_LIKE = {"sklearn", "skops", "xgboost", "lightgbm"}


class ModelEndpoint(Endpoint):
    """``spec.uri`` served under ``spec.name``; ``version`` is the registry version (``"1"`` otherwise)."""

    def __init__(
        self,
        spec: ModelSpec,
        client: Client,
        *,
        backend: str = "local",
        metrics: ServingMetrics | None = None,
    ) -> None:
        self.name = spec.name
        self.spec = spec
        self.client = client
        self.backend = backend
        self.metrics = metrics
        self.version: str = "1"
        self.resolved_version: int | None = None
        self.model_dir: Path | None = None
        self._executor: Executor | None = None
        self._metadata: dict[str, Any] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Resolve, fetch, verify and load the model; returns once it answers. A start that fails or
        is cancelled (a sibling endpoint failed) stops the executor it began, so no worker outlives it."""
        if self._executor is not None:
            return
        version, model_dir = await anyio.to_thread.run_sync(self.fetch)
        executor = self.make_executor(model_dir)
        try:
            await executor.start()
            metadata = await anyio.to_thread.run_sync(self._describe, executor, model_dir)
        except BaseException:  # failed or cancelled (a sibling endpoint failed): leave no worker behind
            with anyio.CancelScope(shield=True):
                await executor.stop()
            raise
        self.model_dir = model_dir
        self.version = version
        self._metadata = metadata
        self._executor = executor
        if self.metrics is not None:
            self.metrics.register_endpoint(self)
        log.info("serving %s version %s from %s", self.name, self.version, self.spec.uri)

    def fetch(self) -> tuple[str, Path]:
        """``(version, local folder)`` of ``spec.uri`` now (blocking: call it on a thread)."""
        from treadle.client._models import fetch, resolve

        uri = self.spec.uri
        if not uri.startswith("models:/"):
            return "1", fetch(self.client, uri)
        resolved = resolve(self.client, uri)
        folder = fetch(self.client, uri, resolved)
        digest = resolved.version.digest
        if digest and read_manifest(folder).digest != digest:
            raise CorruptBlob(f"{uri}: the fetched model's manifest does not match the registry's digest {digest[:12]}")
        self.resolved_version = int(resolved.version.version)
        return str(resolved.version.version), folder

    def make_executor(self, model_dir: Path) -> Executor:
        """An unstarted executor for ``model_dir`` as the spec asks (replicas, batching, backend)."""
        from treadle.serving._executors import make_executor

        on_batch = None
        if self.metrics is not None:
            metrics, name = self.metrics, self.name

            def on_batch(size: int) -> None:
                metrics.observe_batch(name, size)

        return make_executor(model_dir, self.spec, backend=self.backend, on_batch=on_batch)

    async def swap(self, version: str, executor: Executor, model_dir: Path | None = None) -> None:
        """Serve ``version`` on the (started) ``executor`` from now on; drain and stop the old one."""
        if model_dir is not None:
            self._metadata = await anyio.to_thread.run_sync(self._describe, executor, model_dir)
            self.model_dir = model_dir
        old = self._executor
        self._executor = executor
        self.version = version
        if version.isdigit():
            self.resolved_version = int(version)
        log.info("%s now serves version %s", self.name, version)
        if old is not None and old is not executor:
            await old.stop()

    async def stop(self) -> None:
        executor, self._executor = self._executor, None
        if self.metrics is not None:
            self.metrics.unregister_endpoint(self)
        if executor is not None:
            await executor.stop()

    # ------------------------------------------------------------------ serving

    @property
    def executor(self) -> Executor | None:
        return self._executor

    @property
    def versions(self) -> list[str]:
        return [self.version]

    @property
    def ready(self) -> bool:
        return self._executor is not None

    @property
    def replicas(self) -> int:
        return 0 if self._executor is None else self._executor.replicas

    @property
    def inflight(self) -> int:
        return 0 if self._executor is None else self._executor.inflight

    @property
    def queue_depth(self) -> int:
        return 0 if self._executor is None else self._executor.queue_depth

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": self.versions,
            "platform": self._metadata.get("platform", "treadle"),
            "inputs": self._metadata.get("inputs", []),
            "outputs": self._metadata.get("outputs", []),
        }

    async def infer(self, request: InferRequest) -> InferResult:
        executor = self._executor
        if executor is None:
            raise Unavailable(f"model {self.name!r} is not loaded yet")
        version = self.version
        try:
            outputs = await executor.run(request.inputs, request.outputs)
        except Unavailable:
            current = self._executor
            if current is None or current is executor:
                raise
            executor, version = current, self.version  # swapped while we waited: answer from the new one
            outputs = await executor.run(request.inputs, request.outputs)
        return InferResult(outputs=outputs, model_name=self.name, model_version=version)

    @staticmethod
    def _describe(executor: Executor, model_dir: Path) -> dict[str, Any]:
        """OIP inputs/outputs: from the executor when it holds the model, else from the manifest."""
        try:
            described = executor.metadata()
        except Exception:
            log.debug("executor could not describe the model", exc_info=True)
            described = None
        if described is not None:
            return dict(described)
        from treadle.serving._io import manifest_metadata

        manifest = read_manifest(model_dir)
        return manifest_metadata(manifest, has_proba=manifest.flavor in SKLEARN_LIKE)
