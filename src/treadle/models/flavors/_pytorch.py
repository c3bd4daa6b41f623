"""PyTorch modules as TorchScript (loads without the class) or as a ``state_dict`` plus the class.

- TorchScript (default): a ``torch.jit.ScriptModule`` is saved as is; a plain ``nn.Module`` is
  scripted with ``torch.jit.script``, or traced on ``input_example`` when scripting fails (or when
  ``mode="trace"``). Loading needs only torch.
- ``state_dict``: pass ``model_class="mypkg.mod:Net"`` (and ``init_kwargs={...}`` for its
  constructor); the weights are saved with ``torch.save`` and loaded with ``weights_only=True`` (no
  pickle of code), then ``Net(**init_kwargs).load_state_dict(...)``. Ship the class's module with
  ``code_paths=`` when it is not an installed package.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from treadle.errors import InvalidArgument
from treadle.models.flavors.base import Flavor, loaded

SCRIPT_FILE = "model.pt"
WEIGHTS_FILE = "state_dict.pt"


@contextlib.contextmanager
def _quiet_jit() -> Iterator[None]:
    """TorchScript is deprecated upstream in favour of torch.export, but still what loads without the class."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit", category=DeprecationWarning)
        yield


def import_class(path: str) -> Any:
    module, sep, qualname = path.partition(":")
    if not sep or not module or not qualname:
        raise InvalidArgument(f"model_class must look like 'package.module:ClassName', got {path!r}")
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidArgument(f"cannot import model_class {path!r}: {exc} (ship its code with code_paths=)") from None
    return obj


class PyTorchFlavor(Flavor):
    name = "pytorch"
    module = "torch"
    distribution = "torch"
    extra = "torch"
    save_options: ClassVar[frozenset[str]] = frozenset({"model_class", "init_kwargs", "mode"})

    @classmethod
    def matches(cls, model: Any) -> bool:
        torch = loaded("torch")
        return torch is not None and isinstance(model, (torch.nn.Module, torch.jit.ScriptFunction))

    def save(self, model: Any, root: Path, *, input_example: Any = None, **options: Any) -> dict[str, Any]:
        torch = self.framework()
        mode = options.get("mode") or ("state_dict" if options.get("model_class") else "script")
        if mode == "state_dict":
            cls_path = options.get("model_class")
            if not isinstance(cls_path, str):
                raise InvalidArgument("mode='state_dict' needs model_class='package.module:ClassName'")
            init_kwargs = dict(options.get("init_kwargs") or {})
            try:
                json.dumps(init_kwargs)
            except TypeError as exc:
                raise InvalidArgument(f"init_kwargs must be JSON-able: {exc}") from None
            cls = import_class(cls_path)
            if not isinstance(model, cls):
                raise InvalidArgument(f"the model is a {type(model).__name__}, not an instance of {cls_path}")
            self.modules.add(cls_path.partition(":")[0])
            torch.save(model.state_dict(), root / WEIGHTS_FILE)
            return {"mode": "state_dict", "file": WEIGHTS_FILE, "model_class": cls_path, "init_kwargs": init_kwargs}
        if mode not in ("script", "trace"):
            raise InvalidArgument(f"mode must be 'script', 'trace' or 'state_dict', got {mode!r}")
        scripted = model if isinstance(model, (torch.jit.ScriptModule, torch.jit.ScriptFunction)) else None
        if scripted is None and mode == "script":
            try:
                with _quiet_jit():
                    scripted = torch.jit.script(model)
            except Exception as exc:
                if input_example is None:
                    raise InvalidArgument(
                        f"torch.jit.script failed ({type(exc).__name__}: {str(exc)[:300]}); pass input_example= "
                        "to trace it instead, or model_class= to save its state_dict"
                    ) from None
        if scripted is None:
            if input_example is None:
                raise InvalidArgument("mode='trace' needs an input_example")
            args = self._to_torch(input_example)
            with torch.no_grad(), _quiet_jit():
                scripted = torch.jit.trace(model, tuple(args.values()) if isinstance(args, dict) else args)
            mode = "trace"
        with _quiet_jit():
            torch.jit.save(scripted, str(root / SCRIPT_FILE))
        return {"mode": "torchscript", "file": SCRIPT_FILE, "traced": mode == "trace"}

    def load(self, root: Path, options: dict[str, Any], trusted_types: list[str] | None = None) -> Any:
        torch = self.framework()
        file = root / str(options.get("file", SCRIPT_FILE))
        if options.get("mode") == "state_dict":
            cls = import_class(str(options["model_class"]))
            model = cls(**dict(options.get("init_kwargs") or {}))
            model.load_state_dict(torch.load(file, map_location="cpu", weights_only=True))
        else:
            with _quiet_jit():
                model = torch.jit.load(str(file), map_location="cpu")
        model.eval()
        return model

    def _to_torch(self, data: Any, dtype: Any = None) -> Any:
        torch = self.framework()

        def one(x: Any) -> Any:
            if isinstance(x, torch.Tensor):
                return x
            arr = np.asarray(x.to_numpy() if hasattr(x, "to_numpy") else x)
            if dtype is not None and arr.dtype.kind == "f":
                return torch.from_numpy(np.require(arr, requirements=["C", "W"])).to(dtype)
            return torch.from_numpy(np.require(arr, requirements=["C", "W"]))

        if isinstance(data, dict):
            return {str(k): one(v) for k, v in data.items()}
        return one(data)

    def predict(self, native: Any, data: Any) -> Any:
        torch = self.framework()
        params = list(native.parameters()) if hasattr(native, "parameters") else []
        float_dtype = next((p.dtype for p in params if p.is_floating_point()), None)
        args = self._to_torch(data, float_dtype)
        with torch.no_grad():
            out = native(**args) if isinstance(args, dict) else native(args)
        return _to_numpy(out)


def _to_numpy(out: Any) -> Any:
    if hasattr(out, "detach"):
        return out.detach().cpu().numpy()
    if isinstance(out, dict):
        return {k: _to_numpy(v) for k, v in out.items()}
    if isinstance(out, (tuple, list)):
        return tuple(_to_numpy(v) for v in out)
    return out
