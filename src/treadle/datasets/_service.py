"""The dataset repository: immutable, content-addressed versions of tables and file collections.

A version's files (Parquet parts of a table, or the files of a collection) live in the blob store
under the artifact manifest ``dataset/<name>/<version>``. A new version is recorded as a change set
against a base version, so a version that changes 10 of 100,000 files records 10 rows of change
and copies the rest in SQL. Every change is one transaction and emits an event.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import Connection, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from treadle.artifacts import (
    ArtifactFile,
    BlobStore,
    check_uploaded,
    copy_manifest,
    delete_manifest,
    delete_unreferenced,
    manifest_digests,
    record_files,
)
from treadle.artifacts._store import files_table
from treadle.datasets import _tables as t
from treadle.datasets._records import (
    CreateResult,
    Dataset,
    DatasetDiff,
    DatasetUsage,
    DatasetVersion,
    FileIndex,
    NewVersion,
    manifest_name,
)
from treadle.datasets._store import (
    check_alias,
    check_name,
    dataset_row,
    latest_number,
    load_datasets,
    load_versions,
    manifest_summary,
    version_row,
)
from treadle.errors import InvalidArgument, NotFound
from treadle.events import emit
from treadle.lineage import delete_nodes, link, node_id, put_node
from treadle.ops import Service, operation
from treadle.store import Store, dialect_insert, now_ms

MAX_RESULTS = 1000


def version_node_id(name: str, version: int) -> str:
    """The lineage node of a dataset version: its URI, so ``td.log_input`` links to the same node."""
    return f"datasets:/{name}/{version}"


class DatasetService(Service):
    """Datasets and their versions (see the module docstring)."""

    capability: ClassVar[str] = "datasets"

    def __init__(self, store: Store, blobs: BlobStore) -> None:
        self._store = store
        self._blobs = blobs

    # ------------------------------------------------------------------ writes
    @operation
    def missing_blobs(self, digests: list[str]) -> list[str]:
        """Which of ``digests`` the blob store does not hold yet (upload those before creating a version)."""
        wanted = set(digests)
        known: set[str] = set()
        with self._store.read() as conn:
            chunk = list(wanted)
            for i in range(0, len(chunk), 500):
                query = select(files_table.c.digest).where(files_table.c.digest.in_(chunk[i : i + 500])).distinct()
                known.update(conn.execute(query).scalars())
        return sorted(d for d in wanted - known if not self._blobs.exists(d))

    @operation
    def create_version(self, name: str, new: NewVersion) -> CreateResult:
        """Record a new version from uploaded blobs. When its content equals the latest version's,
        nothing is recorded and the latest version is returned with ``created=False``."""
        check_name(name)
        _check_paths(new)
        try:
            return self._create(name, new)
        except IntegrityError:  # a concurrent first create of the same name, or the same version number
            return self._create(name, new)

    def _create(self, name: str, new: NewVersion) -> CreateResult:
        with self._store.write() as conn:
            now = now_ms()
            conn.execute(
                dialect_insert(conn, t.datasets)
                .values(name=name, description=new.description, created_at=now, updated_at=now)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            ds = dataset_row(conn, name, lock=True)
            latest = latest_number(conn, ds.id)
            if latest is not None and new.base_version == latest and not new.files and not new.removed:
                prior = version_row(conn, ds, latest)
                if prior.kind == new.kind:  # nothing changed: no manifest copy at all
                    return CreateResult(version=self._load(conn, ds, prior), created=False)
            number = (latest or 0) + 1
            target = manifest_name(name, number)
            delete_manifest(conn, target)  # leftovers of a version number that was never committed
            if new.base_version is not None:
                version_row(conn, ds, new.base_version)  # raises NotFound
                copy_manifest(conn, manifest_name(name, new.base_version), target)
                _remove(conn, target, new.removed, new.base_version)
            elif new.removed:
                raise InvalidArgument("'removed' needs a base_version to remove files from")
            entries = [(f.path, f.digest, f.size) for f in new.files]
            check_uploaded(conn, self._blobs, entries)
            record_files(conn, target, entries)
            digest, count, size = manifest_summary(conn, target)
            if not count and new.kind == "files":
                raise InvalidArgument(f"dataset {name!r}: a file collection needs at least one file")
            if latest is not None:
                prior = version_row(conn, ds, latest)
                if prior.digest == digest and prior.kind == new.kind:
                    delete_manifest(conn, target)
                    return CreateResult(version=self._load(conn, ds, prior), created=False)
            row = self._insert_version(conn, ds, number, new, (digest, count, size))
            return CreateResult(version=self._load(conn, ds, row), created=True)

    def _insert_version(
        self, conn: Connection, ds: Any, number: int, new: NewVersion, summary: tuple[str, int, int]
    ) -> Any:
        now = now_ms()
        digest, count, size = summary
        values = dict(
            dataset_id=ds.id,
            version=number,
            digest=digest,
            kind=new.kind,
            num_rows=new.num_rows,
            num_files=count,
            size_bytes=size,
            schema={"columns": [c.model_dump() for c in new.columns], "pandera": new.pandera_schema},
            stats=new.stats,
            source=new.source,
            description=new.description,
            tags=new.tags,
            run_id=new.run_id,
            created_by=new.created_by,
            created_at=now,
        )
        version_id = conn.execute(insert(t.versions).values(**values)).inserted_primary_key[0]  # type: ignore[index]
        if new.columns:
            conn.execute(
                insert(t.columns),
                [dict(version_id=version_id, position=i, name=c.name, type=c.type) for i, c in enumerate(new.columns)],
            )
        _merge_tags(conn, ds.id, new.tags)
        changes: dict[str, Any] = {"updated_at": now}
        if new.description:
            changes["description"] = new.description
        conn.execute(update(t.datasets).where(t.datasets.c.id == ds.id).values(**changes))
        uri = version_node_id(ds.name, number)
        node = put_node(
            conn,
            "artifact",
            "treadle.DatasetVersion",
            f"{ds.name} v{number}",
            external_id=uri,
            uri=uri,
            properties={"digest": digest, "kind": new.kind, "rows": new.num_rows},
        )
        if new.run_id:  # the run that produced this version
            run_node = node_id(conn, f"run:{new.run_id}")
            if run_node is not None:
                link(conn, "output", run_node, node)
        emit(conn, "dataset_version_created", uri, name=ds.name, version=number, digest=digest, content=new.kind)
        return conn.execute(select(t.versions).where(t.versions.c.id == version_id)).one()

    @operation
    def set_alias(self, name: str, alias: str, version: int) -> Dataset:
        """Point ``alias`` (e.g. ``prod``) at a version; moving it is recorded as an event."""
        check_alias(alias)
        with self._store.write() as conn:
            ds = dataset_row(conn, name, lock=True)
            version_row(conn, ds, version)
            stmt = dialect_insert(conn, t.aliases).values(
                dataset_id=ds.id, alias=alias, version=version, updated_at=now_ms()
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["dataset_id", "alias"],
                    set_={"version": stmt.excluded.version, "updated_at": stmt.excluded.updated_at},
                )
            )
            emit(conn, "dataset_alias_moved", f"datasets:/{name}@{alias}", name=name, alias=alias, version=version)
            return load_datasets(conn, [ds])[0]

    @operation
    def delete_alias(self, name: str, alias: str) -> Dataset:
        with self._store.write() as conn:
            ds = dataset_row(conn, name, lock=True)
            gone = conn.execute(delete(t.aliases).where(t.aliases.c.dataset_id == ds.id, t.aliases.c.alias == alias))
            if not gone.rowcount:
                raise NotFound(f"dataset {name!r} has no alias {alias!r}")
            return load_datasets(conn, [ds])[0]

    @operation
    def update_dataset(self, name: str, description: str | None = None, tags: dict[str, str] | None = None) -> Dataset:
        """Change a dataset's description, or set tags (an empty value deletes a tag)."""
        with self._store.write() as conn:
            ds = dataset_row(conn, name, lock=True)
            if description is not None:
                conn.execute(update(t.datasets).where(t.datasets.c.id == ds.id).values(description=description))
            for key in tags or {}:
                conn.execute(
                    delete(t.dataset_tags).where(t.dataset_tags.c.dataset_id == ds.id, t.dataset_tags.c.key == key)
                )
            _merge_tags(conn, ds.id, {k: v for k, v in (tags or {}).items() if v})
            conn.execute(update(t.datasets).where(t.datasets.c.id == ds.id).values(updated_at=now_ms()))
            return load_datasets(conn, [dataset_row(conn, name)])[0]

    @operation
    def delete_dataset(self, name: str) -> int:
        """Delete a dataset, all its versions and the blobs nothing else references; returns blobs deleted."""
        with self._store.write() as conn:
            ds = dataset_row(conn, name, lock=True)
            numbers = list(conn.execute(select(t.versions.c.version).where(t.versions.c.dataset_id == ds.id)).scalars())
            digests: set[str] = set()
            for number in numbers:
                digests |= manifest_digests(conn, manifest_name(name, number))
                delete_manifest(conn, manifest_name(name, number))
            delete_nodes(conn, [version_node_id(name, n) for n in numbers])
            conn.execute(delete(t.datasets).where(t.datasets.c.id == ds.id))
            emit(conn, "dataset_deleted", f"datasets:/{name}", name=name, versions=numbers)
        return delete_unreferenced(self._store, self._blobs, digests)

    # ------------------------------------------------------------------ reads
    @operation
    def get_dataset(self, name: str) -> Dataset:
        with self._store.read() as conn:
            return load_datasets(conn, [dataset_row(conn, name)])[0]

    @operation
    def search(
        self,
        query: str | None = None,
        tag: str | None = None,
        column: str | None = None,
        max_results: int = 100,
    ) -> list[Dataset]:
        """Datasets whose name or description contains ``query``, that carry ``tag`` (``key`` or
        ``key=value``), and that have (in any version) a column named ``column``; newest first."""
        if not 1 <= max_results <= MAX_RESULTS:
            raise InvalidArgument(f"max_results must be between 1 and {MAX_RESULTS}")
        d = t.datasets
        stmt = select(d)
        if query:
            like = f"%{query.lower()}%"
            stmt = stmt.where(or_(d.c.name.ilike(like), d.c.description.ilike(like)))
        if tag:
            key, _, value = tag.partition("=")
            tags = select(t.dataset_tags.c.dataset_id).where(t.dataset_tags.c.key == key)
            if value:
                tags = tags.where(t.dataset_tags.c.value == value)
            stmt = stmt.where(d.c.id.in_(tags))
        if column:
            v, c = t.versions, t.columns
            having = select(v.c.dataset_id).join(c, c.c.version_id == v.c.id).where(c.c.name == column)
            stmt = stmt.where(d.c.id.in_(having))
        with self._store.read() as conn:
            rows = conn.execute(stmt.order_by(d.c.updated_at.desc(), d.c.name).limit(max_results)).all()
            return load_datasets(conn, rows)

    @operation
    def list_versions(self, name: str) -> list[DatasetVersion]:
        """Every version of a dataset, newest first."""
        with self._store.read() as conn:
            ds = dataset_row(conn, name)
            rows = conn.execute(
                select(t.versions).where(t.versions.c.dataset_id == ds.id).order_by(t.versions.c.version.desc())
            ).all()
            return load_versions(conn, name, ds.id, rows)

    @operation
    def resolve(self, name: str, version: int | None = None, alias: str | None = None) -> DatasetVersion:
        """A version by number or alias (``latest`` and ``v<N>`` work too); the latest with neither."""
        with self._store.read() as conn:
            ds = dataset_row(conn, name)
            return self._load(conn, ds, version_row(conn, ds, version, alias))

    @operation
    def list_files(self, name: str, version: int, prefix: str = "") -> list[ArtifactFile]:
        """A version's files (Parquet parts or collection files), sorted by path."""
        from treadle.artifacts import select_files

        with self._store.read() as conn:
            version_row(conn, dataset_row(conn, name), version)
            return select_files(conn, manifest_name(name, version), prefix=prefix)

    @operation
    def file_index(self, name: str, version: int) -> FileIndex:
        """A version's (path, digest, size) columns, for computing the next version's change set."""
        f = files_table
        with self._store.read() as conn:
            version_row(conn, dataset_row(conn, name), version)
            rows = conn.execute(
                select(f.c.path, f.c.digest, f.c.size).where(f.c.manifest == manifest_name(name, version))
            ).all()
        return FileIndex.model_construct(
            paths=[r[0] for r in rows], digests=[r[1] for r in rows], sizes=[r[2] for r in rows]
        )

    @operation
    def usage(self, name: str, version: int) -> DatasetUsage:
        """The runs that consumed a version (``td.log_input``), models registered from them, and
        feature views built on it."""
        from treadle.lineage import LineageService

        with self._store.read() as conn:
            version_row(conn, dataset_row(conn, name), version)
            node = node_id(conn, version_node_id(name, version))
        if node is None:
            return DatasetUsage()
        graph = LineageService(self._store).downstream(node, hops=3)
        runs = sorted(n.external_id[4:] for n in graph.nodes if n.external_id and n.external_id.startswith("run:"))
        models = sorted(n.uri for n in graph.nodes if n.uri and n.uri.startswith("models:/"))
        features = sorted(n.uri for n in graph.nodes if n.type == "treadle.FeatureView" and n.uri)
        return DatasetUsage(runs=runs, models=models, features=features)

    @operation
    def diff(self, name: str, before: int, after: int, key: list[str] | None = None) -> DatasetDiff:
        """What changed between two versions: schema, rows added/removed/changed by ``key``
        (without a key: rows as a multiset), files, and the shift of column statistics."""
        from treadle.datasets._diff import diff_versions

        return diff_versions(self, name, before, after, key or [])

    @operation
    def sample(self, name: str, version: int, limit: int = 20) -> list[dict[str, Any]]:
        """The first ``limit`` rows of a table version (for previews), JSON-safe."""
        from treadle.datasets._read import sample_rows

        if not 1 <= limit <= 1000:
            raise InvalidArgument("limit must be between 1 and 1000")
        return sample_rows(self, self.resolve(name, version), limit)

    # ------------------------------------------------------------------ local only
    def open_table(self, name: str, version: int | str | None = None) -> Any:
        """A table version as a ``pyarrow.Table`` (``version``: number, alias, or None for the latest)."""
        from treadle.datasets._read import read_table

        resolved = self.resolve(name, alias=version) if isinstance(version, str) else self.resolve(name, version)
        return read_table(self._blobs, self.list_files(name, resolved.version), resolved)

    @property
    def blobs(self) -> BlobStore:
        return self._blobs

    def _load(self, conn: Connection, ds: Any, row: Any) -> DatasetVersion:
        return load_versions(conn, ds.name, ds.id, [row])[0]


