"""One loaded model inside one replica: named tensors in, named tensors out.

:class:`ModelRunner` is what every executor runs (threads in the server, worker processes, Ray
replicas), so its construction arguments are plain and picklable: the model directory and, for
models that read online features, the store's URI and artifact root. It turns the request's
tensors into what the model was saved with — a DataFrame for column signatures (named 1-D inputs,
or one 2-D tensor with one column per signature column), an ndarray or a dict of ndarrays for
tensor signatures — joins online features the model declares in its manifest metadata
(``metadata={"features": ["view:feature", ...]}``, entity keys taken from the request), predicts,
and names the outputs (``predict``, ``predict_proba``, or the model's own names).

Errors follow the :class:`~treadle.serving._types.Executor` contract: input the model cannot take
raises :class:`~treadle.errors.InvalidArgument` naming the input; anything the model's own code
raises becomes :class:`~treadle.errors.ModelError` carrying the exception's type and message.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from treadle.errors import InvalidArgument, ModelError, TreadleError
from treadle.models import Predictor, cast_values, load_model
from treadle.serving._io import PREDICT, PROBA, as_array, manifest_metadata, name_outputs
from treadle.serving._types import Tensors


class ModelRunner:
    """A model loaded once from ``model_dir``; ``run`` is thread-safe as the model's predict is."""

    def __init__(self, model_dir: str | Path, *, uri: str | None = None, artifacts: str | None = None) -> None:
        self.model_dir = Path(model_dir)
        self._uri = uri
        self._artifacts = artifacts
        try:
            self.predictor: Predictor = load_model(self.model_dir)
        except TreadleError:
            raise
        except Exception as exc:
            raise ModelError(f"loading the model at {self.model_dir} failed: {type(exc).__name__}: {exc}") from exc
        manifest = self.predictor.manifest
        self.features: list[str] = [str(f) for f in manifest.metadata.get("features") or []]
        self._feature_cols = [f.split(":", 1)[-1] for f in self.features]
        self._client: Any = None
        self._meta: dict[str, Any] | None = None
        self._lock = threading.Lock()
        sig = self.predictor.signature
        self._columns: list[str] | None = (
            [str(n) for n in sig.inputs.names] if sig is not None and sig.inputs.kind == "columns" else None
        )
        self._uniform = _uniform_dtype(self._columns, sig) if not self.features else None

    # ------------------------------------------------------------------ public

    def run(self, inputs: Tensors, outputs: list[str] | None = None) -> Tensors:
        """Predict ``inputs`` (rows on axis 0); the outputs asked for, or ``predict`` when None."""
        wanted = list(outputs) if outputs else [PREDICT]
        empty = next((n for n, a in inputs.items() if a.ndim and a.shape[0] == 0), None)
        if empty is not None:
            raise InvalidArgument(f"input {empty!r} has no rows: send at least one row to predict")
        if PROBA in wanted and not self.predictor.has_proba:
            raise InvalidArgument(
                f"output {PROBA!r} does not exist: this {self.predictor.flavor} model has no predict_proba"
            )
        frame = self._fast_frame(inputs)
        data = frame if frame is not None else self._model_input(inputs)
        p = self.predictor
        # A fast frame is already checked and cast: call the flavor directly instead of checking it again.
        predict = p.predict if frame is None else p.predict_checked
        proba = p.predict_proba if frame is None else p.predict_proba_checked
        result: Tensors = {}
        try:
            if any(n != PROBA for n in wanted):
                result.update(name_outputs(predict(data)))
            if PROBA in wanted:
                result[PROBA] = as_array(proba(data))
        except TreadleError:
            raise
        except BaseException as exc:  # sys.exit() in a model's code is its fault too: never the server's exit
            raise ModelError(f"the model raised {type(exc).__name__}: {exc}") from exc
        if outputs is None:
            return result
        if PREDICT in wanted and PREDICT not in result and len(result) == 1:
            result = {PREDICT: next(iter(result.values()))}
        missing = [n for n in wanted if n not in result]
        if missing:
            raise InvalidArgument(f"output {missing[0]!r} does not exist (the model returned {', '.join(result)})")
        return {n: result[n] for n in wanted}

    def warm(self) -> None:
        """Predict the saved input example once (loads lazy state, fails fast on a broken model)."""
        example = self.predictor.input_example
        if example is None:
            return
        try:
            self.predictor.predict(example)
        except TreadleError:
            raise
        except Exception as exc:
            raise ModelError(f"warming the model on its input example failed: {type(exc).__name__}: {exc}") from exc

    def metadata(self) -> dict[str, Any]:
        """OIP ``inputs`` and ``outputs`` (name, datatype, shape with -1 for the batch axis)."""
        if self._meta is None:
            self._meta = self._build_metadata()
        return self._meta

    def _build_metadata(self) -> dict[str, Any]:
        meta = manifest_metadata(self.predictor.manifest, has_proba=self.predictor.has_proba)
        if self.predictor.manifest.signature is None and self.predictor.signature is not None:
            flavored = self.predictor.manifest.model_copy(update={"signature": self.predictor.signature})
            meta = manifest_metadata(flavored, has_proba=self.predictor.has_proba)
        return meta

    # ------------------------------------------------------------------ inputs

    def _fast_frame(self, inputs: Tensors) -> pd.DataFrame | None:
        """The frame for the common case (every column one numeric dtype, numeric tensors in), built in
        one step from a matrix; None sends the request down the general path (and its messages)."""
        cols = self._columns
        if self._uniform is None or cols is None or not inputs:
            return None
        if len(inputs) == 1:
            matrix = next(iter(inputs.values()))
            if matrix.ndim != 2 or matrix.shape[1] != len(cols):
                return None
        elif len(inputs) == len(cols) and all(c in inputs and inputs[c].ndim == 1 for c in cols):
            if len({inputs[c].shape[0] for c in cols}) != 1 or len({inputs[c].dtype for c in cols}) != 1:
                return None
            matrix = np.column_stack([inputs[c] for c in cols])
        else:
            return None
        if matrix.dtype.kind not in "biuf":
            return None
        try:
            cast = cast_values(matrix, self._uniform, None)
        except InvalidArgument:
            return None
        return pd.DataFrame(cast, columns=cols, copy=False)

    def _model_input(self, inputs: Tensors) -> Any:
        sig = self.predictor.signature
        rows = _check_rows(inputs, equal=self._columns is not None or bool(self.features))
        if self._columns is not None:
            frame = self._frame(inputs, [c for c in self._columns if c not in self._feature_cols], rows)
            return self._join_features(frame) if self.features else frame
        if self.features:
            return self._join_features(self._frame(inputs, None, rows))
        if sig is not None:
            return _tensor_input(inputs, sig.inputs.specs)
        if len(inputs) == 1:
            return next(iter(inputs.values()))
        return dict(inputs)

    def _frame(self, inputs: Tensors, needed: list[str] | None, rows: int) -> pd.DataFrame:
        """A DataFrame from named 1-D inputs, or from one 2-D tensor with one column per ``needed`` name."""
        if needed and len(inputs) == 1 and not set(needed) <= set(inputs):
            name, arr = next(iter(inputs.items()))
            if arr.ndim == 2 and arr.shape[1] == len(needed):
                return pd.DataFrame({c: _column(arr[:, i], name) for i, c in enumerate(needed)})
            if arr.ndim == 2 or len(needed) > 1:
                raise InvalidArgument(
                    f"input {name!r} has shape {list(arr.shape)}, expected [-1, {len(needed)}]: one row per example "
                    f"and one column per model input ({_names(needed)}), or one 1-D input per column"
                )
        missing = [n for n in (needed or []) if n not in inputs]
        if missing:
            raise InvalidArgument(
                f"input {missing[0]!r} is missing: the model takes {_names(needed or [])} as 1-D inputs, "
                f"or one 2-D input of shape [-1, {len(needed or [])}]"
            )
        cols: dict[str, Any] = {}
        for name, arr in inputs.items():
            if arr.ndim == 2 and arr.shape[1] == 1:
                arr = arr[:, 0]
            if arr.ndim != 1:
                raise InvalidArgument(
                    f"input {name!r} has shape {list(arr.shape)}, expected [-1] (one value per row) "
                    "for a model that takes named columns"
                )
            cols[name] = _column(arr, name)
        return pd.DataFrame(cols, index=pd.RangeIndex(rows))

    def _join_features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` plus the declared online features, looked up by the entity keys it carries."""
        client = self._feature_client()
        entity = {c: frame[c].tolist() for c in frame.columns}
        try:
            got = client.features.get_online_features(entity, self.features)
        except InvalidArgument as exc:
            raise InvalidArgument(f"online features {', '.join(self.features)}: {exc.message}") from None
        except TreadleError:
            raise
        except Exception as exc:
            raise ModelError(f"fetching online features failed: {type(exc).__name__}: {exc}") from exc
        values = got.to_dict()
        out = frame.copy()
        for col in getattr(got, "features", self._feature_cols):
            if col not in out.columns and col in values:
                out[col] = values[col]
        return out

    def _feature_client(self) -> Any:
        with self._lock:
            if self._client is None:
                from treadle.client import Client

                self._client = Client(self._uri, self._artifacts)
            return self._client


# ---------------------------------------------------------------------- helpers


def _names(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 8 else ", ".join(names[:8]) + f", ... ({len(names)} in all)"


def _uniform_dtype(columns: list[str] | None, sig: Any) -> str | None:
    """The one numeric dtype every signature column has, or None."""
    if columns is None or sig is None:
        return None
    dtypes = {spec.dtype for spec in sig.inputs.specs}
    if len(dtypes) != 1:
        return None
    dtype = dtypes.pop()
    try:
        return dtype if np.dtype(dtype).kind in "biuf" else None
    except TypeError:
        return None


def _check_rows(inputs: Tensors, *, equal: bool) -> int:
    """The row count (axis 0 of the first input); ``equal``: every input must have that many rows."""
    if not inputs:
        raise InvalidArgument("the request has no inputs")
    rows: int | None = None
    first = ""
    for name, arr in inputs.items():
        if not isinstance(arr, np.ndarray) or arr.ndim == 0:
            raise InvalidArgument(f"input {name!r} is a scalar; expected a tensor with rows on its first axis")
        if rows is None:
            rows, first = int(arr.shape[0]), name
        elif equal and arr.shape[0] != rows:
            raise InvalidArgument(
                f"input {name!r} has {arr.shape[0]} rows but input {first!r} has {rows}: inputs need equal rows"
            )
    return rows or 0


def _column(values: np.ndarray, name: str) -> np.ndarray:
    """A 1-D column; byte strings (OIP BYTES) become text, as DataFrame models expect."""
    if values.dtype == object and values.size and isinstance(values.flat[0], bytes):
        try:
            return np.array([v.decode() if isinstance(v, bytes) else v for v in values], dtype=object)
        except UnicodeDecodeError:
            raise InvalidArgument(f"input {name!r} holds bytes that are not UTF-8 text") from None
    return values


def _tensor_input(inputs: Tensors, specs: list[Any]) -> Any:
    if len(specs) == 1:
        spec = specs[0]
        if len(inputs) == 1:
            arr = next(iter(inputs.values()))
        elif spec.name is not None and spec.name in inputs:
            arr = inputs[spec.name]
        else:
            want = spec.name or "input"
            raise InvalidArgument(f"the model takes one tensor {want!r}, got inputs {', '.join(inputs)}")
        return _column(arr, spec.name or "input") if spec.dtype in ("string", "category") and arr.ndim == 1 else arr
    return dict(inputs)
