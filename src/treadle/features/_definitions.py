"""Feature definitions: entities, feature views over a source, request sources and on-demand views.

Every definition is a plain Python object with ``spec()`` (a JSON-safe dict with a ``"kind"``) and
``from_spec(spec)``, so definitions travel to a server and are stored as versions. Names are Python
identifiers; a feature is referred to as ``"view:feature"``.

A :class:`FeatureView` reads its rows from a ``treadle.data`` Source (a file, a SQL query, a stream)
or from a treadle dataset (:class:`DatasetSource`). Each row carries the entity join keys, an event
timestamp (``timestamp_field``, time-zone aware) and the features. When several rows share a key and
an event timestamp, the one with the greatest ``created_timestamp_field`` wins, and among those the one
written last (latest in the source's row order).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from treadle.errors import InvalidArgument
from treadle.features._source_refs import (
    STREAM_KINDS,
    DatasetSource,
    LazySource,
    describe_source,
    source_from_spec,
    source_spec,
)
from treadle.features._transforms import TransformLike, transform_from_spec, transform_spec

if TYPE_CHECKING:
    import pyarrow as pa

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
SCALAR_DTYPES = ("int64", "int32", "float64", "float32", "string", "bool", "timestamp", "bytes")
LIST_DTYPES = ("list<float32>", "list<float64>", "list<int64>", "list<string>")
DTYPES = SCALAR_DTYPES + LIST_DTYPES


def check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidArgument(
            f"invalid {what} name {name!r}: use a Python identifier (letters, digits and '_', "
            "not starting with a digit, at most 128 characters)"
        )
    return name


def _tags(tags: Mapping[str, Any] | None, where: str) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidArgument(f"{where}: tags must be a mapping of strings, not {type(tags).__name__}")
    return {str(k): str(v) for k, v in tags.items()}


# --------------------------------------------------------------------------- fields and entities
@dataclass(frozen=True)
class Field:
    """A named, typed column: ``Field("trips_today", "int64")``; ``dtype`` is one of :data:`DTYPES`."""

    name: str
    dtype: str

    def __post_init__(self) -> None:
        check_name(self.name, "field")
        if self.dtype not in DTYPES:
            raise InvalidArgument(f"field {self.name!r}: unknown dtype {self.dtype!r}; use one of {', '.join(DTYPES)}")

    def arrow_type(self) -> pa.DataType:
        import pyarrow as pa

        scalar = {
            "int64": pa.int64(),
            "int32": pa.int32(),
            "float64": pa.float64(),
            "float32": pa.float32(),
            "string": pa.string(),
            "bool": pa.bool_(),
            "timestamp": pa.timestamp("us", tz="UTC"),
            "bytes": pa.binary(),
        }
        if self.dtype.startswith("list<"):
            return pa.list_(scalar[self.dtype[5:-1]])
        return scalar[self.dtype]

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Field:
        return cls(name=spec["name"], dtype=spec["dtype"])


def dtype_family(arrow_type: pa.DataType) -> str:
    """A coarse type family used to check a source column against a declared dtype."""
    import pyarrow.types as pt

    if pt.is_integer(arrow_type):
        return "int"
    if pt.is_floating(arrow_type) or pt.is_decimal(arrow_type):
        return "float"
    if pt.is_string(arrow_type) or pt.is_large_string(arrow_type) or pt.is_dictionary(arrow_type):
        return "string"
    if pt.is_boolean(arrow_type):
        return "bool"
    if pt.is_timestamp(arrow_type) or pt.is_date(arrow_type):
        return "timestamp"
    if pt.is_binary(arrow_type) or pt.is_large_binary(arrow_type):
        return "bytes"
    if pt.is_list(arrow_type) or pt.is_large_list(arrow_type) or pt.is_fixed_size_list(arrow_type):
        return "list<" + dtype_family(arrow_type.value_type) + ">"
    return str(arrow_type)


def _compatible(declared: str, actual: pa.DataType) -> bool:
    family = dtype_family(actual)
    want = dtype_family(Field("x", declared).arrow_type())
    return family == want or (want == "float" and family == "int") or family == "null"


def _fields(schema: Iterable[Field | Mapping[str, Any]], where: str) -> tuple[Field, ...]:
    out = tuple(f if isinstance(f, Field) else Field.from_spec(f) for f in schema)
    seen: set[str] = set()
    for f in out:
        if f.name in seen:
            raise InvalidArgument(f"{where}: field {f.name!r} is declared twice")
        seen.add(f.name)
    return out


@dataclass(frozen=True)
class Entity:
    """What features are about (a driver, a customer), identified by one or more join key columns."""

    name: str
    join_keys: Sequence[str] = ()
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name, "entity")
        keys = [self.join_keys] if isinstance(self.join_keys, str) else list(self.join_keys or [self.name])
        for key in keys:
            check_name(key, f"entity {self.name!r} join key")
        if len(set(keys)) != len(keys):
            raise InvalidArgument(f"entity {self.name!r}: join keys {keys} repeat a column")
        object.__setattr__(self, "join_keys", tuple(keys))
        object.__setattr__(self, "tags", _tags(self.tags, f"entity {self.name!r}"))

    def spec(self) -> dict[str, Any]:
        return {
            "kind": "entity",
            "name": self.name,
            "join_keys": list(self.join_keys),
            "description": self.description,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Entity:
        name, keys = spec["name"], spec["join_keys"]
        if not isinstance(keys, str | list | tuple):  # list() would take a mapping's keys, "abc" as 3 keys
            raise InvalidArgument(f"entity {name!r}: join_keys must be a list of column names, not {keys!r}")
        return cls(
            name=name,
            join_keys=keys,
            description=spec.get("description", ""),
            tags=spec.get("tags", {}),
        )


# --------------------------------------------------------------------------- request sources
@dataclass(frozen=True)
class RequestSource:
    """Values that arrive with an online request (and as columns of the entity frame offline)."""

    name: str
    schema: Sequence[Field] = ()

    def __post_init__(self) -> None:
        check_name(self.name, "request source")
        object.__setattr__(self, "schema", _fields(self.schema, f"request source {self.name!r}"))

    def spec(self) -> dict[str, Any]:
        return {"kind": "request_source", "name": self.name, "schema": [f.spec() for f in self.schema]}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> RequestSource:
        return cls(name=spec["name"], schema=[Field.from_spec(f) for f in spec["schema"]])


# --------------------------------------------------------------------------- feature views
class FeatureView:
    """Features of one or more entities read from ``source``, with event timestamps.

    ``ttl`` bounds how old a value may be at a training row's (or a request's) time; ``None`` means
    forever. A view over a stream reads history for training frames from ``batch_source``.
    """

    kind = "feature_view"

    def __init__(
        self,
        name: str,
        entities: Sequence[Entity | str],
        source: Any,
        schema: Sequence[Field | Mapping[str, Any]],
        timestamp_field: str = "event_timestamp",
        ttl: timedelta | float | None = None,
        online: bool = True,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        owner: str | None = None,
        created_timestamp_field: str | None = None,
        batch_source: Any = None,
    ) -> None:
        self.name = check_name(name, "feature view")
        where = f"feature view {name!r}"
        if isinstance(entities, Entity | str) or not entities:
            raise InvalidArgument(f"{where}: entities must be a non-empty list of Entity objects or entity names")
        self.entities: tuple[str, ...] = tuple(
            e.name if isinstance(e, Entity) else check_name(e, "entity") for e in entities
        )
        if len(set(self.entities)) != len(self.entities):
            raise InvalidArgument(f"{where}: entities {list(self.entities)} repeat an entity")
        self.entity_objects: dict[str, Entity] = {e.name: e for e in entities if isinstance(e, Entity)}
        self.source = source
        self.source_spec = source_spec(source, where)
        self.batch_source = batch_source
        self.batch_source_spec = (
            source_spec(batch_source, f"{where} batch_source") if batch_source is not None else None
        )
        self.schema: tuple[Field, ...] = _fields(schema, where)
        if not self.schema:
            raise InvalidArgument(f"{where}: declare at least one feature in schema=[Field(name, dtype), ...]")
        self.timestamp_field = check_name(timestamp_field, f"{where} timestamp_field")
        self.created_timestamp_field = (
            check_name(created_timestamp_field, f"{where} created_timestamp_field") if created_timestamp_field else None
        )
        self.ttl = _ttl(ttl, where)
        self.online = bool(online)
        self.description = description or ""
        self.tags = _tags(tags, where)
        self.owner = owner
        special = {self.timestamp_field, self.created_timestamp_field}
        for f in self.schema:
            if f.name in special:
                raise InvalidArgument(f"{where}: feature {f.name!r} is also the view's timestamp column")
        for entity in self.entity_objects.values():
            for key in entity.join_keys:
                if key in self.feature_names:
                    raise InvalidArgument(
                        f"{where}: join key {key!r} of entity {entity.name!r} is declared as a feature"
                    )

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.schema]

    @property
    def is_stream(self) -> bool:
        if self.source_spec.get("kind") in STREAM_KINDS:
            return True
        return not isinstance(self.source, LazySource | DatasetSource) and hasattr(self.source, "read_batch")

    @property
    def offline_source(self) -> Any:
        """The source training frames and materialization read: ``batch_source`` when given."""
        if self.batch_source is not None:
            return self.batch_source
        if self.is_stream:
            raise InvalidArgument(
                f"feature view {self.name!r} reads a stream and has no batch_source for history; "
                "give FeatureView(..., batch_source=FileSource(...) or DatasetSource(...))"
            )
        return self.source

    def join_keys(self, entities: Mapping[str, Entity] | None = None) -> list[str]:
        """The view's join key columns, in entity order (entities resolved from ``entities`` or the view)."""
        known = {**self.entity_objects, **(entities or {})}
        keys: list[str] = []
        for name in self.entities:
            if name not in known:
                raise InvalidArgument(f"feature view {self.name!r} uses entity {name!r}, which is not defined")
            keys.extend(k for k in known[name].join_keys if k not in keys)
        return keys

    def check_schema(self, schema: pa.Schema, entities: Mapping[str, Entity] | None = None) -> None:
        """Raise InvalidArgument naming the column when ``schema`` (the source's) cannot feed this view."""
        import pyarrow.types as pt

        where = f"feature view {self.name!r} (source {describe_source(self.offline_source)})"
        columns = {f.name: f.type for f in schema}
        names = sorted(columns)
        for key in self.join_keys(entities):
            if key not in columns:
                raise InvalidArgument(f"{where}: join key column {key!r} is missing; the source has {names}")
        for ts in filter(None, (self.timestamp_field, self.created_timestamp_field)):
            if ts not in columns:
                raise InvalidArgument(f"{where}: timestamp column {ts!r} is missing; the source has {names}")
            if not pt.is_timestamp(columns[ts]):
                raise InvalidArgument(f"{where}: column {ts!r} must be a timestamp, not {columns[ts]}")
        for f in self.schema:
            if f.name not in columns:
                raise InvalidArgument(f"{where}: feature column {f.name!r} is missing; the source has {names}")
            if not _compatible(f.dtype, columns[f.name]):
                raise InvalidArgument(
                    f"{where}: feature {f.name!r} is declared {f.dtype} but the source column is {columns[f.name]}"
                )

    def spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "entities": list(self.entities),
            "source": self.source_spec,
            "batch_source": self.batch_source_spec,
            "schema": [f.spec() for f in self.schema],
            "timestamp_field": self.timestamp_field,
            "created_timestamp_field": self.created_timestamp_field,
            "ttl_seconds": self.ttl.total_seconds() if self.ttl is not None else None,
            "online": self.online,
            "description": self.description,
            "tags": dict(self.tags),
            "owner": self.owner,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], entities: Mapping[str, Entity] | None = None) -> FeatureView:
        name, names = spec["name"], spec["entities"]
        if not isinstance(names, list | tuple):
            raise InvalidArgument(f"feature view {name!r}: entities must be a list of names, not {names!r}")
        ents = [(entities or {}).get(n, n) for n in names]
        batch = spec.get("batch_source")
        return cls(
            name=name,
            entities=ents,
            source=source_from_spec(spec["source"]),
            schema=[Field.from_spec(f) for f in spec["schema"]],
            timestamp_field=spec.get("timestamp_field", "event_timestamp"),
            ttl=spec.get("ttl_seconds"),
            online=spec.get("online", True),
            description=spec.get("description", ""),
            tags=spec.get("tags", {}),
            owner=spec.get("owner"),
            created_timestamp_field=spec.get("created_timestamp_field"),
            batch_source=source_from_spec(batch) if batch else None,
        )

    def __repr__(self) -> str:
        return f"FeatureView({self.name!r}, entities={list(self.entities)}, features={self.feature_names})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FeatureView) and other.spec() == self.spec()

    __hash__ = None  # type: ignore[assignment]


