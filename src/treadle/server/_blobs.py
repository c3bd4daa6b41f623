"""Hand-written routes: blob upload/download (streamed, never buffered whole) and file downloads."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from treadle.artifacts import ArtifactService, BlobStore
from treadle.artifacts.base import check_digest
from treadle.errors import InvalidArgument, NotFound
from treadle.tracking import run_manifest
from treadle.ui import file_response


def _stream(blobs: BlobStore, digest: str) -> Iterator[bytes]:
    yield from blobs.open(digest)


def blob_router(artifacts: ArtifactService) -> APIRouter:
    blobs = artifacts.blobs
    router = APIRouter(tags=["artifacts"])

    @router.head("/api/v1/blobs/{digest}")
    def head_blob(digest: str) -> Response:
        size = blobs.size(check_digest(digest))
        if size is None:
            raise NotFound(f"blob {digest} is not stored")
        return Response(status_code=200, headers={"x-blob-size": str(size)})

    @router.put("/api/v1/blobs/{digest}", status_code=201)
    async def put_blob(digest: str, request: Request) -> dict[str, object]:
        """Upload a blob; the body's sha256 must equal ``digest``. Idempotent."""
        check_digest(digest)
        fd, tmp = tempfile.mkstemp(prefix="upload.", dir=blobs.staging_dir)
        sha, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as f:
                async for chunk in request.stream():
                    sha.update(chunk)
                    size += len(chunk)
                    f.write(chunk)
            if sha.hexdigest() != digest:
                raise InvalidArgument(f"body hashes to {sha.hexdigest()}, not {digest}; nothing was stored")
            await run_in_threadpool(blobs.adopt, tmp, digest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return {"digest": digest, "size": size}

    @router.get("/api/v1/blobs/{digest}")
    def get_blob(digest: str) -> StreamingResponse:
        if not blobs.exists(check_digest(digest)):
            raise NotFound(f"blob {digest} is not stored")
        return StreamingResponse(_stream(blobs, digest), media_type="application/octet-stream")

    @router.get("/api/v1/runs/{run_id}/artifacts/{path:path}")
    def get_run_file(run_id: str, path: str, download: bool = False) -> StreamingResponse:
        """A run's artifact file by path, with a content type (``?download=1`` to save it)."""
        entry = artifacts.stat(run_manifest(run_id), path)
        return file_response(blobs, entry, download)

    return router
