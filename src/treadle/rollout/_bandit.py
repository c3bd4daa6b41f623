"""Bandit policies: pick an arm from the shared arm state plus this process's pulls since.

Feedback is delayed and arrives through the store, so a process knows (a) each arm's rewards as of
the last refresh and (b) how many requests it routed since. Thompson sampling and epsilon-greedy
randomise anyway; UCB counts the pending pulls as trials (the mean unchanged) so that it does not
send every request between two refreshes to the same arm.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from treadle.rollout._records import ArmState
from treadle.rollout._stats import arm_variance, fallback_variance


@dataclass
class Arm:
    """An arm as a policy sees it: shared state and this process's pulls since the last refresh."""

    name: str
    state: ArmState
    local_pulls: int = 0

    @property
    def n(self) -> int:
        return self.state.rewards

    @property
    def mean(self) -> float:
        return self.state.reward_sum / self.state.rewards if self.state.rewards else 0.0

    @property
    def trials(self) -> int:
        """Rewards received, or more when requests are still waiting for theirs."""
        return max(self.state.rewards, self.state.pulls) + self.local_pulls


def thompson(arms: Sequence[Arm], rng: random.Random, reward: str) -> int:
    """Draw each arm's mean from its posterior and take the largest draw.

    Binary rewards: Beta(1 + successes, 1 + failures). Continuous: Normal(mean, sd / sqrt(n)) with
    the sample sd, or :func:`~treadle.rollout._stats.fallback_variance` when the arm's rewards have
    no spread yet (two equal ratings must not make its mean look certain). An arm with fewer than
    two rewards is drawn first (it has no posterior yet) until it has two requests in flight here,
    then drawn with a very wide spread.
    """
    draws: list[float] = []
    triples = [(a.state.rewards, a.state.reward_sum, a.state.reward_sq_sum) for a in arms]
    fallback = fallback_variance(triples) if reward != "binary" else 1.0
    for arm, triple in zip(arms, triples, strict=True):
        s = arm.state
        if reward == "binary":
            successes = min(max(s.reward_sum, 0.0), float(s.rewards))
            draws.append(rng.betavariate(1.0 + successes, 1.0 + s.rewards - successes))
        elif s.rewards < 2:
            draws.append(math.inf if arm.local_pulls < 2 else rng.gauss(arm.mean, 1e6))
        else:
            draws.append(rng.gauss(arm.mean, math.sqrt(arm_variance(triple, fallback) / s.rewards)))
    return _argmax(draws, rng)


def epsilon_greedy(arms: Sequence[Arm], rng: random.Random, epsilon: float) -> int:
    """With probability ``epsilon`` a uniformly random arm, otherwise the best mean so far
    (arms without any reward count as best, so each gets tried)."""
    if rng.random() < epsilon:
        return rng.randrange(len(arms))
    return _argmax([arm.mean if arm.n else math.inf for arm in arms], rng)


def ucb(arms: Sequence[Arm], rng: random.Random, c: float) -> int:
    """UCB1: ``mean + sqrt(c * ln(N) / n)`` over trials (rewards, or more while some are pending); an
    arm never tried goes first. The bonus is sized for rewards in [0, 1] (``c = 2`` is Auer et al.'s
    UCB1); for continuous rewards on a scale ``s``, use ``c`` times ``s²``, else it hardly explores."""
    total = sum(arm.trials for arm in arms)
    scores = [
        math.inf if arm.trials == 0 else arm.mean + math.sqrt(c * math.log(max(total, 1)) / arm.trials) for arm in arms
    ]
    return _argmax(scores, rng)


def _argmax(values: Sequence[float], rng: random.Random) -> int:
    best = max(values)
    ties = [i for i, v in enumerate(values) if v == best]
    return ties[0] if len(ties) == 1 else rng.choice(ties)
