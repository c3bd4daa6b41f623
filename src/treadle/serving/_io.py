"""Model answers as named output tensors, and a model's inputs and outputs as the OIP describes them.

A model's ``predict`` may return an ndarray, a Series or DataFrame, a dict of arrays or a tuple of
them; :func:`name_outputs` turns each into ``{name: ndarray}`` with the names a caller asks for
(``predict`` by default, the model's own names where it has them, ``output_<i>`` for tuples).
:func:`manifest_metadata` describes a model from its manifest alone, without loading it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from treadle.models import ModelManifest
from treadle.serving._datatypes import oip_datatype
from treadle.serving._types import Tensors

PREDICT = "predict"
PROBA = "predict_proba"


def manifest_metadata(manifest: ModelManifest, *, has_proba: bool) -> dict[str, Any]:
    """OIP ``inputs``/``outputs``/``platform`` from a model's manifest (no model loaded).

    Column signatures list one ``[-1]`` input per column (online-feature columns are left out: the
    server fetches them); tensor signatures their own shapes. ``predict_proba`` is listed when the
    model has it.
    """
    sig = manifest.signature
    feature_cols = {str(f).split(":", 1)[-1] for f in manifest.metadata.get("features") or []}
    inputs: list[dict[str, Any]] = []
    if sig is not None and sig.inputs.kind == "columns":
        for spec in sig.inputs.specs:
            if str(spec.name) not in feature_cols:
                inputs.append({"name": str(spec.name), "datatype": oip_datatype(spec.dtype), "shape": [-1]})
    elif sig is not None:
        for spec in sig.inputs.specs:
            shape = list(spec.shape) if spec.shape is not None else [-1]
            inputs.append({"name": spec.name or "input", "datatype": oip_datatype(spec.dtype), "shape": shape})
    outputs: list[dict[str, Any]] = []
    if sig is not None and sig.outputs is not None:
        for i, spec in enumerate(sig.outputs.specs):
            name = spec.name if spec.name is not None else (PREDICT if i == 0 else f"output_{i}")
            shape = list(spec.shape) if spec.shape is not None else [-1]
            outputs.append({"name": name, "datatype": oip_datatype(spec.dtype), "shape": shape})
    else:
        outputs.append({"name": PREDICT, "datatype": "BYTES", "shape": [-1]})
    if has_proba:
        outputs.append({"name": PROBA, "datatype": "FP64", "shape": [-1, -1]})
    return {"inputs": inputs, "outputs": outputs, "platform": f"treadle_{manifest.flavor}"}


def as_array(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (pd.Series, pd.Index)):
        return value.to_numpy()
    if isinstance(value, pd.DataFrame):
        return value.to_numpy()
    if hasattr(value, "detach"):  # a torch tensor
        return np.asarray(value.detach().cpu().numpy())
    arr = np.asarray(value)
    return arr.reshape(1) if arr.ndim == 0 else arr


def name_outputs(result: Any) -> Tensors:
    """The model's answer as named tensors: its own names when it has them, else ``predict``."""
    if isinstance(result, Mapping):
        return {str(k): as_array(v) for k, v in result.items()}
    if isinstance(result, pd.DataFrame):
        if result.shape[1] == 1:
            return {PREDICT: result.iloc[:, 0].to_numpy()}
        return {str(c): result[c].to_numpy() for c in result.columns}
    if isinstance(result, tuple) or (
        isinstance(result, list) and result and all(isinstance(x, np.ndarray) or hasattr(x, "detach") for x in result)
    ):
        return {f"output_{i}": as_array(v) for i, v in enumerate(result)}
    return {PREDICT: as_array(result)}
