"""Demo scenario: a retraining pipeline built from the built-in components, run three times.

``iris-training`` reads ``iris@prod`` (versioned by the data scenario), validates it against the
version before it, splits it, tunes an estimator's parameters with a small Optuna study (each trial a
tracked run), trains the best config, evaluates it against the ``champion`` of ``iris-pipeline``
and registers it only when it wins. The three runs show the gate both ways: a shallow tree becomes
the first champion, a tuned random forest beats it and takes the alias, a majority-class baseline
is held back (its run still succeeds; the register step says why). On a second demo the split is
cached and neither candidate beats the forest, so the registry keeps its two versions.

The model is ``iris-pipeline``, not the registry scenario's ``iris-classifier``, whose aliases the
serving scenario routes on.
"""

from __future__ import annotations

import logging
from typing import Any

from treadle.cli._demo_base import DemoContext, Scenario, use_experiment
from treadle.cli._demo_data import DATASET
from treadle.pipelines import pipeline
from treadle.pipelines.components import evaluate, ingest, register, split, train, tune, validate

EXPERIMENT = "iris-pipelines"
MODEL_NAME = "iris-pipeline"
FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
# (label, estimator config, search space in the JSON-safe dict notation, trials)
CANDIDATES: list[tuple[str, dict[str, Any], dict[str, Any], int]] = [
    (
        "shallow tree",
        {"class": "sklearn.tree.DecisionTreeClassifier", "params": {"random_state": 0}},
        {"max_depth": {"low": 1, "high": 2}},
        2,
    ),
    (
        "tuned forest",
        {"class": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": 15, "random_state": 0}},
        {"max_depth": {"low": 2, "high": 5}, "min_samples_leaf": {"low": 1, "high": 4}},
        4,
    ),
    (
        "majority baseline",
        {"class": "sklearn.dummy.DummyClassifier", "params": {}},
        {"strategy": {"choices": ["most_frequent", "prior"]}},
        2,
    ),
]


@pipeline(name="iris-training", experiment=EXPERIMENT)
def iris_training(
    estimator: dict[str, Any],
    space: dict[str, Any],
    n_trials: int = 4,
    dataset: str = DATASET,
    version: str = "prod",
    model_name: str = MODEL_NAME,
    min_delta: float = 0.01,
) -> Any:
    """Ingest -> validate -> split -> tune -> train -> evaluate (gate) -> register."""
    data = validate(ingest(dataset, version=version), dataset=dataset, version=version)
    train_df, test_df = split(data, test_size=0.3, stratify="target", seed=0)
    best = tune(train_df, "target", estimator=estimator, space=space, n_trials=n_trials, cv=3, features=FEATURES)
    model = train(train_df, "target", estimator=best, features=FEATURES)
    report = evaluate(model, test_df, "target", model_name=model_name, min_delta=min_delta, features=FEATURES)
    return register(model, model_name, report=report, example=test_df, features=FEATURES)


def run_pipelines(ctx: DemoContext) -> None:
    import optuna

    use_experiment(ctx.client, EXPERIMENT, "A retraining pipeline with a champion gate.", {"demo": "true"})
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    quiet = logging.getLogger("treadle")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    outcomes = []
    try:
        for label, estimator, space, trials in CANDIDATES:
            result = iris_training.run(estimator=estimator, space=space, n_trials=trials, client=ctx.client)
            release = result.output
            outcomes.append((label, release))
            verdict = f"v{release['version']}" if release["registered"] else "held back"
            ctx.step(f"pipeline: {label} -> {verdict}")
    finally:
        quiet.setLevel(level)
    ctx.shared["pipeline_outcomes"] = outcomes


PIPELINES = Scenario(EXPERIMENT, runs=len(CANDIDATES), play=run_pipelines)
