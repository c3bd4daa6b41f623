"""What the deployment pages show, computed from the rollout records (no HTTP, no templates here).

The templates stay dumb: every derived number (shares as bar widths, shadow agreement, the SRM
verdict in words, links from model URIs to registry pages) is worked out once, in Python, where it is
typed and testable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from treadle.errors import NotFound
from treadle.registry import RegistryService
from treadle.rollout import SRM_ALPHA, Deployment, DeploymentStats, parse_model_uri, target_model

MAX_ALIAS_HISTORY = 200  # alias moves shown on a deployment page, newest first


def model_link(root: str, uri: str) -> str | None:
    """The registry page a variant's model URI points at (a version, or the model for an alias)."""
    parsed = parse_model_uri(uri)
    if parsed is None:
        return None
    name, version, _ = parsed
    base = f"{root}/models/{quote(name, safe='')}"
    return f"{base}/versions/{version}" if version is not None else base


def weight_shares(deployment: Deployment) -> list[tuple[str, float, float]]:
    """(variant, weight, share of all weight) per variant, for the list page's chips."""
    variants = deployment.spec.variants
    total = sum(v.weight for v in variants)
    return [(v.name, v.weight, v.weight / total if total > 0 else 0.0) for v in variants]


@dataclass(frozen=True)
class Srm:
    """The sample-ratio-mismatch verdict in words: ``state`` is ok, mismatch or unchecked."""

    state: str
    p_value: float | None
    text: str


def srm_verdict(stats: DeploymentStats) -> Srm:
    if stats.mode == "bandit":
        return Srm("unchecked", None, "not checked: a bandit moves traffic on purpose")
    if stats.srm_p_value is None:
        return Srm("unchecked", None, "not checked yet: too little traffic")
    if stats.srm:
        text = (
            f"sample ratio mismatch (p = {stats.srm_p_value:.2g} < {SRM_ALPHA:g}): the observed split differs "
            "from the weights, so the comparison is not trustworthy until the routing is fixed"
        )
        return Srm("mismatch", stats.srm_p_value, text)
    return Srm("ok", stats.srm_p_value, f"split matches the weights (p = {stats.srm_p_value:.2g})")


@dataclass(frozen=True)
class Shadow:
    """Requests mirrored to the shadow model and how often its answer agreed with the served one."""

    model: str
    percent: float
    mirrored: int
    disagreements: int

    @property
    def agreement(self) -> float | None:
        return 1 - self.disagreements / self.mirrored if self.mirrored else None


def shadow_summary(deployment: Deployment, stats: DeploymentStats) -> Shadow | None:
    shadow = deployment.spec.shadow
    if shadow is None and not any(v.shadow_requests for v in stats.variants):
        return None
    return Shadow(
        model=shadow.model if shadow is not None else "(no longer configured)",
        percent=shadow.percent if shadow is not None else 0.0,
        mirrored=sum(v.shadow_requests for v in stats.variants),
        disagreements=sum(v.shadow_disagreements for v in stats.variants),
    )


def alias_history(registry: RegistryService, deployment: Deployment) -> tuple[str | None, list[Any], str | None]:
    """(model, moves of the deployment's alias newest first, why there are none) for the page."""
    spec = deployment.spec
    model = target_model(spec)
    if model is None:
        return None, [], "This deployment serves no single registered model, so promotion moves no alias."
    try:
        moves = registry.get_alias_history(model, spec.alias)
    except NotFound:
        return model, [], f"There is no registered model named {model!r}."
    return model, moves[::-1][:MAX_ALIAS_HISTORY], None if moves else f"Alias {spec.alias!r} has never been set."


def live_context(deployment: Deployment, stats: DeploymentStats, seen: int | None = None) -> dict[str, Any]:
    """What the live stats panel renders (the page and the polled fragment share it); ``seen`` is the
    revision the open page shows, so the fragment can say when a newer one was written meanwhile."""
    return {
        "seen": seen,
        "dep": deployment,
        "stats": stats,
        "srm": srm_verdict(stats),
        "shadow": shadow_summary(deployment, stats),
        "total_requests": sum(v.requests for v in stats.variants),
        "model_link": model_link,
    }
