"""Reading versions back: a table version's Parquet parts as Arrow, previews, JSON-safe rows."""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from treadle.artifacts import ArtifactFile, BlobStore
from treadle.datasets._records import DatasetVersion
from treadle.errors import InvalidArgument

if TYPE_CHECKING:
    import pyarrow as pa

    from treadle.datasets._service import DatasetService

PART_PREFIX = "part-"


def is_part(path: str) -> bool:
    return path.startswith(PART_PREFIX) and path.endswith(".parquet")


def read_table(blobs: BlobStore, files: Sequence[ArtifactFile], version: DatasetVersion) -> pa.Table:
    """Concatenate a table version's parts (each verified against its digest)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if version.kind != "table":
        raise InvalidArgument(
            f"datasets:/{version.name}/{version.version} is a file collection; iterate its files instead"
        )
    parts = [pq.read_table(pa.BufferReader(blobs.read_bytes(f.digest))) for f in files if is_part(f.path)]
    if not parts:
        return pa.table({c.name: pa.array([], type=_type(c.type)) for c in version.columns})
    return pa.concat_tables(parts, promote_options="default") if len(parts) > 1 else parts[0]


def _type(name: str) -> pa.DataType:
    import pyarrow as pa

    try:
        return pa.type_for_alias(name)
    except ValueError:
        return pa.string()


def sample_rows(service: DatasetService, version: DatasetVersion, limit: int) -> list[dict[str, Any]]:
    """The first rows of a table version, or the first files of a collection, as JSON-safe dicts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = service.list_files(version.name, version.version)
    if version.kind == "files":
        return [{"path": f.path, "size": f.size, "digest": f.digest} for f in files[:limit]]
    rows: list[dict[str, Any]] = []
    for f in files:
        if not is_part(f.path):
            continue
        reader = pq.ParquetFile(pa.BufferReader(service.blobs.read_bytes(f.digest)))
        for batch in reader.iter_batches(batch_size=limit):
            rows.extend(json_safe(r) for r in batch.to_pylist()[: limit - len(rows)])
            if len(rows) >= limit:
                return rows
    return rows


def json_safe(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _value(v) for k, v in row.items()}


def _value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    if isinstance(v, bytes):
        return f"<{len(v)} bytes>" if len(v) > 64 else base64.b64encode(v).decode()
    if isinstance(v, dict):
        return {str(k): _value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_value(x) for x in v]
    if hasattr(v, "as_tuple"):  # Decimal
        return float(v)
    return v
