"""``treadle export triton``: a registry model as a Triton Inference Server model repository.

Teams that already run Triton keep it and use treadle's registry as the source of models. The
layout is Triton's: ``DIR/<name>/config.pbtxt`` and ``DIR/<name>/<version>/model.onnx`` (platform
``onnxruntime_onnx``) or ``model.pt`` (TorchScript, platform ``pytorch_libtorch``, tensors named
``INPUT__0``/``OUTPUT__0`` as that backend wants). scikit-learn models are converted with skl2onnx
(:func:`treadle.models.to_onnx`), XGBoost and LightGBM models with onnxmltools, ONNX models are
copied as they are. When every tensor's first axis is free, the config declares
``max_batch_size`` (dims then leave the batch axis out, and a tensor that is only the batch axis
becomes ``dims: [1]`` with ``reshape { shape: [] }``, as Triton's docs prescribe) and turns on
dynamic batching; otherwise ``max_batch_size: 0`` with full shapes.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from treadle.errors import InvalidArgument
from treadle.models import load_model, read_manifest, to_onnx

_ONNX_TYPES = {  # onnx.TensorProto element type -> Triton DataType name
    1: "TYPE_FP32",
    2: "TYPE_UINT8",
    3: "TYPE_INT8",
    4: "TYPE_UINT16",
    5: "TYPE_INT16",
    6: "TYPE_INT32",
    7: "TYPE_INT64",
    8: "TYPE_STRING",
    9: "TYPE_BOOL",
    10: "TYPE_FP16",
    11: "TYPE_FP64",
    12: "TYPE_UINT32",
    13: "TYPE_UINT64",
    16: "TYPE_BF16",
}
_NUMPY_TYPES = {
    "float32": "TYPE_FP32",
    "float64": "TYPE_FP64",
    "float16": "TYPE_FP16",
    "int64": "TYPE_INT64",
    "int32": "TYPE_INT32",
    "int16": "TYPE_INT16",
    "int8": "TYPE_INT8",
    "uint8": "TYPE_UINT8",
    "bool": "TYPE_BOOL",
}


@dataclass(frozen=True)
class Tensor:
    name: str
    data_type: str
    shape: list[int]  # -1 for a free dimension, the batch axis first


@dataclass(frozen=True)
class TritonExport:
    """What was written: ``path`` is ``DIR/<name>``, ``model_file`` the versioned model file."""

    path: Path
    name: str
    version: int
    platform: str
    model_file: Path
    max_batch_size: int


def export_triton(
    model_uri: str, out_dir: str | Path, *, name: str | None = None, max_batch_size: int = 64, client: Any = None
) -> TritonExport:
    """Write the model at ``model_uri`` into the Triton model repository ``out_dir`` (see module doc)."""
    from treadle.client._models import fetch, resolve

    if model_uri.startswith(("models:/", "runs:/")) and client is None:
        from treadle.client import get_client

        client = get_client()
    version = 1
    resolved = None
    if model_uri.startswith("models:/"):
        resolved = resolve(client, model_uri)
        version = resolved.version.version
        name = name or resolved.version.name
    model_dir = fetch(client, model_uri, resolved)
    name = _triton_name(name or Path(model_uri.rstrip("/")).name)
    manifest = read_manifest(model_dir)
    target = Path(out_dir) / name
    version_dir = target / str(version)
    version_dir.mkdir(parents=True, exist_ok=True)
    if manifest.flavor == "pytorch":
        platform = "pytorch_libtorch"
        model_file = version_dir / "model.pt"
        inputs, outputs = _export_torch(model_dir, model_file)
    else:
        platform = "onnxruntime_onnx"
        model_file = version_dir / "model.onnx"
        inputs, outputs = _export_onnx(model_dir, manifest, model_file)
    batched = max_batch_size > 0 and all(t.shape and t.shape[0] == -1 for t in inputs + outputs)
    config = config_pbtxt(name, platform, inputs, outputs, max_batch_size if batched else 0)
    (target / "config.pbtxt").write_text(config, encoding="utf-8")
    return TritonExport(target, name, version, platform, model_file, max_batch_size if batched else 0)


def _triton_name(name: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_.\-]", "_", name).strip(".")
    if not clean:
        raise InvalidArgument(f"cannot make a Triton model name from {name!r}: pass --name")
    return clean


# -- ONNX


def _export_onnx(model_dir: Path, manifest: Any, dest: Path) -> tuple[list[Tensor], list[Tensor]]:
    flavor = manifest.flavor
    if flavor == "onnx":
        src = model_dir / str(manifest.flavor_options.get("file", "model.onnx"))
        shutil.copyfile(src, dest)
    elif flavor in ("sklearn", "skops", "xgboost", "lightgbm"):
        predictor = load_model(model_dir)
        example = _example(predictor)
        proto = _convert(flavor, predictor.native, example)
        for value in proto.graph.output:  # one answer per row: some converters pin the row axis to 1
            dims = value.type.tensor_type.shape.dim
            if dims:
                dims[0].dim_param = "N"
        dest.write_bytes(proto.SerializeToString())
    else:
        raise InvalidArgument(
            f"Triton has no backend for {flavor!r} models: export onnx, pytorch, sklearn, xgboost or lightgbm models"
        )
    import onnx

    graph = onnx.load(str(dest), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    return (
        [_onnx_tensor(v) for v in graph.input if v.name not in initializers],
        [_onnx_tensor(v) for v in graph.output],
    )


def _example(predictor: Any) -> np.ndarray:
    """A float32 example row for the converters: the saved input example, else zeros of the signature's width."""
    example = predictor.input_example
    if example is not None:
        arr = np.asarray(example.to_numpy() if hasattr(example, "to_numpy") else example)
        if arr.dtype.kind in "biuf":
            return arr.astype(np.float32).reshape(len(arr), -1)[:1]
    sig = predictor.signature
    if sig is None:
        raise InvalidArgument("the model has neither an input example nor a signature: cannot convert it to ONNX")
    width = (
        len(sig.inputs.specs)
        if sig.inputs.kind == "columns"
        else int(np.prod((sig.inputs.specs[0].shape or (1, 1))[1:]))
    )
    return np.zeros((1, width), dtype=np.float32)


