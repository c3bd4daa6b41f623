"""Where a feature view's rows come from: a treadle dataset (:class:`DatasetSource`) or a
``treadle.data`` Source, kept as its spec and opened on first use (:class:`LazySource`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from treadle.errors import InvalidArgument

if TYPE_CHECKING:
    import pyarrow as pa

STREAM_KINDS = ("redis_stream",)


@runtime_checkable
class SourceLike(Protocol):
    """What a feature view needs from a ``treadle.data`` Source (see treadle.data.base.Source)."""

    def spec(self) -> dict[str, Any]: ...

    def schema(self) -> pa.Schema: ...

    def iter_batches(self, batch_size: int = 65_536) -> Any: ...


@dataclass(frozen=True)
class DatasetSource:
    """Rows from a treadle dataset: ``version`` is a number, an alias, or None for the latest."""

    name: str
    version: int | str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidArgument(f"DatasetSource needs a dataset name, not {self.name!r}")
        if self.version is not None and not isinstance(self.version, int | str):
            raise InvalidArgument(f"DatasetSource {self.name!r}: version must be a number, an alias or None")

    def spec(self) -> dict[str, Any]:
        return {"kind": "dataset", "name": self.name, "version": self.version}

    def describe(self) -> str:
        return f"dataset {self.name!r}" + (f" version {self.version!r}" if self.version is not None else " (latest)")

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> DatasetSource:
        return cls(name=spec["name"], version=spec.get("version"))


def source_spec(source: Any, where: str) -> dict[str, Any]:
    if isinstance(source, DatasetSource):
        return source.spec()
    spec_fn = getattr(source, "spec", None)
    if not callable(spec_fn) or not hasattr(source, "iter_batches"):
        raise InvalidArgument(
            f"{where}: source must be a treadle.data Source (FileSource, SqlSource, RedisStreamSource, ...) or a "
            f"DatasetSource, not {type(source).__name__}; snapshot a DataFrame with td.datasets.create first"
        )
    spec = spec_fn()
    if not isinstance(spec, dict) or "kind" not in spec:
        raise InvalidArgument(f"{where}: the source's spec() must be a dict with a 'kind'")
    return dict(spec)


class LazySource:
    """A treadle.data Source rebuilt from its spec on first use.

    Reading definitions back (a server answering online lookups, ``get_view``) must not need the
    source itself: a file only the client sees or a database that is down only matters when rows
    are read. Attribute access other than ``spec()`` opens the real source (errors surface then).
    """

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self._spec = dict(spec)
        self._opened: Any = None

    def open(self) -> Any:
        if self._opened is None:
            from treadle.data import source_from_spec as data_source_from_spec

            self._opened = data_source_from_spec(dict(self._spec))
        return self._opened

    def spec(self) -> dict[str, Any]:
        return dict(self._spec)

    def schema(self) -> pa.Schema:
        return self.open().schema()

    def iter_batches(self, batch_size: int = 65_536) -> Any:
        return self.open().iter_batches(batch_size)

    def describe(self) -> str:
        try:
            return str(self.open().describe())
        except Exception:  # a source that cannot be opened here is still described
            return f"{self._spec.get('kind')} source"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.open(), name)

    def __repr__(self) -> str:
        return f"LazySource({self._spec!r})"


def source_from_spec(spec: Mapping[str, Any]) -> Any:
    """A DatasetSource, or a treadle.data Source rebuilt from its spec when first used."""
    if spec.get("kind") == "dataset":
        return DatasetSource.from_spec(spec)
    return LazySource(spec)


def describe_source(source: Any) -> str:
    describe = getattr(source, "describe", None)
    if callable(describe):
        return str(describe())
    return repr(source)
