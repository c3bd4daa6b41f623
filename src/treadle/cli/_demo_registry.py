"""Demo scenario: package two iris models, register them, approve and alias the better one.

The champion is approved and behind a protected ``production`` alias; the runner-up is the
``challenger``. Each alias move carries a reason, so the model page has a history to show.
"""

from __future__ import annotations

import treadle as td
from treadle.cli._demo_base import DemoContext, Scenario, use_experiment

MODEL_NAME = "iris-classifier"


def register_iris(ctx: DemoContext) -> None:
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    dataset = td.datasets.get("iris", "prod")  # versioned by the iris-data scenario
    frame = dataset.to_pandas()
    features = frame[load_iris().feature_names]
    x_train, x_val, y_train, y_val = train_test_split(features, frame["target"], test_size=0.3, random_state=0)
    use_experiment(ctx.client, "iris-registry", "Iris models packaged and registered.", {"demo": "true"})
    candidates = {
        "logreg": LogisticRegression(max_iter=500, C=0.5),
        "forest": RandomForestClassifier(n_estimators=30, max_depth=3, random_state=0),
    }
    scored = []
    for label, model in candidates.items():
        with td.start_run(name=f"register-{label}", tags={"demo": "true"}):
            td.log_input(dataset)
            model.fit(x_train, y_train)
            accuracy = float((model.predict(x_val) == y_val).mean())
            td.log_params({"model": type(model).__name__})
            td.log_metric("val_accuracy", accuracy)
            uri = td.log_model(model, "model", input_example=x_val.head(5))
            version = td.register_model(uri, MODEL_NAME, description=f"{type(model).__name__} on iris")
            scored.append((accuracy, version.version))
        ctx.step(f"registered {MODEL_NAME} v{version.version}")
    scored.sort(reverse=True)
    (_, champion), (_, challenger) = scored[0], scored[1]
    registry = ctx.client.registry
    registry.approve_version(MODEL_NAME, champion, actor="demo", reason="best validation accuracy")
    registry.protect_alias(MODEL_NAME, "production")
    td.set_alias(MODEL_NAME, "champion", champion, reason="best validation accuracy")
    registry.set_alias(MODEL_NAME, "production", champion, actor="demo", reason="approved champion")
    td.set_alias(MODEL_NAME, "challenger", challenger, reason="runner-up, next A/B candidate")
    ctx.shared["champion_uri"] = f"models:/{MODEL_NAME}@champion"


REGISTRY = Scenario("iris-registry", runs=2, play=register_iris)
