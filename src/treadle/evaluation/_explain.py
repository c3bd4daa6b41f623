"""Explanations: permutation importance (numpy + pandas, any model) and SHAP values (the optional
``explain`` extra) with the Tree or Linear explainer chosen from the model's type.

Kernel SHAP is model-agnostic but thousands of times slower, so it runs only when asked for by
name (``explainer="kernel"``); an unsupported model is an error that says what to do instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pandas as pd

from treadle.errors import InvalidArgument

ExplainerKind = Literal["tree", "linear", "kernel"]

# Module prefixes of the model classes shap's TreeExplainer understands natively.
_TREE_MODULES = (
    "sklearn.tree",
    "sklearn.ensemble._forest",
    "sklearn.ensemble._gb",
    "sklearn.ensemble._iforest",
    "sklearn.ensemble._hist_gradient_boosting",
    "xgboost",
    "lightgbm",
    "catboost",
)


def permutation_importance(
    predict: Callable[[pd.DataFrame], Any],
    X: pd.DataFrame,
    y: Any,
    score: Callable[[Any, Any], float],
    *,
    n_repeats: int = 5,
    seed: int = 0,
    max_rows: int = 10_000,
) -> dict[str, tuple[float, float]]:
    """``{column: (mean, std)}`` of how much ``score(y, predict(X))`` drops when that column's values
    are shuffled (``n_repeats`` times). ``score`` is higher-is-better; a drop near zero means the
    model does not use the column. At most ``max_rows`` rows (a fixed sample) are used."""
    if not isinstance(X, pd.DataFrame):
        raise InvalidArgument(f"permutation_importance needs X as a pandas DataFrame, got {type(X).__name__}")
    yv = y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else np.asarray(y)
    if len(yv) != len(X):
        raise InvalidArgument(f"X has {len(X)} rows but y has {len(yv)}")
    if len(X) == 0 or X.shape[1] == 0:
        raise InvalidArgument("permutation_importance needs at least one row and one column")
    if n_repeats < 1:
        raise InvalidArgument(f"n_repeats must be >= 1, got {n_repeats}")
    rng = np.random.default_rng(seed)
    if len(X) > max_rows:
        keep = np.sort(rng.choice(len(X), max_rows, replace=False))
        X, yv = X.iloc[keep], yv[keep]
    work = X.reset_index(drop=True).copy()
    base = float(score(yv, predict(work)))
    out: dict[str, tuple[float, float]] = {}
    for col in work.columns:
        original = work[col]
        values = original.to_numpy()
        drops = []
        for _ in range(n_repeats):
            work[col] = values[rng.permutation(len(values))]
            drops.append(base - float(score(yv, predict(work))))
        work[col] = original  # restore before the next column
        out[str(col)] = (float(np.mean(drops)), float(np.std(drops)))
    return out


def shap_explanations(
    model: Any,
    X: pd.DataFrame,
    rows: int = 5,
    background: int = 100,
    *,
    explainer: ExplainerKind | None = None,
    global_rows: int = 500,
) -> dict[str, Any]:
    """SHAP values for the first ``rows`` rows of ``X`` and a global ranking (mean |SHAP| over up to
    ``global_rows`` rows).

    The explainer follows the model: ``"tree"`` for scikit-learn trees, forests and gradient
    boosting, XGBoost, LightGBM; ``"linear"`` for ``sklearn.linear_model`` (with ``background`` rows
    of ``X`` as the reference). A scikit-learn ``Pipeline`` is explained at its last step on the
    transformed features. Binary models explain the positive class; multiclass ones the class each
    row is predicted as. Returns ``{"explainer", "base_value", "global": {col: mean_abs},
    "rows": [{"index", "values": {col: shap}, "features": {col: value}, "base_value", "class"}]}``.
    """
    try:
        import shap
    except ImportError as exc:
        raise InvalidArgument(
            "SHAP explanations need the shap package: pip install 'treadle[explain]' "
            "(or use explain='permutation', which needs nothing extra)"
        ) from exc
    if not isinstance(X, pd.DataFrame) or len(X) == 0:
        raise InvalidArgument("shap_explanations needs X as a non-empty pandas DataFrame")
    if rows < 0 or background < 1:
        raise InvalidArgument(f"rows must be >= 0 and background >= 1; got rows={rows}, background={background}")
    est, data = _unwrap(model, X)
    kind = explainer or _explainer_kind(est)
    if kind is None:
        raise InvalidArgument(
            f"no Tree or Linear SHAP explainer fits a {type(est).__module__}.{type(est).__name__}; "
            "use explain='permutation', or pass explainer='kernel' to accept the (slow) KernelExplainer"
        )
    # The explained rows first, then a fixed sample of the rest for the global ranking.
    rest = np.arange(rows, len(data))
    extra = np.random.default_rng(0).choice(rest, min(len(rest), max(global_rows - rows, 0)), replace=False)
    sample = data.iloc[np.r_[np.arange(min(rows, len(data))), np.sort(extra)]]
    bg = data.sample(min(background, len(data)), random_state=0)
    try:
        if kind == "tree":
            exp = shap.TreeExplainer(est)
        elif kind == "linear":
            exp = shap.LinearExplainer(est, bg)
        elif kind == "kernel":
            sample = sample.iloc[: max(rows, 1)]  # kernel SHAP costs many model calls per row
            fn = est.predict_proba if hasattr(est, "predict_proba") else est.predict
            exp = shap.KernelExplainer(fn, bg)
        else:
            raise InvalidArgument(f"explainer must be 'tree', 'linear' or 'kernel', got {kind!r}")
        result = exp(sample)
    except InvalidArgument:
        raise
    except Exception as exc:  # shap raises bare Exceptions for models it cannot read
        raise InvalidArgument(f"the {kind} SHAP explainer cannot explain this {type(est).__name__}: {exc}") from exc
    values, base, chosen, outputs = _per_row(np.asarray(result.values, dtype=np.float64), result.base_values)
    cols = [str(c) for c in sample.columns]
    mean_abs = np.abs(values).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")
    classes = list(getattr(est, "classes_", []))
    names = [_plain(c) for c in classes] if len(classes) == outputs else list(range(outputs))
    out_rows = []
    for i in range(min(rows, len(sample))):
        row: dict[str, Any] = {
            "index": _plain(sample.index[i]),
            "values": {c: float(v) for c, v in zip(cols, values[i], strict=True)},
            "features": {c: _plain(v) for c, v in zip(cols, sample.iloc[i].tolist(), strict=True)},
            "base_value": float(base[i, chosen[i]]),
        }
        if outputs > 1:  # which class the row is explained for
            row["class"] = names[chosen[i]]
        elif len(classes) == 2:  # a binary model with one (positive-class) output
            row["class"] = _plain(classes[1])
        out_rows.append(row)
    return {
        "explainer": kind,
        # One number when every row is explained for the same output, else one per class.
        "base_value": float(base[0, chosen[0]])
        if outputs <= 2
        else {str(n): float(b) for n, b in zip(names, base[0], strict=True)},
        "global": {cols[j]: float(mean_abs[j]) for j in order},
        "rows": out_rows,
    }


def _explainer_kind(est: Any) -> ExplainerKind | None:
    module = type(est).__module__
    if module.startswith(_TREE_MODULES):
        return "tree"
    if module.startswith("sklearn.linear_model") and hasattr(est, "coef_"):
        return "linear"
    return None


def _unwrap(model: Any, X: pd.DataFrame) -> tuple[Any, pd.DataFrame]:
    """The estimator to explain and the features it sees: a treadle ``Predictor``'s native model;
    a scikit-learn ``Pipeline``'s last step on the output of the steps before it."""
    est = getattr(model, "native", model) if hasattr(model, "manifest") else model
    steps = getattr(est, "steps", None)
    if isinstance(steps, list) and len(steps) > 1 and hasattr(est, "named_steps"):
        pre = est[:-1]
        data = pre.transform(X)
        if hasattr(data, "toarray"):  # sparse one-hot output
            data = data.toarray()
        try:
            names = [str(n) for n in pre.get_feature_names_out()]
        except Exception:  # a step without feature names
            names = [f"x{i}" for i in range(np.shape(data)[1])]
        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data, columns=names, index=X.index)
        return est.steps[-1][1], frame
    return est, X


def _per_row(values: np.ndarray, base_values: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(n x features) SHAP values of each row's chosen output, (n x outputs) base values, the chosen
    output per row, and the number of outputs.

    The chosen output: the only one; the positive class for two; else the predicted class (the
    largest base + sum of SHAP values, which is the model's own output for that class)."""
    n = values.shape[0]
    k = values.shape[2] if values.ndim == 3 else 1
    v3 = values.reshape(n, values.shape[1], k)
    base = np.broadcast_to(np.asarray(base_values, dtype=np.float64).reshape(-1, k), (n, k))
    if k == 1:
        chosen = np.zeros(n, dtype=int)
    elif k == 2:
        chosen = np.ones(n, dtype=int)
    else:
        chosen = np.argmax(base + v3.sum(axis=1), axis=1)
    return v3[np.arange(n), :, chosen], base, chosen, k


def _plain(v: Any) -> Any:
    """A JSON-able scalar (numpy types unwrapped, NaN/inf as None)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)
