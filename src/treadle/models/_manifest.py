"""``treadle-model.yaml``: what a model directory holds, and the check that it still does.

The manifest lists every file of the model with its sha256 and carries a ``digest``: the sha256 of
the manifest itself (every field but ``digest``, as canonical JSON), so it covers the file list, the
flavor options (class paths, trusted types) and the signature. A registry that records the digest
can hand it to :func:`~treadle.models.load_model` as ``expected_digest`` to pin the whole model.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from pydantic import Field, ValidationError

from treadle.artifacts.base import hash_file
from treadle.errors import CorruptBlob, InvalidArgument, NotFound
from treadle.models._signature import Signature
from treadle.records import Record

MANIFEST = "treadle-model.yaml"
FORMAT_VERSION = 1
GUARDED = ("code/", "artifacts/")  # folders whose every file must be listed


class ModelManifest(Record):
    """The contents of ``treadle-model.yaml``."""

    format_version: int = FORMAT_VERSION
    flavor: str
    flavor_options: dict[str, Any] = Field(default_factory=dict)
    framework: str | None = None
    framework_version: str | None = None
    python_version: str
    treadle_version: str
    signature: Signature | None = None
    requirements: list[str] = Field(default_factory=list)
    input_example: str | None = None
    code_paths: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict)
    digest: str = ""

    def compute_digest(self) -> str:
        body = self.model_dump(mode="json", exclude={"digest"})
        return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def sealed(self) -> ModelManifest:
        """This manifest with ``digest`` set."""
        return self.model_copy(update={"digest": self.compute_digest()})


def hash_tree(root: Path) -> dict[str, str]:
    """``{posix relative path: sha256}`` of every file under ``root`` except the manifest."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for f in sorted(filenames):
            full = Path(dirpath) / f
            rel = full.relative_to(root).as_posix()
            if rel != MANIFEST:
                out[rel] = hash_file(full).digest
    return out


def write_manifest(root: Path, manifest: ModelManifest) -> None:
    text = yaml.safe_dump(manifest.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    (root / MANIFEST).write_text(text, encoding="utf-8")


# libyaml's loader is ~10x faster than the pure-Python one; manifests are parsed on every load.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_manifest_yaml(text: str | bytes) -> Any:
    """Parse a ``treadle-model.yaml`` (safe loader; raises yaml.YAMLError)."""
    return yaml.load(text, Loader=_Loader)


def read_manifest(root: str | os.PathLike[str]) -> ModelManifest:
    """The manifest of the model directory ``root`` (not verified: see :func:`verify`)."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise NotFound(f"{root} is not a treadle model directory: {MANIFEST} is missing")
    try:
        raw = parse_manifest_yaml(path.read_text(encoding="utf-8"))
        return ModelManifest.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        raise InvalidArgument(f"{path} is not a valid model manifest: {exc}") from None


def _safe_rel(rel: str) -> None:
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or "\\" in rel or not rel:
        raise CorruptBlob(f"the manifest lists an unsafe path {rel!r}")


def verify(root: Path, manifest: ModelManifest, expected_digest: str | None = None) -> None:
    """Raise CorruptBlob unless every file matches the manifest and the manifest its digest.

    Runs before any model file is opened by a framework, so a tampered pickle is never unpickled.
    Unlisted files under ``code/`` (put on ``sys.path``) and ``artifacts/`` (read by user code) are
    refused too, since they could shadow modules or data; other unlisted files (a download cache's
    marker, ``__pycache__``) are never read and are ignored.
    """
    if manifest.format_version > FORMAT_VERSION:
        raise InvalidArgument(
            f"this model was saved with manifest format {manifest.format_version}; upgrade treadle to load it"
        )
    if manifest.compute_digest() != manifest.digest:
        raise CorruptBlob(f"{root / MANIFEST} was modified after saving: its digest does not match")
    if expected_digest is not None and expected_digest != manifest.digest:
        raise CorruptBlob(f"model digest is {manifest.digest}, expected {expected_digest}")
    for rel in manifest.files:
        _safe_rel(rel)
    actual = hash_tree(root)
    for rel, sha in manifest.files.items():
        if rel not in actual:
            raise CorruptBlob(f"model file {rel!r} is missing from {root}")
        if actual[rel] != sha:
            raise CorruptBlob(f"model file {rel!r} does not match its sha256 in {MANIFEST}: it was modified")
    extra = sorted(p for p in set(actual) - set(manifest.files) if p.startswith(GUARDED))
    if extra:
        raise CorruptBlob(f"model file {extra[0]!r} is not listed in {MANIFEST}: refusing to load")


def check_option_paths(manifest: ModelManifest) -> None:
    """Every file a flavor will open (``file``/``wrapper`` options, python artifacts) must be listed."""
    opts = manifest.flavor_options
    wanted = [v for k, v in opts.items() if k in ("file", "wrapper") and isinstance(v, str)]
    wanted += [str(v) for v in dict(opts.get("artifacts") or {}).values()]
    for rel in wanted:
        if rel not in manifest.files and not any(f.startswith(rel.rstrip("/") + "/") for f in manifest.files):
            raise CorruptBlob(f"the manifest's flavor options name {rel!r}, which is not one of the model's files")
