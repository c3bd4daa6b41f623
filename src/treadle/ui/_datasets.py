"""Pages: the dataset repository — list and search, one dataset (versions, aliases, tags), and the diff
of two versions (schema, rows by key, files, statistics shift, sample rows).

Unknown datasets and versions get the 404 page, bad diff keys the 400 page, never a server error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from treadle.datasets import DatasetService, DatasetVersion
from treadle.errors import InvalidArgument, NotFound
from treadle.ui._dataset_stats import cell
from treadle.ui._render import error_page, render

if TYPE_CHECKING:
    from treadle.client._backend import Backend

DATASETS_BACK = ("/datasets", "datasets")
MAX_DATASETS = 500
MAX_VERSION = 2**31
MAX_PATHS = 200  # files listed per added/removed/changed list of a diff


def missing_dataset(request: Request, name: str) -> HTMLResponse:
    return error_page(request, 404, "Dataset not found", f"There is no dataset named {name!r}.", back=DATASETS_BACK)


def find_version(service: DatasetService, request: Request, name: str, raw: str) -> DatasetVersion | HTMLResponse:
    """A version by number, ``v<N>``, ``latest`` or alias; the 404 page for an unknown dataset or version."""
    try:
        service.get_dataset(name)
    except NotFound:
        return missing_dataset(request, name)
    text = raw.strip()
    try:
        if text.isascii() and text.isdigit():
            if not 0 < int(text) < MAX_VERSION:
                raise NotFound(text)
            return service.resolve(name, int(text))
        if not text:
            raise NotFound(text)
        return service.resolve(name, alias=text)
    except NotFound:
        back = (f"/datasets/{name}", name)
        return error_page(request, 404, "Version not found", f"Dataset {name!r} has no version {raw!r}.", back=back)


def _keys(raw: list[str]) -> list[str]:
    """``key=a&key=b`` or ``key=a,b``."""
    return [k.strip() for item in raw for k in item.split(",") if k.strip()]


def datasets_router(backend: Backend) -> APIRouter:
    router = APIRouter()
    service = backend.datasets

    @router.get("/datasets", response_class=HTMLResponse)
    def datasets(request: Request, q: str = "", tag: str = "", column: str = "") -> HTMLResponse:
        found = service.search(
            query=q.strip() or None, tag=tag.strip() or None, column=column.strip() or None, max_results=MAX_DATASETS
        )
        return render(
            request, "datasets.html", datasets=found, q=q, tag=tag, column=column, limit=MAX_DATASETS,
            searched=bool(q.strip() or tag.strip() or column.strip()),
        )  # fmt: skip

    @router.get("/datasets/{name}", response_class=HTMLResponse)
    def dataset_page(request: Request, name: str) -> HTMLResponse:
        try:
            dataset = service.get_dataset(name)
        except NotFound:
            return missing_dataset(request, name)
        versions = service.list_versions(name)
        return render(request, "dataset.html", dataset=dataset, versions=versions)

    @router.get("/datasets/{name}/diff", response_class=HTMLResponse)
    def diff_page(
        request: Request,
        name: str,
        a: str = "",
        b: str = "",
        key: list[str] = Query(default=[]),
    ) -> HTMLResponse:
        after = find_version(service, request, name, b or "latest")
        if isinstance(after, HTMLResponse):
            return after
        if not a and after.version <= 1:
            message = f"v{after.version} is the first version of {name!r}: choose two versions to compare."
            return error_page(request, 400, "Nothing to compare", message, back=(f"/datasets/{name}", name))
        before = find_version(service, request, name, a or str(after.version - 1))
        if isinstance(before, HTMLResponse):
            return before
        keys = _keys(key)
        try:
            result = service.diff(name, before.version, after.version, key=keys)
        except InvalidArgument as exc:
            back = (f"/datasets/{name}", name)
            return error_page(request, 400, "Cannot compare these versions", exc.message, back=back)
        versions = service.list_versions(name)
        return render(
            request, "dataset_diff.html", d=result, before=before, after=after, versions=versions,
            key_text=", ".join(keys), cell=cell, max_paths=MAX_PATHS,
        )  # fmt: skip

    return router
