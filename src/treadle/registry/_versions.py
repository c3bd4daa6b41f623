"""Registry operations on existing versions: reads, approval, aliases and their history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select, update

from treadle.artifacts import ArtifactFile, ArtifactService, BlobStore, delete_unreferenced
from treadle.errors import InvalidArgument, NotFound
from treadle.events import emit
from treadle.lineage import LineageService
from treadle.models import parse_manifest_yaml
from treadle.ops import operation
from treadle.registry import _tables as t
from treadle.registry._records import (
    Alias,
    AliasMove,
    Approval,
    DeleteReport,
    ModelVersion,
    ResolvedVersion,
    VersionNeeds,
)
from treadle.registry._store import (
    check_alias,
    load_versions,
    model_row,
    touch_model,
    version_manifest,
    version_node_id,
    version_row,
)
from treadle.store import Store, dialect_insert, now_ms


class VersionOps:
    """Mixed into :class:`RegistryService`."""

    _store: Store
    _blobs: BlobStore
    _artifacts: ArtifactService
    _lineage: LineageService

    def _drop_versions(self, conn: Connection, model_id: int, numbers: list[int]) -> set[str]:
        raise NotImplementedError

    def _version(self, conn: Connection, name: str, version: int) -> ModelVersion:
        model = model_row(conn, name)
        return load_versions(conn, {model.id: name}, [version_row(conn, model.id, name, version)])[0]

    # ------------------------------------------------------------------ reads
    @operation
    def get_version(self, name: str, version: int) -> ModelVersion:
        """One version of a model."""
        with self._store.read() as conn:
            return self._version(conn, name, version)

    @operation
    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points at; ``latest`` is the newest version."""
        with self._store.read() as conn:
            model = model_row(conn, name)
            if alias == "latest":
                number = conn.execute(
                    select(t.versions.c.version)
                    .where(t.versions.c.model_id == model.id)
                    .order_by(t.versions.c.version.desc())
                    .limit(1)
                ).scalar()
                if number is None:
                    raise NotFound(f"model {name!r} has no versions yet")
                return self._version(conn, name, number)
            row = conn.execute(
                select(t.versions)
                .join(t.aliases, t.aliases.c.version_id == t.versions.c.id)
                .where(t.aliases.c.model_id == model.id, t.aliases.c.alias == alias)
            ).first()
            if row is None:
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            return load_versions(conn, {model.id: name}, [row])[0]

    @operation
    def search_versions(
        self,
        name: str | None = None,
        approval: Approval | None = None,
        run_id: str | None = None,
        include_archived: bool = False,
        max_results: int = 1000,
    ) -> list[ModelVersion]:
        """Versions, newest first, filtered by model, approval state or producing run."""
        if not 1 <= max_results <= 50_000:
            raise InvalidArgument("max_results must be between 1 and 50000")
        v, m = t.versions, t.models
        query = (
            select(v, m.c.name.label("model_name"))
            .join(m, m.c.id == v.c.model_id)
            .order_by(m.c.name, v.c.version.desc())
            .limit(max_results)
        )
        if name is not None:
            query = query.where(m.c.name == name)
        if approval is not None:
            query = query.where(v.c.approval == approval)
        if run_id is not None:
            query = query.where(v.c.run_id == run_id)
        if not include_archived:
            query = query.where(v.c.lifecycle == "active")
        with self._store.read() as conn:
            rows = conn.execute(query).all()
            return load_versions(conn, {r.model_id: r.model_name for r in rows}, rows)

    @operation
    def resolve_version(self, name: str, version: int | None = None, alias: str | None = None) -> ResolvedVersion:
        """The version (by number, or by alias: ``latest`` included) with its files, in one call."""
        if (version is None) == (alias is None):
            raise InvalidArgument("give exactly one of version or alias")
        found = self.get_version(name, version) if version is not None else self.get_version_by_alias(name, alias or "")
        return ResolvedVersion(version=found, files=self.list_version_files(name, found.version))

    @operation
    def list_version_files(self, name: str, version: int) -> list[ArtifactFile]:
        """The files of a version (its treadle-model.yaml among them)."""
        with self._store.read() as conn:
            model = model_row(conn, name)
            version_row(conn, model.id, name, version)
        return self._artifacts.list_files(version_manifest(model.id, version))

    @operation
    def get_version_needs(self, name: str, version: int) -> VersionNeeds:
        """Runtime requirements and Python version from the model's manifest, and the data it came from."""
        files = {f.path: f for f in self.list_version_files(name, version)}
        mv = self.get_version(name, version)
        spec: dict[str, Any] = {}
        if "treadle-model.yaml" in files:
            spec = parse_manifest_yaml(self._blobs.read_bytes(files["treadle-model.yaml"].digest)) or {}
        inputs: list[dict[str, Any]] = []
        if mv.run_id is not None:
            try:
                run_node = self._lineage.find_node(f"run:{mv.run_id}")
            except NotFound:
                run_node = None
            if run_node is not None:
                graph = self._lineage.upstream(run_node.id, hops=1)
                inputs = [n.model_dump() for n in graph.nodes if n.kind == "artifact"]
        return VersionNeeds(
            name=name,
            version=version,
            flavor=mv.flavor,
            python=spec.get("python_version"),
            requirements=_string_list(spec.get("requirements")),
            run_id=mv.run_id,
            inputs=inputs,
        )

    # ------------------------------------------------------------------ changes
    @operation
    def update_version(self, name: str, version: int, description: str | None = None) -> ModelVersion:
        """Change a version's description."""
        with self._store.write() as conn:
            model = model_row(conn, name)
            row = version_row(conn, model.id, name, version)
            conn.execute(
                update(t.versions).where(t.versions.c.id == row.id).values(description=description, updated_at=now_ms())
            )
            return self._version(conn, name, version)

    @operation
    def set_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        """Set (or overwrite) a version tag."""
        with self._store.write() as conn:
            model = model_row(conn, name)
            row = version_row(conn, model.id, name, version)
            stmt = dialect_insert(conn, t.version_tags).values(version_id=row.id, key=key, value=value)
            conn.execute(stmt.on_conflict_do_update(index_elements=["version_id", "key"], set_={"value": value}))

    @operation
    def archive_version(self, name: str, version: int, archived: bool = True) -> ModelVersion:
        """Hide a version from searches; an archived version cannot take aliases."""
        with self._store.write() as conn:
            model = model_row(conn, name)
            row = version_row(conn, model.id, name, version)
            if archived:
                held = list(conn.execute(select(t.aliases.c.alias).where(t.aliases.c.version_id == row.id)).scalars())
                if held:
                    raise InvalidArgument(f"{name} v{version} holds aliases {', '.join(held)}; move them first")
            lifecycle = "archived" if archived else "active"
            conn.execute(
                update(t.versions).where(t.versions.c.id == row.id).values(lifecycle=lifecycle, updated_at=now_ms())
            )
            emit(
                conn,
                f"model_version_{lifecycle if archived else 'restored'}",
                f"model:{name}",
                name=name,
                version=version,
            )
            return self._version(conn, name, version)

    @operation
    def delete_version(self, name: str, version: int) -> DeleteReport:
        """Delete one version and the blobs only it used; it must hold no alias."""
        with self._store.write() as conn:
            model = model_row(conn, name, lock=True)
            row = version_row(conn, model.id, name, version)
            held = list(conn.execute(select(t.aliases.c.alias).where(t.aliases.c.version_id == row.id)).scalars())
            if held:
                raise InvalidArgument(f"{name} v{version} holds aliases {', '.join(held)}; move or delete them first")
            candidates = self._drop_versions(conn, model.id, [version])
            emit(conn, "model_version_deleted", f"model:{name}", name=name, version=version)
        return DeleteReport(versions=[version], blobs_deleted=delete_unreferenced(self._store, self._blobs, candidates))

    @operation
    def approve_version(
        self, name: str, version: int, actor: str | None = None, reason: str | None = None
    ) -> ModelVersion:
        """Mark a version approved (protected aliases only point at approved versions)."""
        return self._set_approval(name, version, "approved", actor, reason)

    @operation
    def reject_version(
        self, name: str, version: int, actor: str | None = None, reason: str | None = None
    ) -> ModelVersion:
        """Mark a version rejected; it cannot take a protected alias."""
        return self._set_approval(name, version, "rejected", actor, reason)

    def _set_approval(
        self, name: str, version: int, approval: str, actor: str | None, reason: str | None
    ) -> ModelVersion:
        with self._store.write() as conn:
            model = model_row(conn, name, lock=True)
            row = version_row(conn, model.id, name, version)
            if approval == "rejected":
                a = t.aliases
                held = list(
                    conn.execute(select(a.c.alias).where(a.c.version_id == row.id, a.c.protected.is_(True))).scalars()
                )
                if held:
                    raise InvalidArgument(
                        f"{name} v{version} holds protected aliases {', '.join(held)}; move them first"
                    )
            conn.execute(
                update(t.versions)
                .where(t.versions.c.id == row.id)
                .values(
                    approval=approval,
                    approval_by=actor,
                    approval_reason=reason,
                    approval_at=now_ms(),
                    updated_at=now_ms(),
                )
            )
            touch_model(conn, model.id)
            emit(
                conn,
                f"model_version_{approval}",
                f"model:{name}",
                name=name,
                version=version,
                actor=actor,
                reason=reason,
            )
            return self._version(conn, name, version)

    # ------------------------------------------------------------------ aliases
    @operation
    def set_alias(
        self, name: str, alias: str, version: int, actor: str | None = None, reason: str | None = None
    ) -> Alias:
        """Point ``alias`` at ``version`` (creating or moving it) and record the move in its history."""
        with self._store.write() as conn:
            return self.move_alias(conn, name, alias, version, actor, reason)

    def move_alias(
        self, conn: Connection, name: str, alias: str, version: int, actor: str | None, reason: str | None
    ) -> Alias:
        """:meth:`set_alias` inside the caller's write transaction (the rollout service moves an alias
        and writes its deployment revision atomically). Setting the version the alias already points
        at still records a history entry (from == to): a note with the actor and reason."""
        check_alias(alias)
        model = model_row(conn, name, lock=True)
        target = version_row(conn, model.id, name, version)
        if target.lifecycle != "active":
            raise InvalidArgument(f"{name} v{version} is archived; restore it before giving it an alias")
        current = self._alias_row(conn, model.id, alias)
        protected = bool(current.protected) if current is not None else False
        if protected and target.approval != "approved":
            raise InvalidArgument(
                f"alias {alias!r} of {name!r} is protected: it only points at approved versions, and v{version} is "
                f"{target.approval}; approve it first"
            )
        before = self._version_number(conn, current.version_id) if current is not None else None
        stmt = dialect_insert(conn, t.aliases).values(
            model_id=model.id, alias=alias, version_id=target.id, protected=protected, updated_at=now_ms()
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["model_id", "alias"], set_={"version_id": target.id, "updated_at": now_ms()}
            )
        )
        self._log_move(conn, model.id, alias, before, version, actor, reason)
        touch_model(conn, model.id)
        emit(
            conn,
            "alias_moved",
            f"model:{name}",
            name=name,
            alias=alias,
            from_version=before,
            to_version=version,
            actor=actor,
        )
        return self._alias(conn, model.id, name, alias)

    @operation
    def delete_alias(self, name: str, alias: str, actor: str | None = None, reason: str | None = None) -> None:
        """Remove an alias (its history stays). A protected alias keeps its protection: only
        ``protect_alias(..., protected=False)`` (a workspace admin's) lifts it, so deleting and setting
        it again cannot point it at a version nobody approved."""
        with self._store.write() as conn:
            model = model_row(conn, name, lock=True)
            current = self._alias_row(conn, model.id, alias)
            if current is None:
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            before = self._version_number(conn, current.version_id)
            where = (t.aliases.c.model_id == model.id, t.aliases.c.alias == alias)
            if current.protected:
                conn.execute(update(t.aliases).where(*where).values(version_id=None, updated_at=now_ms()))
            else:
                conn.execute(delete(t.aliases).where(*where))
            if before is None:  # only a protection was set: there is no move to record
                return
            self._log_move(conn, model.id, alias, before, None, actor, reason)
            touch_model(conn, model.id)
            emit(conn, "alias_deleted", f"model:{name}", name=name, alias=alias, from_version=before, actor=actor)

    @operation
    def protect_alias(self, name: str, alias: str, protected: bool = True, actor: str | None = None) -> Alias:
        """Make an alias protected (only approved versions) or not; it may be protected before it is set."""
        check_alias(alias)
        with self._store.write() as conn:
            model = model_row(conn, name, lock=True)
            current = self._alias_row(conn, model.id, alias)
            if protected and current is not None and current.version_id is not None:
                approval = conn.execute(
                    select(t.versions.c.approval).where(t.versions.c.id == current.version_id)
                ).scalar()
                if approval != "approved":
                    raise InvalidArgument(f"alias {alias!r} points at a version that is {approval}; approve it first")
            stmt = dialect_insert(conn, t.aliases).values(
                model_id=model.id, alias=alias, version_id=None, protected=protected, updated_at=now_ms()
            )
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["model_id", "alias"], set_={"protected": protected})
            )
            emit(
                conn,
                "alias_protected" if protected else "alias_unprotected",
                f"model:{name}",
                name=name,
                alias=alias,
                actor=actor,
            )
            return self._alias(conn, model.id, name, alias)

    @operation
    def list_aliases(self, name: str) -> list[Alias]:
        """Every alias of a model, with the version it points at and whether it is protected."""
        with self._store.read() as conn:
            model = model_row(conn, name)
            names = conn.execute(
                select(t.aliases.c.alias).where(t.aliases.c.model_id == model.id).order_by(t.aliases.c.alias)
            )
            return [self._alias(conn, model.id, name, a) for a in names.scalars()]

    @operation
    def get_alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        """Every move of ``alias`` (or of all aliases), oldest first: who, when, from, to, why."""
        h = t.alias_history
        with self._store.read() as conn:
            model = model_row(conn, name)
            query = select(h).where(h.c.model_id == model.id).order_by(h.c.id)
            if alias is not None:
                query = query.where(h.c.alias == alias)
            return [
                AliasMove(
                    name=name,
                    alias=r.alias,
                    from_version=r.from_version,
                    to_version=r.to_version,
                    actor=r.actor,
                    reason=r.reason,
                    at=r.at,
                )
                for r in conn.execute(query)
            ]

    def _alias_row(self, conn: Connection, model_id: int, alias: str) -> Any:
        return conn.execute(
            select(t.aliases).where(t.aliases.c.model_id == model_id, t.aliases.c.alias == alias)
        ).first()

    def _version_number(self, conn: Connection, version_id: int | None) -> int | None:
        if version_id is None:
            return None
        return conn.execute(select(t.versions.c.version).where(t.versions.c.id == version_id)).scalar()

    def _alias(self, conn: Connection, model_id: int, name: str, alias: str) -> Alias:
        row = self._alias_row(conn, model_id, alias)
        return Alias(
            name=name,
            alias=alias,
            version=self._version_number(conn, row.version_id),
            protected=bool(row.protected),
            updated_at=row.updated_at,
        )

    def _log_move(
        self,
        conn: Connection,
        model_id: int,
        alias: str,
        before: int | None,
        after: int | None,
        actor: str | None,
        reason: str | None,
    ) -> None:
        conn.execute(
            t.alias_history.insert().values(
                model_id=model_id,
                alias=alias,
                from_version=before,
                to_version=after,
                actor=actor,
                reason=reason,
                at=now_ms(),
            )
        )


__all__ = ["VersionOps", "version_node_id"]


def _string_list(value: Any) -> list[str]:
    """Requirements as a list of strings, whatever shape a hand-edited manifest gave them."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else []
