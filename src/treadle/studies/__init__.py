"""Study state for hyperparameter tuning: each study an Optuna journal in treadle's store.

The runtime (``td.tune``) is :mod:`treadle.tuning` (above the client); this package is the
service and the Optuna storage over it, so any process (a worker, the UI) can open a study.
"""

from treadle.studies._journal import TreadleJournalBackend, journal_storage, open_study
from treadle.studies._records import Direction, StudySummary
from treadle.studies._service import StudyService

__all__ = ["Direction", "StudyService", "StudySummary", "TreadleJournalBackend", "journal_storage", "open_study"]
