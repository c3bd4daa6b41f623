"""ONNX models, run with onnxruntime (no pickle); :func:`to_onnx` converts scikit-learn models.

The loaded ``native`` object is an ``onnxruntime.InferenceSession``. ``predict`` feeds the graph's
inputs by name and returns the first output (the one named by ``predict_output=`` at save time, if
given); ``predict_proba`` returns the ``probabilities`` output (or ``proba_output=``) where there is one.
Without a signature, the one read from the graph's inputs and outputs is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from treadle.errors import InvalidArgument
from treadle.models._signature import ColumnSpec, Schema, Signature, dtype_name
from treadle.models.flavors.base import Flavor, loaded, require

MODEL_FILE = "model.onnx"
_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
    "tensor(string)": "string",
}


class OnnxFlavor(Flavor):
    name = "onnx"
    module = "onnx"
    distribution = "onnx"
    extra = "onnx"
    save_options: ClassVar[frozenset[str]] = frozenset({"predict_output", "proba_output"})

    def __init__(self) -> None:
        super().__init__()
        self.modules |= {"onnxruntime"}
        self._outputs: dict[str, Any] = {}

    @classmethod
    def matches(cls, model: Any) -> bool:
        onnx = loaded("onnx")
        return onnx is not None and isinstance(model, onnx.ModelProto)

    def save(self, model: Any, root: Path, *, input_example: Any = None, **options: Any) -> dict[str, Any]:
        onnx = self.framework()
        onnx.checker.check_model(model)
        onnx.save_model(model, str(root / MODEL_FILE))
        outputs = [o.name for o in model.graph.output]
        self.signature = Signature(
            inputs=_graph_schema(onnx, model.graph.input), outputs=_graph_schema(onnx, model.graph.output)
        )
        for key in ("predict_output", "proba_output"):
            if options.get(key) is not None and options[key] not in outputs:
                raise InvalidArgument(f"{key}={options[key]!r} is not an output of the graph ({', '.join(outputs)})")
        return {
            "file": MODEL_FILE,
            "predict_output": options.get("predict_output") or outputs[0],
            "proba_output": options.get("proba_output") or ("probabilities" if "probabilities" in outputs else None),
        }

    def load(self, root: Path, options: dict[str, Any], trusted_types: list[str] | None = None) -> Any:
        ort = require("onnxruntime", self.extra)
        self._outputs = dict(options)
        return ort.InferenceSession(
            str(root / str(options.get("file", MODEL_FILE))), providers=["CPUExecutionProvider"]
        )

    def default_signature(self, native: Any) -> Signature | None:
        def schema(args: list[Any]) -> Schema:
            specs = [
                ColumnSpec(
                    name=a.name,
                    dtype=_ORT_TYPES.get(a.type, a.type),
                    shape=tuple(d if isinstance(d, int) else -1 for d in a.shape),
                )
                for a in args
            ]
            return Schema(kind="tensors", specs=specs)

        return Signature(inputs=schema(native.get_inputs()), outputs=schema(native.get_outputs()))

    def _feed(self, native: Any, data: Any) -> dict[str, Any]:
        inputs = native.get_inputs()
        if isinstance(data, dict):
            return {i.name: np.asarray(data[i.name]) for i in inputs if i.name in data}
        if hasattr(data, "to_numpy"):
            data = data.to_numpy()
        if len(inputs) != 1:
            names = ", ".join(i.name for i in inputs)
            raise InvalidArgument(f"the ONNX model takes several inputs ({names}): pass a dict of arrays")
        return {inputs[0].name: np.asarray(data)}

    def _run(self, native: Any, data: Any, output: str) -> Any:
        return native.run([output], self._feed(native, data))[0]

    def predict(self, native: Any, data: Any) -> Any:
        return self._run(native, data, self._outputs.get("predict_output") or native.get_outputs()[0].name)

    def has_proba(self, native: Any) -> bool:
        return bool(self._outputs.get("proba_output"))

    def predict_proba(self, native: Any, data: Any) -> Any:
        if not self.has_proba(native):
            return super().predict_proba(native, data)
        return self._run(native, data, str(self._outputs["proba_output"]))


def _graph_schema(onnx: Any, values: Any) -> Schema:
    specs = []
    for v in values:
        t = v.type.tensor_type
        dtype = dtype_name(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)) if t.elem_type else "float32"
        shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim)
        specs.append(ColumnSpec(name=v.name, dtype=dtype, shape=shape if t.HasField("shape") else None))
    return Schema(kind="tensors", specs=specs)


def to_onnx(model: Any, input_example: Any, *, target_opset: int | None = None) -> Any:
    """A scikit-learn model converted to an ONNX ``ModelProto`` with skl2onnx.

    Numeric DataFrames and arrays become one float32 input named ``X``; classifiers output ``label``
    and a ``probabilities`` matrix (no ZipMap), which the onnx flavor's ``predict_proba`` returns.
    """
    skl2onnx = require("skl2onnx", "onnx")
    import pandas as pd

    example = input_example
    if isinstance(example, pd.DataFrame) and all(np.dtype(t).kind in "biuf" for t in example.dtypes):
        example = example.to_numpy(dtype=np.float32)
    elif isinstance(example, np.ndarray) and example.dtype.kind in "biuf":
        example = example.astype(np.float32)
    try:
        try:
            return skl2onnx.to_onnx(model, example[:1], options={"zipmap": False}, target_opset=target_opset)
        except Exception as exc:  # regressors and transformers take no zipmap option
            if "zipmap" not in str(exc):
                raise
            return skl2onnx.to_onnx(model, example[:1], target_opset=target_opset)
    except Exception as exc:
        raise InvalidArgument(f"skl2onnx cannot convert this {type(model).__name__}: {exc}") from exc
