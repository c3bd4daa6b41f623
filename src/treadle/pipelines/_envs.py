"""Cached virtualenvs for steps that declare ``requirements``.

A step decorated ``@step(requirements=["inflection==0.5.1"])`` runs under the Python of a virtualenv
built for exactly those requirements. The venv is keyed by sha256(Python version + the environment
running treadle + the sorted requirements), lives in ``$TREADLE_CACHE/venvs/<key>`` (default
``~/.cache/treadle``), is built once and reused by every later step and run with the same key.

The venv *inherits* the packages of the environment running treadle (a ``.pth`` file, like
``--system-site-packages`` but after the venv's own), so treadle and its dependencies import there
without being installed again, while the step's requirements, installed into the venv, come first.
Builds take a file lock, so parallel steps (threads or processes) needing the same venv build it once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from treadle.errors import InvalidArgument
from treadle.training._venv import StepFailed, Venv, find_uv, parent_site_dirs, run, treadle_source

COMPLETE = ".treadle-complete"  # written last: a venv without it is a half-built one, rebuilt


def cache_root() -> Path:
    return Path(os.environ.get("TREADLE_CACHE", Path.home() / ".cache" / "treadle")) / "venvs"


def normalise(requirements: Sequence[str]) -> list[str]:
    """Sorted, deduplicated, stripped requirement strings: the same set gives the same venv."""
    return sorted({r.strip() for r in requirements if r and r.strip()})


def env_key(requirements: Sequence[str]) -> str:
    python = f"{sys.implementation.name}-{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
    blob = json.dumps({"python": python, "base": sys.prefix, "requirements": normalise(requirements)})
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def env_dir(requirements: Sequence[str]) -> Path:
    return cache_root() / env_key(requirements)


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` across threads and processes (flock: one per open file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
            yield
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def step_python(requirements: Sequence[str], *, step: str | None = None) -> Path:
    """The Python to run a step with ``requirements`` under: this one when there are none, else the
    cached venv's (built now when missing). Raises InvalidArgument naming the step and the installer's
    output when the requirements cannot be installed."""
    wanted = normalise(requirements)
    if not wanted:
        return Path(sys.executable)
    root = env_dir(wanted)
    venv = Venv(root, find_uv())
    if (root / COMPLETE).is_file() and venv.exists():
        return venv.python
    with file_lock(root.with_name(root.name + ".lock")):
        if (root / COMPLETE).is_file() and venv.exists():  # another step built it while we waited
            return venv.python
        try:
            _build(venv, wanted)
        except StepFailed as exc:
            shutil.rmtree(root, ignore_errors=True)
            who = f"step {step!r}" if step else "a step"
            tail = "\n".join(exc.tail())
            raise InvalidArgument(
                f"cannot build the virtualenv for {who} with requirements {wanted}: {exc.message}"
                + (f"\n{tail}" if tail else "")
                + "\ncheck the requirement names and versions (pip must be able to install them here)"
            ) from None
    return venv.python


def _build(venv: Venv, requirements: list[str]) -> None:
    """Create, inherit, check treadle, install. Without uv the venv gets no pip of its own (ensurepip
    takes 10+ s); this Python's pip installs into it with ``pip --python``."""
    if venv.root.exists():  # a half-built venv from a killed build
        shutil.rmtree(venv.root)
    venv.root.parent.mkdir(parents=True, exist_ok=True)
    if venv.uv:
        venv.create(sys.executable)
    else:
        run([sys.executable, "-m", "venv", "--without-pip", str(venv.root)], "creating the virtualenv")
    venv.inherit(parent_site_dirs())
    if venv.treadle_location() is None:  # treadle is not visible through the inherited site dirs
        source, _ = treadle_source()
        _install(venv, ["--no-deps", *source], "installing treadle")
    _install(venv, requirements, "installing the step's requirements")
    run([str(venv.python), "-c", "import treadle.pipelines._child"], "importing treadle in the virtualenv")
    (venv.root / COMPLETE).write_text(json.dumps({"requirements": requirements}) + "\n", encoding="utf-8")


def _install(venv: Venv, args: list[str], what: str) -> str:
    if venv.uv:
        return venv.install(args, what)
    return run([sys.executable, "-m", "pip", "--python", str(venv.python), "install", "--no-input", *args], what)
