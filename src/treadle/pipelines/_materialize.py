"""Materializers: how a step output becomes blobs in the artifact store, and how it comes back.

Chosen by the value's type, first match wins:

========  ===========================================  =========================================
kind      values                                       stored as
========  ===========================================  =========================================
json      None, bool, int, float, str, lists, dicts    ``outputs/<name>.json``
pandas    ``pandas.DataFrame`` / ``Series``            ``outputs/<name>.parquet``
numpy     ``numpy.ndarray`` (not object dtype)         ``outputs/<name>.npy``
model     scikit-learn, XGBoost, LightGBM, PyTorch     ``outputs/<name>/`` (treadle.models folder)
dataset   ``td.datasets`` handles and versions         by reference: ``datasets:/name/N``
file/dir  ``pathlib.Path``                             ``outputs/<name>/<file or tree>``
pickle    anything else cloudpickle can pickle         ``outputs/<name>.pkl``
========  ===========================================  =========================================

Every file becomes an artifact of the step's tracked run (so ``treadle gc`` keeps it). Folders
(model, file, dir) also store a small JSON manifest blob listing their files; the
:class:`OutputRef` digest is that manifest's, so a consumer needs only the ref to load them.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from treadle.errors import InvalidArgument
from treadle.orchestration._records import OutputRef
from treadle.pipelines._trace import is_json
from treadle.tracking import ArtifactIn

if TYPE_CHECKING:
    from treadle.client import Client

MODEL_FRAMEWORKS = {"sklearn", "xgboost", "lightgbm", "torch"}
PREVIEW = 200


class OutputError(InvalidArgument):
    """A step returned something that cannot be stored (names the step and the output)."""


@dataclass
class Saved:
    ref: OutputRef
    files: list[ArtifactIn] = field(default_factory=list)


def type_of(value: Any) -> str:
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__.split('.')[0]}.{cls.__qualname__}"


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= PREVIEW else text[: PREVIEW - 3] + "..."


def _root(value: Any) -> str:
    return type(value).__module__.split(".")[0]


def kind_of(value: Any) -> str:
    root = _root(value)
    if is_json(value):
        return "json"
    if root == "pandas" and type(value).__name__ in ("DataFrame", "Series"):
        return "pandas"
    if root == "numpy" and type(value).__name__ == "ndarray" and value.dtype.kind != "O":
        return "numpy"
    if root == "treadle" and type(value).__name__ in ("DatasetHandle", "DatasetVersion"):
        return "dataset"
    if isinstance(value, Path):
        return "dir" if value.is_dir() else "file"
    if root in MODEL_FRAMEWORKS:
        from treadle.models.flavors import FLAVORS

        if any(
            cls.name in ("sklearn", "xgboost", "lightgbm", "pytorch") and cls.matches(value) for cls in FLAVORS.values()
        ):
            return "model"
    return "pickle"


def save_output(client: Client, step: str, name: str, value: Any) -> Saved:
    """Store ``value`` (step ``step``'s output ``name``) and describe it."""
    try:
        kind = kind_of(value)
        if kind == "model":
            try:
                return _save_model(client, name, value)
            except Exception:  # a model the flavor cannot save (e.g. an untraceable torch module)
                kind = "pickle"
        return _SAVERS[kind](client, name, value)
    except OutputError:
        raise
    except Exception as exc:
        raise OutputError(
            f"step {step!r} output {name!r}: cannot store a {type_of(value)} ({type(exc).__name__}: {exc}); "
            "return JSON values, DataFrames, arrays, models, Paths or picklable objects"
        ) from exc


def _blob(client: Client, name: str, kind: str, value: Any, data: bytes, path: str, preview: str) -> Saved:
    info = client.blobs.put_bytes(data)
    ref = OutputRef(name=name, kind=kind, digest=info.digest, size=info.size, type=type_of(value), preview=preview)
    return Saved(ref, [ArtifactIn(path=path, digest=info.digest, size=info.size)])


def _save_json(client: Client, name: str, value: Any) -> Saved:
    data = json.dumps(value, separators=(",", ":")).encode()
    return _blob(client, name, "json", value, data, f"outputs/{name}.json", _preview(value))


def _save_pandas(client: Client, name: str, value: Any) -> Saved:
    buf = io.BytesIO()
    frame = value
    if type(value).__name__ == "Series":
        frame = value.to_frame(name="__series__" if value.name is None else str(value.name))
        frame.attrs["treadle_series"] = True
    frame.to_parquet(buf)
    preview = f"{type(value).__name__} {frame.shape[0]} rows x {frame.shape[1]} columns"
    saved = _blob(client, name, "pandas", value, buf.getvalue(), f"outputs/{name}.parquet", preview)
    if type(value).__name__ == "Series":
        saved.ref = saved.ref.model_copy(update={"kind": "pandas-series"})
    return saved


def _save_numpy(client: Client, name: str, value: Any) -> Saved:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, value, allow_pickle=False)
    preview = f"ndarray shape={value.shape} dtype={value.dtype}"
    return _blob(client, name, "numpy", value, buf.getvalue(), f"outputs/{name}.npy", preview)


