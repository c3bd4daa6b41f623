"""Versioned datasets: content-addressed snapshots of tables and file collections.

``td.datasets.create(name, source)`` snapshots a DataFrame, Arrow table, path or URL into an
immutable version (Parquet parts or files as blobs, a manifest, schema, statistics);
``td.datasets.get(name, version)`` reads it back; ``diff``, ``search`` and ``usage`` explore them.
"""

from treadle.datasets._handle import DatasetFile, DatasetHandle
from treadle.datasets._records import (
    ColumnChange,
    ColumnSchema,
    CreateResult,
    Dataset,
    DatasetDiff,
    DatasetUsage,
    DatasetVersion,
    FileChange,
    FileIndex,
    NewVersion,
    StatShift,
)
from treadle.datasets._sdk import bind, create, delete, diff, get, search, set_alias, usage, versions
from treadle.datasets._service import DatasetService, version_node_id
from treadle.datasets._validate import SchemaViolation

__all__ = [
    "ColumnChange",
    "ColumnSchema",
    "CreateResult",
    "Dataset",
    "DatasetDiff",
    "DatasetFile",
    "DatasetHandle",
    "DatasetService",
    "DatasetUsage",
    "DatasetVersion",
    "FileChange",
    "FileIndex",
    "NewVersion",
    "SchemaViolation",
    "StatShift",
    "bind",
    "create",
    "delete",
    "diff",
    "get",
    "search",
    "set_alias",
    "usage",
    "version_node_id",
    "versions",
]
