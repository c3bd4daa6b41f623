"""The scale-out online store: Redis, one hash per feature view.

``{prefix}{view}`` is a hash from entity key to ``b"<event_ts>,<written_ts>," + packed values``,
so a lookup of any number of entities is one ``HMGET`` (one round trip), and deleting a view
is one ``UNLINK``. Last-writer-wins by event time is decided inside Redis by a small Lua
script, so concurrent writers (materialization, pushes, stream consumers) cannot lose a newer row.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from treadle.features.online.base import OnlineStore, Stored, check_lengths

DEFAULT_PREFIX = "treadle:online:"
_CHUNK = 5_000  # rows per script call: keeps each call's time inside Redis short

_WRITE = """
local applied = 0
for i = 1, #ARGV, 2 do
  local new = ARGV[i + 1]
  local old = redis.call('HGET', KEYS[1], ARGV[i])
  if (not old) or tonumber(string.match(old, '^(-?%d+)')) <= tonumber(string.match(new, '^(-?%d+)')) then
    redis.call('HSET', KEYS[1], ARGV[i], new)
    applied = applied + 1
  end
end
return applied
"""


def split_redis_uri(uri: str) -> tuple[str, str]:
    """``redis://host:port/db?prefix=p`` → (the URL redis-py understands, the key prefix)."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((v for k, v in query if k == "prefix"), DEFAULT_PREFIX)
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix


def _parse(stored: bytes) -> Stored:
    event_ts, written_ts, values = stored.split(b",", 2)
    return values, int(event_ts), int(written_ts)


class RedisOnlineStore(OnlineStore):
    """Online store in Redis (``redis://host:port/db``; ``?prefix=`` namespaces the keys)."""

    def __init__(self, uri: str = "redis://127.0.0.1:6379/0", *, client: Any = None, prefix: str | None = None) -> None:
        import redis

        url, uri_prefix = split_redis_uri(uri)
        self.prefix = prefix if prefix is not None else uri_prefix
        self._redis = client if client is not None else redis.Redis.from_url(url, decode_responses=False)
        self._write_script = self._redis.register_script(_WRITE)
        self._uri = url

    def _key(self, view: str) -> str:
        return self.prefix + view

    def write(self, view: str, keys: Sequence[str], values: Sequence[bytes], event_ts: Sequence[int]) -> int:
        check_lengths(keys, values, event_ts)
        if not keys:
            return 0
        now = b"," + str(int(time.time() * 1000)).encode() + b","
        name = self._key(view)
        pipe = self._redis.pipeline(transaction=False)
        for start in range(0, len(keys), _CHUNK):
            args: list[Any] = []
            for key, value, ts in zip(
                keys[start : start + _CHUNK],
                values[start : start + _CHUNK],
                event_ts[start : start + _CHUNK],
                strict=True,
            ):
                args.append(key)
                args.append(str(int(ts)).encode() + now + value)
            self._write_script(keys=[name], args=args, client=pipe)
        return sum(int(n) for n in pipe.execute())

    def read(self, view: str, keys: Sequence[str]) -> list[Stored | None]:
        if not keys:
            return []
        found: list[Any] = self._redis.hmget(self._key(view), list(keys))
        return [_parse(item) if item is not None else None for item in found]

    def delete_view(self, view: str) -> None:
        self._redis.unlink(self._key(view))

    def close(self) -> None:
        self._redis.close()

    def __repr__(self) -> str:
        return f"RedisOnlineStore({self._uri!r}, prefix={self.prefix!r})"