def _ttl(ttl: timedelta | float | None, where: str) -> timedelta | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, timedelta | int | float):
        raise InvalidArgument(f"{where}: ttl must be a timedelta, a number of seconds or None, not {ttl!r}")
    value = ttl if isinstance(ttl, timedelta) else timedelta(seconds=ttl)
    if value <= timedelta(0):
        raise InvalidArgument(f"{where}: ttl must be positive (None means values never expire), not {value}")
    return value


# --------------------------------------------------------------------------- on-demand views
class OnDemandFeatureView:
    """Features computed at request time (and in training frames) by the same transform.

    ``sources`` are feature views (or their names) and request sources. The transform receives one
    batch whose columns are the features of every source view (short names) plus every request
    field, and returns the columns of ``schema``. It is a ``treadle.data`` Transform or a plain
    function over a pandas DataFrame (or a pyarrow Table / polars DataFrame, by its annotation).
    """

    kind = "on_demand_feature_view"

    def __init__(
        self,
        name: str,
        sources: Sequence[FeatureView | RequestSource | str],
        transform: Any,
        schema: Sequence[Field | Mapping[str, Any]],
        description: str = "",
        tags: Mapping[str, str] | None = None,
        owner: str | None = None,
    ) -> None:
        self.name = check_name(name, "on-demand feature view")
        where = f"on-demand feature view {name!r}"
        if isinstance(sources, FeatureView | RequestSource | str) or not sources:
            raise InvalidArgument(f"{where}: sources must be a non-empty list of feature views and request sources")
        self.source_views: tuple[str, ...] = ()
        self.view_objects: dict[str, FeatureView] = {}
        requests: list[RequestSource] = []
        for s in sources:
            if isinstance(s, RequestSource):
                requests.append(s)
            elif isinstance(s, FeatureView | str):
                view = s.name if isinstance(s, FeatureView) else check_name(s, "feature view")
                self.source_views += (view,)
                if isinstance(s, FeatureView):
                    self.view_objects[view] = s
            else:
                raise InvalidArgument(
                    f"{where}: a source must be a FeatureView, its name or a RequestSource, not {s!r}"
                )
        self.request_sources: tuple[RequestSource, ...] = tuple(requests)
        self.schema: tuple[Field, ...] = _fields(schema, where)
        if not self.schema:
            raise InvalidArgument(f"{where}: declare the output features in schema=[Field(name, dtype), ...]")
        self.transform = TransformLike.wrap(transform, where)
        self.description = description or ""
        self.tags = _tags(tags, where)
        self.owner = owner
        if self.view_objects and len(self.view_objects) == len(self.source_views):
            self.input_columns(self.view_objects)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.schema]

    @property
    def request_fields(self) -> list[str]:
        return [f.name for r in self.request_sources for f in r.schema]

    def input_columns(self, views: Mapping[str, FeatureView | Sequence[str]] | None = None) -> list[str]:
        """Columns the transform receives: each source view's features, then the request fields.

        ``views`` maps a view name to the view (or to its feature names) for views given by name.
        """
        columns: list[str] = []
        origin: dict[str, str] = {}
        known: dict[str, FeatureView | Sequence[str]] = {**self.view_objects, **(views or {})}
        for name in self.source_views:
            view = known.get(name)
            if view is None:
                raise InvalidArgument(f"on-demand feature view {self.name!r} reads view {name!r}, which is not defined")
            for feature in view.feature_names if isinstance(view, FeatureView) else view:
                self._claim(feature, f"feature view {name!r}", origin)
                columns.append(feature)
        for request in self.request_sources:
            for f in request.schema:
                self._claim(f.name, f"request source {request.name!r}", origin)
                columns.append(f.name)
        return columns

    def _claim(self, column: str, owner: str, origin: dict[str, str]) -> None:
        if column in origin:
            raise InvalidArgument(
                f"on-demand feature view {self.name!r}: input column {column!r} comes from both "
                f"{origin[column]} and {owner}; rename one of them"
            )
        origin[column] = owner

    def transform_batch(self, table: pa.Table) -> pa.Table:
        """Run the transform over ``table`` (the input columns); returns the ``schema`` columns."""
        return self.transform.run_batch(table, self.schema, f"on-demand feature view {self.name!r}")

    def transform_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Run the transform over one row (online serving); returns ``{feature: value}``."""
        return self.transform.run_row(row, self.schema, f"on-demand feature view {self.name!r}")

    def spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "source_views": list(self.source_views),
            "request_sources": [r.spec() for r in self.request_sources],
            "transform": transform_spec(self.transform),
            "schema": [f.spec() for f in self.schema],
            "description": self.description,
            "tags": dict(self.tags),
            "owner": self.owner,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> OnDemandFeatureView:
        sources: list[FeatureView | RequestSource | str] = list(spec["source_views"])
        sources += [RequestSource.from_spec(r) for r in spec.get("request_sources", [])]
        return cls(
            name=spec["name"],
            sources=sources,
            transform=transform_from_spec(spec["transform"]),
            schema=[Field.from_spec(f) for f in spec["schema"]],
            description=spec.get("description", ""),
            tags=spec.get("tags", {}),
            owner=spec.get("owner"),
        )

    def __repr__(self) -> str:
        return f"OnDemandFeatureView({self.name!r}, sources={list(self.source_views)}, features={self.feature_names})"


Definition = Entity | FeatureView | OnDemandFeatureView


def definition_from_spec(spec: Mapping[str, Any]) -> Definition:
    """Rebuild an Entity, FeatureView or OnDemandFeatureView from its spec."""
    kind = spec.get("kind") if isinstance(spec, Mapping) else None
    try:
        if kind == "entity":
            return Entity.from_spec(spec)
        if kind == FeatureView.kind:
            return FeatureView.from_spec(spec)
        if kind == OnDemandFeatureView.kind:
            return OnDemandFeatureView.from_spec(spec)
    except KeyError as exc:
        raise InvalidArgument(f"{kind} spec {spec.get('name')!r} is missing {exc.args[0]!r}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidArgument(f"{kind} spec {spec.get('name')!r} is malformed: {exc}") from None
    raise InvalidArgument(
        f"unknown definition kind {kind!r}: expected 'entity', 'feature_view' or 'on_demand_feature_view'"
    )


def parse_feature_ref(ref: str) -> tuple[str, str]:
    """``"view:feature"`` -> (view, feature), with an InvalidArgument naming a malformed reference."""
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise InvalidArgument(f"feature reference {ref!r} must look like 'view:feature'")
    view, feature = ref.split(":")
    if not NAME_RE.match(view) or not NAME_RE.match(feature):
        raise InvalidArgument(f"feature reference {ref!r} must look like 'view:feature' (identifiers)")
    return view, feature
