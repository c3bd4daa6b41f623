"""``treadle env create URI DIR``: rebuild where a run (or a model) ran, as a virtualenv.

``runs:/ID`` reads the run's recorded ``_treadle/requirements.txt`` and Python version, picks a
Python of that minor version, creates the venv, installs treadle (the running one) and the pins,
then checks inside the venv that treadle imports and how many pins are installed as recorded.
Any other URI (``models:/...``, ``runs:/ID/PATH``, a folder) is a model: the same as
``treadle models env URI --create DIR``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from treadle.cli import _models_env
from treadle.cli._context import state
from treadle.cli._output import err, fail, note, out
from treadle.training._env import (
    CHECK_MARK,
    CHECK_SCRIPT,
    RecordedEnv,
    choose_python,
    recorded_environment,
    run_id_of,
    treadle_import_error,
)
from treadle.training._venv import StepFailed, Venv, find_uv, parent_site_dirs, run

app = typer.Typer(help="Rebuild recorded environments as virtualenvs.", no_args_is_help=True)
SHOWN = 5  # pins listed when they differ or are missing


def build(venv: Venv, recorded: RecordedEnv, python: str, inherit: bool, reuse: bool) -> None:
    step = _models_env.step
    if not reuse:
        with step(f"creating a virtualenv at {venv.root} with {venv.installer} ({python})"):
            venv.create(python)
    if inherit:
        with step("sharing the packages of the Python running treadle"):
            venv.inherit(parent_site_dirs())
    _models_env.install_treadle(venv, inherit)
    if recorded.requirements:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "requirements.txt"
            path.write_text("\n".join(recorded.requirements) + "\n", encoding="utf-8")
            with step(f"installing the run's {len(recorded.requirements)} recorded requirements"):
                venv.install(["-r", str(path)], "installing the run's requirements")


def check(venv: Venv, recorded: RecordedEnv) -> dict[str, object]:
    with _models_env.step("checking the environment: treadle imports, recorded versions installed"):
        problem = treadle_import_error(venv.python)
        if problem:
            raise StepFailed("treadle does not import in the new environment", problem)
        output = run([str(venv.python), "-c", CHECK_SCRIPT, json.dumps(recorded.pins()), CHECK_MARK], "the check")
    lines = [line for line in output.splitlines() if line.startswith(CHECK_MARK)]
    if not lines:
        raise StepFailed("the check printed no result", output)
    report: dict[str, object] = json.loads(lines[-1][len(CHECK_MARK) :])
    return report


def report_differences(report: dict[str, object]) -> None:
    console = err()
    for key, what in (("missing", "not installed"), ("different", "at another version")):
        items = report.get(key)
        if isinstance(items, list) and items:
            shown = ", ".join(str(i) for i in items[:SHOWN]) + (" ..." if len(items) > SHOWN else "")
            console.print(Text(f"warning: {len(items)} recorded packages {what}: {shown}", style="yellow"))


@app.command("create")
def create(
    ctx: typer.Context,
    uri: Annotated[
        str,
        typer.Argument(
            metavar="URI", help="runs:/RUN_ID (a run's environment), or a model URI (models:/NAME/VERSION)."
        ),
    ],
    dest: Annotated[Path, typer.Argument(metavar="DIR", help="Folder for the new virtualenv (new, empty, or a venv).")],
    inherit: _models_env.InheritPackages = False,
    python: Annotated[
        str | None,
        typer.Option("--python", help="Interpreter to build with (default: a Python of the version the run recorded)."),
    ] = None,
) -> None:
    """Rebuild a run's recorded environment (or a model's) as a virtualenv, and check it."""
    rid = run_id_of(uri)
    if rid is None:
        _models_env.env(ctx, uri, create=dest, inherit=inherit)
        return
    client = state(ctx).client()
    recorded = recorded_environment(client, rid)
    uv = find_uv()
    interpreter, warning = choose_python(recorded.python, python, uv)
    if warning:
        err().print(Text(f"warning: {warning}", style="yellow"))
    reuse = _models_env.check_dir(dest)
    venv = Venv(dest.resolve(), uv)
    try:
        build(venv, recorded, interpreter, inherit, reuse)
        report = check(venv, recorded)
    except StepFailed as exc:
        console = err()
        for line in exc.tail():
            console.print(Text(f"  {line}", style="dim"))
        fail(f"{exc.message}; the environment at {dest} is left as it is for inspection")
    report_differences(report)
    note(
        f"Rebuilt run {rid}'s environment in {dest}: Python {report['python']}, treadle {report['treadle']}, "
        f"{report['matched']} of {len(recorded.pins())} recorded packages at their recorded versions."
    )
    out().print(Text(f"Activate it with: source {venv.python.parent / 'activate'}", style="dim"))
