"""Model URIs: logging a model into a run, registering it, and fetching any model to a local folder.

URIs: ``runs:/<run>/<path>``, ``models:/<name>/<version>``, ``models:/<name>@<alias>``
(``@latest`` too), a local path, or an fsspec URL such as ``s3://bucket/model``. Fetched files
are verified against their digests and kept in a content-addressed cache
(``TREADLE_CACHE``, default ``~/.cache/treadle``), so loading the same version twice downloads nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from treadle.artifacts import ArtifactFile
from treadle.errors import InvalidArgument, NotFound
from treadle.registry import ModelVersion, ResolvedVersion
from treadle.tracking import ArtifactIn

if TYPE_CHECKING:
    from treadle.client._client import Client

_RUNS = re.compile(r"^runs:/(?P<run>[0-9a-f]{32})/(?P<path>.+)$")
_MODELS = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[A-Za-z0-9_\-]+))$")


def cache_root() -> Path:
    return Path(os.environ.get("TREADLE_CACHE", Path.home() / ".cache" / "treadle")) / "models"


def resolve_version(client: Client, uri: str) -> ModelVersion:
    """The registry version a models:/ URI names."""
    return resolve(client, uri).version


def resolve(client: Client, uri: str) -> ResolvedVersion:
    """A models:/ URI's version and files, in one call to the registry."""
    match = _MODELS.match(uri)
    if match is None:
        raise InvalidArgument(f"not a registry URI: {uri!r} (use models:/<name>/<version> or models:/<name>@<alias>)")
    if match["version"]:
        return client.registry.resolve_version(match["name"], version=int(match["version"]))
    return client.registry.resolve_version(match["name"], alias=match["alias"])


def _files(client: Client, uri: str, resolved: ResolvedVersion | None = None) -> list[ArtifactFile] | None:
    """The content-addressed files behind a runs:/ or models:/ URI (None for paths and URLs)."""
    if uri.startswith("models:/"):
        return list((resolved or resolve(client, uri)).files)
    match = _RUNS.match(uri)
    if match is None:
        if uri.startswith("runs:/"):
            raise InvalidArgument(f"bad runs URI {uri!r}: use runs:/<run id>/<path>")
        return None
    prefix = match["path"].strip("/")
    files = [f for f in client.list_artifacts(match["run"]) if f.path.startswith(prefix + "/")]
    if not files:
        raise NotFound(f"run {match['run']} has no model under {prefix!r}")
    return [f.model_copy(update={"path": f.path[len(prefix) + 1 :]}) for f in files]


def fetch(client: Client, uri: str, resolved: ResolvedVersion | None = None) -> Path:
    """A local folder holding the model at ``uri`` (downloaded once, then served from the cache);
    ``resolved`` is the already resolved registry version of a models:/ URI."""
    files = _files(client, uri, resolved)
    if files is None:
        if "://" not in uri:
            path = Path(uri).expanduser()
            if not path.is_dir():
                raise NotFound(f"no model folder at {path}")
            return path
        return _fetch_url(uri)
    key = hashlib.sha256("\n".join(f"{f.path}\0{f.digest}" for f in sorted(files, key=lambda f: f.path)).encode())
    target = cache_root() / key.hexdigest()
    if (target / ".complete").exists():
        return target
    staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=_ensure(cache_root())))
    try:
        for f in files:
            client.blobs.download(f.digest, staging / f.path)  # verified against the digest
        (staging / ".complete").touch()
        try:
            staging.rename(target)
        except OSError:  # another process finished first
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fetch_url(uri: str) -> Path:
    import fsspec

    fs, root = fsspec.core.url_to_fs(uri)
    target = Path(tempfile.mkdtemp(prefix="treadle-model-"))
    fs.get(root.rstrip("/") + "/", str(target), recursive=True)
    return target


def register(
    client: Client, model_uri: str, name: str, description: str | None, tags: dict[str, Any] | None, actor: str | None
) -> ModelVersion:
    """Register the model at ``model_uri`` as the next version of ``name``."""
    str_tags = {k: str(v) for k, v in (tags or {}).items()} or None
    if _RUNS.match(model_uri):
        return client.registry.create_version(name, model_uri, description=description, tags=str_tags, created_by=actor)
    files = _files(client, model_uri)
    if files is None:  # a folder or URL: upload its files first (identical ones are stored once)
        folder = fetch(client, model_uri)
        try:
            entries = []
            for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".complete"):
                info = client.blobs.put_file(path)
                entries.append(ArtifactIn(path=path.relative_to(folder).as_posix(), digest=info.digest, size=info.size))
        finally:
            if "://" in model_uri:  # a download of ours, not the user's folder
                shutil.rmtree(folder, ignore_errors=True)
    else:
        entries = [ArtifactIn(path=f.path, digest=f.digest, size=f.size) for f in files]
    run_id = resolve_version(client, model_uri).run_id if model_uri.startswith("models:/") else None
    return client.registry.create_version(
        name, model_uri, run_id=run_id, files=entries, description=description, tags=str_tags, created_by=actor
    )
