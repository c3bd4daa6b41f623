"""Request/response logging: every served request written, off the request path, to Parquet parts.

The server calls :meth:`RequestLogger.log` after it has answered; ``log`` only puts the record on a
bounded queue (``put_nowait``), so a slow blob store can never slow a reply: when the queue is full
the record is dropped and counted (``dropped``) instead. One background thread drains the queue and
writes a Parquet part per endpoint every ``flush_rows`` rows or ``flush_interval_s`` seconds, stores
it in the blob store (content-addressed, like every other artifact) and indexes it with the rollout
service's ``add_log_part``, so :func:`read_request_log` finds the parts of one endpoint in a time
range without listing the store, and :func:`request_log_dataset` snapshots them as a dataset
version for monitoring (drift, quality, performance once labels arrive).
"""

from __future__ import annotations

import io
import logging
import queue
import threading
import time
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from treadle.rollout._request_log import COLUMNS, SCHEMA, _ms  # noqa: F401  (re-exported)
from treadle.rollout._request_log import read_request_log as _read_log
from treadle.serving._types import LogRecord, RequestSink, Tensors

log = logging.getLogger(__name__)

_STOP = object()


class RequestLogger(RequestSink):
    """A :class:`RequestSink` writing Parquet parts into ``client``'s blob store (see the module doc).

    ``written`` counts rows stored and indexed, ``dropped`` rows refused by the full queue, and
    ``failed`` rows lost because a part could not be written (the error is logged). ``close`` stops
    taking records, drains the queue and flushes, so every record ``log`` accepted is written — unless
    the writer is stuck (a blob store that hangs) past ``close``'s timeout, which is logged.
    """

    def __init__(
        self, client: Any, *, max_queue: int = 10_000, flush_rows: int = 5_000, flush_interval_s: float = 2.0
    ) -> None:
        if max_queue < 1 or flush_rows < 1 or flush_interval_s <= 0:
            raise ValueError("max_queue and flush_rows must be >= 1 and flush_interval_s > 0")
        self._client = client
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._flush_rows = flush_rows
        self._interval = flush_interval_s
        self._lock = threading.Lock()
        self._dropped = 0
        self.written = 0
        self.failed = 0
        self.parts = 0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="treadle-request-log", daemon=True)
        self._thread.start()

    # -- the request path: never blocks
    def log(self, record: LogRecord) -> None:
        if self._closed:
            self._count_drop()
            return
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._count_drop()

    def _count_drop(self) -> None:
        with self._lock:
            self._dropped += 1

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float = 30.0) -> None:
        """Stop accepting records, write everything queued, and wait for the writer (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:  # waits only while the queue is full, i.e. until the writer takes one
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.error("request log: the writer is stuck; %d queued rows are not written", self._queue.qsize())
            return
        self._thread.join(timeout)

    # -- the writer thread
    def _loop(self) -> None:
        batch: list[LogRecord] = []
        deadline = time.monotonic() + self._interval
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                item = None
            if item is _STOP:
                self._write(batch)
                return
            if item is not None:
                batch.append(item)
            if len(batch) >= self._flush_rows or time.monotonic() >= deadline:
                self._write(batch)
                batch = []
                deadline = time.monotonic() + self._interval

    def _write(self, batch: list[LogRecord]) -> None:
        by_endpoint: dict[str, list[LogRecord]] = {}
        for record in batch:
            by_endpoint.setdefault(record.endpoint, []).append(record)
        for endpoint, records in by_endpoint.items():
            try:
                self._write_part(endpoint, records)
            except Exception:
                self.failed += len(records)
                log.exception("request log: could not write %d rows of %s", len(records), endpoint)

    def _write_part(self, endpoint: str, records: list[LogRecord]) -> None:
        table = records_table(records)
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        info = self._client.blobs.put_bytes(buffer.getvalue())
        times = [r.time_ms for r in records]
        # The request-id index lets labels join requests later; it takes ids of 1-256 characters, and
        # one over-long id a caller sent must not cost the whole part its index.
        indexed = [r for r in records if r.id and len(r.id) <= 256]
        self._client.rollout.add_log_part(
            endpoint,
            info.digest,
            info.size,
            len(records),
            min(times),
            max(times),
            request_ids=[r.id for r in indexed],
            request_times=[r.time_ms for r in indexed],
        )
        self.written += len(records)
        self.parts += 1


def records_table(records: list[LogRecord]) -> pa.Table:
    """The log records as an Arrow table with :data:`SCHEMA` (tensors as JSON text)."""
    return pa.table(
        {
            "id": [r.id for r in records],
            "time": pa.array([r.time_ms for r in records], pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "endpoint": [r.endpoint for r in records],
            "model_version": [r.model_version for r in records],
            "variant": [r.variant for r in records],
            "decision_id": [r.decision_id for r in records],
            "route": [r.route for r in records],
            "status": pa.array([r.status for r in records], pa.int32()),
            "latency_ms": pa.array([float(r.latency_ms) for r in records], pa.float64()),
            "error": [r.error for r in records],
            "inputs": [tensors_json(r.inputs) for r in records],
            "outputs": [None if r.outputs is None else tensors_json(r.outputs) for r in records],
        },
        schema=SCHEMA,
    )


def tensors_json(tensors: Tensors) -> str:
    """``{"name": nested lists}``; bytes become UTF-8 text (invalid bytes replaced), FP16 becomes FP32."""
    return orjson.dumps({name: _jsonable(np.asarray(value)) for name, value in tensors.items()}).decode()


def _jsonable(arr: np.ndarray) -> Any:
    if arr.dtype.kind in "OSU":
        return np.vectorize(_text, otypes=[object])(arr).tolist() if arr.size else arr.tolist()
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    return arr.tolist()


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


# -- reading the log back


def _client(client: Any) -> Any:
    if client is not None:
        return client
    from treadle.client import get_client

    return get_client()


def read_request_log(
    endpoint: str,
    client: Any = None,
    since: datetime | int | float | None = None,
    until: datetime | int | float | None = None,
) -> pd.DataFrame:
    """The logged requests of ``endpoint`` (``since``/``until``: datetimes or epoch ms, inclusive),
    oldest first, one row per request with the columns of :data:`COLUMNS` (the reader lives in
    :mod:`treadle.rollout._request_log`, where monitoring reads it too)."""
    return _read_log(endpoint, _client(client), since, until)


def request_log_dataset(
    endpoint: str,
    dataset_name: str,
    client: Any = None,
    since: datetime | int | float | None = None,
    until: datetime | int | float | None = None,
) -> Any:
    """Snapshot the request log of ``endpoint`` as the next version of dataset ``dataset_name``
    (a :class:`~treadle.datasets.DatasetVersion`; unchanged logs give back the latest version)."""
    from treadle import datasets

    c = _client(client)
    frame = read_request_log(endpoint, c, since, until)
    return datasets.create(
        dataset_name,
        frame,
        description=f"request log of serving endpoint {endpoint!r}",
        tags={"source": "request_log", "endpoint": endpoint},
        client=c,
    )
