"""Hyperparameter tuning on Optuna's ask-and-tell, with study state in treadle's store (``td.tune``)."""
