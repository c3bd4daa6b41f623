"""A run's recorded environment, read back so ``treadle env create runs:/ID DIR`` can rebuild it.

Runs started with ``capture_environment`` (the default) record ``_treadle/requirements.txt`` (the
interpreter's installed distributions, pinned) and the ``treadle.python`` tag. Rebuilding installs
those pins into a new virtualenv under a Python of the same minor version, with treadle itself
installed from where the running one came from (its pin may name a version no index has).
"""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from treadle.client import Client
from treadle.errors import InvalidArgument, NotFound
from treadle.training._venv import StepFailed, run

REQUIREMENTS = "_treadle/requirements.txt"
PYTHON_TAG = "treadle.python"
RUN_URI = re.compile(r"^runs:/([^/]+)/?$")
# Runs inside the new venv: which recorded pins are installed at the pinned version.
CHECK_MARK = "TREADLE-ENV "
CHECK_SCRIPT = """
import json, re, sys, importlib.metadata as md
import treadle
pins = json.loads(sys.argv[1])
found = {}
for d in md.distributions():
    name = d.metadata["Name"] if d.metadata else None
    if name:
        found.setdefault(re.sub(r"[-_.]+", "-", name).lower(), d.version)
missing, other = [], []
for name, version in pins.items():
    have = found.get(name)
    if have is None:
        missing.append(name)
    elif have != version:
        other.append(f"{name}=={have} (recorded {version})")
report = {"python": sys.version.split()[0], "prefix": sys.prefix, "treadle": treadle.__version__,
          "matched": len(pins) - len(missing) - len(other), "missing": missing, "different": other}
print(sys.argv[2] + json.dumps(report))
"""


@dataclass(frozen=True)
class RecordedEnv:
    """What a run recorded: installable pins, the Python it ran under, and the lines left out."""

    run_id: str
    requirements: list[str]
    python: str | None
    left_out: list[str]

    def pins(self) -> dict[str, str]:
        """``name -> version`` of the ``name==version`` requirements (names normalised)."""
        out = {}
        for line in self.requirements:
            name, sep, version = line.partition("==")
            if sep:
                out[normalise(name)] = version.strip()
        return out


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def run_id_of(uri: str) -> str | None:
    """The run id of ``runs:/ID`` (a whole run), or None for any other URI."""
    match = RUN_URI.match(uri)
    return match.group(1) if match else None


def recorded_environment(client: Client, run_id: str) -> RecordedEnv:
    """The run's recorded requirements and Python; NotFound when it recorded none."""
    run_obj = client.get_run(run_id)
    try:
        raw = client.read_artifact(run_id, REQUIREMENTS).decode("utf-8")
    except NotFound:
        raise NotFound(
            f"run {run_id} has no recorded environment ({REQUIREMENTS}): it was started with "
            "capture_environment off (TREADLE_CAPTURE_ENVIRONMENT=false or capture_environment=False); "
            "rebuild from a run that recorded one, or from a model URI (models:/NAME/VERSION)"
        ) from None
    requirements, left_out = [], []
    for line in raw.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if normalise(line.partition("==")[0]) == "treadle" or line.startswith(("-e ", "file:")) or " @ " in line:
            left_out.append(line)  # treadle is installed from the running one; local paths may be gone
        else:
            requirements.append(line)
    return RecordedEnv(run_id, requirements, run_obj.tags.get(PYTHON_TAG), left_out)


def minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def interpreter_version(python: str) -> str:
    code = "import platform; print(platform.python_version())"
    return run([python, "-c", code], f"asking {python} for its version").strip().splitlines()[-1]


def works_as(python: str, wanted: str) -> bool:
    """Whether ``python`` runs and is Python ``wanted`` (a pyenv shim may exist for a version it cannot run)."""
    try:
        return minor(interpreter_version(python)) == wanted
    except (StepFailed, IndexError):
        return False


def choose_python(recorded: str | None, python: str | None, uv: str | None) -> tuple[str, str | None]:
    """The interpreter to build with and a warning, if any.

    ``python`` (a path) wins, with a warning when its minor version differs from the run's.
    Else the running Python when it matches, else ``pythonX.Y`` on PATH, else (with uv) the
    version itself for uv to find or fetch. Else an error saying what to install.
    """
    if python:
        try:
            have = interpreter_version(python)
        except StepFailed as exc:
            raise InvalidArgument(f"--python {python}: {exc.message}") from None
        if recorded and minor(have) != minor(recorded):
            return python, f"the run used Python {recorded}; building with {python} (Python {have}) as asked"
        return python, None
    ours = f"{sys.version_info.major}.{sys.version_info.minor}"
    if not recorded or minor(recorded) == ours:
        return sys.executable, None
    wanted = minor(recorded)
    found = shutil.which(f"python{wanted}")
    if found and works_as(found, wanted):
        return found, None
    if uv:
        return wanted, None
    raise InvalidArgument(
        f"the run used Python {recorded} and this treadle runs Python {ours}; no python{wanted} is on PATH. "
        f"Install Python {wanted} (e.g. `uv python install {wanted}`) or pass --python PATH to build with another"
    )


def treadle_import_error(venv_python: Path) -> str | None:
    """None when treadle imports in the venv, else what it printed."""
    try:
        run([str(venv_python), "-c", "import treadle"], "importing treadle in the new environment")
    except StepFailed as exc:
        return "\n".join(exc.tail()) or exc.message
    return None
