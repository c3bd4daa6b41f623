"""Registering definitions: ``apply`` (created / updated / unchanged, each change a new view version)
and reads of entities, views and their versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from treadle.errors import InvalidArgument, NotFound
from treadle.events import emit
from treadle.features import _tables as t
from treadle.features._definitions import (
    Definition,
    Entity,
    FeatureView,
    OnDemandFeatureView,
    definition_from_spec,
)
from treadle.features._diff import diff, digest
from treadle.features._lineage import record_view_version
from treadle.features._records import (
    ApplyReport,
    EntityRecord,
    FeatureViewRecord,
    FeatureViewVersion,
    ObjectChange,
)
from treadle.features._sources import DatasetReader, check_view_source
from treadle.lineage import LineageService, delete_nodes
from treadle.ops import operation
from treadle.store import Store, now_ms

_APPLY_LOCK = 7310  # PostgreSQL advisory lock held by an apply's write transaction


@dataclass
class _Stored:
    entities: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> spec
    views: dict[str, Any] = field(default_factory=dict)  # name -> row (id, kind, latest_version, spec, digest)


@dataclass
class _Plan:
    changes: list[ObjectChange]
    objects: dict[str, Definition]  # "kind:name" -> definition, for created/updated ones


def _load_stored(conn: Connection) -> _Stored:
    stored = _Stored()
    for name, spec in conn.execute(select(t.entities.c.name, t.entities.c.spec)):
        stored.entities[name] = spec
    v, vv = t.views, t.view_versions
    query = select(v.c.id, v.c.name, v.c.kind, v.c.latest_version, vv.c.spec, vv.c.digest).join(
        vv, (vv.c.view_id == v.c.id) & (vv.c.version == v.c.latest_version)
    )
    for row in conn.execute(query):
        stored.views[row.name] = row
    return stored


def _parse(specs: list[dict[str, Any]]) -> list[Definition]:
    defs = [definition_from_spec(s) for s in specs]
    seen: dict[tuple[str, str], int] = {}
    for d in defs:
        key = ("entity" if isinstance(d, Entity) else "view", d.name)
        if key in seen:
            raise InvalidArgument(f"{d.name!r} is defined twice in one apply; keep one definition")
        seen[key] = 1
    return defs


def _carries_code(spec: Any) -> bool:
    """Whether an on-demand view spec holds a pickled transform (loading it runs code)."""
    return isinstance(spec, dict) and spec.get("kind") == "on_demand_feature_view"


class DefinitionOps:
    """Mixed into :class:`treadle.features.FeatureService`: the registry of definitions."""

    # A server sets this from TREADLE_SERVER_ACCEPT_CODE: on-demand views carry pickled Python, and
    # unpickling what any client sent would let anyone who reaches the server run code on it.
    accept_code: bool = True
    _store: Store
    _datasets: DatasetReader | None
    _lineage: LineageService

    def _after_delete_view(self, name: str) -> None:
        """Called after a view is deleted (the online side drops its keys)."""

    def _after_apply(self) -> None:
        """Called after an apply changed definitions (the online side drops cached plans)."""

    # ------------------------------------------------------------------ apply
    @operation
    def apply(self, specs: list[dict[str, Any]], dry_run: bool = False) -> ApplyReport:
        """Register entity and (on-demand) feature view specs; every changed view gets a new version.

        Returns per object whether it was created, updated (with the changed fields) or unchanged;
        ``dry_run`` reports the same without writing. Columns are checked against each view's
        source where the source can be read from here (otherwise a warning says so).
        """
        if not self.accept_code and any(_carries_code(s) for s in specs):
            names = [s.get("name") for s in specs if _carries_code(s)]
            raise InvalidArgument(
                f"this server does not accept on-demand feature views {names}: their transforms are pickled "
                "Python that the server would run. Start it with TREADLE_SERVER_ACCEPT_CODE=true only where "
                "every client is trusted, or apply them against the database directly (TREADLE_URI=postgresql...)"
            )
        defs = _parse(specs)
        with self._store.read() as conn:
            stored = _load_stored(conn)
            plan = self._plan(stored, defs)
        warnings = self._check_sources(stored, defs)
        if dry_run:
            return ApplyReport(dry_run=True, objects=plan.changes, warnings=warnings)
        try:
            changes = self._write(defs)
        except IntegrityError:  # a concurrent apply of the same new name (PostgreSQL): retry once
            changes = self._write(defs)
        if any(c.action != "unchanged" for c in changes):
            self._after_apply()
        return ApplyReport(dry_run=False, objects=changes, warnings=warnings)

    def _check_sources(self, stored: _Stored, defs: list[Definition]) -> list[str]:
        entities = self._merged_entities(stored, defs)
        warnings = []
        for d in defs:
            if isinstance(d, FeatureView):
                warning = check_view_source(d, self._datasets, entities)
                if warning:
                    warnings.append(warning)
        return warnings

    @staticmethod
    def _merged_entities(stored: _Stored, defs: list[Definition]) -> dict[str, Entity]:
        merged = {name: Entity.from_spec(spec) for name, spec in stored.entities.items()}
        merged.update({d.name: d for d in defs if isinstance(d, Entity)})
        return merged

    def _plan(self, stored: _Stored, defs: list[Definition]) -> _Plan:
        changes: list[ObjectChange] = []
        objects: dict[str, Definition] = {}
        entities = self._merged_entities(stored, defs)
        batch_views = {d.name: d for d in defs if not isinstance(d, Entity)}
        for d in defs:
            if isinstance(d, Entity):
                change = self._plan_entity(stored, d)
            else:
                self._validate_view(stored, d, entities, batch_views)
                change = self._plan_view(stored, d)
            changes.append(change)
            if change.action != "unchanged":
                objects[f"{change.kind}:{d.name}"] = d
        return _Plan(changes=changes, objects=objects)

    @staticmethod
    def _plan_entity(stored: _Stored, entity: Entity) -> ObjectChange:
        old = stored.entities.get(entity.name)
        new = entity.spec()
        if old is None:
            return ObjectChange(kind="entity", name=entity.name, action="created")
        if old == new:
            return ObjectChange(kind="entity", name=entity.name, action="unchanged")
        if list(old["join_keys"]) != list(entity.join_keys):
            users = sorted(n for n, row in stored.views.items() if entity.name in row.spec.get("entities", []))
            if users:
                raise InvalidArgument(
                    f"entity {entity.name!r}: join keys would change from {old['join_keys']} to "
                    f"{list(entity.join_keys)} but feature views {users} use it; delete those views first "
                    "or define a new entity"
                )
        return ObjectChange(kind="entity", name=entity.name, action="updated", changes=diff(old, new))

    @staticmethod
    def _validate_view(
        stored: _Stored,
        view: FeatureView | OnDemandFeatureView,
        entities: dict[str, Entity],
        batch_views: dict[str, FeatureView | OnDemandFeatureView],
    ) -> None:
        old = stored.views.get(view.name)
        if old is not None and old.kind != view.kind:
            raise InvalidArgument(
                f"{view.name!r} is registered as a {old.kind.replace('_', ' ')}, not a {view.kind.replace('_', ' ')}; "
                "delete it first or pick another name"
            )
        if isinstance(view, FeatureView):
            for key in view.join_keys(entities):
                if key in view.feature_names:
                    raise InvalidArgument(f"feature view {view.name!r}: join key {key!r} is also declared as a feature")
            return
        inputs: dict[str, FeatureView | list[str]] = {}
        for name in view.source_views:
            source = batch_views.get(name)
            kind = source.kind if source is not None else getattr(stored.views.get(name), "kind", None)
            if kind is None:
                raise InvalidArgument(
                    f"on-demand feature view {view.name!r} reads feature view {name!r}, which is not registered; "
                    "apply it in the same call or first"
                )
            if kind != FeatureView.kind:
                raise InvalidArgument(
                    f"on-demand feature view {view.name!r} reads {name!r}, which is an on-demand view; "
                    "read feature views and request sources only"
                )
            inputs[name] = (
                source if isinstance(source, FeatureView) else [f["name"] for f in stored.views[name].spec["schema"]]
            )
        view.input_columns(inputs)

    @staticmethod
    def _plan_view(stored: _Stored, view: FeatureView | OnDemandFeatureView) -> ObjectChange:
        old = stored.views.get(view.name)
        spec = view.spec()
        if old is None:
            return ObjectChange(kind=view.kind, name=view.name, action="created", version=1)
        if old.digest == digest(spec):
            return ObjectChange(kind=view.kind, name=view.name, action="unchanged", version=old.latest_version)
        from treadle.features._diff import comparable

        changes = diff(comparable(old.spec), comparable(spec))
        return ObjectChange(
            kind=view.kind, name=view.name, action="updated", version=old.latest_version + 1, changes=changes
        )

    def _write(self, defs: list[Definition]) -> list[ObjectChange]:
        with self._store.write() as conn:
            if conn.dialect.name == "postgresql":
                # Serialise applies (SQLite's BEGIN IMMEDIATE already does): two applies that change
                # the same view would otherwise both number their version latest + 1.
                conn.execute(text(f"SELECT pg_advisory_xact_lock({_APPLY_LOCK})"))
            stored = _load_stored(conn)
            plan = self._plan(stored, defs)
            now = now_ms()
            for change in plan.changes:
                if change.action == "unchanged":
                    continue
                obj = plan.objects[f"{change.kind}:{change.name}"]
                if isinstance(obj, Entity):
                    self._write_entity(conn, obj, change.action == "created", now)
                else:
                    assert change.version is not None
                    self._write_view(conn, obj, stored.views.get(obj.name), change.version, now)
            return plan.changes

    @staticmethod
    def _write_entity(conn: Connection, entity: Entity, created: bool, now: int) -> None:
        values = dict(
            join_keys=list(entity.join_keys),
            description=entity.description,
            tags=dict(entity.tags),
            spec=entity.spec(),
            updated_at=now,
        )
        if created:
            conn.execute(insert(t.entities).values(name=entity.name, created_at=now, **values))
        else:
            conn.execute(update(t.entities).where(t.entities.c.name == entity.name).values(**values))
        emit(conn, "feature_entity_applied", f"entity:{entity.name}", name=entity.name, created=created)

    def _write_view(
        self, conn: Connection, view: FeatureView | OnDemandFeatureView, old: Any, version: int, now: int
    ) -> None:
        spec = view.spec()
        online = view.online if isinstance(view, FeatureView) else True
        values = dict(
            latest_version=version, online=online, owner=view.owner, description=view.description, updated_at=now
        )
        if old is None:
            result = conn.execute(insert(t.views).values(name=view.name, kind=view.kind, created_at=now, **values))
            assert result.inserted_primary_key is not None
            view_id = int(result.inserted_primary_key[0])
        else:
            view_id = int(old.id)
            conn.execute(update(t.views).where(t.views.c.id == view_id).values(**values))
        conn.execute(
            insert(t.view_versions).values(
                view_id=view_id, version=version, spec=spec, digest=digest(spec), created_at=now
            )
        )
        record_view_version(conn, view_id, version, spec, self._datasets)
        emit(
            conn,
            "feature_view_applied",
            f"feature_view:{view.name}",
            name=view.name,
            view_kind=view.kind,
            version=version,
            created=old is None,
        )

    # ------------------------------------------------------------------ reads
    @operation
    def list_entities(self) -> list[EntityRecord]:
        """Every registered entity, by name."""
        with self._store.read() as conn:
            rows = conn.execute(select(t.entities).order_by(t.entities.c.name)).all()
        return [_entity_record(r) for r in rows]

    @operation
    def get_entity(self, name: str) -> EntityRecord:
        """One entity."""
        with self._store.read() as conn:
            row = conn.execute(select(t.entities).where(t.entities.c.name == name)).first()
        if row is None:
            raise NotFound(f"entity {name!r} is not registered; apply its definition first")
        return _entity_record(row)

    @operation
    def list_views(self, entity: str | None = None) -> list[FeatureViewRecord]:
        """Feature views and on-demand views at their latest version (only those of ``entity`` if given)."""
        v, vv = t.views, t.view_versions
        query = (
            select(v, vv.c.spec, vv.c.created_at.label("version_created_at"))
            .join(vv, (vv.c.view_id == v.c.id) & (vv.c.version == v.c.latest_version))
            .order_by(v.c.name)
        )
        with self._store.read() as conn:
            rows = conn.execute(query).all()
        records = [_view_record(r, r.latest_version, r.spec) for r in rows]
        return [r for r in records if entity is None or entity in r.entities]

    @operation
    def get_view(self, name: str, version: int | None = None) -> FeatureViewRecord:
        """A view at ``version`` (the latest when None), with its full spec."""
        with self._store.read() as conn:
            row = self._view_row(conn, name)
            number = row.latest_version if version is None else version
            if not 1 <= number < 2**31:
                raise NotFound(f"feature view {name!r} has no version {version} (latest is {row.latest_version})")
            spec = conn.execute(
                select(t.view_versions.c.spec).where(
                    t.view_versions.c.view_id == row.id, t.view_versions.c.version == number
                )
            ).scalar()
        if spec is None:
            raise NotFound(f"feature view {name!r} has no version {version} (latest is {row.latest_version})")
        return _view_record(row, number, spec)

    @operation
    def view_versions(self, name: str) -> list[FeatureViewVersion]:
        """Every version of a view, oldest first."""
        vv = t.view_versions
        with self._store.read() as conn:
            row = self._view_row(conn, name)
            rows = conn.execute(select(vv).where(vv.c.view_id == row.id).order_by(vv.c.version)).all()
        return [
            FeatureViewVersion(name=name, version=r.version, digest=r.digest, spec=r.spec, created_at=r.created_at)
            for r in rows
        ]

    @operation
    def delete_view(self, name: str) -> FeatureViewRecord:
        """Delete a view with its versions and materialization state; returns what it was."""
        with self._store.write() as conn:
            stored = _load_stored(conn)
            if name not in stored.views:
                raise NotFound(f"feature view {name!r} is not registered")
            readers = sorted(
                n for n, r in stored.views.items() if r.kind != FeatureView.kind and name in r.spec["source_views"]
            )
            if readers:
                raise InvalidArgument(f"feature view {name!r} is read by on-demand views {readers}; delete them first")
            row = self._view_row(conn, name)
            record = _view_record(row, row.latest_version, stored.views[name].spec)
            numbers = range(1, row.latest_version + 1)
            delete_nodes(
                conn, [f"feature_view_version:{row.id}:{n}" for n in numbers], prefix=f"feature_apply:{row.id}:"
            )
            delete_nodes(conn, [f"feature_view:{row.id}"])
            conn.execute(delete(t.views).where(t.views.c.id == row.id))
            emit(conn, "feature_view_deleted", f"feature_view:{name}", name=name, versions=row.latest_version)
        self._after_delete_view(name)
        return record

    @operation
    def delete_entity(self, name: str) -> None:
        """Delete an entity no feature view uses."""
        with self._store.write() as conn:
            stored = _load_stored(conn)
            if name not in stored.entities:
                raise NotFound(f"entity {name!r} is not registered")
            users = sorted(n for n, r in stored.views.items() if name in r.spec.get("entities", []))
            if users:
                raise InvalidArgument(f"entity {name!r} is used by feature views {users}; delete them first")
            conn.execute(delete(t.entities).where(t.entities.c.name == name))
            emit(conn, "feature_entity_deleted", f"entity:{name}", name=name)
        self._after_apply()

    # ------------------------------------------------------------------ local helpers (not operations)
    def view_id(self, conn: Connection, name: str) -> int:
        return int(self._view_row(conn, name).id)

    @staticmethod
    def _view_row(conn: Connection, name: str) -> Any:
        row = conn.execute(select(t.views).where(t.views.c.name == name)).first()
        if row is None:
            raise NotFound(f"feature view {name!r} is not registered; apply its definition first")
        return row

    def entity_definitions(self) -> dict[str, Entity]:
        with self._store.read() as conn:
            return {
                name: Entity.from_spec(spec)
                for name, spec in conn.execute(select(t.entities.c.name, t.entities.c.spec))
            }

    def view_definition(self, name: str, version: int | None = None) -> FeatureView | OnDemandFeatureView:
        """The registered view as a definition object (FeatureView with its entities resolved)."""
        spec = self.get_view(name, version).spec
        return view_from_spec(spec, self.entity_definitions())


def view_from_spec(spec: dict[str, Any], entities: dict[str, Entity]) -> FeatureView | OnDemandFeatureView:
    if spec.get("kind") == FeatureView.kind:
        return FeatureView.from_spec(spec, entities)
    return OnDemandFeatureView.from_spec(spec)


def _entity_record(row: Any) -> EntityRecord:
    return EntityRecord(
        name=row.name,
        join_keys=list(row.join_keys),
        description=row.description,
        tags=dict(row.tags or {}),
        spec=row.spec,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _view_record(row: Any, version: int, spec: dict[str, Any]) -> FeatureViewRecord:
    return FeatureViewRecord(
        name=row.name,
        kind=row.kind,
        version=version,
        latest_version=row.latest_version,
        entities=list(spec.get("entities", [])),
        features=[dict(f) for f in spec.get("schema", [])],
        online=bool(spec.get("online", True)),
        owner=spec.get("owner"),
        description=spec.get("description"),
        tags=dict(spec.get("tags", {})),
        spec=spec,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
