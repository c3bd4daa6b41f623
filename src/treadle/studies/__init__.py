"""Study state for hyperparameter tuning: each study an Optuna journal in treadle's store.

The runtime (``td.tune``) is :mod:`treadle.tuning` (above the client); this package is the
service and the Optuna storage over it, so any process (a worker, the UI) can open a study.
"""

from typing import Any

from treadle.studies._records import Direction, StudySummary
from treadle.studies._service import StudyService

# The Optuna storage imports Optuna (and tqdm, which warns inside Jupyter): only when asked for.
_JOURNAL = ("TreadleJournalBackend", "flush_journal", "journal_storage", "open_study")


def __getattr__(name: str) -> Any:
    if name in _JOURNAL:
        from treadle.studies import _journal

        return getattr(_journal, name)
    raise AttributeError(f"module 'treadle.studies' has no attribute {name!r}")


__all__ = [
    "Direction",
    "StudyService",
    "StudySummary",
    "TreadleJournalBackend",
    "flush_journal",
    "journal_storage",
    "open_study",
]
