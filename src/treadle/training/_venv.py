"""Virtual environments for ``treadle models env``: create one, install into it, run Python in it.

``uv`` is used when it is on PATH (``uv venv``, ``uv pip install --python``), else the standard
library's ``venv`` and the environment's own pip. Nothing here prints: failures raise
:class:`StepFailed` with the command's output, which the command shows.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import os
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

INHERIT_PTH = "_treadle_inherit.pth"
OUTPUT_TAIL = 25  # lines of a failed command's output worth showing


class StepFailed(Exception):
    """A command failed; ``output`` is what it printed."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.output = output

    def tail(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.strip()][-OUTPUT_TAIL:]


def child_env() -> dict[str, str]:
    """The environment for commands run in the new venv: ours, minus what would point Python elsewhere."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONNOUSERSITE"] = "1"  # the user's ~/.local packages must not make the check pass
    return env


def run(args: list[str], what: str, cwd: Path | None = None) -> str:
    """Run ``args``; its combined output, or StepFailed naming ``what`` failed."""
    try:
        done = subprocess.run(
            args, cwd=cwd, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False
        )
    except OSError as exc:
        raise StepFailed(f"{what} failed: cannot run {args[0]}: {exc}") from None
    if done.returncode != 0:
        raise StepFailed(f"{what} failed (exit {done.returncode})", done.stdout)
    return done.stdout


@dataclass(frozen=True)
class Venv:
    """A virtual environment at ``root`` managed with ``uv`` (a path) or pip (``uv`` None)."""

    root: Path
    uv: str | None = None

    @property
    def python(self) -> Path:
        return self.root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")

    @property
    def installer(self) -> str:
        return "uv" if self.uv else "pip"

    def exists(self) -> bool:
        return (self.root / "pyvenv.cfg").is_file() and self.python.exists()

    def create(self, python: str) -> None:
        if self.uv:
            run([self.uv, "venv", "--quiet", "--python", python, str(self.root)], "creating the virtualenv")
        else:
            run([python, "-m", "venv", str(self.root)], "creating the virtualenv")

    def site_packages(self) -> Path:
        code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        return Path(run([str(self.python), "-c", code], "finding site-packages").strip().splitlines()[-1])

    def inherit(self, site_dirs: list[str]) -> None:
        """Let the venv see ``site_dirs`` after its own packages (like venv's --system-site-packages)."""
        lines = [f"import site; site.addsitedir({d!r})" for d in site_dirs]
        (self.site_packages() / INHERIT_PTH).write_text("\n".join(lines) + "\n", encoding="utf-8")

    def treadle_location(self) -> str | None:
        """``version path`` of the treadle this venv imports, or None when it imports none."""
        code = "import treadle; print(treadle.__version__, treadle.__file__)"
        try:
            return run([str(self.python), "-c", code], "importing treadle").strip().splitlines()[-1]
        except (StepFailed, IndexError):
            return None

    def install(self, args: list[str], what: str) -> str:
        if self.uv:
            return run([self.uv, "pip", "install", "--python", str(self.python), *args], what)
        return run([str(self.python), "-m", "pip", "install", "--no-input", *args], what)


def find_uv() -> str | None:
    return shutil.which("uv")


def parent_site_dirs() -> list[str]:
    """The site-packages of the Python running treadle (what ``--inherit-packages`` shares)."""
    return [d for d in site.getsitepackages() if Path(d).is_dir()]


def treadle_source() -> tuple[list[str], str]:
    """Installer arguments that install the running treadle, and a description of them.

    An editable install (PEP 610 ``direct_url.json``) or a source checkout installs from its source
    folder with ``-e``; a regular install asks the index for the same version.
    """
    try:
        dist = md.distribution("treadle")
    except md.PackageNotFoundError:
        dist = None
    if dist is not None:
        raw = dist.read_text("direct_url.json")
        info = json.loads(raw) if raw else {}
        url = str(info.get("url", ""))
        if info.get("dir_info", {}).get("editable") and url.startswith("file://"):
            path = unquote(urlparse(url).path)
            return ["-e", path], f"treadle (editable, from {path})"
        return [f"treadle=={dist.version}"], f"treadle=={dist.version}"
    checkout = Path(__file__).resolve().parents[3]  # src/treadle/training/_venv.py -> the checkout
    if (checkout / "pyproject.toml").is_file():
        return ["-e", str(checkout)], f"treadle (editable, from {checkout})"
    raise StepFailed("cannot tell where the running treadle came from; install it with pip first")


def running_treadle() -> str:
    """``version path`` of the treadle running this command (compare with :meth:`Venv.treadle_location`)."""
    from treadle._version import __version__

    return f"{__version__} {Path(__file__).parents[1] / '__init__.py'}"


def can_build_offline() -> bool:
    """Whether treadle's build backend (hatchling, and ``editables`` for editable builds) is importable
    here, so ``--no-build-isolation`` needs nothing from the index."""
    return all(importlib.util.find_spec(m) is not None for m in ("hatchling", "editables"))


def python_mismatch(recorded: str | None) -> str | None:
    """A warning when the model was saved under another Python minor version than this one."""
    if not recorded:
        return None
    ours = f"{sys.version_info.major}.{sys.version_info.minor}"
    theirs = ".".join(recorded.split(".")[:2])
    if theirs != ours:
        return f"the model was saved under Python {recorded}; this environment uses Python {ours}"
    return None
