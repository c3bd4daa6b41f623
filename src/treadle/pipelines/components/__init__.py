"""Built-in pipeline components: plain ``@step`` functions over treadle's own capabilities.

    from treadle.pipelines import pipeline
    from treadle.pipelines.components import evaluate, ingest, register, split, train, validate

    @pipeline
    def retrain(dataset: str = "iris", model_name: str = "iris-clf"):
        data = validate(ingest(dataset), dataset=dataset)
        train_df, test_df = split(data, stratify="target", seed=0)
        model = train(train_df, "target", estimator={"class": "sklearn.ensemble.RandomForestClassifier"})
        report = evaluate(model, test_df, "target", model_name=model_name, min_delta=0.0)
        return register(model, model_name, report=report, example=test_df, target="target")

- ``ingest``: a dataset version or any data connector (file, URI, SQL spec) -> DataFrame (never cached);
- ``validate``: schema + statistics against the previous (or a named) dataset version, fails on drift;
- ``split``: train/test, stratified, seeded (two outputs);
- ``train``: a scikit-learn / XGBoost / LightGBM estimator from a JSON config;
- ``tune``: :func:`treadle.tuning.tune` over the same config, returning the best config;
- ``evaluate``: metrics on held-out data and the gate against the ``champion`` alias;
- ``evaluate_model``: :func:`treadle.evaluation.evaluate` (slices, thresholds, plots, a blessing) as a step;
- ``register``: log + register the model, move an alias (skipped when the gate did not pass);
- ``deploy``: point a rollout deployment's variant (canary, A/B, bandit arm) at it, or move an alias;
- ``canary``: route a share of a deployment to it beside the champion, with auto-promotion.

Each is an ordinary step: call it outside a pipeline and it is just its function. Caching: the
steps that read state which moves under the same arguments (``ingest``, ``validate``, ``evaluate``:
the latest version, the previous version, the champion) are ``reads_mutable`` and the ones with side
effects (``register``, ``deploy``) ``cache=False``, so they always run; ``split``, ``train`` and
``tune`` are cached on their inputs' content.
"""

from treadle.pipelines.components._canary import canary
from treadle.pipelines.components._data import ingest, parse_dataset_ref, split
from treadle.pipelines.components._estimators import build_estimator
from treadle.pipelines.components._evaluate import GateFailed, evaluate
from treadle.pipelines.components._evaluate_model import evaluate_model
from treadle.pipelines.components._release import deploy, register
from treadle.pipelines.components._train import train, tune
from treadle.pipelines.components._validate import ValidationFailed, validate

__all__ = [
    "GateFailed",
    "ValidationFailed",
    "build_estimator",
    "canary",
    "deploy",
    "evaluate",
    "evaluate_model",
    "ingest",
    "parse_dataset_ref",
    "register",
    "split",
    "train",
    "tune",
    "validate",
]
