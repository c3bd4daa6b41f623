"""Loading definitions from Python files, for ``treadle features apply PATH``.

``PATH`` is a ``.py`` file or a folder (every ``.py`` file below it, in sorted order, skipping
names that start with ``_`` or ``.`` and folders named ``tests``, ``.venv``, ``venv``,
``__pycache__``). Each file is imported as its own module with its folder on ``sys.path``
(so sibling imports work); the module-level Entity, FeatureView and OnDemandFeatureView objects
are collected, plus the entities those views were given as objects. The modules are marked so
on-demand transforms defined in them are pickled by value and run on a server without the files.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from treadle.errors import InvalidArgument
from treadle.features._definitions import Definition, Entity, FeatureView, OnDemandFeatureView
from treadle.features._transforms import REPO_MODULE_FLAG

SKIP_DIRS = {"tests", ".venv", "venv", "__pycache__", "node_modules", ".git"}


def definition_files(path: str | Path) -> list[Path]:
    root = Path(path)
    if root.is_file():
        if root.suffix != ".py":
            raise InvalidArgument(f"{root} is not a Python file; give a .py file or a folder of them")
        return [root]
    if not root.is_dir():
        raise InvalidArgument(f"{root} does not exist; give a .py file or a folder of definitions")
    files = []
    for file in sorted(root.rglob("*.py")):
        parts = file.relative_to(root).parts
        if any(p in SKIP_DIRS or p.startswith(".") for p in parts[:-1]) or file.name.startswith(("_", ".")):
            continue
        files.append(file)
    return files


def _import(file: Path) -> ModuleType:
    name = "treadle_repo_" + hashlib.sha256(str(file.resolve()).encode()).hexdigest()[:12] + "_" + file.stem
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise InvalidArgument(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    setattr(module, REPO_MODULE_FLAG, True)
    sys.modules[name] = module
    folder = str(file.resolve().parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        raise InvalidArgument(f"{file}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:
        sys.modules.pop(name, None)
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(file)]
        where = f"{file}:{frames[-1].lineno}" if frames else str(file)
        raise InvalidArgument(f"{where}: importing the definitions failed: {type(exc).__name__}: {exc}") from None
    finally:
        if added:
            sys.path.remove(folder)
    return module


def load_definitions(path: str | Path) -> list[Definition]:
    """Entities first, then feature views, then on-demand views, each name once."""
    found: dict[tuple[str, str], tuple[Definition, Path]] = {}

    def add(obj: Definition, file: Path) -> None:
        key = ("entity" if isinstance(obj, Entity) else "view", obj.name)
        if key in found:
            other, where = found[key]
            if other is obj or _same(other, obj):
                return
            raise InvalidArgument(f"{obj.name!r} is defined differently in {where} and {file}; keep one definition")
        found[key] = (obj, file)

    root = Path(path).resolve()
    root = root if root.is_dir() else root.parent
    files = definition_files(path)
    # Forget modules an earlier load imported (this folder's or another's), so edited files and
    # same-named helper modules of another folder are imported afresh.
    for name, module in list(sys.modules.items()):
        if getattr(module, REPO_MODULE_FLAG, False) is True:
            del sys.modules[name]
    for file in files:
        module = _import(file)
        _flag_local_modules(root)
        for value in list(vars(module).values()):
            if isinstance(value, Entity | FeatureView | OnDemandFeatureView):
                add(value, file)
                if isinstance(value, FeatureView):
                    for entity in value.entity_objects.values():
                        add(entity, file)
    order = {Entity: 0, FeatureView: 1, OnDemandFeatureView: 2}
    defs = [d for d, _ in found.values()]
    return sorted(defs, key=lambda d: (order[type(d)], d.name))


def _flag_local_modules(root: Path) -> None:
    """Modules the definitions imported from beside them: pickle their functions by value too."""
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().is_relative_to(root) and not getattr(module, REPO_MODULE_FLAG, False):
            try:
                setattr(module, REPO_MODULE_FLAG, True)
            except (AttributeError, TypeError):
                continue


def _same(a: Any, b: Any) -> bool:
    from treadle.features._diff import comparable

    return type(a) is type(b) and comparable(a.spec()) == comparable(b.spec())
