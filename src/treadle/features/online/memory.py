"""An in-process online store (tests, notebooks, a single-process server). Nothing persists."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from treadle.features.online.base import OnlineStore, Stored, check_lengths

_named: dict[str, MemoryOnlineStore] = {}
_named_lock = threading.Lock()


class MemoryOnlineStore(OnlineStore):
    """Dicts behind a lock for writers; reads take no lock (a stored tuple is replaced whole)."""

    def __init__(self) -> None:
        self._views: dict[str, dict[str, Stored]] = {}
        self._lock = threading.Lock()

    def write(self, view: str, keys: Sequence[str], values: Sequence[bytes], event_ts: Sequence[int]) -> int:
        check_lengths(keys, values, event_ts)
        now = int(time.time() * 1000)
        applied = 0
        with self._lock:
            rows = self._views.setdefault(view, {})
            for key, value, ts in zip(keys, values, event_ts, strict=True):
                old = rows.get(key)
                if old is None or old[1] <= ts:
                    rows[key] = (bytes(value), int(ts), now)
                    applied += 1
        return applied

    def read(self, view: str, keys: Sequence[str]) -> list[Stored | None]:
        rows = self._views.get(view)
        if rows is None:
            return [None] * len(keys)
        return [rows.get(key) for key in keys]

    def delete_view(self, view: str) -> None:
        with self._lock:
            self._views.pop(view, None)

    def close(self) -> None:
        pass


def named_memory_store(name: str) -> MemoryOnlineStore:
    """The process-wide memory store called ``name`` (``memory://name``): every open shares it."""
    with _named_lock:
        store = _named.get(name)
        if store is None:
            store = _named[name] = MemoryOnlineStore()
        return store
