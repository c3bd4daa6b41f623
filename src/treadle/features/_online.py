"""The online side of the feature service (:class:`OnlineOps`, mixed into ``FeatureService``):
materialize, push, online lookups, freshness and skew checks.

The online store opens lazily from the service's ``_online_uri``. Lookups run on cached
definitions (:class:`~treadle.features._catalog.CatalogCache`) and cached plans, so a lookup
touches nothing but the online store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from treadle.errors import InvalidArgument
from treadle.features import _tables as t
from treadle.features._catalog import Catalog, CatalogCache
from treadle.features._lookup import OnlineResult, Plan, build_plan, execute
from treadle.features._materialize import Materializer, MaterializeReport, Progress, rich_progress
from treadle.features._push import StreamPusher, as_rows, prepare
from treadle.features._skew import SkewReport, skew_check
from treadle.features._sources import DatasetReader
from treadle.features.online import OnlineStore, open_online_store
from treadle.ops import operation
from treadle.records import Record
from treadle.store import Store

_INIT = threading.Lock()
_MAX_PLANS = 512


class MaterializationRun(Record):
    version: int
    start_ts: int | None
    end_ts: int
    rows: int
    status: str  # running | completed | failed
    error: str | None
    started_at: int
    finished_at: int | None


class ViewFreshness(Record):
    """How current a view's online values are."""

    view: str
    version: int
    online: bool
    ttl_seconds: float | None
    materialized_version: int | None  # the view version the watermark belongs to
    materialized_until: int | None  # event time (epoch ms, exclusive) the online store covers
    lag_ms: int | None  # now - materialized_until
    last_run: MaterializationRun | None


class _OnlineState:
    def __init__(self, store: Store, uri: str) -> None:
        self.uri = uri
        self.catalog = CatalogCache(store)
        self.plans: dict[tuple[tuple[str, ...], bool], Plan] = {}
        self._online: OnlineStore | None = None
        self._lock = threading.Lock()

    @property
    def online(self) -> OnlineStore:
        store = self._online
        if store is None:
            with self._lock:
                if self._online is None:
                    self._online = open_online_store(self.uri)
                store = self._online
        return store

    def attach(self, store: OnlineStore) -> None:
        with self._lock:
            self._online = store


def _epoch_ms(value: datetime | int | None, name: str) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArgument(f"{name}={value.isoformat()} has no time zone; pass an aware datetime (e.g. UTC)")
    return int(value.timestamp() * 1000)


