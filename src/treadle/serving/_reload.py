"""Hot reload: follow a ``models:/name@alias`` URI and swap in the new version when the alias moves.

The watcher polls the registry (one ``resolve`` call per interval; no event subscription, so it
works the same against SQLite, PostgreSQL and a remote server). When the alias points at another
version it fetches that version, builds a fresh executor with the endpoint's own spec, starts and
warms it *before* touching the endpoint, and only then calls ``endpoint.swap`` — an atomic
replacement after which new requests go to the new executor while the old one drains its in-flight
requests and stops. A request therefore never meets a half-loaded model, and a version that fails
to load leaves the old one serving (it is retried after ``retry_failed_s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from treadle.client._models import fetch, resolve
from treadle.errors import CorruptBlob
from treadle.models import read_manifest
from treadle.serving._executors import make_executor
from treadle.serving._types import Executor

if TYPE_CHECKING:
    from treadle.client import Client
    from treadle.serving._model import ModelEndpoint

log = logging.getLogger(__name__)


def follows_alias(uri: str) -> bool:
    """Whether ``uri`` names a registry alias (the only kind of URI that can move)."""
    return uri.startswith("models:/") and "@" in uri


class AliasWatcher:
    """Polls every ``interval_s``; ``check()`` does one poll and says whether it swapped."""

    def __init__(
        self, endpoint: ModelEndpoint, client: Client, interval_s: float = 2.0, *, retry_failed_s: float = 30.0
    ) -> None:
        self.endpoint = endpoint
        self.client = client
        self.interval_s = interval_s
        self.retry_failed_s = retry_failed_s
        self.swaps = 0
        self._failed: dict[int, float] = {}  # version -> when loading it last failed (monotonic)
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def uri(self) -> str:
        return str(self.endpoint.spec.uri)

    def start(self) -> None:
        if follows_alias(self.uri) and self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"treadle-reload-{self.endpoint.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check()
            except Exception as exc:  # the registry or the new model failed: keep serving the old one
                log.warning("reloading %s failed, still serving version %s: %s", self.uri, self.endpoint.version, exc)

    async def check(self) -> bool:
        """Resolve the alias once; load, warm and swap in its version if it moved."""
        async with self._lock:
            resolved = await asyncio.to_thread(resolve, self.client, self.uri)
            version = int(resolved.version.version)
            if version == self.endpoint.resolved_version:
                return False
            failed_at = self._failed.get(version)
            if failed_at is not None and time.monotonic() - failed_at < self.retry_failed_s:
                return False
            log.info("%s moved to version %s; loading it", self.uri, version)
            try:
                model_dir = await asyncio.to_thread(fetch, self.client, self.uri, resolved)
                digest = resolved.version.digest
                if digest and (await asyncio.to_thread(read_manifest, model_dir)).digest != digest:
                    raise CorruptBlob(f"{self.uri}: version {version}'s manifest does not match its registry digest")
                executor = self._make_executor(model_dir)
                await executor.start()
            except Exception:
                self._failed[version] = time.monotonic()
                raise
            try:
                await self.endpoint.swap(str(version), executor, model_dir)
            except BaseException:
                await executor.stop()
                raise
            self._failed.pop(version, None)
            self.swaps += 1
            log.info("%s now serves version %s", self.endpoint.name, version)
            return True

    def _make_executor(self, model_dir: Path) -> Executor:
        """The endpoint's own executor recipe (same replicas, batching, backend and metrics hook)."""
        own = getattr(self.endpoint, "make_executor", None)
        if callable(own):
            executor: Executor = own(model_dir)
            return executor
        return make_executor(model_dir, self.endpoint.spec, backend=getattr(self.endpoint, "backend", "local"))
