"""``evaluate``: score a candidate on held-out data and gate it against the current champion.

The gate: the candidate's ``metric`` must reach ``threshold`` (when given) and beat the champion
(the registered model ``model_name`` behind ``champion_alias``, scored on the *same* test data) by at
least ``min_delta`` in the metric's direction. Without a champion (a first model, or no
``model_name``) only the threshold applies.

A failed gate is an answer, not an error: ``evaluate`` returns its report with ``passed=False`` and
``register``/``deploy`` given that report do nothing, so the pipeline run succeeds and shows why the
candidate was kept out (TFX's "blessing"). ``require_pass=True`` makes a failed gate fail the step
instead (:class:`GateFailed`), for pipelines whose failure should alert someone.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

import treadle as td
from treadle.errors import InvalidArgument, NotFound
from treadle.pipelines import step
from treadle.pipelines.components._estimators import all_scores, check_metric, default_metric, features_target
from treadle.pipelines.components._util import log_dict, log_metrics, set_tags


class GateFailed(InvalidArgument):
    """The candidate did not beat the champion (or reach the threshold); ``report`` has the numbers."""

    code = "GATE_FAILED"

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


def _champion(model_name: str | None, alias: str) -> Any:
    """The champion's loaded model and version, or (None, None) when there is none yet."""
    if not model_name:
        return None, None
    try:
        version = td.get_client().get_model_version_by_alias(model_name, alias)
    except NotFound:
        return None, None
    return td.load_model(f"models:/{model_name}/{version.version}"), version.version


@step(reads_mutable=True)  # the champion it gates against moves: never reuse an old verdict
def evaluate(
    model: Any,
    test: pd.DataFrame,
    target: str,
    model_name: str | None = None,
    metric: str | None = None,
    min_delta: float = 0.0,
    threshold: float | None = None,
    champion_alias: str = "champion",
    require_pass: bool = False,
    features: list[str] | None = None,
) -> dict[str, Any]:
    """Score ``model`` on ``test`` and gate it; returns the report ``register`` and ``deploy`` read.

    Report: ``passed``, ``reason``, ``metric``, ``candidate`` (its value), ``champion`` (the
    champion's value on the same data, or None), ``champion_version``, ``metrics`` (every applicable
    metric of the candidate), ``champion_metrics``, ``higher_is_better``. Every value is also logged to
    the step run (``test_<metric>``, ``champion_<metric>``) with the report as ``evaluation.json``."""
    x, y = features_target(test, target, features)
    name = metric or default_metric(model)
    higher, _ = check_metric(name)
    scores = all_scores(model, x, y)
    if name not in scores:
        raise InvalidArgument(f"evaluate: metric {name!r} does not apply to this model; it has {sorted(scores)}")
    candidate = scores[name]
    champion, champion_version = _champion(model_name, champion_alias)
    champion_scores = all_scores(champion.native, x, y, predictor=champion) if champion is not None else {}
    incumbent = champion_scores.get(name)
    reasons = []
    if threshold is not None and not (candidate >= threshold if higher else candidate <= threshold):
        reasons.append(f"{name} {candidate:.4f} does not reach the threshold {threshold}")
    if incumbent is not None:
        gain = candidate - incumbent if higher else incumbent - candidate
        if gain < min_delta:
            reasons.append(
                f"{name} {candidate:.4f} does not beat the champion ({model_name} v{champion_version}: "
                f"{incumbent:.4f}) by {min_delta}"
            )
    passed = not reasons
    if passed:
        reason = "no champion yet" if incumbent is None else f"beats the champion v{champion_version}"
    else:
        reason = "; ".join(reasons)
    report = {
        "passed": passed,
        "reason": reason,
        "metric": name,
        "higher_is_better": higher,
        "candidate": candidate,
        "champion": incumbent,
        "champion_version": champion_version,
        "model_name": model_name,
        "metrics": scores,
        "champion_metrics": champion_scores,
    }
    log_metrics(
        {**{f"test_{k}": v for k, v in scores.items()}, **{f"champion_{k}": v for k, v in champion_scores.items()}}
    )
    set_tags({"treadle.gate": "passed" if passed else "failed"})
    log_dict(report, "evaluation.json")
    if not passed and require_pass:
        raise GateFailed(f"evaluate: the candidate is not better: {reason}", report)
    return report
