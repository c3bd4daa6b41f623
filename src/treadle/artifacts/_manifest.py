"""Manifest rows: which digest a logical path of a run, model or dataset points at."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, select

from treadle.artifacts._store import files_table
from treadle.store import dialect_insert, now_ms


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
