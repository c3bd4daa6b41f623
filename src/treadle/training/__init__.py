"""Training: recorded environments rebuilt as virtualenvs, and distributed launches (torch elastic, Ray Train).

``launch(fn_or_script, nproc_per_node=N, ...)`` runs a function or script on N workers as one
tracked run (rank 0 logs plain keys, rank r > 0 under ``rank{r}/``); ``backend="ray"`` uses Ray
Train's TorchTrainer. ``treadle env create runs:/ID DIR`` rebuilds a run's recorded environment.
"""

from treadle.training._launch import launch
from treadle.training._run import LaunchResult, TrainingFailed

__all__ = ["LaunchResult", "TrainingFailed", "launch"]
