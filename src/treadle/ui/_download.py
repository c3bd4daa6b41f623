"""Streaming one stored file to a browser safely (used by the UI and the API's file routes)."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterator
from urllib.parse import quote

from fastapi.responses import StreamingResponse

from treadle.artifacts import ArtifactFile, BlobStore


def attachment(path: str) -> str:
    """A Content-Disposition for any file name: an ASCII fallback plus the RFC 5987 UTF-8 form."""
    base = os.path.basename(path)
    plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in base)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(base, safe='')}"


def _stream(blobs: BlobStore, digest: str) -> Iterator[bytes]:
    yield from blobs.open(digest)


def file_response(blobs: BlobStore, entry: ArtifactFile, download: bool = True) -> StreamingResponse:
    """Stream ``entry``'s blob, verified, with its type; never as active content on our origin."""
    headers = {
        "content-length": str(entry.size),
        "etag": entry.digest,
        # Artifacts are user content: an .html or .svg must not run scripts on treadle's origin.
        "content-security-policy": "sandbox",
        "x-content-type-options": "nosniff",
    }
    if download:
        headers["content-disposition"] = attachment(entry.path)
    media = mimetypes.guess_type(entry.path)[0] or "application/octet-stream"
    return StreamingResponse(_stream(blobs, entry.digest), media_type=media, headers=headers)
