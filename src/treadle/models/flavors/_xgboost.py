"""XGBoost boosters and scikit-learn wrappers in XGBoost's own format (UBJSON or JSON; no pickle)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, ClassVar

from treadle.errors import InvalidArgument
from treadle.models.flavors.base import SklearnLike, loaded


class XGBoostFlavor(SklearnLike):
    name = "xgboost"
    module = "xgboost"
    distribution = "xgboost"
    extra = "xgboost"
    save_options: ClassVar[frozenset[str]] = frozenset({"model_format"})

    @classmethod
    def matches(cls, model: Any) -> bool:
        xgb = loaded("xgboost")
        return xgb is not None and isinstance(model, (xgb.Booster, xgb.XGBModel))

    def save(self, model: Any, root: Path, *, input_example: Any = None, **options: Any) -> dict[str, Any]:
        xgb = self.framework()
        fmt = options.get("model_format", "ubj")
        if fmt not in ("ubj", "json"):
            raise InvalidArgument(f"model_format must be 'ubj' or 'json', got {fmt!r}")
        file = f"model.{fmt}"
        model.save_model(str(root / file))
        cls = None if isinstance(model, xgb.Booster) else f"{type(model).__module__}:{type(model).__qualname__}"
        return {"file": file, "model_class": cls}

    def load(self, root: Path, options: dict[str, Any], trusted_types: list[str] | None = None) -> Any:
        xgb = self.framework()
        file = str(root / options["file"])
        cls_path = options.get("model_class")
        if not cls_path:
            return xgb.Booster(model_file=file)
        module, _, qualname = str(cls_path).partition(":")
        if module.split(".", 1)[0] != "xgboost":
            raise InvalidArgument(f"model_class {cls_path!r} is not an XGBoost class")
        model = getattr(importlib.import_module(module), qualname)()
        model.load_model(file)
        return model

    def predict(self, native: Any, data: Any) -> Any:
        xgb = self.framework()
        if isinstance(native, xgb.Booster):
            return native.predict(xgb.DMatrix(data))
        return native.predict(data)
