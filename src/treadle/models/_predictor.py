"""The uniform interface every loaded model offers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from treadle.errors import InvalidArgument
from treadle.models._example import read_example
from treadle.models._manifest import ModelManifest
from treadle.models._signature import Signature
from treadle.models.flavors.base import Flavor


class Predictor:
    """A loaded model: ``predict`` / ``predict_proba`` on a DataFrame, an ndarray or a dict of arrays.

    Input is checked against the signature first (missing columns, unsafe dtype casts and wrong
    shapes raise :class:`~treadle.errors.InvalidArgument` naming the column). ``native`` is the
    framework's own object; ``manifest`` the model's ``treadle-model.yaml``.
    """

    def __init__(self, flavor: Flavor, native: Any, manifest: ModelManifest, path: Path) -> None:
        self._flavor = flavor
        self.native = native
        self.manifest = manifest
        self.path = path
        self.signature: Signature | None = manifest.signature or flavor.default_signature(native)

    @property
    def flavor(self) -> str:
        return self._flavor.name

    @property
    def has_proba(self) -> bool:
        return self._flavor.has_proba(self.native)

    @property
    def input_example(self) -> Any:
        """The example saved with the model, or None."""
        name = self.manifest.input_example
        return read_example(self.path / name) if name else None

    def prepare(self, data: Any) -> Any:
        """``data`` checked against the signature and cast to it (what ``predict`` feeds the model)."""
        if self.signature is not None:
            return self.signature.inputs.enforce(data)
        if isinstance(data, pd.Series):
            return data.to_frame()
        if isinstance(data, (pd.DataFrame, np.ndarray, Mapping, list)) or self.flavor == "python":
            return data
        raise InvalidArgument(
            f"expected a pandas DataFrame, numpy ndarray or dict of arrays, got {type(data).__name__}"
        )

    def predict(self, data: Any) -> Any:
        return self._flavor.predict(self.native, self.prepare(data))

    def predict_checked(self, data: Any) -> Any:
        """``predict`` for data already checked and cast against the signature (a server's hot path
        that checks each request once itself)."""
        return self._flavor.predict(self.native, data)

    def predict_proba_checked(self, data: Any) -> Any:
        return self._flavor.predict_proba(self.native, data)

    def predict_proba(self, data: Any) -> Any:
        if not self.has_proba:
            raise InvalidArgument(f"this {self.flavor} model has no predict_proba; use predict")
        return self._flavor.predict_proba(self.native, self.prepare(data))

    def __repr__(self) -> str:
        return f"Predictor(flavor={self.flavor!r}, path={str(self.path)!r}, digest={self.manifest.digest[:12]!r})"
