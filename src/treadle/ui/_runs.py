"""Pages: one run (attributes, params, tags, metric charts, artifact browser) and file previews."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from treadle.artifacts import ArtifactFile
from treadle.errors import NotFound
from treadle.tracking import Run, run_manifest
from treadle.ui._preview import build_preview
from treadle.ui._render import error_page, render, root_of

if TYPE_CHECKING:
    from treadle.client._backend import Backend

MAX_TREE_FILES = 5000
MAX_CHILDREN = 100
SYSTEM_PREFIX = "treadle."


@dataclass
class Folder:
    name: str
    path: str
    folders: dict[str, Folder] = field(default_factory=dict)
    files: list[ArtifactFile] = field(default_factory=list)


def artifact_tree(files: list[ArtifactFile]) -> Folder:
    """Nest a flat, path-sorted list of files into folders."""
    root = Folder("", "")
    for f in files:
        node = root
        parts = f.path.split("/")
        for i, part in enumerate(parts[:-1]):
            node = node.folders.setdefault(part, Folder(part, "/".join(parts[: i + 1])))
        node.files.append(f)
    return root


def file_url(root: str, run_id: str, path: str, download: bool = False) -> str:
    """The server's file route (``/api/v1/runs/{id}/artifacts/{path}``) for images and downloads."""
    return f"{root}/api/v1/runs/{run_id}/artifacts/{quote(path)}" + ("?download=1" if download else "")


def run_context(backend: Backend, run: Run) -> dict[str, Any]:
    tracking = backend.tracking
    try:
        experiment = tracking.get_experiment(run.experiment_id)
        experiment_name = experiment.name
    except NotFound:
        experiment_name = run.experiment_id
    parent = None
    if run.parent_id:
        try:
            parent = tracking.get_run(run.parent_id)
        except NotFound:
            parent = None
    children = tracking.search_runs(filter=f"attributes.parent_id = '{run.id}'", max_results=MAX_CHILDREN)
    files = tracking.list_artifacts(run.id)
    return {
        "run": run,
        "experiment_name": experiment_name,
        "parent": parent,
        "children": children.runs,
        "more_children": children.next_page_token is not None,
        "user_tags": {k: v for k, v in sorted(run.tags.items()) if not k.startswith(SYSTEM_PREFIX)},
        "system_tags": {k: v for k, v in sorted(run.tags.items()) if k.startswith(SYSTEM_PREFIX)},
        "metric_keys": sorted(run.metrics),
        "tree": artifact_tree(files[:MAX_TREE_FILES]),
        "file_count": len(files),
        "tree_limit": MAX_TREE_FILES,
    }


def runs_router(backend: Backend) -> APIRouter:
    router = APIRouter()
    tracking = backend.tracking

    def preview_context(request: Request, run_id: str, path: str) -> dict[str, Any]:
        entry = backend.artifacts.stat(run_manifest(run_id), path)
        root = root_of(request)
        return {
            "preview": build_preview(backend.blobs, entry),
            "raw_url": file_url(root, run_id, entry.path),
            "download_url": file_url(root, run_id, entry.path, download=True),
        }

    @router.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: str, artifact: str | None = None) -> HTMLResponse:
        try:
            run = tracking.get_run(run_id)
        except NotFound:
            return error_page(request, 404, "Run not found", f"There is no run with id {run_id!r}.")
        context = run_context(backend, run)
        context.update(selected=artifact, preview=None, preview_error=None)
        if artifact:
            try:
                context.update(preview_context(request, run.id, artifact))
            except NotFound:
                context["preview_error"] = f"This run has no artifact {artifact!r}."
        return render(request, "run.html", **context)

    @router.get("/runs/{run_id}/preview", response_class=HTMLResponse)
    def preview(request: Request, run_id: str, path: str) -> HTMLResponse:
        """The preview pane alone, for htmx; ``HX-Replace-Url`` makes the selection linkable."""
        root = root_of(request)
        headers = {"HX-Replace-Url": f"{root}/runs/{quote(run_id)}?artifact={quote(path)}"}
        try:
            tracking.get_run(run_id)
            context = preview_context(request, run_id, path)
        except NotFound as exc:
            return render(request, "_preview.html", status=404, preview=None, preview_error=exc.message)
        return render(request, "_preview.html", headers=headers, preview_error=None, **context)

    return router
