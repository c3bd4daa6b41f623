"""``canary``: put ``register``'s new version beside the champion and let the traffic decide.

The deployment gets a new revision whose control route serves the alias (``models:/<model>@champion``)
and whose ``canary`` route serves the new version with ``percent`` % of the requests, with
auto-promotion on: the serving controller (``rollout.evaluate``) moves the alias to the canary's
version once it is better on rewards with probability ``probability`` (after ``min_samples`` rewards
per variant), and the guardrails roll it back to 0 % when it errs or is slow. No one moves the alias
by hand, which is why the retraining template registers without one.

Like ``register`` and ``deploy`` it does nothing (and says why) when nothing was registered, so one
static DAG covers "better model: canary it" and "not better: keep the champion".
"""

from __future__ import annotations

from typing import Any

import treadle as td
from treadle.errors import InvalidArgument, NotFound
from treadle.pipelines import step
from treadle.pipelines.components._release import blessing_problem
from treadle.pipelines.components._util import log_params, set_tags
from treadle.rollout import DeploymentSpec
from treadle.rollout._automation import parse_model_uri


def _skipped(deployment: str, reason: str) -> dict[str, Any]:
    set_tags({"treadle.canary": "skipped"})
    return {
        "deployed": False,
        "deployment": deployment,
        "revision": None,
        "variant": None,
        "model": None,
        "percent": None,
        "reason": reason,
    }


def _control_alias(spec: DeploymentSpec, name: str) -> str:
    """The alias the control route serves; refuses a deployment of another registered model."""
    parsed = parse_model_uri(spec.control.model)
    serves = spec.model or (parsed[0] if parsed else None)
    if serves and serves != name:
        raise InvalidArgument(
            f"canary: deployment {spec.name!r} serves {serves!r}, not {name!r}; canary a version of "
            f"{serves!r} or point the deployment at {name!r} first"
        )
    return spec.alias


@step(cache=False)  # a side effect: a cached canary would deploy nothing
def canary(
    release: dict[str, Any],
    deployment: str,
    percent: float = 10.0,
    variant: str = "canary",
    probability: float = 0.95,
    min_samples: int = 100,
    guardrails: dict[str, Any] | None = None,
    require_blessing: bool = True,
) -> dict[str, Any]:
    """Roll ``register``'s new version out as a canary of the rollout deployment ``deployment``.

    The new revision routes ``100 - percent`` % to ``models:/<model>@<alias>`` (the control: the
    deployment's alias, ``champion`` by default) and ``percent`` % to the new version as route
    ``variant``, with auto-promotion (``probability``, ``min_samples``: see
    :class:`treadle.rollout.AutoPromoteSpec`) and ``guardrails`` (a
    :class:`treadle.rollout.GuardrailSpec` dict; default: keep the deployment's). Without a champion
    yet the alias moves to the new version and it takes all the traffic. ``require_blessing``
    refuses a version without a passing evaluation blessing (:func:`treadle.evaluation.blessing_of`).

    Returns ``{"deployed", "deployment", "revision", "variant", "model", "percent", "reason"}``."""
    if not 0 < percent < 100:
        raise InvalidArgument(f"canary: percent must be between 0 and 100 (exclusive), got {percent}")
    if not release.get("registered"):
        return _skipped(deployment, release.get("reason") or "nothing was registered")
    name, version = str(release["name"]), int(release["version"])
    model = f"models:/{name}/{version}"
    if require_blessing and (problem := blessing_problem(name, version)):
        return _skipped(deployment, f"not deployed: {problem}")
    try:
        current = td.deployments.get(deployment)
    except NotFound:
        raise NotFound(
            f"canary: there is no deployment {deployment!r}; apply one first (td.deployments.apply or "
            "`treadle deploy apply`) with a route serving models:/<model>@champion"
        ) from None
    spec = current.spec
    if spec.routes is None:
        raise InvalidArgument(
            f"canary: deployment {deployment!r} is {spec.mode!r}; a canary needs a routes deployment "
            "(a weighted split), e.g. routes: [{name: champion, model: models:/<model>@champion}]"
        )
    alias = _control_alias(spec, name)
    control_uri = f"models:/{name}@{alias}"
    data = spec.model_dump(mode="json")
    data["model"] = name
    try:
        champion = td.get_client().get_model_version_by_alias(name, alias).version
    except NotFound:
        champion = None
    control = {**data["routes"][0], "model": control_uri}
    if champion is None:  # a first model: nothing to compare with, it becomes the champion
        td.set_alias(name, alias, version, reason=f"first version, canaried into {deployment}")
        data.update(routes=[{**control, "weight": 100.0}], auto_promote=None)
        reason = f"{model} is the first {name}: {alias} -> v{version}, all traffic"
        chosen, share = control["name"], 100.0
    else:
        if variant == control["name"]:
            raise InvalidArgument(f"canary: variant {variant!r} is the control route; name the canary route apart")
        others = [{**r, "weight": 0.0} for r in data["routes"][1:] if r["name"] != variant]
        data["routes"] = [
            {**control, "weight": 100.0 - percent},
            {"name": variant, "model": model, "weight": float(percent)},
            *others,  # kept, at 0 %: only the champion and the canary compete
        ]
        data["auto_promote"] = {"enabled": True, "probability": probability, "min_samples": min_samples}
        reason = f"canary {model} at {percent:g}% beside {control_uri} (v{champion}), auto-promotion on"
        chosen, share = variant, float(percent)
    if guardrails is not None:
        data["guardrails"] = guardrails
    try:
        new_spec = DeploymentSpec.model_validate(data)
    except ValueError as exc:
        raise InvalidArgument(f"canary: the new spec of {deployment!r} is invalid: {exc}") from None
    applied = td.deployments.apply(new_spec, reason=reason)
    log_params({"canary_model": model, "canary_percent": share, "canary_revision": applied.revision})
    set_tags({"treadle.canary": model})
    return {
        "deployed": True,
        "deployment": deployment,
        "revision": applied.revision,
        "variant": chosen,
        "model": model,
        "percent": share,
        "reason": reason,
    }
