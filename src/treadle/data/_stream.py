"""Redis Streams: ``push_to_stream`` (XADD) and a consumer-group source (XREADGROUP).

An entry's fields hold JSON-encoded values (``{"user": "42", "amount": "9.5"}`` becomes
``{"user": 42, "amount": 9.5}``); a field that is not valid JSON is kept as a string.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson
import pyarrow as pa

from treadle.data._util import check_batch_size, expand_url, mask_url
from treadle.data.base import StreamBatch, StreamSource
from treadle.errors import InvalidArgument, Unavailable


def redis_client(url: str) -> Any:
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - redis is an extra
        raise InvalidArgument("Redis streams need the redis client: install treadle[redis]") from exc
    return redis.Redis.from_url(expand_url(url, "Redis"), socket_connect_timeout=5)


def _encode(row: Mapping[str, Any]) -> dict[str, bytes]:
    try:
        return {str(k): orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY) for k, v in row.items()}
    except TypeError as exc:
        raise InvalidArgument(f"cannot JSON-encode a stream row ({exc}): {dict(row)!r:.200}") from exc


def _decode(fields: Mapping[bytes, bytes]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for k, v in fields.items():
        key = k.decode() if isinstance(k, bytes) else str(k)
        try:
            row[key] = orjson.loads(v)
        except orjson.JSONDecodeError:
            row[key] = v.decode("utf-8", "replace") if isinstance(v, bytes) else v
    return row


def push_to_stream(url: str, stream: str, rows: Iterable[Mapping[str, Any]], *, maxlen: int | None = None) -> list[str]:
    """Append rows to a Redis stream (one entry each, values JSON-encoded); returns the entry ids."""
    client = redis_client(url)
    ids: list[str] = []
    try:
        batch = client.pipeline(transaction=False)
        pending = 0
        for row in rows:
            batch.xadd(stream, _encode(row), maxlen=maxlen, approximate=maxlen is not None)
            pending += 1
            if pending == 1000:
                ids.extend(i.decode() for i in batch.execute())
                batch, pending = client.pipeline(transaction=False), 0
        if pending:
            ids.extend(i.decode() for i in batch.execute())
    except _redis_errors() as exc:
        raise Unavailable(f"cannot write to Redis stream {stream!r} at {mask_url(url)}: {exc}") from exc
    finally:
        client.close()
    return ids


def _redis_errors() -> tuple[type[BaseException], ...]:
    import redis

    return (redis.ConnectionError, redis.TimeoutError)


def _entries(resp: Any) -> list[tuple[bytes, Any]]:
    """XREADGROUP's reply (RESP2 list or RESP3 dict) as ``[(id, fields), ...]`` for our one stream."""
    if not resp:
        return []
    if isinstance(resp, dict):
        return [
            e
            for entries in resp.values()
            for e in (entries[0] if entries and isinstance(entries[0], list) else entries)
        ]
    return [e for _, entries in resp for e in entries]


