"""A local cache of file digests keyed by (path, size, mtime), so unchanged files are not re-hashed.

It lives in ``$TREADLE_CACHE/file-hashes.db`` (default ``~/.cache/treadle``), one SQLite table.
Entries for files modified in the last two seconds are not kept: a write within the same mtime
tick could otherwise go unnoticed (git's "racily clean" problem).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

RACY_S = 2.0


def cache_path() -> Path:
    return Path(os.environ.get("TREADLE_CACHE", Path.home() / ".cache" / "treadle")) / "file-hashes.db"


class HashCache:
    """(path, size, mtime_ns) -> sha256; thread-safe; loads a folder's entries in one query."""

    def __init__(self, path: Path | None = None) -> None:
        path = path or cache_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, digest TEXT)"
        )
        self._lock = threading.Lock()
        self._pending: list[tuple[str, int, int, str]] = []

    def load(self, root: str) -> dict[str, tuple[int, int, str]]:
        """Every cached entry under ``root``: path -> (size, mtime_ns, digest)."""
        prefix = root.rstrip("/") + "/"
        rows = self._db.execute(
            "SELECT path, size, mtime_ns, digest FROM hashes WHERE path >= ? AND path < ?", (prefix, prefix + "\uffff")
        )
        return {p: (s, m, d) for p, s, m, d in rows}

    def put(self, path: str, size: int, mtime_ns: int, digest: str) -> None:
        if time.time() - mtime_ns / 1e9 < RACY_S:
            return
        with self._lock:
            self._pending.append((path, size, mtime_ns, digest))

    def commit(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            if pending:
                with self._db:
                    self._db.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?)", pending)

    def close(self) -> None:
        self.commit()
        self._db.close()
