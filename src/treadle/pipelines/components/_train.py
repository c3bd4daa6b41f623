"""``train`` and ``tune``: fit an estimator from a config, or search the config's parameters first.

``tune`` returns an estimator config (the input config with the best parameters merged in), so the
two compose: ``train(train_df, "target", estimator=tune(train_df, "target", estimator=cfg, space=...))``.
Its search space uses :mod:`treadle.tuning`'s notation; inside a pipeline write ranges in the dict
form (``{"low": 2, "high": 8}``, ``{"low": 1e-4, "high": 1e-1, "log": true}``, ``{"choices": [...]}``),
because pipeline values travel as JSON, where a tuple becomes a list and a list means choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

import treadle as td
from treadle.errors import InvalidArgument
from treadle.pipelines import step
from treadle.pipelines.components._estimators import (
    build_estimator,
    check_metric,
    default_metric,
    estimator_class,
    features_target,
    score,
)
from treadle.pipelines.components._util import log_metrics, log_params, set_tags

# sklearn scorer names (greater is better) for the metrics tune optimises
_SCORERS = {
    "accuracy": "accuracy",
    "f1": "f1_macro",
    "roc_auc": "roc_auc_ovr",
    "log_loss": "neg_log_loss",
    "rmse": "neg_root_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "r2": "r2",
}


@step
def train(data: pd.DataFrame, target: str, estimator: dict[str, Any], features: list[str] | None = None) -> Any:
    """Fit the estimator ``estimator`` names (``{"class": "sklearn.ensemble.RandomForestClassifier",
    "params": {...}}``; scikit-learn, XGBoost or LightGBM) on ``data``'s ``features`` (default: every
    column but ``target``) and return it. Its class and parameters are logged as the step run's params
    and the training score as ``train_<metric>``."""
    model = build_estimator(estimator)
    x, y = features_target(data, target, features)
    try:
        model.fit(x, y)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"train: {estimator['class']} cannot fit the data: {exc}") from None
    log_params({"estimator": estimator["class"], **dict(estimator.get("params") or {})})
    metric = default_metric(model)
    log_metrics({f"train_{metric}": score(metric, y, model.predict(x))})
    return model


@dataclass
class CrossValidated:
    """The objective ``tune`` hands to :func:`treadle.tuning.tune`: mean cross-validated score of
    the config with a trial's parameters (a module-level class, so worker processes unpickle it)."""

    estimator: dict[str, Any]
    x: pd.DataFrame
    y: pd.Series
    scorer: str
    cv: int
    seed: int | None

    @property
    def __name__(self) -> str:  # the study's default name: tune-<Class>-<random>
        return f"tune-{self.estimator['class'].rsplit('.', 1)[-1]}"

    def __call__(self, params: dict[str, Any]) -> float:
        from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

        from treadle.pipelines.components._estimators import is_classifier

        model = build_estimator(self.estimator, **params)
        folds = StratifiedKFold if is_classifier(model) else KFold
        splitter = folds(n_splits=self.cv, shuffle=True, random_state=self.seed)
        return float(cross_val_score(model, self.x, self.y, scoring=self.scorer, cv=splitter).mean())


def _step_experiment() -> str | None:
    """The experiment of the active (step) run: the study's runs go there, nested under it."""
    active = td.active_run()
    if active is None:
        return None
    client = td.get_client()
    return client.tracking.get_experiment(client.get_run(active.id).experiment_id).name


@step
def tune(
    data: pd.DataFrame,
    target: str,
    estimator: dict[str, Any],
    space: dict[str, Any],
    n_trials: int = 20,
    metric: str | None = None,
    cv: int = 3,
    sampler: str = "tpe",
    parallelism: int = 1,
    seed: int | None = 0,
    study_name: str | None = None,
    features: list[str] | None = None,
) -> dict[str, Any]:
    """Search ``space`` for the parameters of ``estimator`` that give the best ``cv``-fold
    cross-validated ``metric`` on ``data`` (default: accuracy for classifiers, rmse for regressors),
    with :func:`treadle.tuning.tune` (each trial a tracked run; ``sampler``, ``parallelism``, ``seed``
    as there). Returns the config with the best parameters merged into its ``params`` and a
    ``tuned`` entry: ``{"study", "metric", "best_value", "n_trials"}``."""
    from treadle.tuning import tune as run_study

    cls = estimator_class(estimator)
    x, y = features_target(data, target, features)
    name = metric or default_metric(cls())
    higher, _ = check_metric(name)
    if cv < 2:
        raise InvalidArgument(f"tune: cv must be at least 2 folds, got {cv}")
    objective = CrossValidated(estimator, x, y, _SCORERS[name], cv, seed)
    study = run_study(
        objective,
        space=space,
        n_trials=n_trials,
        sampler=sampler,
        direction="maximize",
        parallelism=parallelism,
        seed=seed,
        study_name=study_name,
        experiment=_step_experiment(),
    )
    # scorers are "greater is better": error metrics come back negated
    best = study.best_value if higher else -study.best_value
    log_metrics({f"best_{name}": best})
    set_tags({"treadle.tune.study": study.study_name})
    tuned = {"study": study.study_name, "metric": name, "best_value": best, "n_trials": len(study.trials)}
    params = {**dict(estimator.get("params") or {}), **study.best_params}
    return {**estimator, "params": params, "tuned": tuned}
