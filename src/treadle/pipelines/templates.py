"""Pipeline templates: whole pipelines built from the components, configured by arguments.

``retrain_on_drift`` closes the loop between monitoring and rollout::

    from treadle.pipelines.templates import retrain_on_drift, wire_to_monitor

    flow = retrain_on_drift(
        "loan-retrain", dataset="loans", target="default", model_name="loan-model",
        deployment="loan-scoring", estimator={"class": "sklearn.ensemble.RandomForestClassifier"},
        thresholds={"accuracy": {"min_change": 0.0}},
    )
    wire_to_monitor(flow, "loan-drift")   # every drift_detected alert of that monitor queues a run

A run ingests the dataset's latest version (the fresh data), checks its schema and nulls (not its
drift: drift is why it runs), splits it, trains the estimator, evaluates the candidate against the
``champion`` with the gate, registers it *without* moving an alias and rolls it out as a canary with
auto-promotion: the traffic, not the pipeline, decides whether it becomes the champion.

The scheduler runs a queued run in a child process that imports the pipeline from its spec's
``source``, so a template cannot be a closure: every configured pipeline is the module-level
:data:`retrain_on_drift_flow` under another name, with the arguments as its parameters' defaults
(stored in the registered spec, which is what a queued run resolves its parameters from).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from treadle.errors import InvalidArgument
from treadle.pipelines._pipeline import Pipeline, pipeline
from treadle.pipelines.components import ingest, register, split, train, validate
from treadle.pipelines.components._canary import canary
from treadle.pipelines.components._evaluate_model import evaluate_model

if TYPE_CHECKING:
    from treadle.client import Client
    from treadle.orchestration import Schedule

# The fresh data has drifted by definition: validate checks its schema and nulls, not its means
# (pipeline parameters are JSON, which has no infinity, hence a bound no shift reaches).
NO_MEAN_CHECK = 1e12
EXPERIMENT = "retraining"


@pipeline(name="retrain-on-drift", experiment=EXPERIMENT)
def retrain_on_drift_flow(
    *,
    dataset: str,
    target: str,
    model_name: str,
    deployment: str,
    estimator: dict[str, Any],
    thresholds: dict[str, Any] | None = None,
    version: str = "latest",
    features: list[str] | None = None,
    task: str = "classification",
    stratify: str | None = None,
    test_size: float = 0.25,
    seed: int = 0,
    max_null_increase: float = 0.05,
    baseline: str = "champion",
    percent: float = 10.0,
    probability: float = 0.95,
    min_samples: int = 100,
    require_blessing: bool = True,
) -> Any:
    """Ingest the fresh dataset version -> validate -> split -> train -> evaluate against the
    champion (gate) -> register (no alias) -> canary with auto-promotion."""
    data = validate(
        ingest(dataset, version=version),
        dataset=dataset,
        version=version,
        max_mean_shift=NO_MEAN_CHECK,
        max_null_increase=max_null_increase,
    )
    train_df, test_df = split(data, test_size=test_size, stratify=stratify, seed=seed)
    model = train(train_df, target, estimator=estimator, features=features)
    report = evaluate_model(
        model,
        test_df,
        target,
        model_name=model_name,
        baseline_alias=baseline,
        thresholds=thresholds,
        task=task,
        features=features,
    )
    release = register(model, model_name, report=report, alias=None, example=test_df, target=target, features=features)
    return canary(
        release,
        deployment,
        percent=percent,
        probability=probability,
        min_samples=min_samples,
        require_blessing=require_blessing,
    )


_PARAMS = frozenset(inspect.signature(retrain_on_drift_flow.fn).parameters)


def retrain_on_drift(
    name: str,
    *,
    dataset: str,
    target: str,
    model_name: str,
    deployment: str,
    estimator: dict[str, Any],
    thresholds: dict[str, Any] | None = None,
    **options: Any,
) -> Pipeline:
    """The retraining pipeline ``name`` (module docstring) with these arguments as its defaults.

    ``estimator``: a :func:`~treadle.pipelines.components.train` config; ``thresholds``: the
    gate of :func:`~treadle.pipelines.components.evaluate_model` against the champion. ``options``:
    any other parameter of :data:`retrain_on_drift_flow` (``version``, ``features``, ``task``,
    ``test_size``, ``seed``, ``percent``, ``probability``, ``min_samples``, ``require_blessing``,
    ...). Classification splits are stratified on ``target`` unless ``stratify`` says otherwise.
    A run may still override any of them (``flow.run(percent=20)``, a schedule's ``params``)."""
    unknown = sorted(set(options) - _PARAMS)
    if unknown:
        raise InvalidArgument(
            f"retrain_on_drift: no parameter {unknown[0]!r}; the template takes {', '.join(sorted(_PARAMS))}"
        )
    defaults = {
        "dataset": dataset,
        "target": target,
        "model_name": model_name,
        "deployment": deployment,
        "estimator": dict(estimator),
        "thresholds": thresholds,
        **options,
    }
    if "stratify" not in options and defaults.get("task", "classification") == "classification":
        defaults["stratify"] = target
    return Pipeline(_configured(defaults), name=name, experiment=EXPERIMENT)


def _configured(defaults: dict[str, Any]) -> Any:
    """The template's body with ``defaults`` as its parameters' defaults. It keeps the body's module
    and qualified name, so the pipeline's ``source`` names the module-level template, which a
    scheduler's child process can import (the defaults travel in the registered spec)."""
    body = retrain_on_drift_flow.fn

    @functools.wraps(body)
    def configured(**params: Any) -> Any:
        return body(**params)

    signature = inspect.signature(body)
    parameters = [
        p.replace(default=defaults[p.name]) if p.name in defaults else p for p in signature.parameters.values()
    ]
    configured.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return configured


def wire_to_monitor(
    flow: Pipeline,
    monitor: str,
    params: dict[str, Any] | None = None,
    client: Client | None = None,
    events: Sequence[str] = ("drift_detected",),
) -> Schedule:
    """Run ``flow`` whenever monitor ``monitor`` raises an alert of one of ``events``
    (``drift_detected``; add ``performance_degraded`` or ``data_quality`` to retrain on those too):
    registers the pipeline (with its spec's defaults) and adds an event schedule filtered to that
    monitor, or returns the one that already does (wiring twice queues one run per alert, not two).
    ``params`` override the pipeline's defaults for these runs; ``"$event.<key>"`` takes the
    alert's value."""
    from treadle.client import get_client

    client = client or get_client()
    client.monitors.get_monitor(monitor)  # NotFound names the monitor
    client.pipelines.register_pipeline(flow.spec)
    want = {"monitor": monitor}
    kinds = list(events)
    for existing in client.schedules.list_schedules(flow.name):
        if (
            existing.kind == "event"
            and existing.events == kinds
            and existing.filter == want
            and existing.params == dict(params or {})
        ):
            return existing
    created = client.schedules.create_schedule(flow.name, "event", events=kinds, filter=want, params=dict(params or {}))
    return created.schedule


__all__ = ["retrain_on_drift", "retrain_on_drift_flow", "wire_to_monitor"]
