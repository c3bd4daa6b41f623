"""``td.datasets``: create, get, search and diff dataset versions through the active client.

The capability layer cannot import the SDK's client, so the client binds a resolver here when
it is imported (:func:`bind`); each function also takes an explicit ``client=``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from treadle.artifacts import BlobStore
from treadle.datasets._handle import DatasetHandle
from treadle.datasets._records import Dataset, DatasetDiff, DatasetUsage, DatasetVersion
from treadle.datasets._service import DatasetService
from treadle.datasets._snapshot import PART_ROWS, Options, snapshot
from treadle.errors import InvalidArgument


class DatasetsContext(Protocol):
    """What the SDK gives: a datasets service and the blob store to upload to, local or remote."""

    @property
    def datasets(self) -> DatasetService: ...

    @property
    def blobs(self) -> BlobStore: ...


_resolver: Callable[[], tuple[DatasetsContext, str | None, str | None]] | None = None


def bind(resolver: Callable[[], tuple[DatasetsContext, str | None, str | None]]) -> None:
    """Set how to find (client, active run id, actor) when no ``client=`` is given."""
    global _resolver
    _resolver = resolver


def _context(client: Any) -> tuple[DatasetsContext, str | None, str | None]:
    if client is not None:
        return client, None, None
    if _resolver is None:
        raise InvalidArgument("no client: import treadle first, or pass client=td.Client(...)")
    return _resolver()


def create(
    name: str,
    source: Any,
    *,
    description: str | None = None,
    tags: dict[str, Any] | None = None,
    schema: Any = None,
    kind: str | None = None,
    alias: str | None = None,
    part_rows: int = PART_ROWS,
    created_by: str | None = None,
    client: Any = None,
) -> DatasetVersion:
    """Snapshot ``source`` (a DataFrame, Arrow table, Polars frame, path, URL or treadle.data
    source) as the next version of dataset ``name``. Tables become Parquet parts and folders of
    other files become file collections (``kind=`` forces either). ``schema`` is a pandera schema,
    a DataFrameModel or ``"infer"``. Inside a run, the run is recorded as the version's producer.
    When nothing changed, the latest version is returned and no version is added."""
    ctx, run_id, actor = _context(client)
    opts = Options(
        description=description,
        tags=tags,
        schema=schema,
        kind=kind,
        run_id=run_id,
        created_by=created_by or actor,
        part_rows=part_rows,
    )
    result = snapshot(ctx.datasets, ctx.blobs, name, source, opts)
    if alias:
        ctx.datasets.set_alias(name, alias, result.version.version)
        return ctx.datasets.resolve(name, result.version.version)
    return result.version


def get(name: str, version: int | str | None = None, *, client: Any = None) -> DatasetHandle:
    """A version by number, alias (``"prod"``, ``"latest"``, ``"v3"``) or, by default, the latest."""
    ctx, _, _ = _context(client)
    if isinstance(version, str):
        resolved = ctx.datasets.resolve(name, alias=version)
    else:
        resolved = ctx.datasets.resolve(name, version)
    return DatasetHandle(ctx.datasets, ctx.blobs, resolved)


def search(
    query: str | None = None,
    *,
    tag: str | None = None,
    column: str | None = None,
    max_results: int = 100,
    client: Any = None,
) -> list[Dataset]:
    """Datasets by name/description text, tag (``key`` or ``key=value``) and column name."""
    return _context(client)[0].datasets.search(query=query, tag=tag, column=column, max_results=max_results)


def versions(name: str, *, client: Any = None) -> list[DatasetVersion]:
    return _context(client)[0].datasets.list_versions(name)


def diff(name: str, v1: int, v2: int, key: str | list[str] | None = None, *, client: Any = None) -> DatasetDiff:
    """Schema changes, rows added/removed/changed (by ``key``), file changes and statistics shift."""
    keys = [key] if isinstance(key, str) else list(key or [])
    return _context(client)[0].datasets.diff(name, v1, v2, key=keys)


def set_alias(name: str, alias: str, version: int, *, client: Any = None) -> Dataset:
    return _context(client)[0].datasets.set_alias(name, alias, version)


def usage(name: str, version: int, *, client: Any = None) -> DatasetUsage:
    """Runs that consumed the version, models registered from those runs, feature views built on it."""
    return _context(client)[0].datasets.usage(name, version)


def delete(name: str, *, client: Any = None) -> int:
    """Delete a dataset and its versions; returns how many blobs were freed."""
    return _context(client)[0].datasets.delete_dataset(name)
