"""``td.features``: apply definitions, build training frames, materialize, push and look up
features through the active client (local store or server), or an explicit ``client=``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from treadle.errors import InvalidArgument
from treadle.features._offline import JoinOptions
from treadle.features._offline import get_training_frame as _join
from treadle.features._records import ApplyReport
from treadle.features._service import FeatureService


class FeaturesContext(Protocol):
    @property
    def features(self) -> FeatureService: ...

    @property
    def datasets(self) -> Any: ...


_resolver: Callable[[], FeaturesContext] | None = None


def bind(resolver: Callable[[], FeaturesContext]) -> None:
    """Set how to find the client when no ``client=`` is given (the SDK does this on import)."""
    global _resolver
    _resolver = resolver


def _client(client: Any) -> FeaturesContext:
    if client is not None:
        return client
    if _resolver is None:
        raise InvalidArgument("no client: import treadle first, or pass client=td.Client(...)")
    return _resolver()


def apply(definitions: Sequence[Any] | str | Path, *, dry_run: bool = False, client: Any = None) -> ApplyReport:
    """Register entities and feature views (objects, or a Python file/folder defining them)."""
    from treadle.features._repo import load_definitions

    objects = load_definitions(definitions) if isinstance(definitions, (str, Path)) else list(definitions)
    return _client(client).features.apply([d.spec() for d in objects], dry_run=dry_run)


def get_training_frame(
    entity_df: Any,
    features: Sequence[str],
    *,
    full_names: bool = False,
    timestamp_column: str = "event_timestamp",
    options: JoinOptions | None = None,
    client: Any = None,
) -> Any:
    """Point-in-time correct features joined onto ``entity_df`` (same frame type back). Against a
    server, definitions come from it and the sources are read where this code runs."""
    ctx = _client(client)
    datasets = getattr(ctx, "datasets", None)
    return _join(
        ctx.features,
        entity_df,
        list(features),
        datasets=datasets if hasattr(datasets, "open_table") else _RemoteDatasets(ctx),
        full_names=full_names,
        timestamp_column=timestamp_column,
        options=options,
    )


class _RemoteDatasets:
    """Dataset sources read through the SDK (a server's dataset versions, fetched here)."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def open_table(self, name: str, version: int | str | None = None) -> Any:
        from treadle.datasets import get

        return get(name, version, client=self._ctx).to_arrow()

    def resolve(self, name: str, version: int | None = None, alias: str | None = None) -> Any:
        return self._ctx.datasets.resolve(name, version, alias)


def get_online_features(
    entity_rows: Any, features: Sequence[str], *, full_names: bool = False, client: Any = None
) -> Any:
    """Latest values per entity row with per-feature freshness (``.to_dict()``, ``.to_pandas()``)."""
    return _client(client).features.get_online_features(entity_rows, list(features), full_names=full_names)


def materialize(
    views: Sequence[str] | None = None, *, incremental: bool = True, client: Any = None, **options: Any
) -> Any:
    """Copy the latest values per entity from the offline sources into the online store."""
    return _client(client).features.materialize(list(views) if views else None, incremental=incremental, **options)


def push(view: str, rows: Sequence[dict[str, Any]], *, client: Any = None) -> int:
    """Write rows (with their event timestamps) straight into the online store."""
    return _client(client).features.push(view, list(rows))
