"""LightGBM boosters as LightGBM's text format; scikit-learn wrappers (``LGBMClassifier``, ...) too.

A ``Booster`` is saved as ``model.txt`` only and loads without pickle. A scikit-learn wrapper keeps
fitted state (classes, label encoding) that only pickle restores, so it is saved as ``model.pkl``
(cloudpickle; verified against the manifest before unpickling) beside the same ``model.txt``, which
LightGBM in any language can read without pickle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from treadle.models._requirements import dump_pickle, load_pickle
from treadle.models.flavors.base import SklearnLike, loaded

BOOSTER_FILE = "model.txt"
WRAPPER_FILE = "model.pkl"


class LightGBMFlavor(SklearnLike):
    name = "lightgbm"
    module = "lightgbm"
    distribution = "lightgbm"
    extra = "lightgbm"
    pickle_based: ClassVar[bool] = True  # for scikit-learn wrappers only

    @classmethod
    def matches(cls, model: Any) -> bool:
        lgb = loaded("lightgbm")
        return lgb is not None and isinstance(model, (lgb.Booster, lgb.LGBMModel))

    def save(self, model: Any, root: Path, *, input_example: Any = None, **options: Any) -> dict[str, Any]:
        lgb = self.framework()
        booster = model if isinstance(model, lgb.Booster) else model.booster_
        booster.save_model(str(root / BOOSTER_FILE))
        if isinstance(model, lgb.Booster):
            return {"file": BOOSTER_FILE, "wrapper": None}
        self.modules |= dump_pickle(model, root / WRAPPER_FILE)
        return {"file": BOOSTER_FILE, "wrapper": WRAPPER_FILE}

    def load(self, root: Path, options: dict[str, Any], trusted_types: list[str] | None = None) -> Any:
        lgb = self.framework()
        if options.get("wrapper"):
            return load_pickle(root / str(options["wrapper"]))
        return lgb.Booster(model_file=str(root / str(options.get("file", BOOSTER_FILE))))
