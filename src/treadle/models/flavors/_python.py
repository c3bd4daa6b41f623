"""The ``python`` flavor: a :class:`~treadle.models.PythonModel` subclass, pickled with cloudpickle,
plus artifact files copied under ``artifacts/``. Loading unpickles (after the digest check)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from treadle.errors import InvalidArgument
from treadle.models._python_model import PythonModel, PythonModelContext
from treadle.models._requirements import dump_pickle, load_pickle
from treadle.models.flavors.base import Flavor

MODEL_FILE = "python_model.pkl"
ARTIFACTS = "artifacts"


class PythonFlavor(Flavor):
    name = "python"
    module = "cloudpickle"
    distribution = "cloudpickle"
    extra = ""  # cloudpickle is a core dependency
    pickle_based: ClassVar[bool] = True
    save_options: ClassVar[frozenset[str]] = frozenset({"artifacts"})

    def __init__(self) -> None:
        super().__init__()
        self.modules = {"cloudpickle"}
        self.context = PythonModelContext()

    @classmethod
    def framework(cls) -> ModuleType:
        try:
            import cloudpickle
        except ImportError:
            raise InvalidArgument("the python flavor needs cloudpickle: pip install cloudpickle") from None
        return cloudpickle

    @classmethod
    def framework_version(cls) -> str | None:
        return None

    @classmethod
    def matches(cls, model: Any) -> bool:
        return isinstance(model, PythonModel)

    def save(self, model: Any, root: Path, *, input_example: Any = None, **options: Any) -> dict[str, Any]:
        if not isinstance(model, PythonModel):
            raise InvalidArgument(f"the python flavor takes a treadle.models.PythonModel, got {type(model).__name__}")
        recorded: dict[str, str] = {}
        for name, src in dict(options.get("artifacts") or {}).items():
            source = Path(src)
            if not str(name) or "/" in str(name) or str(name) in (".", ".."):
                raise InvalidArgument(f"artifact name {name!r} must be a plain name")
            if not source.exists():
                raise InvalidArgument(f"artifact {name!r}: {src} does not exist")
            dest = root / ARTIFACTS / str(name) / source.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, dest)
            else:
                shutil.copyfile(source, dest)
            recorded[str(name)] = dest.relative_to(root).as_posix()
        self.modules |= dump_pickle(model, root / MODEL_FILE)
        return {
            "file": MODEL_FILE,
            "artifacts": recorded,
            "class": f"{type(model).__module__}:{type(model).__qualname__}",
        }

    def load(self, root: Path, options: dict[str, Any], trusted_types: list[str] | None = None) -> Any:
        model = load_pickle(root / str(options.get("file", MODEL_FILE)))
        if not isinstance(model, PythonModel):
            raise InvalidArgument(f"{MODEL_FILE} does not hold a PythonModel but a {type(model).__name__}")
        artifacts = {name: str(root / rel) for name, rel in dict(options.get("artifacts") or {}).items()}
        self.context = PythonModelContext(artifacts=artifacts, model_dir=str(root))
        model.load_context(self.context)
        return model

    def predict(self, native: Any, data: Any) -> Any:
        return native.postprocess(native.predict(self.context, native.preprocess(data)))

    def has_proba(self, native: Any) -> bool:
        return callable(getattr(native, "predict_proba", None))

    def predict_proba(self, native: Any, data: Any) -> Any:
        if not self.has_proba(native):
            return super().predict_proba(native, data)
        return native.predict_proba(self.context, native.preprocess(data))
