"""Promotion and rollback: the spec of the next revision, and which registry version the alias gets.

A *promotion* ends the experiment: the alias of the deployment's registered model moves to the
winner's version and all traffic goes to ``models:/<model>@<alias>`` (the control's slot). A
*rollback* keeps the experiment's shape but gives every non-control variant weight 0 (bandits pull
only arms with a weight above 0). Both are recorded as alias-history entries with their reason;
a rollback leaves the alias where it is, so its entry is a note with from == to.
"""

from __future__ import annotations

import re
from typing import Any

from treadle.errors import InvalidArgument
from treadle.rollout._spec import DeploymentSpec, Variant

_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+|latest)|@(?P<alias>[^/@]+))/?$")


def parse_model_uri(uri: str) -> tuple[str, int | None, str | None] | None:
    """(model, version, alias) of a ``models:/`` URI (``latest`` is an alias here), else None."""
    match = _MODEL_URI.match(uri)
    if match is None:
        return None
    version = match["version"]
    if version == "latest":
        return match["name"], None, "latest"
    return match["name"], int(version) if version else None, match["alias"]


def target_model(spec: DeploymentSpec) -> str | None:
    """The registered model whose alias promotion moves: ``spec.model``, or the one model every
    variant serves."""
    if spec.model:
        return spec.model
    names = {parsed[0] if (parsed := parse_model_uri(v.model)) else None for v in spec.variants}
    return names.pop() if len(names) == 1 else None


def winner_version(spec: DeploymentSpec, variant: Variant, registry: Any) -> tuple[str, int] | None:
    """(model, version) the alias should point at for ``variant``; None when the deployment has no
    registered model to move."""
    model = target_model(spec)
    if model is None:
        return None
    parsed = parse_model_uri(variant.model)
    if parsed is None or parsed[0] != model:
        raise InvalidArgument(
            f"cannot promote variant {variant.name!r}: it serves {variant.model!r}, not a version of the "
            f"registered model {model!r} whose alias {spec.alias!r} promotion moves"
        )
    name, version, alias = parsed
    if version is None:
        assert alias is not None
        version = registry.get_version_by_alias(name, alias).version
    return name, int(version)


def promoted_spec(spec: DeploymentSpec, winner: Variant, moved: bool) -> DeploymentSpec:
    """All traffic to the alias (or, with no registered model, to the winner's model)."""
    model = target_model(spec)
    if moved and model is not None:
        route = Variant(name=spec.control.name, model=f"models:/{model}@{spec.alias}", weight=1.0)
    else:
        route = Variant(name=winner.name, model=winner.model, weight=1.0)
    data = spec.model_dump()
    data.update(routes=[route.model_dump()], ab=None, bandit=None, auto_promote=None, model=model)
    return DeploymentSpec.model_validate(data)


def rolled_back_spec(spec: DeploymentSpec) -> DeploymentSpec:
    """The same experiment with every non-control variant at weight 0."""
    data = spec.model_dump()
    key = {"canary": ("routes",), "ab": ("ab", "variants"), "bandit": ("bandit", "arms")}[spec.mode]
    holder: Any = data
    for part in key[:-1]:
        holder = holder[part]
    holder[key[-1]] = [{**v, "weight": v["weight"] if i == 0 else 0.0} for i, v in enumerate(holder[key[-1]])]
    if spec.control.weight <= 0:
        holder[key[-1]][0]["weight"] = 1.0  # the control must take the traffic
    return DeploymentSpec.model_validate(data)
