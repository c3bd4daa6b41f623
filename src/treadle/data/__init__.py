"""The data layer: connectors, codecs and transforms over Arrow.

- **Sources** (:class:`Source`): :class:`FileSource` (local, ``s3://``, ``http(s)://``, ``memory://``;
  a file, folder or glob), :class:`SqlSource` (SQLAlchemy), :class:`IterableSource`,
  :class:`TableSource`, :class:`RedisStreamSource`; :func:`as_source` takes frames, tables, paths,
  URIs and rows; :func:`source_from_spec` re-opens a source from its ``spec()``.
- **Codecs**: :func:`read` / :func:`write` for CSV, Parquet, JSON, JSON Lines, Arrow IPC, images
  (PNG/JPEG, decoded lazily: :func:`iter_images`, :class:`ImageFile`) and text; :func:`format_of`.
- **Transforms**: :func:`transform` — one function for batch (:meth:`Transform.run_batch`, local or
  Ray), streaming (:meth:`Transform.run_stream`, exactly once with a :class:`Checkpoint` and an
  idempotent :class:`Sink`) and online (:meth:`Transform.online`).
- **DuckDB**: :func:`query` / :func:`duckdb_connect` read remote files through fsspec (no ``httpfs``).
"""

from treadle.data._checkpoint import Checkpoint, FileCheckpoint, SqlCheckpoint
from treadle.data._codecs import FORMATS, format_of
from treadle.data._duck import duckdb_connect, query
from treadle.data._files import FileSource
from treadle.data._images import ImageFile, iter_images
from treadle.data._memory import IterableSource, TableSource
from treadle.data._readwrite import read, write
from treadle.data._resolve import as_source, source_from_spec
from treadle.data._run_stream import StreamStats
from treadle.data._sinks import CallableSink, ParquetSink, SqlSink
from treadle.data._sql import SqlSource
from treadle.data._stream import RedisStreamSource, push_to_stream
from treadle.data._transform import Transform, transform
from treadle.data.base import Sink, Source, StreamBatch, StreamSource

__all__ = [
    "FORMATS",
    "CallableSink",
    "Checkpoint",
    "FileCheckpoint",
    "FileSource",
    "ImageFile",
    "IterableSource",
    "ParquetSink",
    "RedisStreamSource",
    "Sink",
    "Source",
    "SqlCheckpoint",
    "SqlSink",
    "SqlSource",
    "StreamBatch",
    "StreamSource",
    "StreamStats",
    "TableSource",
    "Transform",
    "as_source",
    "duckdb_connect",
    "format_of",
    "iter_images",
    "push_to_stream",
    "query",
    "read",
    "source_from_spec",
    "transform",
    "write",
]
