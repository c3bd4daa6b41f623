"""The tuning service: Optuna studies kept as journals in treadle's own store."""

from __future__ import annotations

from typing import ClassVar

from treadle.ops import Service
from treadle.store import Store


class StudyService(Service):
    """Study journals (operations filled in by the tuning work)."""

    capability: ClassVar[str] = "tuning"

    def __init__(self, store: Store) -> None:
        self._store = store
