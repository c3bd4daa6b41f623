"""Page: one dataset version (schema, column statistics with histograms, sample rows, files with image
thumbnails, usage), and a version's files streamed by path."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from treadle.datasets import DatasetService, DatasetVersion
from treadle.errors import InvalidArgument, NotFound
from treadle.ui._dataset_stats import cell, column_views, extensions, is_thumbnail
from treadle.ui._datasets import find_version
from treadle.ui._download import file_response
from treadle.ui._render import error_page, render, root_of

if TYPE_CHECKING:
    from treadle.client._backend import Backend

SAMPLE_ROWS = 20
MAX_FILES = 500  # files listed on the page (the rest: download them, or filter by prefix)


def file_url(root: str, name: str, version: int, path: str) -> str:
    return f"{root}/datasets/{quote(name)}/{version}/files/{quote(path)}"


def model_link(root: str, uri: str) -> str | None:
    """``models:/name/3`` → the model version page (None for anything else)."""
    name, _, number = uri.removeprefix("models:/").rpartition("/")
    return f"{root}/models/{quote(name)}/versions/{number}" if uri.startswith("models:/") and number.isdigit() else None


def _files(service: DatasetService, v: DatasetVersion, root: str, prefix: str) -> dict[str, Any]:
    files = service.list_files(v.name, v.version, prefix=prefix)
    shown = [
        {"file": f, "url": file_url(root, v.name, v.version, f.path), "thumb": is_thumbnail(f.path)}
        for f in files[:MAX_FILES]
    ]
    return {"files": shown, "files_total": len(files), "prefix": prefix}


def dataset_version_router(backend: Backend) -> APIRouter:
    router = APIRouter()
    service = backend.datasets

    @router.get("/datasets/{name}/{version}", response_class=HTMLResponse)
    def version_page(request: Request, name: str, version: str, prefix: str = "") -> HTMLResponse:
        found = find_version(service, request, name, version)
        if isinstance(found, HTMLResponse):
            return found
        root = root_of(request)
        sample = service.sample(name, found.version, SAMPLE_ROWS) if found.kind == "table" else []
        usage = service.usage(name, found.version)
        return render(
            request,
            "dataset_version.html",
            v=found,
            dataset=service.get_dataset(name),
            columns=column_views(found),
            extensions=extensions(found),
            sample=sample,
            cell=cell,
            usage=usage,
            models=[(uri, model_link(root, uri)) for uri in usage.models],
            **_files(service, found, root, prefix),
        )

    @router.get("/datasets/{name}/{version}/files/{path:path}")
    def version_file(request: Request, name: str, version: str, path: str, download: bool = False) -> Response:
        """A version's file by path, with its content type (``?download=1`` to save it)."""
        found = find_version(service, request, name, version)
        if isinstance(found, HTMLResponse):
            return found
        try:
            entry = backend.artifacts.stat(found.manifest, path)
        except (NotFound, InvalidArgument):  # no such file, or not a clean relative path
            entry = None
        if entry is None:
            back = (f"/datasets/{quote(name)}/{found.version}", f"{name} v{found.version}")
            message = f"{name} v{found.version} has no file {path!r}."
            return error_page(request, 404, "File not found", message, back=back)
        return file_response(backend.blobs, entry, download=download)

    return router
