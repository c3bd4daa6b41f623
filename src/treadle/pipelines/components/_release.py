"""``register`` and ``deploy``: put a model that passed the gate into the registry, then into service.

Both take the upstream step's report (``evaluate``'s, then ``register``'s) and do nothing but say
why when it did not pass, so one static DAG covers "better model: release it" and "not better: keep
the champion" without failing the run (see :mod:`treadle.pipelines.components._evaluate`).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import pandas as pd

import treadle as td
from treadle.errors import InvalidArgument, NotFound
from treadle.pipelines import step
from treadle.pipelines.components._util import in_run, log_params, set_tags
from treadle.rollout import DeploymentSpec


def _example(example: pd.DataFrame | None, target: str | None, features: list[str] | None) -> pd.DataFrame | None:
    if example is None:
        return None
    if features:
        return example[features].head(5)
    if target and target in example.columns:
        example = example.drop(columns=[target])
    return example.head(5)


@step(cache=False)  # a side effect: a cached register would register nothing
def register(
    model: Any,
    name: str,
    report: dict[str, Any] | None = None,
    alias: str | None = "champion",
    example: pd.DataFrame | None = None,
    target: str | None = None,
    description: str | None = None,
    force: bool = False,
    features: list[str] | None = None,
) -> dict[str, Any]:
    """Log ``model`` into the step run, register it as the next version of ``name`` and point
    ``alias`` at it (None: no alias). With an ``evaluate`` ``report`` that did not pass (and no
    ``force``) nothing is registered. ``example`` (e.g. the test frame: its ``features`` columns, or
    all but ``target``) is saved as the input example and gives the model its signature.

    Returns ``{"registered", "name", "version", "uri", "alias", "reason"}``."""
    if report is not None and not report.get("passed", False) and not force:
        skipped = f"not registered: {report.get('reason', 'the gate did not pass')}"
        set_tags({"treadle.register": "skipped"})
        return {"registered": False, "name": name, "version": None, "uri": None, "alias": alias, "reason": skipped}
    tags: dict[str, Any] = {}
    if report is not None and report.get("metric"):
        tags = {f"metric.{report['metric']}": f"{report['candidate']:.6g}", "treadle.gate": str(report.get("passed"))}
    if report is not None and report.get("run_id"):  # evaluate_model's evaluation run: the version's blessing
        tags.update(
            {"treadle.blessing": report["run_id"], "treadle.blessed": "true" if report.get("passed") else "false"}
        )
    context = nullcontext() if in_run() else td.start_run(name=f"register-{name}")
    with context:
        uri = td.log_model(model, "model", input_example=_example(example, target, features))
        version = td.register_model(uri, name, description=description, tags=tags or None)
        reason: str | None = report.get("reason") if report else None
        if alias:
            td.set_alias(name, alias, version.version, reason=reason or "registered by a pipeline")
        log_params({"registered_model": f"models:/{name}/{version.version}"})
    return {
        "registered": True,
        "name": name,
        "version": version.version,
        "uri": f"models:/{name}/{version.version}",
        "alias": alias,
        "reason": reason,
    }


def _retarget(variants: list[dict[str, Any]], variant: str | None, model: str, weight: float | None) -> str:
    """Point ``variant`` (default: the first challenger, else the only one) of ``variants`` at ``model``."""
    names = [v["name"] for v in variants]
    chosen = variant or (names[1] if len(names) > 1 else names[0])
    if chosen not in names:
        raise InvalidArgument(f"deploy: the deployment has no variant {chosen!r}; it has {names}")
    for v in variants:
        if v["name"] == chosen:
            v["model"] = model
            if weight is not None:
                v["weight"] = float(weight)
    return chosen


@step(cache=False)
def deploy(
    release: dict[str, Any],
    deployment: str | None = None,
    variant: str | None = None,
    weight: float | None = None,
    alias: str | None = None,
    require_blessing: bool = False,
) -> dict[str, Any]:
    """Put ``register``'s new version into service: point ``variant`` of the rollout deployment
    ``deployment`` at it (default variant: the first challenger, e.g. the canary; ``weight`` sets its
    traffic share) and apply the new revision, and/or move the registry ``alias`` to it. Does nothing
    when ``release`` says nothing was registered, or (``require_blessing``) when the version has no
    passing blessing (:func:`blessing_problem`: the ``evaluation/blessing.json`` the version's
    ``treadle.blessing`` tag points at, written by ``evaluate_model`` via ``register`` or by
    :func:`treadle.evaluation.evaluate` on the version).

    Returns ``{"deployed", "deployment", "revision", "variant", "model", "alias", "reason"}``."""
    if deployment is None and alias is None:
        raise InvalidArgument("deploy: give a deployment to update, an alias to move, or both")
    if not release.get("registered"):
        set_tags({"treadle.deploy": "skipped"})
        reason = release.get("reason") or "nothing was registered"
        return {
            "deployed": False,
            "deployment": deployment,
            "revision": None,
            "variant": None,
            "model": None,
            "alias": alias,
            "reason": reason,
        }
    name, version = release["name"], int(release["version"])
    model = f"models:/{name}/{version}"
    if require_blessing:
        unblessed = blessing_problem(name, version)
        if unblessed:
            set_tags({"treadle.deploy": "skipped"})
            return {
                "deployed": False,
                "deployment": deployment,
                "revision": None,
                "variant": None,
                "model": model,
                "alias": alias,
                "reason": f"not deployed: {unblessed}",
            }
    out: dict[str, Any] = {
        "deployed": True,
        "deployment": deployment,
        "revision": None,
        "variant": None,
        "model": model,
        "alias": alias,
        "reason": None,
    }
    if alias:
        td.set_alias(name, alias, version, reason="deployed by a pipeline")
    if deployment:
        data = td.deployments.get(deployment).spec.model_dump(mode="json")
        if data.get("routes"):
            chosen = _retarget(data["routes"], variant, model, weight)
        elif data.get("ab"):
            chosen = _retarget(data["ab"]["variants"], variant, model, weight)
        elif data.get("bandit"):
            chosen = _retarget(data["bandit"]["arms"], variant, model, weight)
        else:
            raise InvalidArgument(f"deploy: deployment {deployment!r} has no routes, A/B variants or bandit arms")
        spec = DeploymentSpec.model_validate(data)
        applied = td.deployments.apply(spec, reason=f"{chosen} -> {model}")
        out.update(revision=applied.revision, variant=chosen)
    set_tags({"treadle.deploy": model})
    return out


def blessing_problem(name: str, version: int) -> str | None:
    """Why ``name`` v``version`` may not go live (no passing blessing, read from the
    ``evaluation/blessing.json`` its ``treadle.blessing`` tag points at), or None when it may."""
    from treadle.evaluation import blessing_of

    try:
        blessing = blessing_of(f"models:/{name}/{version}")
    except NotFound:
        blessing = None
    if blessing is None:
        return (
            f"models:/{name}/{version} has no blessing: evaluate it with a gate first (evaluate_model or "
            "td.evaluate(..., thresholds=...)), or pass require_blessing=False"
        )
    passed = blessing.get("passed", blessing.get("blessed"))
    if not passed:
        run = blessing.get("run_id")
        return f"models:/{name}/{version} failed its gate" + (f" (evaluation run {run})" if run else "")
    return None
