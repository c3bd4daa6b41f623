"""Estimators from configuration, and the metrics ``evaluate`` and ``tune`` score them with.

An estimator config is JSON, so it can be a pipeline parameter, come from a webhook or a YAML file:
``{"class": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": 100}}``. Only
classes from scikit-learn, XGBoost and LightGBM are built: a config is data, and turning data from
a trigger into an arbitrary import would let whoever can trigger a pipeline run any code.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np
import pandas as pd

from treadle.errors import InvalidArgument

ALLOWED_MODULES = ("sklearn", "xgboost", "lightgbm")
# name -> (higher is better, needs probabilities)
METRICS: dict[str, tuple[bool, bool]] = {
    "accuracy": (True, False),
    "f1": (True, False),
    "roc_auc": (True, True),
    "log_loss": (False, True),
    "rmse": (False, False),
    "mae": (False, False),
    "r2": (True, False),
}
CLASSIFICATION = ("accuracy", "f1", "roc_auc", "log_loss")
REGRESSION = ("rmse", "mae", "r2")


def estimator_class(config: dict[str, Any]) -> type:
    """The class a config names (``"module.Class"``), from scikit-learn, XGBoost or LightGBM only."""
    if not isinstance(config, dict) or not isinstance(config.get("class"), str):
        raise InvalidArgument(
            'an estimator config is {"class": "sklearn.ensemble.RandomForestClassifier", "params": {...}}, '
            f"got {config!r:.200}"
        )
    path = config["class"]
    module_name, _, cls_name = path.rpartition(".")
    if not module_name or module_name.split(".")[0] not in ALLOWED_MODULES:
        raise InvalidArgument(
            f"estimator class {path!r}: give the full dotted path of a class from {', '.join(ALLOWED_MODULES)} "
            "(e.g. sklearn.linear_model.LogisticRegression)"
        )
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except ImportError as exc:
        raise InvalidArgument(f"estimator class {path!r}: cannot import {module_name} ({exc})") from None
    except AttributeError:
        raise InvalidArgument(f"estimator class {path!r}: {module_name} has no {cls_name}") from None
    if not isinstance(cls, type) or not hasattr(cls, "fit"):
        raise InvalidArgument(f"estimator class {path!r} is not an estimator class (no fit method)")
    return cls


def build_estimator(config: dict[str, Any], **overrides: Any) -> Any:
    """An unfitted estimator from ``config``, with ``overrides`` on top of its ``params``."""
    cls = estimator_class(config)
    params = {**dict(config.get("params") or {}), **overrides}
    try:
        return cls(**params)
    except TypeError as exc:
        raise InvalidArgument(f"estimator {config['class']}: {exc}") from None


def features_target(
    data: pd.DataFrame, target: str, features: list[str] | None = None
) -> tuple[pd.DataFrame, pd.Series]:
    if target not in data.columns:
        raise InvalidArgument(f"target column {target!r} is not in the data; it has {list(data.columns)}")
    if features:
        missing = [c for c in features if c not in data.columns]
        if missing:
            raise InvalidArgument(f"feature column(s) {missing} are not in the data; it has {list(data.columns)}")
        return data[features], data[target]
    return data.drop(columns=[target]), data[target]


def is_classifier(model: Any) -> bool:
    from sklearn.base import is_classifier as sk_is_classifier

    return bool(sk_is_classifier(model)) or (hasattr(model, "predict_proba") and hasattr(model, "classes_"))


def default_metric(model: Any) -> str:
    return "accuracy" if is_classifier(model) else "rmse"


def check_metric(metric: str) -> tuple[bool, bool]:
    if metric not in METRICS:
        raise InvalidArgument(f"unknown metric {metric!r}: choose one of {', '.join(METRICS)}")
    return METRICS[metric]


def score(metric: str, y_true: Any, predict: Any, predict_proba: Any = None) -> float:
    """``metric`` of predictions (``predict``) or probabilities (``predict_proba``, a callable's result)."""
    from sklearn import metrics as m

    _, needs_proba = check_metric(metric)
    if needs_proba:
        if predict_proba is None:
            raise InvalidArgument(f"metric {metric!r} needs a model with predict_proba")
        proba = np.asarray(predict_proba)
        if metric == "log_loss":
            return float(m.log_loss(y_true, proba))
        if proba.ndim == 2 and proba.shape[1] == 2:
            return float(m.roc_auc_score(y_true, proba[:, 1]))
        return float(m.roc_auc_score(y_true, proba, multi_class="ovr"))
    pred = np.asarray(predict).reshape(len(y_true), -1)[:, 0] if np.ndim(predict) > 1 else np.asarray(predict)
    if metric == "accuracy":
        return float(m.accuracy_score(y_true, pred))
    if metric == "f1":
        return float(m.f1_score(y_true, pred, average="macro"))
    if metric == "rmse":
        return float(math.sqrt(m.mean_squared_error(y_true, pred)))
    if metric == "mae":
        return float(m.mean_absolute_error(y_true, pred))
    return float(m.r2_score(y_true, pred))


def all_scores(model: Any, x: pd.DataFrame, y: pd.Series, predictor: Any = None) -> dict[str, float]:
    """Every metric that applies: classification or regression by the model's kind. ``predictor``
    (a loaded treadle model) predicts instead of ``model`` when given."""
    use = predictor if predictor is not None else model
    pred = use.predict(x)
    out: dict[str, float] = {}
    if is_classifier(model):
        proba = None
        has_proba = predictor.has_proba if predictor is not None else hasattr(model, "predict_proba")
        if has_proba:
            proba = use.predict_proba(x)
        for metric in CLASSIFICATION:
            if METRICS[metric][1] and proba is None:
                continue
            try:
                out[metric] = score(metric, y, pred, proba)
            except ValueError:  # e.g. roc_auc with one class in the test set
                continue
        return out
    return {metric: score(metric, y, pred) for metric in REGRESSION}
