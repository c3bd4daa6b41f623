"""Reading a feature view's offline rows: a treadle.data Source or a treadle dataset."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from treadle.errors import InvalidArgument, TreadleError
from treadle.features._definitions import DatasetSource, FeatureView, describe_source

if TYPE_CHECKING:
    import pyarrow as pa


class DatasetReader(Protocol):
    """What the feature store needs from ``treadle.datasets.DatasetService`` (local methods)."""

    def open_table(self, name: str, version: int | str | None = None) -> pa.Table: ...

    def resolve(self, name: str, version: int | None = None, alias: str | None = None) -> Any: ...


def _no_datasets(source: DatasetSource) -> InvalidArgument:
    return InvalidArgument(f"{source.describe()} cannot be read: this feature service has no dataset service")


def iter_view_batches(
    view: FeatureView, datasets: DatasetReader | None, batch_size: int = 65_536
) -> Iterator[pa.RecordBatch]:
    """The rows of ``view``'s offline source (its ``batch_source`` for a stream view), as given."""
    source = view.offline_source
    if isinstance(source, DatasetSource):
        if datasets is None:
            raise _no_datasets(source)
        yield from datasets.open_table(source.name, source.version).to_batches(max_chunksize=batch_size)
        return
    yield from source.iter_batches(batch_size)


def resolve_dataset(datasets: DatasetReader, source: DatasetSource) -> Any:
    """The DatasetVersion a DatasetSource names now (its version, alias, or the latest)."""
    if isinstance(source.version, str):
        return datasets.resolve(source.name, alias=source.version)
    return datasets.resolve(source.name, source.version)


def view_source_schema(view: FeatureView, datasets: DatasetReader | None) -> pa.Schema:
    """The schema of ``view``'s offline source (from the dataset version's metadata when it is a dataset)."""
    source = view.offline_source
    if isinstance(source, DatasetSource):
        if datasets is None:
            raise _no_datasets(source)
        return schema_from_columns(resolve_dataset(datasets, source).columns)
    schema = source.schema()
    return schema


def check_view_source(view: FeatureView, datasets: DatasetReader | None, entities: dict[str, Any]) -> str | None:
    """Check ``view`` against its source's schema; returns a warning when the schema cannot be read.

    A wrong column (missing, wrong type) raises InvalidArgument naming it, and so does a dataset that
    does not exist (datasets live in the same store); a connector that cannot read its source from
    here (a file only the client sees, a database that is down) gives a warning instead.
    """
    if view.is_stream and view.batch_source is None:
        return None
    try:
        schema = view_source_schema(view, datasets)
    except Exception as exc:  # any connector failure becomes a warning
        if isinstance(view.offline_source, DatasetSource) and isinstance(exc, TreadleError):
            raise
        message = str(exc).splitlines()[0] if str(exc) else ""
        return (
            f"feature view {view.name!r}: could not read the schema of {describe_source(view.offline_source)} "
            f"({type(exc).__name__}: {message}); its columns were not checked"
        )
    view.check_schema(schema, entities)
    return None


_TIMESTAMP = re.compile(r"^timestamp\[(?P<unit>s|ms|us|ns)(?:,\s*tz=(?P<tz>[^\]]+))?\]$")


def arrow_type_from_string(text: str) -> pa.DataType:
    """Parse the type strings pyarrow prints (``int64``, ``timestamp[us, tz=UTC]``, ``list<item: float>``)."""
    import pyarrow as pa

    text = text.strip()
    match = _TIMESTAMP.match(text)
    if match:
        return pa.timestamp(match["unit"], tz=match["tz"])
    if text.startswith(("list<", "large_list<")) and text.endswith(">"):
        inner = text[text.index("<") + 1 : -1]
        inner = inner.split(":", 1)[1] if ":" in inner else inner
        return pa.list_(arrow_type_from_string(inner))
    aliases = {"large_string": pa.large_string(), "large_binary": pa.large_binary(), "date32[day]": pa.date32()}
    if text in aliases:
        return aliases[text]
    try:
        return pa.type_for_alias(text)
    except (ValueError, KeyError):
        return pa.null()  # unknown: not checked


def schema_from_columns(columns: list[Any]) -> pa.Schema:
    """A pyarrow schema from ``[{"name", "type"}, ...]`` (dicts or records), as dataset versions store it."""
    import pyarrow as pa

    fields = []
    for col in columns:
        name = col["name"] if isinstance(col, dict) else col.name
        kind = col["type"] if isinstance(col, dict) else col.type
        fields.append(pa.field(name, arrow_type_from_string(str(kind))))
    return pa.schema(fields)
