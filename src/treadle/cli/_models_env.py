"""``treadle models env URI --create DIR``: a virtualenv with a model's recorded requirements, checked.

Steps: fetch the model; read its requirements (the registry's ``get_version_needs`` for ``models:/``
URIs, else its ``treadle-model.yaml``); create the venv; install treadle (the running one: editable
from its source folder, or the same version from the index) and the requirements; copy the model to
``DIR/model``; then, inside the venv, load it and predict on its stored input example.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.text import Text

from treadle.cli._context import state
from treadle.cli._output import err, fail, note, out
from treadle.client import Client
from treadle.models import MANIFEST
from treadle.training._venv import (
    StepFailed,
    Venv,
    can_build_offline,
    find_uv,
    parent_site_dirs,
    python_mismatch,
    run,
    running_treadle,
    treadle_source,
)

MODEL_DIR = "model"
CACHE_MARKER = ".complete"
CHECK_MARK = "TREADLE-CHECK "
# Runs inside the new venv: load the model folder with treadle's packaging and predict on its example.
CHECK_SCRIPT = """
import json, sys
from treadle.models import load_model

def shape(value):
    if isinstance(value, dict):
        return {str(k): shape(v) for k, v in value.items()}
    if hasattr(value, "shape"):
        return [int(d) for d in value.shape]
    return [len(value)] if hasattr(value, "__len__") else []

model = load_model(sys.argv[1], expected_digest=sys.argv[3] or None)
example = model.input_example
report = {"flavor": model.flavor, "python": sys.version.split()[0]}
if example is not None:
    prediction = model.predict(example)
    report.update(shape=shape(prediction), type=type(prediction).__name__)
print(sys.argv[2] + json.dumps(report))
"""


@contextmanager
def step(description: str) -> Iterator[None]:
    """A spinner while the step runs, then ``✓ description (1.2s)`` (or ``✗``) on stderr."""
    console = err()
    started = time.monotonic()
    try:
        with console.status(description):
            yield
    except BaseException:
        console.print(Text(f"✗ {description}", style="red"))
        raise
    console.print(Text(f"✓ {description} ", style="green") + Text(f"({time.monotonic() - started:.1f}s)", style="dim"))


@dataclass(frozen=True)
class Needs:
    requirements: list[str]
    python: str | None
    digest: str | None = None  # a registered version's manifest digest, pinned in the check


def recorded_needs(client: Client, uri: str, folder: Path) -> Needs:
    """The model's pinned requirements and Python version, from the registry or its manifest."""
    if uri.startswith("models:/"):
        version = client.get_model_version_by_uri(uri)
        needs = client.registry.get_version_needs(version.name, version.version)
        return Needs(list(needs.requirements), needs.python, version.digest)
    path = folder / MANIFEST
    if not path.is_file():
        fail(f"{uri} is not a treadle model: it has no {MANIFEST}; save it with td.log_model")
    try:
        spec: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        fail(f"{MANIFEST} of {uri} is not valid YAML: {exc}")
    if not isinstance(spec, dict):
        fail(f"{MANIFEST} of {uri} is not a mapping")
    python = spec.get("python_version")
    return Needs([str(r) for r in spec.get("requirements") or []], str(python) if python else None)


def copy_model(folder: Path, dest: Path) -> None:
    """The model's files (not the download cache's marker) into ``dest``, replacing an older copy."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(folder, dest, ignore=shutil.ignore_patterns(CACHE_MARKER))


def check_dir(target: Path) -> bool:
    """Whether ``target`` is an existing venv to reuse; fails when it is anything else that is not empty."""
    if not target.exists():
        return False
    if not target.is_dir():
        fail(f"{target} exists and is not a folder")
    if Venv(target).exists():
        return True
    if any(target.iterdir()):
        fail(f"{target} exists and is not an empty folder or a virtualenv; choose another --create folder")
    return False


def install_treadle(venv: Venv, inherit: bool) -> None:
    """Install the running treadle; with inherited packages, only when the venv does not see it already."""
    if inherit and venv.treadle_location() == running_treadle():
        with step("treadle: inherited from the running environment, nothing to install"):
            return
    source, described = treadle_source()
    # With inherited packages treadle's dependencies are there: install treadle alone, and build it
    # without an isolated (index-fetched) build environment when its build backend is here too.
    extra = ["--no-deps", *(["--no-build-isolation"] if can_build_offline() else [])] if inherit else []
    with step(f"installing {described}"):
        venv.install([*extra, *source], "installing treadle")


def build(venv: Venv, requirements: list[str], inherit: bool, reuse: bool) -> None:
    if not reuse:
        with step(f"creating a virtualenv at {venv.root} with {venv.installer}"):
            venv.create(sys.executable)
    if inherit:
        with step("sharing the packages of the Python running treadle"):
            venv.inherit(parent_site_dirs())
    install_treadle(venv, inherit)
    if requirements:
        with step(f"installing {len(requirements)} requirements: {', '.join(requirements)}"):
            venv.install(requirements, "installing the model's requirements")


def check(venv: Venv, model_dir: Path, digest: str | None) -> dict[str, Any]:
    with step("loading the model in the new environment and predicting on its example"):
        args = [str(venv.python), "-c", CHECK_SCRIPT, str(model_dir), CHECK_MARK, digest or ""]
        output = run(args, "the check")
    lines = [line for line in output.splitlines() if line.startswith(CHECK_MARK)]
    if not lines:
        raise StepFailed("the check printed no result", output)
    report: dict[str, Any] = json.loads(lines[-1][len(CHECK_MARK) :])
    return report


InheritPackages = Annotated[
    bool,
    typer.Option(
        "--inherit-packages",
        help="Let the venv see the packages of the Python running treadle and install only what is missing "
        "(fast, works offline; less isolated, like venv's --system-site-packages).",
    ),
]


def env(
    ctx: typer.Context,
    uri: Annotated[
        str,
        typer.Argument(metavar="URI", help="models:/NAME/VERSION, models:/NAME@ALIAS, runs:/RUN/PATH or a folder."),
    ],
    create: Annotated[Path, typer.Option("--create", help="Folder for the new virtualenv (new, empty, or a venv).")],
    inherit: InheritPackages = False,
) -> None:
    """Build a virtualenv from a model's recorded requirements and check the model predicts there."""
    client = state(ctx).client()
    reuse = check_dir(create)
    with step(f"fetching {uri}"):
        folder = client.download_model(uri)
    needs = recorded_needs(client, uri, folder)
    warning = python_mismatch(needs.python)
    if warning:
        err().print(Text(f"warning: {warning}", style="yellow"))
    venv = Venv(create.resolve(), find_uv())
    model_dir = venv.root / MODEL_DIR
    try:
        build(venv, needs.requirements, inherit, reuse)
        copy_model(folder, model_dir)
        report = check(venv, model_dir, needs.digest)
    except StepFailed as exc:
        console = err()
        for line in exc.tail():
            console.print(Text(f"  {line}", style="dim"))
        fail(f"{exc.message}; the environment at {create} is left as it is for inspection")
    if "shape" in report:
        note(f"The model loads and predicts in {create}: prediction shape {report['shape']} ({report['type']}).")
    else:
        note(f"The model loads in {create}; it has no input example, so no prediction was checked.")
    out().print(Text(f"Activate it with: source {venv.python.parent / 'activate'}", style="dim"))