class RedisStreamSource(StreamSource):
    """A Redis stream read by ``consumer`` of consumer ``group`` (created at ``start_id`` when missing).

    As a :class:`Source` (``iter_batches``/``to_arrow``) it reads the whole stream as it is now,
    without touching the group. As a :class:`StreamSource` it reads micro-batches with XREADGROUP:
    first the entries this consumer read and never acknowledged (after a crash), then new ones.
    A batch's id is its first entry id, so a re-delivered batch keeps its id. Keep ``consumer``
    stable across restarts: pending entries belong to the consumer name that read them.
    ``schema`` types the rows (else inferred per batch); ``id_column`` adds the entry id as a column.
    """

    kind = "redis_stream"

    def __init__(
        self,
        url: str,
        stream: str,
        group: str = "treadle",
        consumer: str = "consumer-0",
        *,
        start_id: str = "0",
        schema: pa.Schema | None = None,
        id_column: str | None = None,
    ) -> None:
        self.url = url
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.start_id = start_id
        self._schema = schema
        self.id_column = id_column
        self._client: Any = None
        self._pending_done = False

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = redis_client(self.url)
        return self._client

    def _table(self, entries: list[tuple[bytes, Any]]) -> pa.Table:
        rows = []
        for entry_id, fields in entries:
            row = _decode(fields)
            if self.id_column:
                row[self.id_column] = entry_id.decode()
            rows.append(row)
        try:
            return pa.Table.from_pylist(rows, schema=self._schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            first, last = entries[0][0].decode(), entries[-1][0].decode()
            raise InvalidArgument(
                f"entries {first}..{last} of stream {self.stream!r} do not fit one schema: {exc}"
            ) from exc

    def ensure_group(self) -> None:
        import redis

        try:
            self.client.xgroup_create(self.stream, self.group, id=self.start_id, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read_batch(self, count: int, block_ms: int | None = None) -> StreamBatch | None:
        check_batch_size(count)
        try:
            return self._read(count, block_ms)
        except _redis_errors() as exc:
            raise Unavailable(f"cannot read Redis stream {self.stream!r} at {mask_url(self.url)}: {exc}") from exc

    def _read(self, count: int, block_ms: int | None) -> StreamBatch | None:
        self.ensure_group()
        while not self._pending_done:  # entries read before a crash and never acknowledged come first
            entries = _entries(self.client.xreadgroup(self.group, self.consumer, {self.stream: "0"}, count=count))
            if not entries:
                self._pending_done = True
                break
            live = [(i, f) for i, f in entries if f]
            gone = [i for i, f in entries if not f]  # deleted/trimmed since: nothing to re-deliver
            if gone:
                self.client.xack(self.stream, self.group, *gone)
            if live:
                return self._batch(live)
        block = block_ms if block_ms else None
        entries = _entries(
            self.client.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=count, block=block)
        )
        return self._batch(entries) if entries else None

    def _batch(self, entries: list[tuple[bytes, Any]]) -> StreamBatch:
        ids = tuple(i.decode() for i, _ in entries)
        return StreamBatch(batch_id=ids[0], ids=ids, table=self._table(entries))

    def ack(self, ids: tuple[str, ...] | list[str]) -> None:
        if ids:
            self.client.xack(self.stream, self.group, *ids)

    def pending_count(self) -> int:
        """Entries of this group delivered but not yet acknowledged (all consumers)."""
        info = self.client.xpending(self.stream, self.group)
        return int(info["pending"] if isinstance(info, dict) else info[0])

    def position(self) -> dict[str, str]:
        return {"stream": self.stream, "group": self.group, "consumer": self.consumer}

    def schema(self) -> pa.Schema:
        if self._schema is not None:
            return self._schema
        first = next(self.iter_batches(100), None)
        return first.schema if first is not None else pa.schema([])

    def iter_batches(self, batch_size: int = 65_536) -> Iterator[pa.RecordBatch]:
        check_batch_size(batch_size)
        start = "-"
        while True:  # pages of at most batch_size entries
            entries = self.client.xrange(self.stream, min=start, max="+", count=batch_size)
            if not entries:
                return
            yield from self._table(entries).combine_chunks().to_batches()
            if len(entries) < batch_size:
                return
            start = "(" + entries[-1][0].decode()

    def num_rows(self) -> int | None:
        return int(self.client.xlen(self.stream))

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"kind": self.kind, "url": mask_url(self.url), **self.position()}
        if self.start_id != "0":
            spec["start_id"] = self.start_id
        if self.id_column:
            spec["id_column"] = self.id_column
        return spec

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> RedisStreamSource:
        return cls(
            spec["url"],
            spec["stream"],
            spec.get("group", "treadle"),
            spec.get("consumer", "consumer-0"),
            start_id=spec.get("start_id", "0"),
            id_column=spec.get("id_column"),
        )

    def describe(self) -> str:
        return f"redis stream {self.stream} at {mask_url(self.url)} (group {self.group}, consumer {self.consumer})"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
