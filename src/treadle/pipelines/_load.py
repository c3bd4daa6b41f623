"""``load_pipeline("pkg.mod:attr")`` or ``load_pipeline("path/to/file.py:attr")``.

The CLI and the scheduler's child process import pipelines this way; the pipeline's ``source``
and ``workdir`` are set to the reference, so a run queued later can import it again.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from types import ModuleType

from treadle.errors import InvalidArgument, NotFound
from treadle.pipelines._pipeline import Pipeline


def _import_file(path: str) -> ModuleType:
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise NotFound(f"no pipeline file {path}")
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    stem = os.path.splitext(os.path.basename(path))[0]
    name = f"treadle_pipeline_{stem}_{hashlib.sha256(path.encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidArgument(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_pipeline(ref: str) -> Pipeline:
    """The :class:`Pipeline` that ``ref`` ("module:attr" or "file.py:attr") names."""
    target, sep, attr = ref.rpartition(":")
    if not sep or not target or not attr:
        raise InvalidArgument(f"pipeline reference {ref!r} must be 'package.module:attr' or 'path/to/file.py:attr'")
    if target.endswith(".py") or os.sep in target or "/" in target:
        module = _import_file(target)
        source, workdir = f"{os.path.abspath(target)}:{attr}", os.path.dirname(os.path.abspath(target))
    else:
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            raise NotFound(f"cannot import module {target!r} for pipeline {ref!r}: {exc}") from None
        source, workdir = ref, None
    obj: object = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise NotFound(f"{target} has no attribute {attr!r} (pipeline reference {ref!r})")
        obj = getattr(obj, part)
    if not isinstance(obj, Pipeline):
        raise InvalidArgument(f"{ref!r} is a {type(obj).__name__}, not a @pipeline")
    obj.source = source
    if workdir is not None:
        obj.workdir = workdir
    obj._spec = None  # re-trace with the new source
    return obj
