"""Demo scenarios that train classifiers epoch by epoch: iris models and a nested wine sweep."""

from __future__ import annotations

from typing import Any

import numpy as np

import treadle as td
from treadle.cli._demo_base import DemoContext, Scenario, use_experiment
from treadle.cli._demo_plots import Split, confusion_figure

IRIS_EPOCHS = 40
WINE_EPOCHS = 30
WINE_GRID = [(hidden, alpha) for hidden in ((8,), (32,), (64, 32)) for alpha in (1e-4, 1e-2)]


def fit_classifier(model: Any, split: Split, epochs: int, labels: list[str], features: list[str]) -> float:
    """Train with ``partial_fit`` one epoch at a time, logging loss and accuracy per epoch;
    then log test metrics, a confusion matrix, the test predictions and the model's config.
    Returns the final validation accuracy."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss

    classes = np.unique(split.y_train)
    val_accuracy = 0.0
    for epoch in range(epochs):
        model.partial_fit(split.x_train, split.y_train, classes=classes)
        train_proba, val_proba = model.predict_proba(split.x_train), model.predict_proba(split.x_val)
        val_accuracy = float(accuracy_score(split.y_val, classes[val_proba.argmax(axis=1)]))
        td.log_metrics(
            {
                "train_loss": float(log_loss(split.y_train, train_proba, labels=classes)),
                "val_loss": float(log_loss(split.y_val, val_proba, labels=classes)),
                "train_accuracy": float(accuracy_score(split.y_train, classes[train_proba.argmax(axis=1)])),
                "val_accuracy": val_accuracy,
            },
            step=epoch,
        )
    test_proba = model.predict_proba(split.x_test)
    predicted = classes[test_proba.argmax(axis=1)]
    td.log_metrics(
        {
            "test_accuracy": float(accuracy_score(split.y_test, predicted)),
            "test_f1_macro": float(f1_score(split.y_test, predicted, average="macro")),
        }
    )
    matrix = confusion_matrix(split.y_test, predicted, labels=classes)
    td.log_figure(confusion_figure(matrix, labels, "test confusion matrix"), "confusion_matrix.png")
    import pandas as pd

    table = pd.DataFrame(split.x_test[:, : min(4, len(features))], columns=features[:4]).round(3)
    table["label"] = [labels[i] for i in split.y_test]
    table["predicted"] = [labels[i] for i in predicted]
    table["confidence"] = test_proba.max(axis=1).round(3)
    td.log_table(table, "predictions.json")
    td.log_dict({"model": type(model).__name__, "params": _simple(model.get_params())}, "config.yaml")
    return val_accuracy


def _simple(params: dict[str, Any]) -> dict[str, Any]:
    simple = (int, float, str, bool, tuple, type(None))
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items() if isinstance(v, simple)}


# name -> params of each iris run; ``_build`` turns params into an estimator.
IRIS_MODELS: list[tuple[str, dict[str, Any]]] = [
    *((f"sgd-logloss-a{a:g}", {"model": "SGDClassifier", "loss": "log_loss", "alpha": a}) for a in (1e-4, 1e-3, 1e-2)),
    ("sgd-huber-a0.001", {"model": "SGDClassifier", "loss": "modified_huber", "alpha": 1e-3}),
    *(
        (f"mlp-{size}-lr{lr:g}", {"model": "MLPClassifier", "hidden_layer_sizes": size, "learning_rate_init": lr})
        for size in ("16", "32x16")
        for lr in (1e-3, 1e-2)
    ),
]


def _build(params: dict[str, Any], seed: int) -> Any:
    from sklearn.linear_model import SGDClassifier
    from sklearn.neural_network import MLPClassifier

    if params["model"] == "SGDClassifier":
        return SGDClassifier(loss=params["loss"], alpha=params["alpha"], random_state=seed)
    hidden = tuple(int(n) for n in params["hidden_layer_sizes"].split("x"))
    return MLPClassifier(hidden_layer_sizes=hidden, learning_rate_init=params["learning_rate_init"], random_state=seed)


def iris_classifiers(ctx: DemoContext) -> None:
    from sklearn.datasets import load_iris

    use_experiment(
        ctx.client,
        "iris-classifiers",
        "Linear and MLP classifiers on the iris flowers, trained epoch by epoch.",
        {"dataset": "iris", "task": "classification"},
    )
    data = load_iris()
    split = Split.of(data.data, data.target, seed=0, stratify=True)
    labels, features = list(data.target_names), list(data.feature_names)
    for name, params in IRIS_MODELS:
        model = _build(params, seed=0)
        family = "linear" if params["model"] == "SGDClassifier" else "neural-net"
        with td.start_run(name=name, tags={"model_family": family, "dataset": "iris", "demo": "true"}):
            td.log_params({**params, "epochs": IRIS_EPOCHS, "scaler": "standard", "seed": 0})
            td.log_input("sklearn://iris", name="iris")
            fit_classifier(model, split, IRIS_EPOCHS, labels, features)
        ctx.step(name)


def wine_sweep(ctx: DemoContext) -> None:
    """A grid search as a parent run with one child run per trial."""
    import pandas as pd
    from sklearn.datasets import load_wine
    from sklearn.neural_network import MLPClassifier

    use_experiment(
        ctx.client,
        "wine-sweep",
        "A grid search over MLP sizes and regularisation on the wine dataset.",
        {"dataset": "wine", "task": "classification"},
    )
    data = load_wine()
    split = Split.of(data.data, data.target, seed=1, stratify=True)
    labels, features = list(data.target_names), list(data.feature_names)
    results: list[dict[str, Any]] = []
    description = f"Grid search, {len(WINE_GRID)} trials; the best trial is tagged best_run_id."
    with td.start_run(name="mlp-grid-search", tags={"sweep": "grid", "demo": "true"}, description=description):
        td.log_params({"search": "grid", "model": "MLPClassifier", "trials": len(WINE_GRID), "epochs": WINE_EPOCHS})
        td.log_input("sklearn://wine", name="wine")
        td.log_dict({"hidden_layer_sizes": ["8", "32", "64x32"], "alpha": [1e-4, 1e-2]}, "search_space.yaml")
        for trial, (hidden, alpha) in enumerate(WINE_GRID):
            size = "x".join(map(str, hidden))
            name = f"trial-{trial}-h{size}-a{alpha:g}"
            with td.start_run(name=name, nested=True, tags={"trial": str(trial), "demo": "true"}) as child:
                params = {"model": "MLPClassifier", "hidden_layer_sizes": size, "alpha": alpha, "epochs": WINE_EPOCHS}
                td.log_params(params)
                td.log_input("sklearn://wine", name="wine")
                model = MLPClassifier(
                    hidden_layer_sizes=hidden, alpha=alpha, learning_rate_init=3e-3, random_state=trial
                )
                accuracy = fit_classifier(model, split, WINE_EPOCHS, labels, features)
            results.append({"run_id": child.id, "hidden_layer_sizes": size, "alpha": alpha, "val_accuracy": accuracy})
            best_so_far = max(r["val_accuracy"] for r in results)
            td.log_metrics({"trial_val_accuracy": accuracy, "best_val_accuracy": best_so_far}, step=trial)
            ctx.step(name)
        best = max(results, key=lambda r: r["val_accuracy"])
        td.set_tags({"best_run_id": best["run_id"], "best_hidden_layer_sizes": best["hidden_layer_sizes"]})
        td.log_table(pd.DataFrame(results), "sweep_results.json")
        ctx.shared["wine_best_run_id"] = best["run_id"]
    ctx.step("mlp-grid-search")


IRIS = Scenario("iris-classifiers", runs=len(IRIS_MODELS), play=iris_classifiers)
WINE = Scenario("wine-sweep", runs=len(WINE_GRID) + 1, play=wine_sweep)