def _convert(flavor: str, native: Any, example: np.ndarray) -> Any:
    if flavor in ("sklearn", "skops"):
        return to_onnx(native, example)
    try:
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType
    except ImportError:
        raise InvalidArgument(f"exporting {flavor} models needs onnxmltools: pip install 'treadle[onnx]'") from None
    types = [("X", FloatTensorType([None, example.shape[1]]))]
    try:
        if flavor == "xgboost":
            return onnxmltools.convert_xgboost(_plain_xgboost(native), initial_types=types)
        return onnxmltools.convert_lightgbm(native, initial_types=types, zipmap=False)
    except Exception as exc:
        raise InvalidArgument(f"onnxmltools cannot convert this {type(native).__name__}: {exc}") from exc


def _plain_xgboost(native: Any) -> Any:
    """onnxmltools reads features as f0, f1, ...: drop the names a DataFrame gave the booster (on a copy)."""
    import copy

    model = copy.deepcopy(native)
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    booster.feature_names = None
    booster.feature_types = None
    return model


def _onnx_tensor(value: Any) -> Tensor:
    t = value.type.tensor_type
    dtype = _ONNX_TYPES.get(t.elem_type)
    if dtype is None:
        raise InvalidArgument(f"ONNX tensor {value.name!r} has an element type Triton does not take ({t.elem_type})")
    shape = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
    return Tensor(value.name, dtype, shape)


# -- TorchScript


def _export_torch(model_dir: Path, dest: Path) -> tuple[list[Tensor], list[Tensor]]:
    with warnings.catch_warnings():  # TorchScript is deprecated upstream, and still what Triton's backend loads
        warnings.filterwarnings("ignore", message=r".*torch\.jit", category=DeprecationWarning)
        return _torchscript(model_dir, dest)


def _torchscript(model_dir: Path, dest: Path) -> tuple[list[Tensor], list[Tensor]]:
    import torch

    predictor = load_model(model_dir)
    native = predictor.native
    if not isinstance(native, (torch.jit.ScriptModule, torch.jit.ScriptFunction)):
        example = predictor.input_example
        if example is None:
            raise InvalidArgument("a state_dict PyTorch model needs an input example to be traced for Triton")
        with torch.no_grad():
            native = torch.jit.trace(native, torch.as_tensor(np.asarray(example)))
    torch.jit.save(native, str(dest))
    sig = predictor.signature
    if sig is None or sig.inputs.kind != "tensors" or len(sig.inputs.specs) != 1:
        raise InvalidArgument("Triton's PyTorch backend needs a model with one input tensor in its signature")
    spec = sig.inputs.specs[0]
    shape = list(spec.shape or (-1,))
    dtype = _NUMPY_TYPES.get(spec.dtype)
    if dtype is None:
        raise InvalidArgument(f"input dtype {spec.dtype!r} has no Triton type")
    probe = np.zeros([1 if d == -1 else d for d in shape], dtype=np.dtype(spec.dtype))
    with torch.no_grad():
        out = native(torch.from_numpy(probe))
    outs = out if isinstance(out, (tuple, list)) else [out]
    outputs = []
    for i, o in enumerate(outs):
        arr = o.detach().cpu().numpy()
        out_type = _NUMPY_TYPES.get(arr.dtype.name)
        if out_type is None:
            raise InvalidArgument(f"output {i} has dtype {arr.dtype} with no Triton type")
        outputs.append(Tensor(f"OUTPUT__{i}", out_type, [-1, *arr.shape[1:]]))
    return [Tensor("INPUT__0", dtype, shape)], outputs


# -- config.pbtxt


def config_pbtxt(name: str, platform: str, inputs: list[Tensor], outputs: list[Tensor], max_batch_size: int) -> str:
    """Triton's ``ModelConfig`` in protobuf text format."""
    lines = [f"name: {_q(name)}", f"platform: {_q(platform)}", f"max_batch_size: {max_batch_size}"]
    for key, tensors in (("input", inputs), ("output", outputs)):
        for t in tensors:
            dims = t.shape[1:] if max_batch_size > 0 else t.shape
            lines.append(f"{key} [")
            lines.append("  {")
            lines.append(f"    name: {_q(t.name)}")
            lines.append(f"    data_type: {t.data_type}")
            if dims:
                lines.append(f"    dims: [ {', '.join(str(d) for d in dims)} ]")
            else:  # only the batch axis: Triton wants dims [1] reshaped to a scalar per row
                lines.append("    dims: [ 1 ]")
                lines.append("    reshape: { shape: [ ] }")
            lines.append("  }")
            lines.append("]")
    if max_batch_size > 0:
        lines.append("dynamic_batching { }")
    lines.append("instance_group [ { kind: KIND_CPU } ]")
    return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    return json.dumps(text)  # a double-quoted string with C-style escapes, as the text format reads it
