"""Routing one request to one variant: weighted (canary), sticky hashing (A/B) or a bandit.

A :class:`Router` lives in each serving process and holds one deployment revision. Decisions are
local (no store round trip per request); bandits refresh their shared arm state from the store with
:meth:`Router.update_arms`. The decision id names the deployment, revision and variant so that
feedback can be attributed without a lookup: ``{deployment}/{revision}/{variant}/{16 hex}``.
"""

from __future__ import annotations

import hashlib
import random
import threading
import uuid
from dataclasses import dataclass

from treadle.errors import InvalidArgument
from treadle.rollout import _bandit
from treadle.rollout._records import ArmState
from treadle.rollout._spec import DeploymentSpec, Variant


@dataclass(frozen=True)
class Decision:
    decision_id: str
    variant: Variant


def unit_fraction(deployment: str, unit: str) -> float:
    """A uniform number in [0, 1) from sha256 of ``"{deployment}:{unit}"``: the same unit of the
    same experiment always lands in the same place, whatever process computes it."""
    digest = hashlib.sha256(f"{deployment}:{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def pick_weighted(variants: list[Variant], u: float) -> Variant:
    """The variant whose cumulative-weight interval holds ``u * total`` (zero weights never win)."""
    total = sum(v.weight for v in variants)
    if total <= 0:
        return variants[0]  # everything rolled back: the control serves
    point, acc = u * total, 0.0
    for variant in variants:
        acc += variant.weight
        if point < acc and variant.weight > 0:
            return variant
    return next(v for v in reversed(variants) if v.weight > 0)


class Router:
    """Picks a variant per request for one deployment revision. Thread safe."""

    def __init__(self, spec: DeploymentSpec, revision: int, rng: random.Random | None = None) -> None:
        self.spec = spec
        self.revision = revision
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._variants = spec.variants
        # Bandits only pull arms with a weight above 0: a rollback sets the others to 0.
        self._arms = [_bandit.Arm(v.name, ArmState(variant=v.name)) for v in self._variants if v.weight > 0] or [
            _bandit.Arm(self._variants[0].name, ArmState(variant=self._variants[0].name))
        ]
        self._by_name = {v.name: v for v in self._variants}

    def decide(self, unit: str | None = None) -> Decision:
        """Route one request. ``unit`` (the value of the A/B test's ``unit_key``) is required for A/B
        tests and ignored otherwise."""
        mode = self.spec.mode
        if mode == "canary":
            variant = pick_weighted(self._variants, self._rng.random())
        elif mode == "ab":
            assert self.spec.ab is not None
            if unit is None or unit == "":
                raise InvalidArgument(
                    f"deployment {self.spec.name!r} is an A/B test: the request must carry "
                    f"{self.spec.ab.unit_key!r} (a parameter, header or input) to pick a sticky variant"
                )
            variant = pick_weighted(self._variants, unit_fraction(self.spec.name, str(unit)))
        else:
            variant = self._by_name[self._pull()]
        return Decision(decision_id=self.decision_id(variant.name), variant=variant)

    def decision_id(self, variant: str) -> str:
        return f"{self.spec.name}/{self.revision}/{variant}/{uuid.uuid4().hex[:16]}"

    def mirror(self) -> bool:
        """Whether to mirror this request to the shadow model (``shadow.percent`` of requests)."""
        shadow = self.spec.shadow
        return shadow is not None and self._rng.random() * 100.0 < shadow.percent

    def update_arms(self, state: list[ArmState]) -> None:
        """Replace the bandit's shared state (from ``RolloutService.bandit_state``); the local pulls
        counted since the last refresh are in it now, so they restart from zero."""
        by_name = {s.variant: s for s in state}
        with self._lock:
            for arm in self._arms:
                arm.state = by_name.get(arm.name, ArmState(variant=arm.name))
                arm.local_pulls = 0

    def arms(self) -> list[ArmState]:
        """The bandit's current view (shared state as of the last refresh)."""
        with self._lock:
            return [arm.state for arm in self._arms]

    def _pull(self) -> str:
        bandit = self.spec.bandit
        assert bandit is not None
        with self._lock:
            if bandit.policy == "thompson":
                index = _bandit.thompson(self._arms, self._rng, bandit.reward)
            elif bandit.policy == "epsilon_greedy":
                index = _bandit.epsilon_greedy(self._arms, self._rng, bandit.epsilon)
            else:
                index = _bandit.ucb(self._arms, self._rng, bandit.ucb_c)
            arm = self._arms[index]
            arm.local_pulls += 1
            return arm.name
