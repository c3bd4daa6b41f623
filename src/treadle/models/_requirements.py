"""Pinned requirements from the modules a model actually uses, and pickling that records them."""

from __future__ import annotations

import functools
import importlib.metadata as md
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from treadle.errors import InvalidArgument

# Distributions a model never needs at load time even when its pickle mentions their modules.
_IGNORED = {"treadle", "pip", "setuptools", "wheel"}


@functools.cache
def _module_dists() -> dict[str, list[str]]:
    return dict(md.packages_distributions())


def distribution_of(module: str) -> str | None:
    """The installed distribution that provides top-level ``module`` (``sklearn`` -> ``scikit-learn``)."""
    found = _module_dists().get(module.split(".", 1)[0])
    return found[0] if found else None


def refresh_distributions() -> None:
    """Forget the module -> distribution map (packages may have been installed since)."""
    _module_dists.cache_clear()


def version_of(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def pin(dist: str) -> str:
    version = version_of(dist)
    name = md.metadata(dist)["Name"] if version else dist
    return f"{name}=={version}" if version else dist


def pinned_requirements(modules: Iterable[str]) -> list[str]:
    """``name==version`` for each installed distribution behind ``modules``; stdlib and unknown dropped."""
    dists: set[str] = set()
    for module in modules:
        top = module.split(".", 1)[0]
        if not top or top in sys.stdlib_module_names or top in ("__main__", "builtins"):
            continue
        dist = distribution_of(top)
        if dist and dist.lower() not in _IGNORED:
            dists.add(dist)
    return sorted((pin(d) for d in dists), key=str.lower)


def local_modules(modules: Iterable[str]) -> list[str]:
    """Top-level modules that no distribution provides and that are not stdlib (ship them as code_paths)."""
    out = set()
    for module in modules:
        top = module.split(".", 1)[0]
        special = top in sys.stdlib_module_names or top in ("__main__", "builtins", "treadle")
        if top and not special and distribution_of(top) is None:
            out.add(top)
    return sorted(out)


def _recording_pickler() -> type[Any]:
    try:
        import cloudpickle
    except ImportError:
        raise InvalidArgument("pickling models needs cloudpickle: pip install cloudpickle") from None

    class RecordingPickler(cloudpickle.Pickler):
        """A cloudpickle pickler that notes the module of every object and class it writes."""

        def __init__(self, file: Any, protocol: int | None = None) -> None:
            super().__init__(file, protocol=protocol)
            self.modules: set[str] = set()

        def reducer_override(self, obj: Any) -> Any:
            mod = getattr(obj, "__module__", None) if isinstance(obj, type) or callable(obj) else None
            if isinstance(mod, str):
                self.modules.add(mod)
            self.modules.add(type(obj).__module__)
            return super().reducer_override(obj)

    return RecordingPickler


def dump_pickle(obj: Any, path: Path) -> set[str]:
    """Write ``obj`` with cloudpickle (protocol 5) and return the modules the pickle refers to."""
    pickler_cls = _recording_pickler()
    with open(path, "wb") as f:
        pickler = pickler_cls(f, protocol=5)
        pickler.dump(obj)
    return set(pickler.modules)


def load_pickle(path: Path) -> Any:
    """Unpickle ``path``. Pickles run code: only call this on files whose digest was verified."""
    import pickle

    with open(path, "rb") as f:
        return pickle.load(f)
