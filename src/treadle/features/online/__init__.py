"""Online stores: latest feature values per (feature view, entity key), chosen by URI.

``open_online_store("sqlite:///path/online.db" | "redis://host:port/db" | "memory://[name]")``;
a plain file path is a SQLite store.
"""

from __future__ import annotations

from treadle.errors import InvalidArgument
from treadle.features.online.base import KEY_SEPARATOR, OnlineStore, Stored, encode_key, pack, unpack
from treadle.features.online.memory import MemoryOnlineStore, named_memory_store
from treadle.features.online.sqlite import SqliteOnlineStore


def open_online_store(uri: str) -> OnlineStore:
    """An online store by URI scheme: ``sqlite:///path``, ``redis://`` / ``rediss://``, ``memory://``."""
    if uri.startswith("sqlite:///"):
        return SqliteOnlineStore(uri.removeprefix("sqlite:///"))
    if uri and "://" not in uri:
        return SqliteOnlineStore(uri)
    if uri.startswith(("redis://", "rediss://", "unix://")):
        from treadle.features.online.redis import RedisOnlineStore

        return RedisOnlineStore(uri)
    if uri.startswith("memory://"):
        name = uri.removeprefix("memory://")
        return named_memory_store(name) if name else MemoryOnlineStore()
    raise InvalidArgument(
        f"unknown online store {uri!r}: use sqlite:///path/online.db, redis://host:port/db or memory://"
    )


__all__ = [
    "KEY_SEPARATOR",
    "MemoryOnlineStore",
    "OnlineStore",
    "SqliteOnlineStore",
    "Stored",
    "encode_key",
    "open_online_store",
    "pack",
    "unpack",
]
