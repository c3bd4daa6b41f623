"""Explanations for an evaluation: permutation importance (default) or SHAP (``explain="shap"``),
plus the first ``rows`` predictions with their inputs (and SHAP values when SHAP is used)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from treadle.errors import InvalidArgument
from treadle.evaluation._data import Scored
from treadle.evaluation._metrics import compute


def _scorer(task: str) -> tuple[str, Any]:
    """The metric permutation importance watches (higher is better: rmse is negated)."""
    if task == "classification":
        return "accuracy", lambda y, p: float(np.mean(np.asarray(y) == np.asarray(p)))
    return "rmse", lambda y, p: -compute("regression", y, p)["rmse"]


def explain_model(
    model: Any, x: pd.DataFrame, y: np.ndarray, scored: Scored, task: str, method: Any, rows: int
) -> dict[str, Any] | None:
    """``{"method", "metric", "importance": {column: {"mean", "std"}}, "rows": [...]}`` (permutation) or
    ``{"method": "shap", "explainer", "global", "rows"}``; None for ranking models."""
    if task == "ranking":
        return None
    if method is True:
        method = "permutation"
    if method not in ("permutation", "shap"):
        raise InvalidArgument(f"explain must be 'permutation', 'shap' or False, not {method!r}")
    examples = _examples(x, scored, rows)
    if method == "shap":
        from treadle.evaluation._explain import shap_explanations

        native = getattr(model, "native", model)
        out = dict(shap_explanations(native, x, rows=rows))
        return {"method": "shap", **out, "predictions": examples}
    from treadle.evaluation._explain import permutation_importance

    metric, score_fn = _scorer(task)

    def predict(frame: pd.DataFrame) -> np.ndarray:
        prepared = model.prepare(frame) if hasattr(model, "prepare") else frame
        return np.asarray(getattr(model, "predict_checked", model.predict)(prepared)).ravel()

    importance = permutation_importance(predict, x, y, score_fn)
    return {
        "method": "permutation",
        "metric": metric,
        "importance": {col: {"mean": float(m), "std": float(s)} for col, (m, s) in importance.items()},
        "rows": examples,
    }


def _examples(x: pd.DataFrame, scored: Scored, rows: int) -> list[dict[str, Any]]:
    """The first ``rows`` inputs with their prediction (JSON-able values)."""
    head = x.head(max(rows, 0))
    out = []
    for i, (_, row) in enumerate(head.iterrows()):
        item = {str(k): _plain(v) for k, v in row.items()}
        item["prediction"] = _plain(scored.y_pred[i])
        out.append(item)
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v if isinstance(v, str | int | float | bool) or v is None else str(v)
