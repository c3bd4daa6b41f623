"""Search spaces: a small dict notation for Optuna distributions, usable from Python and YAML.

    {"lr": ("log", 1e-4, 1e-1),      # log-uniform float (ints on both ends: log-uniform int)
     "depth": (2, 8),                # int range, both ends included (floats: a float range)
     "subsample": (0.5, 1.0, 0.1),   # a range with a step
     "kernel": ["rbf", "linear"],    # categorical
     "alpha": {"low": 0.0, "high": 1.0, "log": False, "step": None},  # explicit (YAML-friendly)
     "gamma": {"choices": ["scale", "auto"]},
     "C": optuna.distributions.FloatDistribution(0.1, 10)}           # an Optuna distribution as is

Tuples are ranges and lists are choices in Python; YAML has no tuples, so YAML files use the dict
forms (or ``[log, 1e-4, 1e-1]`` / ``{range: [2, 8]}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from treadle.errors import InvalidArgument

Space = Mapping[str, Any]


def parse_space(space: Space) -> dict[str, BaseDistribution]:
    """Optuna distributions for a search space written in the notation above."""
    if not isinstance(space, Mapping) or not space:
        raise InvalidArgument("space must be a non-empty dict of parameter name -> range or choices")
    return {str(name): _parse(str(name), spec) for name, spec in space.items()}


def load_space(path: str | Path) -> dict[str, BaseDistribution]:
    """A search space from a YAML (or JSON) file."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise InvalidArgument(f"space file {str(path)!r} does not exist") from None
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"space file {str(path)!r} is not valid YAML: {exc}") from None
    if isinstance(data, Mapping) and "space" in data and isinstance(data["space"], Mapping):
        data = data["space"]
    return parse_space(data)


def grid_of(dists: Mapping[str, BaseDistribution]) -> dict[str, list[Any]]:
    """The grid a ``grid`` sampler walks: choices, and every point of int or stepped ranges."""
    grid: dict[str, list[Any]] = {}
    for name, dist in dists.items():
        if isinstance(dist, CategoricalDistribution):
            grid[name] = list(dist.choices)
        elif isinstance(dist, IntDistribution) and not dist.log:
            grid[name] = list(range(dist.low, dist.high + 1, dist.step))
        elif isinstance(dist, FloatDistribution) and dist.step is not None:
            n = round((dist.high - dist.low) / dist.step)
            grid[name] = [dist.low + i * dist.step for i in range(n + 1)]
        else:
            raise InvalidArgument(
                f"grid search needs a finite grid: parameter {name!r} is a continuous range; "
                "give it choices (a list) or a step, e.g. (0.0, 1.0, 0.25)"
            )
    return grid


def _parse(name: str, spec: Any) -> BaseDistribution:
    if isinstance(spec, BaseDistribution):
        return spec
    try:
        if isinstance(spec, tuple):
            return _range(name, list(spec))
        if isinstance(spec, list):
            if spec and spec[0] == "log" and len(spec) == 3:
                return _range(name, spec)
            if not spec:
                raise InvalidArgument(f"parameter {name!r} has no choices")
            return CategoricalDistribution(spec)
        if isinstance(spec, Mapping):
            if "choices" in spec:
                return CategoricalDistribution(list(spec["choices"]))
            if "range" in spec:
                return _range(name, list(spec["range"]))
            if "low" in spec and "high" in spec:
                return _dist(name, spec["low"], spec["high"], bool(spec.get("log", False)), spec.get("step"))
    except InvalidArgument:
        raise
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"parameter {name!r}: {exc}") from None
    raise InvalidArgument(
        f"parameter {name!r}: cannot read {spec!r} as a range or choices; use (low, high), (low, high, step), "
        "('log', low, high), a list of choices, or {low:, high:, log:, step:} / {choices: [...]}"
    )


def _range(name: str, items: list[Any]) -> BaseDistribution:
    log = bool(items) and items[0] == "log"
    if log:
        items = items[1:]
    if len(items) not in (2, 3) or not all(_is_number(v) for v in items):
        raise InvalidArgument(
            f"parameter {name!r}: a range is (low, high) or (low, high, step) of numbers, got {items!r}"
        )
    return _dist(name, items[0], items[1], log, items[2] if len(items) == 3 else None)


def _dist(name: str, low: Any, high: Any, log: bool, step: Any) -> BaseDistribution:
    if not (_is_number(low) and _is_number(high)) or low > high:
        raise InvalidArgument(f"parameter {name!r}: need numbers low <= high, got {low!r}, {high!r}")
    if log and step is not None:
        raise InvalidArgument(f"parameter {name!r}: a log range cannot have a step")
    if log and low <= 0:
        raise InvalidArgument(f"parameter {name!r}: a log range needs low > 0, got {low!r}")
    if all(isinstance(v, int) for v in (low, high)) and (step is None or isinstance(step, int)):
        return IntDistribution(int(low), int(high), log=log, step=int(step or 1))
    return FloatDistribution(float(low), float(high), log=log, step=None if step is None else float(step))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
