"""Listing manifests and collecting garbage blobs."""

from __future__ import annotations

import time
from typing import ClassVar

from treadle.artifacts._manifest import lock_blobs, referenced_digests, select_files
from treadle.artifacts._paths import clean_path
from treadle.artifacts._records import ArtifactFile
from treadle.artifacts.base import BlobStore
from treadle.errors import NotFound
from treadle.ops import Service, operation
from treadle.records import Record
from treadle.store import Store


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
        with self._store.read() as conn:
            return select_files(conn, manifest, prefix=clean_path(prefix) if prefix else "")

    @operation
    def stat(self, manifest: str, path: str) -> ArtifactFile:
        """One file of a manifest."""
        with self._store.read() as conn:
            found = select_files(conn, manifest, [clean_path(path)])
        if not found:
            raise NotFound(f"no artifact {path!r} in {manifest}")
        return found[0]

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
