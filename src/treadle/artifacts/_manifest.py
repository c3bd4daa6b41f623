"""Manifest rows: which digest a logical path of a run, model or dataset points at."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, func, literal, select, text

from treadle.artifacts._records import ArtifactFile
from treadle.artifacts._store import files_table
from treadle.artifacts.base import BlobStore
from treadle.errors import InvalidArgument
from treadle.store import Store, dialect_insert, now_ms


def record_files(conn: Connection, manifest: str, files: Sequence[tuple[str, str, int]]) -> None:
    """Point each (path, digest, size) of ``manifest`` at its blob; a re-log replaces the path."""
    if not files:
        return
    now = now_ms()
    stmt = dialect_insert(conn, files_table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["manifest", "path"],
        set_={"digest": stmt.excluded.digest, "size": stmt.excluded.size, "created_at": stmt.excluded.created_at},
    )
    conn.execute(stmt, [dict(manifest=manifest, path=p, digest=d, size=s, created_at=now) for p, d, s in files])


def delete_manifest(conn: Connection, manifest: str) -> None:
    conn.execute(delete(files_table).where(files_table.c.manifest == manifest))


def referenced_digests(conn: Connection) -> set[str]:
    return set(conn.execute(select(files_table.c.digest).distinct()).scalars())


def manifest_digests(conn: Connection, manifest: str) -> set[str]:
    return set(conn.execute(select(files_table.c.digest).where(files_table.c.manifest == manifest)).scalars())


def copy_manifest(conn: Connection, source: str, target: str, prefix: str = "") -> int:
    """Point ``target`` at the files of ``source`` under ``prefix`` (made relative); no blob is copied.
    One INSERT ... SELECT, so copying a manifest of 100,000 files never leaves the database."""
    f = files_table
    query = select(literal(target), f.c.path, f.c.digest, f.c.size, literal(now_ms())).where(f.c.manifest == source)
    if prefix:
        cut = len(prefix.rstrip("/")) + 1
        query = select(literal(target), func.substr(f.c.path, cut + 1), f.c.digest, f.c.size, literal(now_ms())).where(
            f.c.manifest == source, f.c.path.startswith(prefix.rstrip("/") + "/", autoescape=True)
        )
    count = int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())
    if not count:
        return 0
    stmt = dialect_insert(conn, f).from_select(["manifest", "path", "digest", "size", "created_at"], query)
    stmt = stmt.on_conflict_do_update(
        index_elements=["manifest", "path"],
        set_={"digest": stmt.excluded.digest, "size": stmt.excluded.size, "created_at": stmt.excluded.created_at},
    )
    conn.execute(stmt)  # rowcount is not reliable for INSERT ... SELECT on every driver (psycopg: -1)
    return count


_BLOB_LOCK = 7302  # PostgreSQL advisory lock between recording blobs and deleting them


def lock_blobs(conn: Connection, exclusive: bool) -> None:
    """Recorders take the lock shared, deleters exclusive, so no blob is deleted between a
    recorder's check that it exists and its commit. SQLite's write lock already serialises both."""
    if conn.dialect.name == "postgresql":
        fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        conn.execute(text(f"SELECT {fn}({_BLOB_LOCK})"))


def check_uploaded(conn: Connection, blobs: BlobStore, files: Sequence[tuple[str, str, int]]) -> None:
    """Inside the transaction that records them: every blob is stored, with the declared size."""
    lock_blobs(conn, exclusive=False)
    missing = []
    for path, digest, size in files:
        stored = blobs.size(digest)
        if stored is None:
            missing.append(path)
        elif stored != size:
            raise InvalidArgument(f"{path}: the declared size is {size} bytes but its blob holds {stored}")
    if missing:
        raise InvalidArgument(f"upload the blobs before recording them; missing for: {', '.join(missing[:5])}")


def delete_unreferenced(store: Store, blobs: BlobStore, candidates: set[str]) -> int:
    """After a commit that dropped manifests: delete those candidate blobs nothing references now."""
    if not candidates:
        return 0
    with store.write() as conn:
        lock_blobs(conn, exclusive=True)
        still = set(
            conn.execute(select(files_table.c.digest).where(files_table.c.digest.in_(list(candidates)))).scalars()
        )
        orphans = candidates - still
        for digest in orphans:
            blobs.delete(digest)
    return len(orphans)


def select_files(
    conn: Connection, manifest: str, paths: Sequence[str] | None = None, prefix: str = ""
) -> list[ArtifactFile]:
    """Files of ``manifest`` (only ``paths``, or only those under the folder ``prefix``), sorted by path."""
    f = files_table
    query = select(f.c.path, f.c.digest, f.c.size, f.c.created_at).where(f.c.manifest == manifest)
    if paths is not None:
        query = query.where(f.c.path.in_(list(paths)))
    if prefix:
        query = query.where(f.c.path.startswith(prefix.rstrip("/") + "/", autoescape=True))
    rows = conn.execute(query.order_by(f.c.path))
    # Rows come from our own table: constructing without validation keeps 100k-file manifests cheap.
    return [ArtifactFile.model_construct(path=p, digest=d, size=s, created_at=c) for p, d, s, c in rows]
