"""The feature service: definitions and versions (:class:`DefinitionOps`), the online side
(:class:`OnlineOps`: materialize, push, online lookups, skew) and point-in-time training frames.

``get_training_frame`` is a local method, not an operation: its result is a large frame, and the
join runs where the data is read. Against a server the same join runs client-side with
:func:`treadle.features.get_training_frame`, which reads view definitions through the (remote)
``get_view`` operation and the sources from the client.
"""

from __future__ import annotations

from typing import Any, ClassVar

from treadle.artifacts import BlobStore
from treadle.features._offline import JoinOptions, get_training_frame
from treadle.features._online import OnlineOps
from treadle.features._registry import DefinitionOps
from treadle.features._sources import DatasetReader
from treadle.lineage import LineageService
from treadle.ops import Service
from treadle.store import Store


class FeatureService(OnlineOps, DefinitionOps, Service):
    """Entities, feature views (versioned), the online store and training frames."""

    capability: ClassVar[str] = "features"

    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        datasets: DatasetReader | None = None,
        online_store: str = "sqlite:///.treadle/online.db",
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._datasets = datasets
        self._online_uri = online_store
        self._lineage = LineageService(store)

    def get_training_frame(
        self,
        entity_df: Any,
        features: list[str],
        *,
        full_names: bool = False,
        timestamp_column: str = "event_timestamp",
        options: JoinOptions | None = None,
    ) -> Any:
        """Point-in-time correct features for each row of ``entity_df`` (see :func:`get_training_frame`)."""
        return get_training_frame(
            self,
            entity_df,
            features,
            datasets=self._datasets,
            full_names=full_names,
            timestamp_column=timestamp_column,
            options=options,
        )
