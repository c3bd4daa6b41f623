"""Reading a serving endpoint's request log back: the Parquet parts the serving process wrote
(indexed by :meth:`RolloutService.add_log_part`), as one DataFrame.

It lives here, below the client, so that monitoring (which must not import serving) and serving
(which writes the parts) share one reader and one schema. ``client`` is duck-typed: anything with
``rollout.list_log_parts`` and ``blobs.read_bytes`` (a local or a remote client).
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("time", pa.timestamp("ms", tz="UTC")),
        ("endpoint", pa.string()),
        ("model_version", pa.string()),
        ("variant", pa.string()),
        ("decision_id", pa.string()),
        ("route", pa.string()),
        ("status", pa.int32()),
        ("latency_ms", pa.float64()),
        ("error", pa.string()),
        ("inputs", pa.string()),
        ("outputs", pa.string()),
    ]
)
COLUMNS = SCHEMA.names


def _ms(value: datetime | int | float | None) -> int | None:
    """Epoch milliseconds of a datetime (naive = UTC) or of a number already in epoch milliseconds."""
    if value is None:
        return None
    if isinstance(value, datetime):
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
        return int(stamp.value // 1_000_000)
    return int(value)


def read_request_log(
    endpoint: str,
    client: Any,
    since: datetime | int | float | None = None,
    until: datetime | int | float | None = None,
) -> pd.DataFrame:
    """The logged requests of ``endpoint`` (``since``/``until``: datetimes or epoch ms, inclusive),
    oldest first, one row per request with the columns of :data:`COLUMNS`."""
    since_ms, until_ms = _ms(since), _ms(until)
    c = client
    parts = c.rollout.list_log_parts(endpoint, since_ms=since_ms, until_ms=until_ms)
    tables = [pq.read_table(io.BytesIO(c.blobs.read_bytes(p.digest))) for p in parts]
    table = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
    df = table.to_pandas()
    if since_ms is not None:
        df = df[df["time"] >= pd.Timestamp(since_ms, unit="ms", tz="UTC")]
    if until_ms is not None:
        df = df[df["time"] <= pd.Timestamp(until_ms, unit="ms", tz="UTC")]
    return df.sort_values("time", kind="stable").reset_index(drop=True)