def _check_paths(new: NewVersion) -> None:
    from treadle.artifacts import clean_path

    seen: set[str] = set()
    for f in new.files:
        if clean_path(f.path) != f.path:
            raise InvalidArgument(f"file path {f.path!r} is not a clean relative path")
        if f.path in seen:
            raise InvalidArgument(f"file path {f.path!r} appears twice")
        seen.add(f.path)


def _remove(conn: Connection, manifest: str, paths: list[str], base: int) -> None:
    if not paths:
        return
    f = files_table
    for i in range(0, len(paths), 500):
        chunk = paths[i : i + 500]
        gone = conn.execute(delete(f).where(f.c.manifest == manifest, f.c.path.in_(chunk))).rowcount
        if gone != len(set(chunk)):
            present = set(conn.execute(select(f.c.path).where(f.c.manifest == manifest)).scalars())
            missing = [p for p in chunk if p not in present]
            raise InvalidArgument(f"cannot remove files version {base} does not have: {', '.join(missing[:5])}")


def _merge_tags(conn: Connection, dataset_id: int, tags: dict[str, str]) -> None:
    if not tags:
        return
    stmt = dialect_insert(conn, t.dataset_tags)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["dataset_id", "key"], set_={"value": stmt.excluded.value}),
        [dict(dataset_id=dataset_id, key=k, value=str(v)) for k, v in tags.items()],
    )
