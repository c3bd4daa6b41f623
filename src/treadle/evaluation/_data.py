"""Resolving what to evaluate: the model (a URI or a loaded model) and the data (a frame or a
dataset version), and scoring a model on a frame once (labels, probabilities, classes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from treadle.datasets import DatasetHandle, DatasetVersion
from treadle.errors import InvalidArgument, TreadleError
from treadle.registry import ModelVersion


@dataclass(frozen=True)
class ModelRef:
    """A model ready to score: ``model`` has predict (and maybe predict_proba); the rest says
    where it came from (``version`` when it is a registry version)."""

    model: Any
    uri: str | None
    version: ModelVersion | None

    @property
    def name(self) -> str | None:
        if self.version is not None:
            return self.version.name
        return None


def resolve_model(client: Any, model: Any) -> ModelRef:
    """A ModelRef for a ``models:/`` / ``runs:/`` URI or folder, or an already loaded model."""
    if isinstance(model, str):
        version = None
        if model.startswith("models:/"):
            version = client.get_model_version_by_uri(model)  # pins @alias to the version it names now
            uri = version.uri
        else:
            uri = model
        return ModelRef(client.load_model(uri), uri, version)
    if not hasattr(model, "predict"):
        raise InvalidArgument(f"model must be a model URI or an object with predict(), not {type(model).__name__}")
    return ModelRef(model, None, None)


@dataclass(frozen=True)
class DataRef:
    frame: pd.DataFrame
    source: Any  # what td.log_input records: a DatasetHandle / DatasetVersion, or the frame itself
    uri: str | None  # datasets:/name/N when the data is a dataset version


def _parse_dataset(text: str) -> tuple[str, int | str | None]:
    name, _, version = text.partition("@")
    if not name:
        raise InvalidArgument(f"bad dataset reference {text!r}: use NAME, NAME@VERSION or NAME@ALIAS")
    if not version:
        return name, None
    return name, int(version) if version.isdigit() else version


def resolve_data(client: Any, data: Any) -> DataRef:
    """A frame and its lineage source from a DataFrame, a DatasetHandle/DatasetVersion or ``name@version``."""
    from treadle import datasets

    if data is None:
        raise InvalidArgument("give data=: a DataFrame, a dataset version or 'name@version'")
    if isinstance(data, pd.DataFrame):
        return DataRef(data, data, None)
    if isinstance(data, str):
        name, version = _parse_dataset(data)
        data = datasets.get(name, version, client=client)
    if isinstance(data, DatasetVersion):
        data = datasets.get(data.name, data.version, client=client)
    if isinstance(data, DatasetHandle):
        if data.version.kind != "table":
            raise InvalidArgument(f"dataset {data.uri} holds files, not a table; evaluate needs a table")
        return DataRef(data.to_pandas(), data, data.uri)
    raise InvalidArgument(f"data must be a DataFrame, a dataset version or 'name@version', not {type(data).__name__}")


def feature_frame(model: Any, frame: pd.DataFrame, drop: list[str]) -> pd.DataFrame:
    """The columns the model takes: its signature's, else scikit-learn's ``feature_names_in_``,
    else every column but the target (and the ranking group)."""
    signature = getattr(model, "signature", None)
    names: list[str] | None = None
    if signature is not None and signature.inputs.kind == "columns":
        names = [s.name for s in signature.inputs.specs if s.name]
    native = getattr(model, "native", model)
    if not names and hasattr(native, "feature_names_in_"):
        names = [str(c) for c in native.feature_names_in_]
    if names:
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise InvalidArgument(f"the data lacks the model's input columns {missing}")
        return frame[names]
    return frame.drop(columns=[c for c in drop if c in frame.columns])


@dataclass(frozen=True)
class Scored:
    y_pred: np.ndarray
    proba: np.ndarray | None
    classes: np.ndarray | None


def _column(values: Any) -> np.ndarray:
    arr = np.asarray(values.to_numpy() if isinstance(values, pd.DataFrame | pd.Series) else values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidArgument(f"the model's predictions have shape {arr.shape}; evaluate needs one value per row")
    return arr


def score(model: Any, x: pd.DataFrame, task: str, y_true: np.ndarray) -> Scored:
    """Predictions (and for classifiers probabilities with their class order) on ``x``."""
    prepared = model.prepare(x) if hasattr(model, "prepare") else x  # check the signature once
    predict = getattr(model, "predict_checked", model.predict)
    try:
        y_pred = _column(predict(prepared))
    except TreadleError:
        raise
    except Exception as exc:
        raise InvalidArgument(f"the model could not predict on the data: {type(exc).__name__}: {exc}") from exc
    if task != "classification":
        return Scored(y_pred.astype(np.float64), None, None)
    native = getattr(model, "native", model)
    classes = np.asarray(native.classes_) if hasattr(native, "classes_") else None
    proba = None
    has_proba = getattr(model, "has_proba", hasattr(model, "predict_proba"))
    if has_proba:
        proba_fn = getattr(model, "predict_proba_checked", None) or model.predict_proba
        proba = np.asarray(proba_fn(prepared), dtype=np.float64)
        if proba.ndim == 1:
            proba = np.column_stack([1 - proba, proba])
    if classes is None:
        classes = np.unique(np.concatenate([np.asarray(y_true), y_pred]))
        if proba is not None and proba.shape[1] != len(classes):
            proba = None  # cannot tell which column is which class
    return Scored(y_pred, proba, classes)
