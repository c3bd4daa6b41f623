"""A resolved dataset version, read back as Arrow, pandas, Polars or an iterator of files."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from treadle.artifacts import ArtifactFile, BlobStore
from treadle.datasets._read import read_table
from treadle.datasets._records import DatasetVersion

if TYPE_CHECKING:
    import pyarrow as pa

    from treadle.datasets._service import DatasetService


@dataclass(frozen=True)
class DatasetFile:
    """One file of a collection; its bytes are fetched (and verified) only when read."""

    path: str
    digest: str
    size: int
    _blobs: BlobStore

    def read_bytes(self) -> bytes:
        return self._blobs.read_bytes(self.digest)

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def open_image(self) -> Any:
        """The file as a ``PIL.Image`` (decoded lazily by Pillow; needs the ``images`` extra)."""
        from PIL import Image

        return Image.open(io.BytesIO(self.read_bytes()))


class DatasetHandle:
    """What ``td.datasets.get`` returns: the version record plus ways to read its data."""

    def __init__(self, service: DatasetService, blobs: BlobStore, version: DatasetVersion) -> None:
        self._service = service
        self._blobs = blobs
        self.version = version

    def __repr__(self) -> str:
        v = self.version
        return f"<DatasetHandle {v.uri} {v.kind} rows={v.num_rows} files={v.num_files}>"

    @property
    def uri(self) -> str:
        return self.version.uri

    @property
    def digest(self) -> str:
        return self.version.digest

    @property
    def name(self) -> str:
        return self.version.name

    def _files(self) -> list[ArtifactFile]:
        return self._service.list_files(self.version.name, self.version.version)

    def to_arrow(self, columns: list[str] | None = None) -> pa.Table:
        table = read_table(self._blobs, self._files(), self.version)
        return table.select(columns) if columns else table

    def to_pandas(self, columns: list[str] | None = None) -> Any:
        return self.to_arrow(columns).to_pandas()

    def to_polars(self, columns: list[str] | None = None) -> Any:
        import polars as pl

        return pl.from_arrow(self.to_arrow(columns))

    def files(self, prefix: str = "") -> Iterator[DatasetFile]:
        """The version's files (a collection's files, or a table's Parquet parts), sorted by path."""
        for f in self._service.list_files(self.version.name, self.version.version, prefix=prefix):
            yield DatasetFile(path=f.path, digest=f.digest, size=f.size, _blobs=self._blobs)

    def download(self, dst: str | Path) -> Path:
        """Write the version's files under ``dst`` (verified against their digests)."""
        target = Path(dst)
        for f in self.files():
            self._blobs.download(f.digest, target / f.path)
        return target
