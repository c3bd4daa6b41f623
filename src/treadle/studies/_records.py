"""Records the tuning service returns (they cross the SDK, HTTP, CLI and UI)."""

from __future__ import annotations

from typing import Literal

from treadle.records import Record

Direction = Literal["minimize", "maximize"]


class StudySummary(Record):
    """A study at a glance, kept up to date as its journal grows (no replay needed to list studies).

    ``best_value`` is set for single-objective studies only; a multi-objective study's best trials
    (its Pareto front) come from :func:`treadle.studies.open_study`. ``n_running`` counts trials
    that were created and have not finished (running or waiting).
    """

    name: str
    directions: list[Direction]
    n_trials: int
    n_complete: int
    n_pruned: int
    n_failed: int
    best_value: float | None = None
    run_id: str | None = None
    created_at: int  # epoch ms
    updated_at: int

    @property
    def n_running(self) -> int:
        return self.n_trials - self.n_complete - self.n_pruned - self.n_failed
