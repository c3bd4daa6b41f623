"""Shared helpers for the definition, apply and training-frame tests (B1's modules)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa

from treadle.artifacts import open_blob_store
from treadle.features import FeatureService
from treadle.store import Store


class TablesReader:
    """An in-memory stand-in for DatasetService's two local reads: a real DatasetReader over dict tables."""

    def __init__(self, tables: dict[str, pa.Table] | None = None) -> None:
        self.tables: dict[str, pa.Table] = dict(tables or {})
        self.opened = 0

    def open_table(self, name: str, version: int | str | None = None) -> pa.Table:
        self.opened += 1
        return self.tables[name]

    def resolve(self, name: str, version: int | None = None, alias: str | None = None) -> Any:
        table = self.tables[name]
        columns = [{"name": f.name, "type": str(f.type)} for f in table.schema]
        return SimpleNamespace(name=name, version=version or 1, columns=columns)


def make_service(uri: str, root: Path, tables: dict[str, pa.Table] | None = None) -> FeatureService:
    return FeatureService(
        Store(uri), open_blob_store(str(root / "blobs")), TablesReader(tables), str(root / "online.db")
    )
