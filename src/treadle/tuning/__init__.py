"""Hyperparameter tuning on Optuna's ask-and-tell, with study state in treadle's store (``td.tune``).

``tune`` runs a study (see its docstring and :mod:`treadle.tuning._space` for the space notation);
``load_study`` opens one that exists, e.g. to read ``best_params`` later or from another process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from treadle.tuning._space import load_space, parse_space
from treadle.tuning._tune import tune

if TYPE_CHECKING:
    import optuna

    from treadle.client import Client


def load_study(name: str, client: Client | None = None) -> optuna.Study:
    """The study ``name`` as an Optuna study (NotFound if there is none)."""
    from treadle.client import get_client
    from treadle.studies import open_study

    return open_study((client or get_client()).tuning, name)


__all__ = ["load_space", "load_study", "parse_space", "tune"]
