"""The embedded online store: one SQLite file (WAL), one row per (view, entity key).

It talks to the stdlib ``sqlite3`` module directly (no SQLAlchemy on the lookup path), with
one connection per thread so that reads never share a cursor and WAL readers never wait for
the writer. A lookup of any number of keys is one ``SELECT ... WHERE view=? AND key IN (...)``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path

from treadle.errors import InvalidArgument
from treadle.features.online.base import OnlineStore, Stored, check_lengths

BUSY_TIMEOUT_S = 60.0
_MAX_PARAMS = 16_384  # below SQLite's default limit of 32,766 host parameters per statement

_SCHEMA = """
CREATE TABLE IF NOT EXISTS online_features (
    view TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    event_ts INTEGER NOT NULL,
    written_ts INTEGER NOT NULL,
    PRIMARY KEY (view, key)
) WITHOUT ROWID
"""

_UPSERT = (
    "INSERT INTO online_features (view, key, value, event_ts, written_ts) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (view, key) DO UPDATE SET value = excluded.value, event_ts = excluded.event_ts, "
    "written_ts = excluded.written_ts WHERE excluded.event_ts >= online_features.event_ts"
)


def _select(n: int) -> str:
    marks = ",".join("?" * n)
    return f"SELECT key, value, event_ts, written_ts FROM online_features WHERE view = ? AND key IN ({marks})"


_SELECT_ONE = _select(1)
# Lookups pad their key list to a power of two, so a handful of statements serve every batch size.
_SELECTS = {1 << i: _select(1 << i) for i in range(15)}


class _Connection(sqlite3.Connection):
    """A connection that can be weakly referenced: a thread's connection closes when the thread ends."""


class SqliteOnlineStore(OnlineStore):
    """Online store in a SQLite file (``sqlite:///path/online.db``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        if str(path) in ("", ":memory:"):
            raise InvalidArgument("the SQLite online store needs a file path (in-memory SQLite is per connection)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: weakref.WeakSet[sqlite3.Connection] = weakref.WeakSet()
        self._closed = False
        conn = self._conn()
        conn.execute(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise RuntimeError("this online store is closed")
        conn = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_S,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=64,
            factory=_Connection,
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-32768")  # up to 32 MiB of pages: large writes stay off the disk
        conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        with self._lock:
            self._conns.add(conn)
        self._local.conn = conn
        return conn

    def write(self, view: str, keys: Sequence[str], values: Sequence[bytes], event_ts: Sequence[int]) -> int:
        check_lengths(keys, values, event_ts)
        if not keys:
            return 0
        now = int(time.time() * 1000)
        conn = self._conn()
        rows = zip([view] * len(keys), keys, values, event_ts, [now] * len(keys), strict=True)
        conn.execute("BEGIN IMMEDIATE")
        try:
            applied = conn.executemany(_UPSERT, rows).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return max(applied, 0)

    def read(self, view: str, keys: Sequence[str]) -> list[Stored | None]:
        conn = self._conn()
        if len(keys) == 1:  # the hot path
            row = conn.execute(_SELECT_ONE, (view, keys[0])).fetchone()
            return [(row[1], row[2], row[3]) if row is not None else None]
        if not keys:
            return []
        found: dict[str, Stored] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _MAX_PARAMS):
            chunk = unique[start : start + _MAX_PARAMS]
            size = 1 << (len(chunk) - 1).bit_length()
            chunk += [chunk[-1]] * (size - len(chunk))
            found.update({row[0]: row[1:] for row in conn.execute(_SELECTS[size], (view, *chunk))})
        return [found.get(key) for key in keys]

    def delete_view(self, view: str) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM online_features WHERE view = ?", (view,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._conns = list(self._conns), weakref.WeakSet()
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"SqliteOnlineStore({str(self.path)!r})"
