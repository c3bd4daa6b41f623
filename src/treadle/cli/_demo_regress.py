"""Demo scenario that fits regressors on the diabetes dataset, logging gradient boosting stage by stage."""

from __future__ import annotations

from typing import Any

import numpy as np

import treadle as td
from treadle.cli._demo_base import DemoContext, Scenario, use_experiment
from treadle.cli._demo_plots import Split, scatter_figure

GBR_STAGES = 150
GBR_GRID = [(lr, depth) for lr in (0.05, 0.1) for depth in (2, 3)]


def _rmse(actual: Any, predicted: Any) -> float:
    return float(np.sqrt(np.mean((np.asarray(actual) - np.asarray(predicted)) ** 2)))


def _r2(actual: Any, predicted: Any) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(actual, predicted))


def _log_outcome(model: Any, split: Split, features: list[str]) -> None:
    """Test metrics, a predicted-vs-actual plot, the predictions and the config of a fitted regressor."""
    import pandas as pd

    predicted = model.predict(split.x_test)
    td.log_metrics({"test_rmse": _rmse(split.y_test, predicted), "test_r2": _r2(split.y_test, predicted)})
    td.log_figure(scatter_figure(split.y_test, predicted, "test: predicted vs actual"), "predicted_vs_actual.png")
    table = pd.DataFrame({"actual": split.y_test, "predicted": predicted.round(2)})
    table["residual"] = (table["actual"] - table["predicted"]).round(2)
    td.log_table(table, "predictions.json")
    weights = getattr(model, "feature_importances_", None)
    if weights is None:
        weights = np.abs(model.coef_)
    importances = pd.DataFrame({"feature": features, "importance": np.round(weights, 4)})
    td.log_table(importances.sort_values("importance", ascending=False), "feature_importances.csv")
    params = {k: v for k, v in model.get_params().items() if isinstance(v, (int, float, str, bool, type(None)))}
    td.log_dict({"model": type(model).__name__, "params": params}, "config.yaml")


def diabetes_regression(ctx: DemoContext) -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import Ridge

    use_experiment(
        ctx.client,
        "diabetes-regression",
        "Disease progression one year out: a ridge baseline and gradient boosting.",
        {"dataset": "diabetes", "task": "regression"},
    )
    data = load_diabetes()
    split = Split.of(data.data, data.target, seed=2, stratify=False)
    features = list(data.feature_names)
    with td.start_run(name="ridge-baseline", tags={"model_family": "linear", "dataset": "diabetes", "demo": "true"}):
        td.log_params({"model": "Ridge", "alpha": 1.0, "scaler": "standard"})
        td.log_input("sklearn://diabetes", name="diabetes")
        ridge = Ridge(alpha=1.0).fit(split.x_train, split.y_train)
        predicted = ridge.predict(split.x_val)
        td.log_metrics({"val_rmse": _rmse(split.y_val, predicted), "val_r2": _r2(split.y_val, predicted)})
        _log_outcome(ridge, split, features)
    ctx.step("ridge-baseline")
    for lr, depth in GBR_GRID:
        name = f"gbr-lr{lr:g}-d{depth}"
        with td.start_run(name=name, tags={"model_family": "boosting", "dataset": "diabetes", "demo": "true"}):
            td.log_params(
                {
                    "model": "GradientBoostingRegressor",
                    "learning_rate": lr,
                    "max_depth": depth,
                    "n_estimators": GBR_STAGES,
                    "subsample": 0.8,
                }
            )
            td.log_input("sklearn://diabetes", name="diabetes")
            model = GradientBoostingRegressor(
                n_estimators=GBR_STAGES, learning_rate=lr, max_depth=depth, subsample=0.8, random_state=0
            ).fit(split.x_train, split.y_train)
            val_rmse = []
            stages = zip(model.staged_predict(split.x_train), model.staged_predict(split.x_val), strict=True)
            for stage, (on_train, on_val) in enumerate(stages):
                val_rmse.append(_rmse(split.y_val, on_val))
                train_rmse, val_r2 = _rmse(split.y_train, on_train), _r2(split.y_val, on_val)
                td.log_metrics({"train_rmse": train_rmse, "val_rmse": val_rmse[-1], "val_r2": val_r2}, step=stage)
            td.log_metric("best_stage", float(np.argmin(val_rmse)))
            _log_outcome(model, split, features)
        ctx.step(name)


DIABETES = Scenario("diabetes-regression", runs=1 + len(GBR_GRID), play=diabetes_regression)
