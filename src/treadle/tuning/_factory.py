"""Samplers and pruners by name (``"tpe"``, ``"median"``, ...) or as Optuna objects."""

from __future__ import annotations

from collections.abc import Mapping

import optuna
from optuna.distributions import BaseDistribution

from treadle.errors import InvalidArgument
from treadle.tuning._space import grid_of

SAMPLERS = ("tpe", "random", "grid", "cmaes", "gp")
PRUNERS = ("median", "asha", "hyperband", "none")


def make_sampler(
    sampler: str | optuna.samplers.BaseSampler,
    seed: int | None,
    space: Mapping[str, BaseDistribution] | None,
    n_objectives: int,
) -> optuna.samplers.BaseSampler:
    """The sampler named ``sampler`` (an Optuna sampler object is returned as is)."""
    if isinstance(sampler, optuna.samplers.BaseSampler):
        return sampler
    name = str(sampler).lower()
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        if space is None:
            raise InvalidArgument("the grid sampler needs a space (the grid to walk): pass space={...}")
        return optuna.samplers.GridSampler(grid_of(space), seed=seed)
    if name == "cmaes":
        if n_objectives > 1:
            raise InvalidArgument("the cmaes sampler optimises one objective; use tpe for several directions")
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    raise InvalidArgument(f"unknown sampler {sampler!r}: use one of {', '.join(SAMPLERS)} or an Optuna sampler")


def make_pruner(pruner: str | optuna.pruners.BasePruner | None, n_objectives: int) -> optuna.pruners.BasePruner:
    """The pruner named ``pruner`` (None: no pruning; an Optuna pruner object is returned as is)."""
    if pruner is None or (isinstance(pruner, str) and pruner.lower() == "none"):
        return optuna.pruners.NopPruner()
    if n_objectives > 1:
        raise InvalidArgument("pruning works with one objective only (Optuna cannot prune multi-objective trials)")
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    name = str(pruner).lower()
    if name == "median":
        return optuna.pruners.MedianPruner()
    if name == "asha":
        return optuna.pruners.SuccessiveHalvingPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    raise InvalidArgument(f"unknown pruner {pruner!r}: use one of {', '.join(PRUNERS)} or an Optuna pruner")


def directions_of(direction: str, directions: list[str] | None) -> list[str]:
    """The study directions, checked: ``directions`` (several objectives) wins over ``direction``."""
    chosen = list(directions) if directions else [direction]
    for d in chosen:
        if d not in ("minimize", "maximize"):
            raise InvalidArgument(f"direction must be 'minimize' or 'maximize', got {d!r}")
    return chosen