def _save_pickle(client: Client, name: str, value: Any) -> Saved:
    import cloudpickle

    return _blob(client, name, "pickle", value, cloudpickle.dumps(value), f"outputs/{name}.pkl", _preview(value))


def _save_dataset(client: Client, name: str, value: Any) -> Saved:
    version = value.version if type(value).__name__ == "DatasetHandle" else value
    ref = OutputRef(
        name=name,
        kind="dataset",
        digest=version.digest,
        size=0,
        type=type_of(value),
        uri=version.uri,
        preview=version.uri,
    )
    return Saved(ref)


def _tree(client: Client, name: str, kind: str, value: Any, root: Path, extra: dict[str, Any], preview: str) -> Saved:
    """Upload every file under ``root`` as ``outputs/<name>/<rel>`` plus a manifest blob."""
    files: list[ArtifactIn] = []
    entries = []
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for path in paths:
        rel = path.name if root.is_file() else path.relative_to(root).as_posix()
        info = client.blobs.put_file(path)
        files.append(ArtifactIn(path=f"outputs/{name}/{rel}", digest=info.digest, size=info.size))
        entries.append({"path": rel, "digest": info.digest, "size": info.size})
    manifest = json.dumps({"files": entries, **extra}, sort_keys=True).encode()
    info = client.blobs.put_bytes(manifest)
    files.append(ArtifactIn(path=f"outputs/{name}.manifest.json", digest=info.digest, size=info.size))
    size = sum(e["size"] for e in entries)
    ref = OutputRef(name=name, kind=kind, digest=info.digest, size=size, type=type_of(value), preview=preview)
    return Saved(ref, files)


def _save_path(client: Client, name: str, value: Any) -> Saved:
    path = Path(value)
    if not path.exists():
        raise OutputError(f"output {name!r} is the path {path}, which does not exist")
    kind = "dir" if path.is_dir() else "file"
    return _tree(client, name, kind, value, path, {"name": path.name}, str(path))


def _save_model(client: Client, name: str, value: Any) -> Saved:
    from treadle.models import read_manifest, save_model

    with tempfile.TemporaryDirectory(prefix="treadle-step-model-") as tmp:
        folder = Path(tmp) / "model"
        save_model(value, folder)
        flavor = read_manifest(folder).flavor
        return _tree(client, name, "model", value, folder, {"flavor": flavor}, _preview(value))


_SAVERS = {
    "json": _save_json,
    "pandas": _save_pandas,
    "numpy": _save_numpy,
    "pickle": _save_pickle,
    "dataset": _save_dataset,
    "file": _save_path,
    "dir": _save_path,
}


# ---------------------------------------------------------------------------- loading
def _cache_dir() -> Path:
    return Path(os.environ.get("TREADLE_CACHE", Path.home() / ".cache" / "treadle")) / "step-outputs"


def _fetch_tree(client: Client, ref: OutputRef) -> tuple[Path, dict[str, Any]]:
    manifest = json.loads(client.blobs.read_bytes(ref.digest))
    target = _cache_dir() / ref.digest
    if not (target / ".complete").exists():
        for entry in manifest["files"]:
            client.blobs.download(entry["digest"], target / "files" / entry["path"])
        (target / ".complete").write_text("")
    return target / "files", manifest


def load_output(client: Client, ref: OutputRef) -> Any:
    """The value a step output stands for (a fresh copy each call)."""
    kind = ref.kind
    if kind == "dataset":
        from treadle.datasets import get

        name, _, version = (ref.uri or "").removeprefix("datasets:/").rpartition("/")
        return get(name, int(version), client=client)
    if kind in ("file", "dir", "model"):
        folder, manifest = _fetch_tree(client, ref)
        if kind == "model":
            from treadle.models import load_model

            return load_model(folder, flavor=manifest.get("flavor"))
        return folder / manifest["name"] if kind == "file" else folder
    data = client.blobs.read_bytes(ref.digest)
    if kind == "json":
        return json.loads(data)
    if kind in ("pandas", "pandas-series"):
        import pandas as pd

        frame = pd.read_parquet(io.BytesIO(data))
        if kind == "pandas-series":
            series = frame.iloc[:, 0]
            return series.rename(None) if series.name == "__series__" else series
        return frame
    if kind == "numpy":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if kind == "pickle":
        import cloudpickle

        return cloudpickle.loads(data)
    raise InvalidArgument(f"output {ref.name!r} has unknown kind {kind!r}: written by a newer treadle?")
