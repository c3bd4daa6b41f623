"""scikit-learn models in skops' safe format: loading never unpickles.

``skops.io`` rebuilds only types it trusts. Types outside its default trust list (a tree's ``Tree``,
your own transformers) must be trusted explicitly: the ones present when the model was saved are
recorded in the manifest (covered by its digest) and trusted at load; pass ``trusted_types=`` to
:func:`~treadle.models.load_model` to trust others. Anything else makes the load fail, naming the types.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from treadle.errors import InvalidArgument
from treadle.models.flavors.base import SklearnLike, require

MODEL_FILE = "model.skops"


class SkopsFlavor(SklearnLike):
    name = "skops"
    module = "skops"
    distribution = "skops"
    extra = "skops"

    def __init__(self) -> None:
        super().__init__()
        self.modules |= {"sklearn"}

    def save(self, model: Any, root: Path, *, input_example: Any = None, **options: Any) -> dict[str, Any]:
        sio = require("skops.io", self.extra)
        path = root / MODEL_FILE
        sio.dump(model, path)
        untrusted = sorted(sio.get_untrusted_types(file=path))
        self.modules |= {t.split(".", 1)[0] for t in untrusted}
        return {"file": MODEL_FILE, "trusted_types": untrusted}

    def load(self, root: Path, options: dict[str, Any], trusted_types: list[str] | None = None) -> Any:
        sio = require("skops.io", self.extra)
        path = root / str(options.get("file", MODEL_FILE))
        trusted = sorted({*options.get("trusted_types", []), *(trusted_types or [])})
        untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in trusted]
        if untrusted:
            raise InvalidArgument(
                f"the skops model uses types nobody trusted: {', '.join(untrusted)}; "
                "if you trust them, pass trusted_types=[...] to load_model"
            )
        return sio.load(path, trusted=trusted)
