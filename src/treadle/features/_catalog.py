"""The registered definitions as objects, loaded in one read and cached for the online path.

Online lookups must not touch the metadata database: they read a :class:`Catalog` built once
and rebuilt when definitions change (at once after a local ``apply``/``delete_view``, and within
``recheck_s`` when another process changed them: a cheap fingerprint query, at most that often).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from treadle.errors import InvalidArgument, NotFound
from treadle.features import _tables as t
from treadle.features._definitions import Entity, FeatureView, OnDemandFeatureView
from treadle.features._registry import _load_stored, view_from_spec
from treadle.store import Store


@dataclass
class Catalog:
    """Every registered entity and view at its latest version."""

    entities: dict[str, Entity] = field(default_factory=dict)
    views: dict[str, FeatureView] = field(default_factory=dict)
    on_demand: dict[str, OnDemandFeatureView] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)  # view name -> feature_views.id
    versions: dict[str, int] = field(default_factory=dict)  # view name -> latest version
    fingerprint: tuple[Any, ...] = ()

    def view(self, name: str) -> FeatureView:
        found = self.views.get(name)
        if found is None:
            if name in self.on_demand:
                raise InvalidArgument(f"{name!r} is an on-demand feature view: it is computed at lookup, not stored")
            raise NotFound(f"feature view {name!r} is not registered; known views: {sorted(self.views)}")
        return found


def fingerprint(store: Store) -> tuple[Any, ...]:
    """Changes whenever a view or entity is created, changed or deleted."""
    v, e = t.views, t.entities
    with store.read() as conn:
        views = conn.execute(select(func.count(), func.max(v.c.updated_at), func.sum(v.c.latest_version))).one()
        ents = conn.execute(select(func.count(), func.max(e.c.updated_at))).one()
    return (*views, *ents)


def load_catalog(store: Store) -> Catalog:
    with store.read() as conn:
        stored = _load_stored(conn)
    catalog = Catalog(entities={name: Entity.from_spec(spec) for name, spec in stored.entities.items()})
    for name, row in stored.views.items():
        view = view_from_spec(row.spec, catalog.entities)
        if isinstance(view, FeatureView):
            catalog.views[name] = view
        else:
            catalog.on_demand[name] = view
        catalog.ids[name] = int(row.id)
        catalog.versions[name] = int(row.latest_version)
    catalog.fingerprint = fingerprint(store)
    return catalog


class CatalogCache:
    """A :class:`Catalog` shared by threads; ``get()`` costs a clock read when nothing changed."""

    def __init__(self, store: Store, recheck_s: float = 1.0) -> None:
        self._store = store
        self.recheck_s = recheck_s
        self._catalog: Catalog | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self.generation = 0  # bumped whenever the catalog is replaced (plans cached on it are dropped)

    def get(self) -> Catalog:
        catalog = self._catalog
        if catalog is not None and time.monotonic() - self._checked < self.recheck_s:
            return catalog
        with self._lock:
            if self._catalog is not None and time.monotonic() - self._checked < self.recheck_s:
                return self._catalog
            if self._catalog is None or fingerprint(self._store) != self._catalog.fingerprint:
                self._catalog = load_catalog(self._store)
                self.generation += 1
            self._checked = time.monotonic()
            return self._catalog

    def fresh(self) -> Catalog:
        """Reload now (materialization and skew checks always work on the current definitions)."""
        self.invalidate()
        return self.get()

    def invalidate(self) -> None:
        with self._lock:
            self._catalog = None
            self._checked = 0.0
