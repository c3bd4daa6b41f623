"""The pipelines service: registered pipeline specs, pipeline runs, step runs and the step cache."""

from __future__ import annotations

from typing import ClassVar

from treadle.artifacts import BlobStore
from treadle.ops import Service
from treadle.store import Store


class PipelineService(Service):
    """Pipelines, their runs and step runs (operations filled in by the pipelines work)."""

    capability: ClassVar[str] = "pipelines"

    def __init__(self, store: Store, blobs: BlobStore) -> None:
        self._store = store
        self._blobs = blobs
