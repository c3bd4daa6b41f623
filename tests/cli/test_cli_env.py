"""``treadle env create URI DIR``: a run's recorded environment (or a model's) rebuilt as a venv.

The slow test builds a real venv with ``--inherit-packages`` (it sees this test environment's
packages, so pip finds every recorded pin satisfied and nothing is downloaded): venv creation,
pip's install of the run's full ``requirements.txt`` and the check inside the new interpreter all
run for real, offline.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import treadle as td
from tests.cli.helpers import Invoke, Ok, assert_user_error
from treadle.cli import _env
from treadle.training._env import REQUIREMENTS, recorded_environment, run_id_of


def recorded_run(client: td.Client, python: str, requirements: str) -> str:
    exp = client.get_or_create_experiment("envs")
    run = client.tracking.create_run(exp.id, tags={"treadle.python": python})
    client.log_text(run.id, requirements, REQUIREMENTS)
    return run.id


def test_only_a_whole_run_is_a_run_environment() -> None:
    assert run_id_of("runs:/abc123") == "abc123" and run_id_of("runs:/abc123/") == "abc123"
    assert run_id_of("runs:/abc123/model") is None and run_id_of("models:/m/1") is None


def test_treadle_and_local_paths_are_left_out(client: td.Client) -> None:
    rid = recorded_run(client, "3.11.7", "numpy==2.0.0\ntreadle==0.1.0\nfoo @ file:///x\nScikit_Learn==1.5\n")
    env = recorded_environment(client, rid)
    assert env.requirements == ["numpy==2.0.0", "Scikit_Learn==1.5"]
    assert env.left_out == ["treadle==0.1.0", "foo @ file:///x"]
    assert env.pins() == {"numpy": "2.0.0", "scikit-learn": "1.5"} and env.python == "3.11.7"


def test_a_run_without_a_recorded_environment(cli: Invoke, client: td.Client, tmp_path: Path) -> None:
    run = client.tracking.create_run(client.get_or_create_experiment("bare").id)
    result = cli("env", "create", f"runs:/{run.id}", str(tmp_path / "venv"))
    assert_user_error(result, f"run {run.id} has no recorded environment", "capture_environment")
    assert not (tmp_path / "venv").exists()
    assert_user_error(cli("env", "create", "runs:/nope", str(tmp_path / "venv")), "nope")


def test_another_python_version_with_no_interpreter_for_it(
    cli: Invoke, client: td.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_env, "find_uv", lambda: None)  # uv could fetch the Python; say what to do without it
    rid = recorded_run(client, "2.1.3", "six==1.16.0\n")
    result = cli("env", "create", f"runs:/{rid}", str(tmp_path / "venv"))
    assert_user_error(result, "the run used Python 2.1.3", "no python2.1 is on PATH", "--python")


def test_a_model_uri_is_the_models_env_command(cli: Invoke, tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert_user_error(cli("env", "create", "models:/m/1", str(tmp_path / "busy")), "not an empty folder")


@pytest.mark.slow
def test_rebuilds_a_recorded_run_environment(ok: Ok, client: td.Client, tmp_path: Path) -> None:
    td.set_uri(client.uri, str(tmp_path / "art"))
    with td.start_run(experiment="envs", capture_environment=True) as run:
        td.log_metric("x", 1.0)
    recorded = recorded_environment(client, run.id)
    assert "numpy" in recorded.pins() and recorded.python
    target = tmp_path / "venv"
    output = ok("env", "create", f"runs:/{run.id}", str(target), "--inherit-packages")
    n = len(recorded.pins())
    assert f"{n} of {n} recorded packages at their recorded versions" in " ".join(output.split())
    probe = "import sys, treadle, numpy; print(sys.prefix); print(numpy.__version__)"
    prefix, numpy_version = subprocess.run(
        [str(target / "bin" / "python"), "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert Path(prefix) == target.resolve() and numpy_version == recorded.pins()["numpy"]
