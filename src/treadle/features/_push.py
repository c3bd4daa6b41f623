"""Real-time writes: ``push`` validated rows into the online store, and a stream consumer that pushes.

A pushed row has exactly the view's columns: its join keys, its timestamp (time-zone aware: a
``datetime`` with tzinfo or an ISO 8601 string with an offset) and every feature (``None`` for a
null); the created-timestamp column is optional. Values are checked against the declared dtypes and
packed as materialization packs them, so a pushed row and a materialized one read back alike.

:class:`StreamPusher` reads a ``treadle.data`` StreamSource (a Redis Stream with a consumer group)
and pushes each micro-batch before acknowledging it: a consumer killed between the two gets the
batch again on restart and rewrites it, which changes nothing (writes are idempotent and
last-writer-wins by event time), so no row is lost and none is applied twice.
"""

from __future__ import annotations

import base64
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from numbers import Integral, Real
from typing import Any

from treadle.errors import InvalidArgument
from treadle.features._definitions import FeatureView, Field
from treadle.features.online.base import encode_key, pack


def as_rows(rows: Any) -> list[Mapping[str, Any]]:
    """A list of dicts from a list/iterable of dicts, a pandas or polars DataFrame or an Arrow table."""
    if isinstance(rows, Mapping):
        raise InvalidArgument("push takes a list of rows ({column: value} dicts), not one dict; wrap it in a list")
    to_pylist = getattr(rows, "to_pylist", None)
    if callable(to_pylist):  # pyarrow Table / RecordBatch
        return list(to_pylist())
    to_dicts = getattr(rows, "to_dicts", None)
    if callable(to_dicts):  # polars
        return list(to_dicts())
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # pandas
        return list(rows.to_dict(orient="records"))
    if not isinstance(rows, Iterable) or isinstance(rows, str | bytes):
        raise InvalidArgument(f"push takes a list of rows ({{column: value}} dicts), not {type(rows).__name__}")
    out = list(rows)
    for i, row in enumerate(out):
        if not isinstance(row, Mapping):
            raise InvalidArgument(f"row {i} is a {type(row).__name__}; each row must be a {{column: value}} dict")
    return out


