"""Page: one model version (signature, requirements, producing run and its metrics, lineage, files),
and its files streamed for download."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from treadle.errors import NotFound
from treadle.models import describe_manifest, signature_rows
from treadle.registry import ModelVersion
from treadle.ui._download import file_response
from treadle.ui._models import missing_model
from treadle.ui._render import error_page, render, root_of

if TYPE_CHECKING:
    from treadle.client._backend import Backend

MAX_VERSION = 2**31  # versions are 32-bit integers in every store


def parse_version(raw: str) -> int | None:
    value = raw.strip().lower().removeprefix("v")
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < MAX_VERSION:
        return None
    return int(value)


def file_url(root: str, name: str, version: int, path: str) -> str:
    return f"{root}/models/{quote(name)}/versions/{version}/files/{quote(path)}"


def version_router(backend: Backend) -> APIRouter:
    router = APIRouter()
    registry, tracking = backend.registry, backend.tracking

    def find(request: Request, name: str, raw: str) -> ModelVersion | HTMLResponse:
        """The version, or the friendly 404 page for an unknown model or version."""
        version = parse_version(raw)
        try:
            registry.get_model(name)
        except NotFound:
            return missing_model(request, name)
        try:
            if version is None:
                raise NotFound(raw)
            return registry.get_version(name, version)
        except NotFound:
            back = (f"/models/{quote(name)}", name)
            return error_page(request, 404, "Version not found", f"Model {name!r} has no version {raw!r}.", back=back)

    def run_of(version: ModelVersion) -> Any:
        if version.run_id is None:
            return None
        try:
            return tracking.get_run(version.run_id)
        except NotFound:  # purged; the version outlives its run
            return None

    @router.get("/models/{name}/versions/{version}", response_class=HTMLResponse)
    def version_page(request: Request, name: str, version: str) -> HTMLResponse:
        found = find(request, name, version)
        if isinstance(found, HTMLResponse):
            return found
        files = registry.list_version_files(name, found.version)
        spec = describe_manifest(backend.blobs, files)
        root = root_of(request)
        return render(
            request,
            "model_version.html",
            v=found,
            needs=registry.get_version_needs(name, found.version),
            signature=signature_rows(spec),
            spec=spec,
            run=run_of(found),
            files=[(f, file_url(root, name, found.version, f.path)) for f in files],
        )

    @router.get("/models/{name}/versions/{version}/files/{path:path}")
    def version_file(request: Request, name: str, version: str, path: str) -> Response:
        """A version's file, streamed as a download (never rendered on treadle's origin)."""
        found = find(request, name, version)
        if isinstance(found, HTMLResponse):
            return found
        entry = next((f for f in registry.list_version_files(name, found.version) if f.path == path), None)
        if entry is None:
            back = (f"/models/{quote(name)}/versions/{found.version}", f"{name} v{found.version}")
            message = f"{name} v{found.version} has no file {path!r}."
            return error_page(request, 404, "File not found", message, back=back)
        return file_response(backend.blobs, entry)

    return router
