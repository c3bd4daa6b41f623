"""The registry service: models, versions, approval, aliases with history, and what a version needs."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import yaml
from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from treadle.artifacts import (
    ArtifactService,
    BlobStore,
    check_uploaded,
    clean_path,
    copy_manifest,
    delete_manifest,
    delete_unreferenced,
    manifest_digests,
    record_files,
    select_files,
)
from treadle.errors import AlreadyExists, InvalidArgument, NotFound
from treadle.events import emit
from treadle.lineage import LineageService, delete_nodes, link, node_id, put_node
from treadle.models import parse_manifest_yaml
from treadle.ops import Service, operation
from treadle.registry import _tables as t
from treadle.registry._records import (
    DeleteReport,
    ModelVersion,
    RegisteredModel,
)
from treadle.registry._store import (
    check_name,
    load_models,
    load_versions,
    model_row,
    touch_model,
    version_manifest,
    version_node_id,
    version_row,
)
from treadle.registry._versions import VersionOps
from treadle.store import Store, dialect_insert, now_ms
from treadle.tracking import ArtifactIn

MODEL_FILES = ("treadle-model.yaml", "MLmodel")
_RUNS_URI = re.compile(r"^runs:/(?P<run>[0-9a-f]{32})(?:/(?P<path>.*))?$")


class RegistryService(VersionOps, Service):
    """Registered models and their versions. Every change is one transaction and emits an event."""

    capability: ClassVar[str] = "registry"

    def __init__(self, store: Store, blobs: BlobStore) -> None:
        self._store = store
        self._blobs = blobs
        self._artifacts = ArtifactService(store, blobs)
        self._lineage = LineageService(store)

    # ------------------------------------------------------------------ models
    @operation
    def create_model(
        self, name: str, description: str | None = None, owner: str | None = None, tags: dict[str, str] | None = None
    ) -> RegisteredModel:
        """Register a model name (versions are added with ``create_version``)."""
        check_name(name)
        try:
            with self._store.write() as conn:
                self._insert_model(conn, name, description, owner, tags)
                return load_models(conn, [model_row(conn, name)])[0]
        except IntegrityError:
            raise AlreadyExists(f"a model named {name!r} is already registered") from None

    def _insert_model(
        self, conn: Connection, name: str, description: str | None, owner: str | None, tags: dict[str, str] | None
    ) -> int:
        now = now_ms()
        result = conn.execute(
            insert(t.models).values(
                name=name, description=description, owner=owner, lifecycle="active", created_at=now, updated_at=now
            )
        )
        assert result.inserted_primary_key is not None
        model_id = int(result.inserted_primary_key[0])
        for key, value in (tags or {}).items():
            conn.execute(insert(t.model_tags).values(model_id=model_id, key=key, value=str(value)))
        put_node(
            conn, "context", "treadle.RegisteredModel", name, external_id=f"model:{model_id}", uri=f"models:/{name}"
        )
        emit(conn, "model_created", f"model:{name}", name=name)
        return model_id

    @operation
    def get_model(self, name: str) -> RegisteredModel:
        """A registered model with its tags, aliases and latest version number."""
        with self._store.read() as conn:
            return load_models(conn, [model_row(conn, name)])[0]

    @operation
    def search_models(
        self,
        name_like: str | None = None,
        tags: dict[str, str] | None = None,
        include_archived: bool = False,
        max_results: int = 1000,
    ) -> list[RegisteredModel]:
        """Models whose name matches ``name_like`` (SQL LIKE, case-insensitive) and carry all ``tags``."""
        if not 1 <= max_results <= 50_000:
            raise InvalidArgument("max_results must be between 1 and 50000")
        m = t.models
        query = select(m).order_by(m.c.name).limit(max_results)
        if name_like:
            query = query.where(m.c.name.ilike(name_like))
        if not include_archived:
            query = query.where(m.c.lifecycle == "active")
        for key, value in (tags or {}).items():
            tag = t.model_tags
            query = query.where(m.c.id.in_(select(tag.c.model_id).where(tag.c.key == key, tag.c.value == value)))
        with self._store.read() as conn:
            return load_models(conn, conn.execute(query).all())

    @operation
    def update_model(self, name: str, description: str | None = None, owner: str | None = None) -> RegisteredModel:
        """Change a model's description or owner."""
        values: dict[str, Any] = {"updated_at": now_ms()}
        if description is not None:
            values["description"] = description
        if owner is not None:
            values["owner"] = owner
        with self._store.write() as conn:
            row = model_row(conn, name)
            conn.execute(update(t.models).where(t.models.c.id == row.id).values(**values))
            emit(conn, "model_updated", f"model:{name}", name=name)
            return load_models(conn, [model_row(conn, name)])[0]

    @operation
    def set_model_tag(self, name: str, key: str, value: str) -> None:
        """Set (or overwrite) a model tag."""
        with self._store.write() as conn:
            row = model_row(conn, name)
            stmt = dialect_insert(conn, t.model_tags).values(model_id=row.id, key=key, value=value)
            conn.execute(stmt.on_conflict_do_update(index_elements=["model_id", "key"], set_={"value": value}))

    @operation
    def archive_model(self, name: str, archived: bool = True) -> RegisteredModel:
        """Hide a model from searches (``archived=False`` brings it back); nothing is deleted."""
        with self._store.write() as conn:
            row = model_row(conn, name)
            lifecycle = "archived" if archived else "active"
            conn.execute(
                update(t.models).where(t.models.c.id == row.id).values(lifecycle=lifecycle, updated_at=now_ms())
            )
            emit(conn, f"model_{lifecycle if archived else 'restored'}", f"model:{name}", name=name)
            return load_models(conn, [model_row(conn, name)])[0]

    @operation
    def delete_model(self, name: str) -> DeleteReport:
        """Delete a model, its versions, aliases and history, and the blobs only it used (not while it
        has protected aliases: a workspace admin unprotects them first)."""
        with self._store.write() as conn:
            row = model_row(conn, name, lock=True)
            a = t.aliases
            guarded = list(
                conn.execute(
                    select(a.c.alias).where(a.c.model_id == row.id, a.c.protected.is_(True)).order_by(a.c.alias)
                ).scalars()
            )
            if guarded:
                raise InvalidArgument(
                    f"model {name!r} has protected aliases {', '.join(guarded)}: unprotect them first "
                    "(protect_alias(..., protected=False), a workspace admin's)"
                )
            numbers = list(
                conn.execute(
                    select(t.versions.c.version).where(t.versions.c.model_id == row.id).order_by(t.versions.c.version)
                ).scalars()
            )
            candidates = self._drop_versions(conn, row.id, numbers)
            delete_nodes(conn, [f"model:{row.id}"])
            conn.execute(delete(t.models).where(t.models.c.id == row.id))
            emit(conn, "model_deleted", f"model:{name}", name=name, versions=numbers)
        return DeleteReport(versions=numbers, blobs_deleted=delete_unreferenced(self._store, self._blobs, candidates))

    def _drop_versions(self, conn: Connection, model_id: int, numbers: list[int]) -> set[str]:
        digests: set[str] = set()
        for number in numbers:
            manifest = version_manifest(model_id, number)
            digests |= manifest_digests(conn, manifest)
            delete_manifest(conn, manifest)
        delete_nodes(conn, [version_node_id(model_id, n) for n in numbers])
        v = t.versions
        conn.execute(delete(v).where(v.c.model_id == model_id, v.c.version.in_(numbers)))
        return digests

    # ------------------------------------------------------------------ versions
    @operation
    def create_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        files: list[ArtifactIn] | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        created_by: str | None = None,
    ) -> ModelVersion:
        """Add the next version of ``name`` (registering the name if new).

        ``source`` ``runs:/<run>/<path>`` takes the run's logged model files (no bytes are copied);
        any other source must come with ``files`` already uploaded to the blob store. The files
        must hold a ``treadle-model.yaml`` (or an MLflow ``MLmodel``).
        """
        check_name(name)
        match = _RUNS_URI.match(source)
        if match is None and not files:
            raise InvalidArgument(f"source {source!r} is not runs:/<run id>/<path>; upload its files and pass files=")
        if match is not None:
            run_id = match["run"]
        try:
            return self._new_version(name, source, match, run_id, files, description, tags, created_by)
        except IntegrityError:
            # Two first registrations of a new name raced (PostgreSQL); the loser retries once.
            return self._new_version(name, source, match, run_id, files, description, tags, created_by)

    def _new_version(
        self,
        name: str,
        source: str,
        match: re.Match[str] | None,
        run_id: str | None,
        files: list[ArtifactIn] | None,
        description: str | None,
        tags: dict[str, str] | None,
        created_by: str | None,
    ) -> ModelVersion:
        with self._store.write() as conn:
            if run_id is not None and node_id(conn, f"run:{run_id}") is None:
                raise NotFound(f"run {run_id!r} does not exist")
            try:
                model = model_row(conn, name, lock=True)
                model_id = int(model.id)
            except NotFound:
                model_id = self._insert_model(conn, name, None, created_by, None)
            number = 1 + int(
                conn.execute(
                    select(func.coalesce(func.max(t.versions.c.version), 0)).where(t.versions.c.model_id == model_id)
                ).scalar_one()
            )
            manifest = version_manifest(model_id, number)
            if match is not None:
                copied = copy_manifest(
                    conn, f"run/{match['run']}", manifest, clean_path(match["path"]) if match["path"] else ""
                )
                if not copied:
                    raise InvalidArgument(
                        f"run {match['run']} has no files under {match['path'] or '/'!r}; log the model first"
                    )
            else:
                assert files is not None
                entries = [(clean_path(f.path), f.digest, f.size) for f in files]
                check_uploaded(conn, self._blobs, entries)
                record_files(conn, manifest, entries)
            flavor, digest = self._flavor(conn, manifest)
            now = now_ms()
            result = conn.execute(
                insert(t.versions).values(
                    model_id=model_id,
                    version=number,
                    source=source,
                    run_id=run_id,
                    status="READY",
                    approval="pending",
                    description=description,
                    flavor=flavor,
                    digest=digest,
                    lifecycle="active",
                    created_by=created_by,
                    created_at=now,
                    updated_at=now,
                )
            )
            assert result.inserted_primary_key is not None
            version_id = int(result.inserted_primary_key[0])
            for key, value in (tags or {}).items():
                conn.execute(insert(t.version_tags).values(version_id=version_id, key=key, value=str(value)))
            self._record_lineage(conn, model_id, name, number, run_id, flavor)
            touch_model(conn, model_id)
            emit(
                conn, "model_version_created", f"model:{name}", name=name, version=number, run_id=run_id, source=source
            )
            row = version_row(conn, model_id, name, number)
            return load_versions(conn, {model_id: name}, [row])[0]

    def _flavor(self, conn: Connection, manifest: str) -> tuple[str, str | None]:
        """The flavor and manifest digest a model's files declare."""
        files = {f.path: f for f in select_files(conn, manifest)}
        if "treadle-model.yaml" in files:
            try:
                data = parse_manifest_yaml(self._blobs.read_bytes(files["treadle-model.yaml"].digest))
            except yaml.YAMLError as exc:
                raise InvalidArgument(f"treadle-model.yaml is not valid YAML: {exc}") from None
            if not isinstance(data, dict) or "flavor" not in data:
                raise InvalidArgument("treadle-model.yaml must be a mapping with a 'flavor'")
            digest = data.get("digest")
            return str(data["flavor"]), str(digest) if digest else None
        if "MLmodel" in files:
            return "mlflow", None
        raise InvalidArgument(f"not a model: no {' or '.join(MODEL_FILES)} among its files; log it with td.log_model")

    def _record_lineage(
        self, conn: Connection, model_id: int, name: str, number: int, run_id: str | None, flavor: str
    ) -> None:
        node = put_node(
            conn,
            "artifact",
            "treadle.ModelVersion",
            f"{name} v{number}",
            external_id=version_node_id(model_id, number),
            uri=f"models:/{name}/{number}",
            properties={"flavor": flavor},
        )
        ctx = put_node(conn, "context", "treadle.RegisteredModel", name, external_id=f"model:{model_id}")
        link(conn, "attribution", ctx, node)
        if run_id is not None:
            run = put_node(conn, "execution", "treadle.Run", run_id, external_id=f"run:{run_id}")
            link(conn, "output", run, node, path=f"models:/{name}/{number}")
