"""The flavor contract.

A :class:`Flavor` knows how to write one framework's models into a directory and read them back.

- ``save(model, root, **options)`` writes the model's files directly under ``root`` (an empty
  directory; the names ``code/``, ``input_example.json`` and ``treadle-model.yaml`` are reserved)
  and returns the options :meth:`load` will need, which are recorded in the manifest as
  ``flavor_options`` (JSON-able values only). It accepts only the keyword options named in
  :attr:`save_options`; anything else is refused before it is called. It adds the modules the saved
  model refers to, when it can tell, to :attr:`modules` (requirements are pinned from them), and
  sets :attr:`signature` when the model declares its inputs itself (ONNX graphs do).
- ``load(root, options, trusted_types)`` is called only after every file was verified against the
  manifest, and returns the framework's own object (``native``).
- ``predict(native, data)`` / ``predict_proba(native, data)`` take input already checked against the
  signature (a DataFrame, an ndarray or a dict of ndarrays) and return ndarrays, DataFrames or dicts
  of ndarrays. A flavor without probabilities leaves ``predict_proba`` raising InvalidArgument.
- Frameworks are imported lazily through :meth:`framework` so that importing treadle never imports
  them; a missing framework raises InvalidArgument that names the extra to install.
- One instance serves one saved or loaded model and may keep state for it (the python flavor keeps
  its context); instances are not shared between threads during load, but ``predict`` must be safe
  to call from several threads when the framework's own predict is.
"""

from __future__ import annotations

import importlib
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from treadle.errors import InvalidArgument
from treadle.models._requirements import distribution_of, version_of
from treadle.models._signature import Signature


def missing(module: str, extra: str) -> InvalidArgument:
    return InvalidArgument(f"{module} is not installed; install it with: pip install 'treadle[{extra}]'")


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise InvalidArgument naming the treadle extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise missing(module, extra) from None


def loaded(module: str) -> ModuleType | None:
    """``module`` if it was already imported (detection never imports a framework)."""
    mod = sys.modules.get(module)
    return mod if isinstance(mod, ModuleType) else None


class Flavor(ABC):
    """One framework's save/load/predict (see the module docstring for the contract)."""

    name: ClassVar[str]
    module: ClassVar[str]  # the framework's import name, e.g. "sklearn"
    distribution: ClassVar[str]  # its distribution name, e.g. "scikit-learn"
    extra: ClassVar[str]  # the treadle extra that installs it
    pickle_based: ClassVar[bool] = False
    save_options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self) -> None:
        self.modules: set[str] = {self.module, "numpy"}
        self.signature: Signature | None = None  # set by save() when the model declares its own

    @classmethod
    def framework(cls) -> ModuleType:
        return require(cls.module, cls.extra)

    @classmethod
    def framework_version(cls) -> str | None:
        dist = distribution_of(cls.module)  # e.g. xgboost-cpu provides xgboost
        return version_of(cls.distribution) or (version_of(dist) if dist else None)

    @classmethod
    def matches(cls, model: Any) -> bool:
        """Whether ``model`` is this flavor's kind of object (used when no flavor is given)."""
        return False

    @abstractmethod
    def save(self, model: Any, root: Path, *, input_example: Any = None, **options: Any) -> dict[str, Any]: ...

    @abstractmethod
    def load(self, root: Path, options: dict[str, Any], trusted_types: list[str] | None = None) -> Any: ...

    def predict(self, native: Any, data: Any) -> Any:
        return native.predict(data)

    def has_proba(self, native: Any) -> bool:
        return False

    def predict_proba(self, native: Any, data: Any) -> Any:
        raise InvalidArgument(f"this {self.name} model has no predict_proba; use predict")

    def default_signature(self, native: Any) -> Signature | None:
        """A signature read from the model itself (ONNX graphs have one), used when none was given."""
        return None


class SklearnLike(Flavor):
    """Models with scikit-learn's ``predict`` / ``predict_proba`` methods."""

    def has_proba(self, native: Any) -> bool:
        return callable(getattr(native, "predict_proba", None))

    def predict_proba(self, native: Any, data: Any) -> Any:
        if not self.has_proba(native):
            return super().predict_proba(native, data)
        return native.predict_proba(data)
