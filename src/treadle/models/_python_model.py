"""The base class for models written in plain Python."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PythonModelContext:
    """What :meth:`PythonModel.load_context` gets: ``artifacts`` maps each name given at save time to
    the local path of its copy inside the loaded model directory."""

    artifacts: dict[str, str] = field(default_factory=dict)
    model_dir: str = ""

    def artifact(self, name: str) -> Path:
        return Path(self.artifacts[name])


class PythonModel:
    """Subclass this to ship your own prediction code (feature engineering, ensembles, rules).

    ``save_model(MyModel(), path, artifacts={"vocab": "vocab.json"})`` pickles the instance with
    cloudpickle and copies the artifacts into the model. At load, :meth:`load_context` runs once with
    the artifacts' new paths; then each ``Predictor.predict(data)`` calls
    ``postprocess(predict(context, preprocess(data)))``, after checking ``data`` against the signature.
    Define ``predict_proba(context, data)`` too to make ``Predictor.predict_proba`` available (it gets
    the preprocessed data; ``postprocess`` is not applied to probabilities).

    The instance is a pickle: loading it runs code, which is why its digest is verified first.
    """

    def load_context(self, context: PythonModelContext) -> None:
        """Load what ``predict`` needs from ``context.artifacts`` (called once per load)."""

    def preprocess(self, data: Any) -> Any:
        """Turn raw input (already checked against the signature) into what ``predict`` takes."""
        return data

    def predict(self, context: PythonModelContext, data: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define predict(self, context, data)")

    def postprocess(self, output: Any) -> Any:
        """Shape ``predict``'s output for callers (labels, JSON-able records, ...)."""
        return output
