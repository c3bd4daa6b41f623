"""MLflow's proxied artifact service (``/api/2.0/mlflow-artifacts/artifacts``) over treadle's manifests.

A run's ``artifact_uri`` is ``mlflow-artifacts:/<experiment>/<run>/artifacts``, so the mlflow client
uploads, lists and downloads paths ``<experiment>/<run>/artifacts/<file>``: these are the files of the
run's manifest (``run/<id>``), stored as content-addressed blobs like every treadle artifact. Other
path layouts (logged models, registered versions, ...) plug in with :func:`add_resolver`. Artifacts
are immutable: a DELETE is answered 400 with what to do instead.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from treadle.artifacts import ArtifactFile
from treadle.client._backend import Backend
from treadle.errors import NotFound
from treadle.server.mlflow._wire import MlflowError, as_mlflow
from treadle.tracking import ArtifactIn, run_manifest
from treadle.ui import file_response

PREFIX = "/api/2.0/mlflow-artifacts/artifacts"


@dataclass(frozen=True)
class Location:
    """Where an mlflow-artifacts path lives in treadle: a manifest, a path in it, and how to record uploads.

    ``files``, when given, lists the whole tree through a service operation instead of reading the
    manifest by name (a registered version's files); ``manifest`` then only names the tree in messages.
    """

    manifest: str
    path: str  # "" for the root
    record: Callable[[list[ArtifactIn]], Any]
    files: Callable[[], list[ArtifactFile]] | None = None

    def list(self, backend: Backend) -> list[ArtifactFile]:
        """The files under this location's folder (all of them at the root)."""
        if self.files is None:
            return backend.artifacts.list_files(self.manifest, self.path)
        folder = self.path.strip("/")
        return [f for f in self.files() if not folder or f.path.startswith(folder + "/")]

    def stat(self, backend: Backend) -> ArtifactFile:
        """The file at this location (NotFound if there is none)."""
        if self.files is None:
            return backend.artifacts.stat(self.manifest, self.path)
        found = [f for f in self.files() if f.path == self.path.strip("/")]
        if not found:
            raise NotFound(f"no artifact {self.path!r} in {self.manifest}")
        return found[0]


Resolver = Callable[[Backend, list[str]], Location | None]
_RESOLVERS: list[Resolver] = []


def add_resolver(resolver: Resolver) -> Resolver:
    """Register a path layout (a resolver returns None for paths that are not its own)."""
    _RESOLVERS.append(resolver)
    return resolver


@add_resolver
def _run_files(backend: Backend, parts: list[str]) -> Location | None:
    # <experiment>/<run id>/artifacts[/<path>]
    if len(parts) < 3 or parts[2] != "artifacts" or len(parts[1]) != 32:
        return None
    run = backend.tracking.get_run(parts[1])  # RESOURCE_DOES_NOT_EXIST for an unknown run
    run_id = run.id
    return Location(
        run_manifest(run_id), "/".join(parts[3:]), lambda files: backend.tracking.add_artifacts(run_id, files)
    )


def resolve(backend: Backend, path: str) -> Location:
    parts = [p for p in path.strip("/").split("/") if p]
    if any(p in (".", "..") for p in parts) or "\\" in path or "\x00" in path:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"Invalid artifact path: '{path}'")
    for resolver in _RESOLVERS:
        found = resolver(backend, parts)
        if found is not None:
            return found
    raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"no artifacts at '{path}'", 404)


def children(files: list[ArtifactFile], prefix: str) -> list[dict[str, Any]]:
    """MLflow's listing of one folder: its files and sub-folders, paths relative to the folder."""
    base = prefix.strip("/")
    out: dict[str, dict[str, Any]] = {}
    for f in files:
        rel = f.path[len(base) + 1 :] if base else f.path
        head, sep, _ = rel.partition("/")
        if sep:
            out.setdefault(head, {"path": head, "is_dir": True})
        else:
            out[head] = {"path": head, "is_dir": False, "file_size": f.size}
    return [out[k] for k in sorted(out)]


def artifacts_router(backend: Backend) -> APIRouter:
    router = APIRouter(tags=["mlflow"], include_in_schema=False)
    blobs = backend.blobs

    @router.get(PREFIX)
    def list_artifacts(path: str = "") -> Response:
        try:
            loc = resolve(backend, path)
            files = loc.list(backend)
            from fastapi.responses import JSONResponse

            listing = children(files, loc.path)
            return JSONResponse({"files": listing} if listing else {})
        except Exception as exc:  # every error is answered as MLflow answers it
            return as_mlflow(exc)

    @router.get(PREFIX + "/{path:path}")
    def download(path: str) -> Response:
        try:
            loc = resolve(backend, path)
            if not loc.path:
                raise MlflowError("INVALID_PARAMETER_VALUE", "download a file, not the artifact root")
            entry = loc.stat(backend)
            return file_response(blobs, entry, download=True)
        except NotFound as exc:
            return as_mlflow(NotFound(f"artifact '{path}' does not exist ({exc.message})"))
        except Exception as exc:
            return as_mlflow(exc)

    @router.put(PREFIX + "/{path:path}")
    async def upload(path: str, request: Request) -> Response:
        from fastapi.responses import JSONResponse

        try:
            loc = await run_in_threadpool(resolve, backend, path)
            if not loc.path:
                raise MlflowError("INVALID_PARAMETER_VALUE", "upload to a file path, not the artifact root")
            fd, tmp = tempfile.mkstemp(prefix="upload.", dir=blobs.staging_dir)
            sha, size = hashlib.sha256(), 0
            try:
                with os.fdopen(fd, "wb") as f:
                    async for chunk in request.stream():
                        sha.update(chunk)
                        size += len(chunk)
                        f.write(chunk)
                digest = sha.hexdigest()
                await run_in_threadpool(blobs.adopt, tmp, digest)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            await run_in_threadpool(loc.record, [ArtifactIn(path=loc.path, digest=digest, size=size)])
            return JSONResponse({})
        except Exception as exc:
            return as_mlflow(exc)

    @router.delete(PREFIX + "/{path:path}")
    def delete(path: str) -> Response:
        try:
            resolve(backend, path)  # RESOURCE_DOES_NOT_EXIST for a path no run or model has
            raise MlflowError(
                "INVALID_PARAMETER_VALUE",
                f"treadle does not delete artifacts ('{path}'): a run's artifacts are immutable. Delete the "
                "run (mlflow.delete_run, then `treadle runs purge` and `treadle gc` reclaim the files no other "
                "run or model uses), or log corrected files under a new path.",
            )
        except Exception as exc:
            return as_mlflow(exc)

    @router.api_route(PREFIX + "/{path:path}", methods=["POST", "PATCH"])
    def unsupported(path: str, request: Request) -> Response:
        del path
        return as_mlflow(
            MlflowError(
                "ENDPOINT_NOT_FOUND",
                f"{request.method} {posixpath.basename(PREFIX)} is not supported by treadle "
                "(multipart uploads are off)",
                404,
            )
        )

    return router
