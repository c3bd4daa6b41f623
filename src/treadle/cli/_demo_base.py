"""Building blocks of ``treadle demo``: scenarios, each logging a handful of realistic runs.

A :class:`Scenario` is a named function that logs ``runs`` runs through the fluent SDK
(``import treadle as td``) and calls ``ctx.step`` once per run, which moves the progress bar.
Later capabilities (registry, serving, monitoring, pipelines) extend the demo by appending
their own scenarios to ``treadle.cli._demo.SCENARIOS``; a scenario may read what earlier ones
left in ``ctx.shared`` (e.g. the best run id).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import treadle as td
from treadle.client import Client
from treadle.errors import AlreadyExists, NotFound
from treadle.tracking import Experiment


@dataclass
class DemoContext:
    """What a scenario gets: the client, a progress callback, and a place to hand results on."""

    client: Client
    step: Callable[[str], None]
    shared: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    name: str
    runs: int  # how many runs ``play`` logs (sizes the progress bar)
    play: Callable[[DemoContext], None]


def use_experiment(client: Client, name: str, description: str, tags: dict[str, str]) -> Experiment:
    """Make ``name`` the fluent API's experiment: created on the first demo, reused (or restored) later."""
    try:
        exp = client.tracking.get_experiment_by_name(name)
    except NotFound:
        try:
            exp = client.create_experiment(name, description, tags)
        except AlreadyExists:  # created meanwhile by a concurrent demo
            exp = client.tracking.get_experiment_by_name(name)
    if exp.lifecycle != "active":
        exp = client.tracking.restore_experiment(exp.id)
    td.set_experiment(name)
    return exp
