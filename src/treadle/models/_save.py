"""``save_model`` and ``load_model``: a model directory with ``treadle-model.yaml``, and back."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from treadle.errors import AlreadyExists, InvalidArgument
from treadle.models._example import as_example, write_example
from treadle.models._manifest import (
    MANIFEST,
    ModelManifest,
    check_option_paths,
    hash_tree,
    read_manifest,
    verify,
    write_manifest,
)
from treadle.models._predictor import Predictor
from treadle.models._requirements import local_modules, pinned_requirements, refresh_distributions, version_of
from treadle.models._signature import Signature, schema_of
from treadle.models.flavors import detect_flavor, get_flavor
from treadle.models.flavors.base import Flavor

CODE_DIR = "code"


def _treadle_version() -> str:
    return version_of("treadle") or "unknown"  # not `from treadle import`: models sits below the SDK


def _copy_code(root: Path, code_paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    out: list[str] = []
    for p in code_paths:
        src = Path(p)
        if not src.exists():
            raise InvalidArgument(f"code path {p} does not exist")
        dest = root / CODE_DIR / src.name
        if dest.exists():
            raise InvalidArgument(f"two code paths are named {src.name!r}")
        dest.parent.mkdir(exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copyfile(src, dest)
        out.append(dest.relative_to(root).as_posix())
    return out


def _add_code_to_path(root: Path, manifest: ModelManifest) -> None:
    if manifest.code_paths:
        code = str((root / CODE_DIR).resolve())
        if code not in sys.path:
            sys.path.insert(0, code)


def _output_schema(flavor: type[Flavor], root: Path, manifest: ModelManifest, example: Any) -> Any:
    try:
        inst = flavor()
        predictor = Predictor(inst, inst.load(root, manifest.flavor_options), manifest, root)
        return schema_of(predictor.predict(example))
    except Exception as exc:
        warnings.warn(f"could not infer the model's outputs by predicting the input example: {exc}", stacklevel=3)
        return None


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    *,
    flavor: str | None = None,
    input_example: Any = None,
    signature: Signature | dict[str, Any] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    requirements: Sequence[str] | None = None,
    metadata: dict[str, Any] | None = None,
    **options: Any,
) -> ModelManifest:
    """Write ``model`` into the new directory ``path`` with its ``treadle-model.yaml``; return the manifest.

    ``flavor`` is detected from the model's type when not given (``skops`` must be asked for).
    ``options`` are the flavor's own: ``artifacts={name: path}`` (python), ``model_class=``,
    ``init_kwargs=``, ``mode=`` (pytorch), ``model_format=`` (xgboost), ``predict_output=``,
    ``proba_output=`` (onnx). Without ``signature``, inputs are inferred from ``input_example`` and
    outputs from predicting it. Without ``requirements``, the distributions of the modules the model
    uses are pinned to their installed versions. ``code_paths`` (files or packages) are copied under
    ``code/`` and put on ``sys.path`` when the model is loaded. The directory appears complete or not
    at all: files are written to a temporary sibling and renamed into place.
    """
    dest = Path(path)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise AlreadyExists(f"{dest} already exists and is not empty")
    cls = get_flavor(flavor) if flavor else detect_flavor(model)
    unknown = sorted(set(options) - cls.save_options)
    if unknown:
        allowed = ", ".join(sorted(cls.save_options)) or "none"
        raise InvalidArgument(f"unknown option {unknown[0]!r} for the {cls.name} flavor (it takes: {allowed})")
    try:
        json.dumps(metadata or {})
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"metadata must be JSON-able: {exc}") from None
    if isinstance(requirements, str):
        raise InvalidArgument("requirements must be a list of strings such as ['scikit-learn==1.5.2']")
    if isinstance(signature, dict):
        signature = Signature.model_validate(signature)
    example = None if input_example is None else as_example(input_example)
    if signature is not None and example is not None:
        signature.inputs.enforce(example)  # a mismatch is the caller's mistake: say so now
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        inst = cls()
        flavor_options = inst.save(model, tmp, input_example=example, **options)
        code = _copy_code(tmp, code_paths or [])
        example_file = write_example(tmp, example) if example is not None else None
        manifest = ModelManifest(
            flavor=cls.name,
            flavor_options=flavor_options,
            framework=cls.distribution if cls.name != "python" else None,
            framework_version=cls.framework_version(),
            python_version=platform.python_version(),
            treadle_version=_treadle_version(),
            signature=signature,
            input_example=example_file,
            code_paths=code,
            metadata=metadata or {},
        )
        if signature is None and inst.signature is not None:
            manifest = manifest.model_copy(update={"signature": inst.signature})
        elif signature is None and example is not None:
            outputs = _output_schema(cls, tmp, manifest, example)
            manifest = manifest.model_copy(update={"signature": Signature(inputs=schema_of(example), outputs=outputs)})
        modules = set(inst.modules)
        if isinstance(example, pd.DataFrame) or (manifest.signature and manifest.signature.inputs.kind == "columns"):
            modules.add("pandas")
        if requirements is None:
            refresh_distributions()
            shipped = {Path(c).stem for c in code}
            unshipped = [m for m in local_modules(modules) if m not in shipped]
            if unshipped:
                warnings.warn(
                    f"the model uses modules no installed package provides ({', '.join(unshipped)}); "
                    "ship them with code_paths= so the model loads elsewhere",
                    stacklevel=2,
                )
            reqs = pinned_requirements(modules)
        else:
            reqs = [str(r).strip() for r in requirements if str(r).strip()]
        manifest = manifest.model_copy(update={"requirements": reqs, "files": hash_tree(tmp)}).sealed()
        write_manifest(tmp, manifest)
        if dest.exists():
            dest.rmdir()
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def load_model(
    path: str | os.PathLike[str],
    flavor: str | None = None,
    *,
    expected_digest: str | None = None,
    trusted_types: Sequence[str] | None = None,
) -> Any:
    """Load the model directory ``path``: a :class:`Predictor`, or with ``flavor=`` the native object.

    Every file's sha256 is checked against ``treadle-model.yaml`` before any framework reads it, so a
    tampered pickle is refused (CorruptBlob) rather than unpickled; ``expected_digest`` (from a
    registry) pins the manifest itself. Pickle-based flavors (sklearn, python, lightgbm wrappers) still
    run code from the model on load: load only models from sources you trust. ``trusted_types`` adds
    types the skops flavor may rebuild. The model's ``code/`` directory is put on ``sys.path``.
    """
    root = Path(path)
    manifest = read_manifest(root)
    verify(root, manifest, expected_digest)
    check_option_paths(manifest)
    if flavor is not None and flavor != manifest.flavor:
        raise InvalidArgument(f"{root} holds a {manifest.flavor!r} model, not {flavor!r}; load it with flavor=None")
    cls = get_flavor(manifest.flavor)
    pickled = any(f.endswith(".pkl") for f in manifest.files)
    if pickled and manifest.python_version.rsplit(".", 1)[0] != platform.python_version().rsplit(".", 1)[0]:
        warnings.warn(
            f"this model was pickled under Python {manifest.python_version}; this is {platform.python_version()}",
            stacklevel=2,
        )
    _add_code_to_path(root, manifest)
    inst = cls()
    native = inst.load(root, dict(manifest.flavor_options), list(trusted_types) if trusted_types else None)
    return native if flavor is not None else Predictor(inst, native, manifest, root)


__all__ = ["MANIFEST", "load_model", "save_model"]