def to_epoch_ms(value: Any, column: str, where: str) -> int:
    """A time-zone aware timestamp (datetime or ISO 8601 string) as epoch milliseconds."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidArgument(f"{where}: {column!r} = {value!r} is not an ISO 8601 timestamp") from None
    if not isinstance(value, datetime):
        raise InvalidArgument(
            f"{where}: {column!r} must be a time-zone aware datetime or ISO 8601 string, not {type(value).__name__}"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArgument(
            f"{where}: timestamp column {column!r} has no time zone ({value.isoformat()}); "
            "give an aware datetime (tzinfo=timezone.utc) or a string ending in +00:00 or Z"
        )
    return int(value.timestamp() * 1000)


def _check(value: Any, f: Field, where: str) -> Any:
    """``value`` as the JSON value stored for a feature of ``f.dtype`` (InvalidArgument when it is not one)."""
    if value is None:
        return None
    dtype = f.dtype
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, list | tuple | str | bytes) and getattr(value, "ndim", 0) == 0:
        value = item()  # numpy / pandas scalars
    ok: bool
    if dtype in ("float64", "float32"):
        ok = isinstance(value, Real) and not isinstance(value, bool)
        if ok and math.isnan(float(value)):
            return None
    elif dtype in ("int64", "int32"):
        ok = isinstance(value, Integral) and not isinstance(value, bool)
    elif dtype == "string":
        ok = isinstance(value, str)
    elif dtype == "bool":
        ok = isinstance(value, bool)
    elif dtype == "timestamp":
        ms = to_epoch_ms(value, f.name, where) if isinstance(value, str | datetime) else None
        if ms is None:
            ok = False
        else:
            dt = value if isinstance(value, datetime) else datetime.fromisoformat(value)
            return dt.astimezone(UTC).isoformat(timespec="microseconds")
    elif dtype == "bytes":
        if isinstance(value, bytes | bytearray | memoryview):
            return base64.b64encode(bytes(value)).decode("ascii")
        ok = isinstance(value, str)  # already base64 (JSON transport)
    else:  # list<...>
        if hasattr(value, "tolist"):
            value = value.tolist()
        inner = Field(f.name, dtype[5:-1])
        ok = isinstance(value, list | tuple)
        if ok:
            return [_check(v, inner, where) for v in value]
    if not ok:
        raise InvalidArgument(f"{where}: feature {f.name!r} is {dtype}, but got {value!r} ({type(value).__name__})")
    return value


def prepare(
    view: FeatureView, join_keys: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> tuple[list[str], list[bytes], list[int]]:
    """Validate rows for ``view``; (encoded keys, packed values, event times in ms)."""
    ts_col = view.timestamp_field
    required = [*join_keys, ts_col, *view.feature_names]
    allowed = set(required) | ({view.created_timestamp_field} if view.created_timestamp_field else set())
    required_set = set(required)
    keys: list[str] = []
    values: list[bytes] = []
    stamps: list[int] = []
    for i, row in enumerate(rows):
        where = f"push to {view.name!r}, row {i}"
        columns = row.keys()
        if columns != required_set:
            unknown = sorted(set(columns) - allowed)
            if unknown:
                raise InvalidArgument(f"{where}: unknown columns {unknown}; the view's columns are {required}")
            missing = [c for c in required if c not in columns]
            if missing:
                raise InvalidArgument(f"{where}: missing columns {missing} (features may be None, not left out)")
        keys.append(encode_key(tuple(row[k] for k in join_keys)))
        for k in join_keys:
            if row[k] is None:
                raise InvalidArgument(f"{where}: join key {k!r} is None")
        stamps.append(to_epoch_ms(row[ts_col], ts_col, where))
        values.append(pack({f.name: _check(row[f.name], f, where) for f in view.schema}))
    return keys, values, stamps


class StreamPusher:
    """Consume a stream of rows for one view and push them, acknowledging each batch after its write.

    ``source`` is a ``treadle.data`` StreamSource (``read_batch(count, block_ms)`` / ``ack(ids)``),
    by default the view's own stream source. ``push`` is the feature service's push.
    """

    def __init__(
        self,
        view: str,
        source: Any,
        push: Callable[[str, list[dict[str, Any]]], int],
        batch_size: int = 1_000,
        block_ms: int = 1_000,
    ) -> None:
        self.view = view
        self.source = source
        self._push = push
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.rows = 0
        self.batches = 0
        self.rejected = 0
        self.errors: list[str] = []

    def run_once(self) -> int:
        """Read one batch (waiting up to ``block_ms``), push it and acknowledge it; its row count.

        Rows that do not fit the view (a missing column, a naive timestamp) are skipped and
        counted in ``rejected`` (the last errors in ``errors``): one bad entry must not block the
        stream. Any other failure propagates before the ack, so the batch comes back on restart.
        """
        batch = self.source.read_batch(self.batch_size, self.block_ms)
        if batch is None:
            return 0
        rows = batch.table.to_pylist()
        try:
            if rows:
                self._push(self.view, rows)
        except InvalidArgument:
            for row in rows:
                try:
                    self._push(self.view, [row])
                except InvalidArgument as exc:
                    self.rejected += 1
                    self.errors = [*self.errors[-9:], exc.message]
        self.source.ack(batch.ids)
        self.rows += len(rows)
        self.batches += 1
        return len(rows)

    def run(
        self, max_batches: int | None = None, stop: threading.Event | None = None, idle_s: float | None = None
    ) -> int:
        """Consume until ``stop`` is set, ``max_batches`` batches are pushed, or nothing came for ``idle_s``."""
        idle_since = time.monotonic()
        while (stop is None or not stop.is_set()) and (max_batches is None or self.batches < max_batches):
            if self.run_once():
                idle_since = time.monotonic()
            elif idle_s is not None and time.monotonic() - idle_since >= idle_s:
                break
        return self.rows
