"""Flavors by name, and detection of a model's flavor from its type."""

from __future__ import annotations

from typing import Any

from treadle.errors import InvalidArgument
from treadle.models.flavors._lightgbm import LightGBMFlavor
from treadle.models.flavors._onnx import OnnxFlavor
from treadle.models.flavors._python import PythonFlavor
from treadle.models.flavors._pytorch import PyTorchFlavor
from treadle.models.flavors._sklearn import SklearnFlavor
from treadle.models.flavors._skops import SkopsFlavor
from treadle.models.flavors._xgboost import XGBoostFlavor
from treadle.models.flavors.base import Flavor

# Most specific first: XGBoost and LightGBM wrappers are scikit-learn estimators too.
FLAVORS: dict[str, type[Flavor]] = {
    cls.name: cls
    for cls in (
        PythonFlavor,
        PyTorchFlavor,
        XGBoostFlavor,
        LightGBMFlavor,
        OnnxFlavor,
        SklearnFlavor,
        SkopsFlavor,
    )
}


def list_flavors() -> list[str]:
    return sorted(FLAVORS)


def get_flavor(name: str) -> type[Flavor]:
    try:
        return FLAVORS[name]
    except KeyError:
        raise InvalidArgument(f"unknown model flavor {name!r}; known: {', '.join(list_flavors())}") from None


def detect_flavor(model: Any) -> type[Flavor]:
    """The flavor for ``model`` by its type (skops is never guessed: ask for it with ``flavor="skops"``)."""
    for cls in FLAVORS.values():
        if cls.matches(model):
            return cls
    raise InvalidArgument(
        f"cannot tell the flavor of a {type(model).__module__}.{type(model).__qualname__}; "
        f"pass flavor= (one of {', '.join(list_flavors())}) or wrap it in a treadle.models.PythonModel"
    )


__all__ = ["FLAVORS", "Flavor", "detect_flavor", "get_flavor", "list_flavors"]
