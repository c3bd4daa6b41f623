"""Files through fsspec: local paths, ``file://``, ``memory://``, ``s3://``, ``http(s)://`` and globs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import cached_property
from typing import Any

import fsspec
import pyarrow as pa
from fsspec.implementations.local import LocalFileSystem

from treadle.data import _codecs, _images
from treadle.data._util import check_batch_size, conform, mask_options, unify, unmask_options
from treadle.data.base import Source
from treadle.errors import InvalidArgument

_HTTP = ("http", "https")


def open_fs(uri: str, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """``(filesystem, path)`` for a URI or local path; unknown schemes and missing drivers say how to fix it."""
    try:
        return fsspec.core.url_to_fs(uri, **(storage_options or {}))
    except ImportError as exc:
        hint = " (install treadle[s3])" if uri.startswith("s3") else ""
        raise InvalidArgument(f"cannot open {uri!r}: {exc}{hint}") from exc
    except ValueError as exc:
        raise InvalidArgument(f"cannot open {uri!r}: {exc}") from exc


def is_http(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, tuple | list) else (fs.protocol,)
    return any(p in _HTTP for p in protocol)


def full_uri(fs: Any, path: str) -> str:
    """A path others can open again: plain for local files, ``scheme://...`` elsewhere."""
    if isinstance(fs, LocalFileSystem):
        return path
    if is_http(fs):
        return path  # HTTP paths keep their scheme
    return str(fs.unstrip_protocol(path))


def opener(fs: Any, path: str) -> _codecs.Opener:
    """A function returning a fresh Arrow input stream over ``path`` (decompressed when ``.gz`` & co)."""
    compression = _codecs.compression_of(path)

    def open_() -> pa.NativeFile:
        if isinstance(fs, LocalFileSystem):
            f: pa.NativeFile = pa.OSFile(path)
        elif is_http(fs):  # plain HTTP servers may not serve byte ranges: fetch the file once
            f = pa.BufferReader(fs.cat_file(path))
        else:
            f = pa.PythonFile(fs.open(path, "rb"), mode="r")
        return pa.CompressedInputStream(f, compression) if compression else f

    return open_


def _hidden(rel: str) -> bool:
    return any(part.startswith((".", "_")) for part in rel.split("/") if part)


def list_files(fs: Any, path: str, uri: str) -> tuple[list[str], bool]:
    """The files a path, folder or glob names (sorted), and whether it was a folder/glob."""
    if fsspec.core.has_magic(path):
        found = sorted(p for p in fs.glob(path) if not fs.isdir(p))
        if not found:
            raise InvalidArgument(f"no file matches {uri!r}")
        return found, True
    if not is_http(fs) or _codecs.format_of(path) is None:
        try:
            is_dir = fs.isdir(path)
        except (OSError, ValueError):
            is_dir = False
        if is_dir:
            root = path.rstrip("/")
            found = sorted(p for p in fs.find(root) if not _hidden(p[len(root) :]))
            return found, True
    try:
        exists = fs.exists(path)
    except OSError as exc:
        raise InvalidArgument(f"cannot reach {uri!r}: {exc}") from exc
    if not exists:
        raise InvalidArgument(f"no file or folder at {uri!r}")
    return [path], False


def _info(fs: Any, path: str) -> dict[str, Any]:
    info = fs.info(path)
    stamp = info.get("mtime") or info.get("LastModified") or info.get("created")
    if hasattr(stamp, "timestamp"):
        stamp = stamp.timestamp()
    return {"path": full_uri(fs, path), "size": int(info.get("size") or 0), "mtime": stamp}