class OnlineOps:
    """Online operations of :class:`treadle.features.FeatureService`."""

    _store: Store
    _datasets: DatasetReader | None
    _online_uri: str

    # ------------------------------------------------------------------ plumbing (local)
    def _online_state(self) -> _OnlineState:
        state: _OnlineState | None = self.__dict__.get("_online_state_")
        if state is None:
            with _INIT:
                state = self.__dict__.get("_online_state_")
                if state is None:
                    state = self.__dict__["_online_state_"] = _OnlineState(self._store, self._online_uri)
        return state

    def online_store(self) -> OnlineStore:
        """The online store this service reads and writes (opened on first use)."""
        return self._online_state().online

    def attach_online_store(self, store: OnlineStore) -> None:
        """Use ``store`` as the online store (an already open one, or a wrapper around one)."""
        self._online_state().attach(store)

    def _after_apply(self) -> None:
        """Definitions changed in this process: drop cached definitions and plans."""
        self._online_state().catalog.invalidate()

    def _after_delete_view(self, name: str) -> None:
        """A view was deleted: its online rows go too."""
        state = self._online_state()
        state.catalog.invalidate()
        state.online.delete_view(name)

    def _catalog(self) -> Catalog:
        return self._online_state().catalog.fresh()

    # ------------------------------------------------------------------ lookups
    @operation
    def get_online_features(
        self, entity_rows: list[dict[str, Any]], features: list[str], full_names: bool = False
    ) -> OnlineResult:
        """Latest feature values for each entity row, with per-feature freshness.

        ``features`` are ``"view:feature"`` references (on-demand views too, computed from the
        fetched values and the request fields carried by the rows). Each row holds the join keys
        of the views asked for. Columns are named by feature, or ``view__feature`` with
        ``full_names``.
        """
        state: _OnlineState = self.__dict__.get("_online_state_") or self._online_state()
        cache = state.catalog
        catalog = cache.get()
        key = (tuple(features), full_names)
        plan = state.plans.get(key)
        if plan is None or plan.generation != cache.generation:
            plan = build_plan(catalog, features, full_names)
            plan.generation = cache.generation
            if len(state.plans) >= _MAX_PLANS:
                state.plans.clear()
            state.plans[key] = plan
        if not isinstance(entity_rows, list):
            entity_rows = _rows(entity_rows)
        return execute(state.online, plan, entity_rows, int(time.time() * 1000))

    # ------------------------------------------------------------------ writes
    @operation
    def materialize(
        self,
        views: list[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        incremental: bool = True,
        progress: bool = False,
    ) -> MaterializeReport:
        """Write each view's latest rows per entity in ``[start, end)`` (event time) to the online store.

        ``views`` defaults to every online feature view; ``end`` to now. Incremental runs start at
        the view's watermark (where its last completed run ended), so only new rows are read; a new
        view version, or ``incremental=False``, rewrites the whole window. ``progress`` shows a rich
        progress bar on stderr.
        """
        began = time.perf_counter()
        start_ms, end_ms = _epoch_ms(start, "start"), _epoch_ms(end, "end")
        end_ms = end_ms if end_ms is not None else int(time.time() * 1000)
        catalog = self._catalog()
        names = self._online_views(catalog, views)
        materializer = Materializer(self._store, self._datasets, self.online_store())
        callback: Progress | None = None
        close = None
        if progress:
            callback, close = rich_progress()
        try:
            done = [materializer.run(catalog, n, start_ms, end_ms, incremental, callback) for n in names]
        finally:
            if close is not None:
                close()
        return MaterializeReport(views=done, seconds=time.perf_counter() - began)

    @staticmethod
    def _online_views(catalog: Catalog, views: list[str] | None) -> list[str]:
        if views is None:  # stream views without a batch source are fed by push / stream_pusher only
            return [
                n
                for n, v in sorted(catalog.views.items())
                if v.online and (not v.is_stream or v.batch_source is not None)
            ]
        for name in views:
            if not catalog.view(name).online:
                raise InvalidArgument(f"feature view {name!r} is not online (online=False); nothing to materialize")
        return list(dict.fromkeys(views))

    @operation
    def push(self, view: str, rows: list[dict[str, Any]]) -> int:
        """Write rows to the online store now (last-writer-wins by event time); returns rows applied.

        Each row has the view's join keys, its timestamp (time-zone aware) and every feature.
        """
        catalog = self._online_state().catalog.get()
        definition = catalog.view(view)
        keys, values, stamps = prepare(definition, definition.join_keys(catalog.entities), as_rows(rows))
        if not keys:
            return 0
        return self.online_store().write(view, keys, values, stamps)

    def stream_pusher(
        self, view: str, source: Any = None, batch_size: int = 1_000, block_ms: int = 1_000
    ) -> StreamPusher:
        """A consumer that pushes ``view``'s stream (or ``source``, a treadle.data StreamSource) online."""
        if source is None:
            definition = self._catalog().view(view)
            if not definition.is_stream:
                raise InvalidArgument(
                    f"feature view {view!r} does not read a stream; pass source=RedisStreamSource(...)"
                )
            source = definition.source
        return StreamPusher(view, source, self.push, batch_size=batch_size, block_ms=block_ms)

    # ------------------------------------------------------------------ freshness and skew
    @operation
    def freshness(self, views: list[str] | None = None) -> list[ViewFreshness]:
        """Per feature view: its watermark, how far behind now it is, and its last materialization."""
        catalog = self._catalog()
        names = sorted(catalog.views) if views is None else [catalog.view(v).name for v in views]
        ids = [catalog.ids[n] for n in names]
        w, m = t.watermarks, t.materializations
        with self._store.read() as conn:
            marks = {r.view_id: r for r in conn.execute(select(w).where(w.c.view_id.in_(ids)))}
            last = select(m.c.view_id, func.max(m.c.id).label("id")).where(m.c.view_id.in_(ids)).group_by(m.c.view_id)
            latest = last.subquery()
            runs = {r.view_id: r for r in conn.execute(select(m).join(latest, m.c.id == latest.c.id))}
        now = int(time.time() * 1000)
        out = []
        for name, view_id in zip(names, ids, strict=True):
            view, mark, run = catalog.views[name], marks.get(view_id), runs.get(view_id)
            until = mark.materialized_until if mark is not None else None
            out.append(
                ViewFreshness(
                    view=name,
                    version=catalog.versions[name],
                    online=view.online,
                    ttl_seconds=view.ttl.total_seconds() if view.ttl is not None else None,
                    materialized_version=mark.version if mark is not None else None,
                    materialized_until=until,
                    lag_ms=now - until if until is not None else None,
                    last_run=None
                    if run is None
                    else MaterializationRun(
                        version=run.version,
                        start_ts=run.start_ts,
                        end_ts=run.end_ts,
                        rows=run.rows,
                        status=run.status,
                        error=run.error,
                        started_at=run.started_at,
                        finished_at=run.finished_at,
                    ),
                )
            )
        return out

    @operation
    def skew_check(self, view: str, sample: int = 100, seed: int | None = None) -> SkewReport:
        """Compare online values with the offline source's latest (as of now, ttl-aware) for sampled entities."""
        if not 1 <= sample <= 100_000:
            raise InvalidArgument(f"sample must be between 1 and 100000, got {sample}")
        now = int(time.time() * 1000)
        return skew_check(self._catalog(), view, self._datasets, self.online_store(), now, sample, seed)


def _rows(entity_rows: Any) -> list[Mapping[str, Any]]:
    """Rows from a columnar mapping ``{column: [values]}`` or a DataFrame / Arrow table, for local callers."""
    if isinstance(entity_rows, Mapping):
        columns = {
            k: list(v) if isinstance(v, Sequence) and not isinstance(v, str) else [v] for k, v in entity_rows.items()
        }
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise InvalidArgument(f"entity columns have different lengths: { {k: len(v) for k, v in columns.items()} }")
        names = list(columns)
        return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    return as_rows(entity_rows)
