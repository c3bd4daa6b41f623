"""Images and text files as rows: one row per file, images decoded only when asked.

An image row holds ``path``, ``size``, ``width``, ``height``, ``format`` and ``mode`` — read from
the file's header, never decoding pixels — and ``bytes`` unless ``with_bytes=False``. A text row
holds ``path``, ``size`` and ``text``. :func:`iter_images` yields :class:`ImageFile` objects whose
:meth:`ImageFile.open` decodes the pixels (PIL) on demand.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from treadle.errors import InvalidArgument

if TYPE_CHECKING:
    from PIL import Image

_IMAGE = pa.schema(
    [
        ("path", pa.string()),
        ("size", pa.int64()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("format", pa.string()),
        ("mode", pa.string()),
    ]
)
_TEXT = pa.schema([("path", pa.string()), ("size", pa.int64()), ("text", pa.string())])


def schema_for(fmt: str, options: dict[str, Any]) -> pa.Schema:
    if fmt == "text":
        return _TEXT
    return _IMAGE.append(pa.field("bytes", pa.binary())) if options.get("with_bytes", True) else _IMAGE


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - pillow is an extra
        raise InvalidArgument("reading images needs Pillow: install treadle[images]") from exc
    return Image


def _header(f: Any, where: str) -> dict[str, Any]:
    image = _pil()
    try:
        with image.open(f) as img:  # reads the header only; pixels stay undecoded
            return {"width": img.width, "height": img.height, "format": img.format, "mode": img.mode}
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidArgument(f"{where} is not a readable image ({exc}); is the file corrupt?") from exc


def image_row(fs: Any, path: str, where: str, with_bytes: bool = True) -> dict[str, Any]:
    if with_bytes:
        data = fs.cat_file(path)
        row = {"path": where, "size": len(data), **_header(io.BytesIO(data), where), "bytes": data}
        return row
    with fs.open(path, "rb") as f:
        return {"path": where, "size": int(fs.size(path)), **_header(f, where)}


def text_row(fs: Any, path: str, where: str, encoding: str = "utf-8") -> dict[str, Any]:
    data = fs.cat_file(path)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            f"{where} is not valid {encoding} text (byte {exc.start}: {exc.reason}); pass encoding=..."
        ) from exc
    return {"path": where, "size": len(data), "text": text}


def iter_file_rows(
    fs: Any,
    files: list[str],
    fmt: str,
    batch_size: int,
    options: dict[str, Any],
    where: Callable[[str], str],
) -> Iterator[pa.RecordBatch]:
    schema = schema_for(fmt, options)
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        if fmt == "text":
            rows = [text_row(fs, f, where(f), options.get("encoding", "utf-8")) for f in chunk]
        else:
            rows = [image_row(fs, f, where(f), options.get("with_bytes", True)) for f in chunk]
        yield pa.RecordBatch.from_pylist(rows, schema=schema)


@dataclass(frozen=True)
class ImageFile:
    """One image file: its header facts now, its pixels when :meth:`open` is called."""

    path: str
    size: int
    width: int
    height: int
    format: str
    mode: str

    def read_bytes(self) -> bytes:
        import fsspec

        with fsspec.open(self.path, "rb") as f:
            return f.read()

    def open(self) -> Image.Image:
        """Decode the pixels; a corrupt or truncated file raises InvalidArgument naming it."""
        image = _pil()
        try:
            img = image.open(io.BytesIO(self.read_bytes()))
            img.load()
        except (OSError, ValueError, SyntaxError) as exc:
            raise InvalidArgument(f"cannot decode image {self.path}: {exc}") from exc
        return img


def iter_images(uri: str, *, storage_options: dict[str, Any] | None = None) -> Iterator[ImageFile]:
    """The images under a path, folder or glob, one :class:`ImageFile` each, pixels not decoded."""
    from treadle.data._files import FileSource

    src = FileSource(uri, "image", storage_options=storage_options, with_bytes=False)
    for batch in src.iter_batches(256):
        for row in batch.to_pylist():
            yield ImageFile(**row)