class FileSource(Source):
    """Rows from a file, a folder (recursively; hidden ``.``/``_`` names skipped) or a glob.

    ``format`` defaults to what the extensions say; a folder must then hold one format. Tabular
    files of one source are read with one schema (types unified across files). Images and text
    files give one row per file (see :mod:`treadle.data._images`). ``storage_options`` go to
    fsspec (credentials there are masked in :meth:`spec`); other keyword arguments are codec
    options (``delimiter=``, ``column_types=``, ``columns=``, ``with_bytes=``, ``encoding=``...).
    """

    kind = "file"

    def __init__(
        self,
        uri: str | os.PathLike[str],
        format: str | None = None,
        *,
        storage_options: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        uri = str(uri)
        if "://" not in uri:
            uri = os.path.abspath(os.path.expanduser(uri))
        self.uri = uri
        self.storage_options = dict(storage_options or {})
        self.options = options
        self.fs, self._path = open_fs(uri, self.storage_options)
        files, many = list_files(self.fs, self._path, uri)
        if format is None:
            found = {f: _codecs.format_of(f) for f in files}
            formats = {f for f in found.values() if f}
            if not formats:
                known = ", ".join(sorted({"." + e for e in _codecs._EXT}))
                raise InvalidArgument(f"cannot tell the format of {uri!r} from its file names ({known}): pass format=")
            if len(formats) > 1:
                raise InvalidArgument(
                    f"{uri!r} holds files of several formats ({', '.join(sorted(formats))}): "
                    "pass format= or a glob such as '*.csv'"
                )
            format = formats.pop()
            files = [f for f, fmt in found.items() if fmt == format]
        elif many:  # an explicit format keeps the files with its extensions, or all when none has one
            files = [f for f in files if _codecs.format_of(f) == format] or files
        self.format = _codecs.check_format(format, options)
        if not files:
            raise InvalidArgument(f"no {self.format} files in {uri!r}")
        self.files = files
        self._many = many

    @property
    def uris(self) -> list[str]:
        return [full_uri(self.fs, f) for f in self.files]

    def _where(self, path: str) -> str:
        return full_uri(self.fs, path)

    @cached_property
    def _schema(self) -> pa.Schema:
        if self.format in ("image", "text"):
            return _images.schema_for(self.format, self.options)
        schemas = [
            _codecs.file_schema(opener(self.fs, f), self._where(f), self.format, self.options) for f in self.files
        ]
        return unify(schemas, self.uri) if len(schemas) > 1 else schemas[0]

    def schema(self) -> pa.Schema:
        return self._schema

    def iter_batches(self, batch_size: int = 65_536) -> Iterator[pa.RecordBatch]:
        check_batch_size(batch_size)
        if self.format in ("image", "text"):
            yield from _images.iter_file_rows(self.fs, self.files, self.format, batch_size, self.options, self._where)
            return
        schema = self.schema() if len(self.files) > 1 else None
        for f in self.files:
            where = self._where(f)
            for batch in _codecs.iter_file(opener(self.fs, f), where, self.format, batch_size, self.options):
                yield conform(batch, schema, where) if schema is not None else batch

    def to_arrow(self) -> pa.Table:
        if len(self.files) == 1 and self.format in _codecs.TABULAR:
            batches = list(self.iter_batches(1 << 20))
            return pa.Table.from_batches(batches, schema=None if batches else self.schema())
        return super().to_arrow()

    def file_infos(self) -> list[dict[str, Any]]:
        """``{"path", "size", "mtime"}`` per file (``mtime`` in epoch seconds, None where the
        filesystem has none): enough to skip re-hashing files that did not change."""
        if isinstance(self.fs, LocalFileSystem):
            out = []
            for f in self.files:
                st = os.stat(f)
                out.append({"path": f, "size": st.st_size, "mtime": st.st_mtime})
            return out
        return [_info(self.fs, f) for f in self.files]

    def num_rows(self) -> int | None:
        if self.format in ("image", "text"):
            return len(self.files)
        counts = [_codecs.num_rows(opener(self.fs, f), self._where(f), self.format) for f in self.files]
        return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"kind": self.kind, "uri": self.uri, "format": self.format}
        if self.options:
            spec["options"] = dict(self.options)
        if self.storage_options:
            spec["storage_options"] = mask_options(self.storage_options)
        return spec

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> FileSource:
        return cls(
            spec["uri"],
            spec.get("format"),
            storage_options=unmask_options(spec.get("storage_options") or {}),
            **(spec.get("options") or {}),
        )

    def describe(self) -> str:
        count = f" ({len(self.files)} files)" if self._many else ""
        return f"{self.format} at {self.uri}{count}"
