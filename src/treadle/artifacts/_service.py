"""Listing manifests and collecting garbage blobs."""

from __future__ import annotations

import time
from typing import ClassVar

from sqlalchemy import select

from treadle.artifacts._manifest import lock_blobs, referenced_digests
from treadle.artifacts._paths import clean_path
from treadle.artifacts._store import files_table
from treadle.artifacts.base import BlobStore
from treadle.errors import NotFound
from treadle.ops import Service, operation
from treadle.records import Record
from treadle.store import Store


class ArtifactFile(Record):
    path: str
    digest: str
    size: int
    created_at: int


class GcReport(Record):
    blobs: int
    referenced: int
    unreferenced: list[str]
    deleted: bool


class ArtifactService(Service):
    """Manifests (logical trees of files) and the blob store behind them."""

    capability: ClassVar[str] = "artifacts"

    def __init__(self, store: Store, blobs: BlobStore) -> None:
        self._store = store
        self.blobs = blobs

    @operation
    def list_files(self, manifest: str, prefix: str = "") -> list[ArtifactFile]:
        """Files of a manifest (e.g. ``run/<id>``) under ``prefix``, sorted by path."""
        f = files_table
        query = select(f.c.path, f.c.digest, f.c.size, f.c.created_at).where(f.c.manifest == manifest)
        if prefix:
            query = query.where(f.c.path.startswith(clean_path(prefix) + "/", autoescape=True))
        with self._store.read() as conn:
            rows = conn.execute(query.order_by(f.c.path)).all()
        return [ArtifactFile.model_validate(dict(r._mapping)) for r in rows]

    @operation
    def stat(self, manifest: str, path: str) -> ArtifactFile:
        """One file of a manifest."""
        f = files_table
        with self._store.read() as conn:
            row = conn.execute(
                select(f.c.path, f.c.digest, f.c.size, f.c.created_at).where(
                    f.c.manifest == manifest, f.c.path == clean_path(path)
                )
            ).first()
        if row is None:
            raise NotFound(f"no artifact {path!r} in {manifest}")
        return ArtifactFile.model_validate(dict(row._mapping))

    @operation
    def gc(self, dry_run: bool = True, grace_s: float = 3600.0) -> GcReport:
        """Find (and unless ``dry_run`` delete) blobs no manifest references.

        Blobs younger than ``grace_s`` are kept: an upload lands before its manifest row does.
        """
        cutoff = time.time() - grace_s
        stored = list(self.blobs.list())
        with self._store.write() as conn:
            if not dry_run:
                lock_blobs(conn, exclusive=True)  # no recorder can commit a reference meanwhile
            referenced = referenced_digests(conn)
            orphans = sorted(d for d, mtime in stored if d not in referenced and mtime <= cutoff)
            if not dry_run:
                for digest in orphans:
                    self.blobs.delete(digest)
        return GcReport(blobs=len(stored), referenced=len(referenced), unreferenced=orphans, deleted=not dry_run)
