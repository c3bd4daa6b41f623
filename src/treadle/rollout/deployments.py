"""``td.deployments``: apply, inspect, promote and roll back deployments through the active client.

The rollout capability sits below the SDK's client, so the client binds a resolver here when it is
imported (:func:`bind`); each function also takes an explicit ``client=``.

    td.deployments.apply("deploy/churn.yaml")
    td.deployments.status("churn").winner
    td.deployments.feedback(decision_id, 1.0)
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import ValidationError

from treadle.errors import InvalidArgument
from treadle.rollout._records import Deployment, DeploymentStats, Feedback
from treadle.rollout._service import RolloutService
from treadle.rollout._spec import DeploymentSpec


class RolloutContext(Protocol):
    @property
    def rollout(self) -> RolloutService: ...


_resolver: Callable[[], RolloutContext] | None = None


def bind(resolver: Callable[[], RolloutContext]) -> None:
    """Set how to find the client when no ``client=`` is given (the SDK does this on import)."""
    global _resolver
    _resolver = resolver


def _service(client: Any) -> RolloutService:
    if client is None:
        if _resolver is None:
            raise InvalidArgument("no client: import treadle first, or pass client=td.Client(...)")
        client = _resolver()
    return client.rollout


def _actor() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return None


def load_spec(source: DeploymentSpec | dict[str, Any] | str | Path) -> DeploymentSpec:
    """A spec from a record, a mapping, or a YAML file (its top level is the spec, or ``deployment:``)."""
    if isinstance(source, DeploymentSpec):
        return source
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InvalidArgument(f"deployment file {str(path)!r} does not exist")
        try:
            source = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise InvalidArgument(f"{path} is not valid YAML: {exc}") from None
        if not isinstance(source, dict):
            raise InvalidArgument(f"{path} must hold a mapping (the deployment spec)")
    if set(source) == {"deployment"} and isinstance(source["deployment"], dict):
        source = source["deployment"]
    try:
        return DeploymentSpec.model_validate(source)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "spec"
        raise InvalidArgument(f"invalid deployment spec at {where}: {first['msg']}") from None


def plan(
    source: DeploymentSpec | dict[str, Any] | str | Path, *, client: Any = None
) -> tuple[DeploymentSpec, int | None]:
    """The validated spec and the revision applying it would write (None: nothing would change)."""
    from treadle.errors import NotFound

    spec = load_spec(source)
    try:
        current = _service(client).get_deployment(spec.name)
    except NotFound:
        return spec, 1
    if current.spec == spec and current.status == "active":
        return spec, None
    return spec, current.revision + 1


def apply(
    source: DeploymentSpec | dict[str, Any] | str | Path, *, reason: str | None = None, client: Any = None
) -> Deployment:
    """Create or update a deployment from a spec or YAML file; the same spec again changes nothing."""
    return _service(client).apply_deployment(load_spec(source), actor=_actor(), reason=reason)


def get(name: str, revision: int | None = None, *, client: Any = None) -> Deployment:
    return _service(client).get_deployment(name, revision)


def list_deployments(*, client: Any = None) -> list[Deployment]:
    """The current revision of every deployment."""
    return _service(client).list_deployments()


def history(name: str, *, client: Any = None) -> list[Deployment]:
    return _service(client).deployment_history(name)


def status(name: str, revision: int | None = None, *, client: Any = None) -> DeploymentStats:
    """Live statistics: per-variant traffic, latency, rewards with intervals, P(best), SRM, guardrails."""
    return _service(client).get_stats(name, revision)


def promote(name: str, variant: str | None = None, *, reason: str | None = None, client: Any = None) -> Deployment:
    """Move the alias to ``variant`` (default: the winner) and send all traffic to it."""
    return _service(client).promote(name, variant, actor=_actor(), reason=reason)


def rollback(name: str, *, reason: str | None = None, client: Any = None) -> Deployment:
    """Send all traffic back to the control variant."""
    return _service(client).rollback(name, actor=_actor(), reason=reason)


def feedback(decision_id: str, reward: float, *, client: Any = None) -> Feedback:
    """Report the reward of a served decision (the response's ``decision_id``); once per decision."""
    return _service(client).record_feedback(decision_id, float(reward))


def delete(name: str, *, client: Any = None) -> None:
    _service(client).delete_deployment(name)


__all__ = [
    "apply",
    "bind",
    "delete",
    "feedback",
    "get",
    "history",
    "list_deployments",
    "load_spec",
    "plan",
    "promote",
    "rollback",
    "status",
]
