"""scikit-learn models (and anything with its ``predict`` API) as a cloudpickle file.

Pickles run arbitrary code when loaded. :func:`~treadle.models.load_model` checks every file's sha256
against the manifest before unpickling, so a file changed after saving is refused; the manifest's own
``digest`` (pin it with ``expected_digest=``) closes the loop. Only load models from sources you trust,
or use the ``skops`` or ``onnx`` flavors, which load without pickle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from treadle.models._requirements import dump_pickle, load_pickle
from treadle.models.flavors.base import SklearnLike, loaded

MODEL_FILE = "model.pkl"


class SklearnFlavor(SklearnLike):
    name = "sklearn"
    module = "sklearn"
    distribution = "scikit-learn"
    extra = "sklearn"
    pickle_based: ClassVar[bool] = True

    @classmethod
    def matches(cls, model: Any) -> bool:
        base = loaded("sklearn.base")
        return base is not None and isinstance(model, base.BaseEstimator)

    def save(self, model: Any, root: Path, *, input_example: Any = None, **options: Any) -> dict[str, Any]:
        self.framework()
        self.modules |= dump_pickle(model, root / MODEL_FILE)
        return {"file": MODEL_FILE, "serialization": "cloudpickle"}

    def load(self, root: Path, options: dict[str, Any], trusted_types: list[str] | None = None) -> Any:
        self.framework()
        return load_pickle(root / str(options.get("file", MODEL_FILE)))
