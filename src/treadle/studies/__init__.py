"""Study state for hyperparameter tuning: each study an Optuna journal in treadle's store.
The runtime (``td.tune``) is :mod:`treadle.tuning` (above the client)."""

from treadle.studies._service import StudyService

__all__ = ["StudyService"]
