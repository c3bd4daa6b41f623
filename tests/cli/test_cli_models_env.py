"""``treadle models env URI --create DIR``: a virtualenv from a model's recorded requirements, checked.

The slow test builds real venvs with ``--inherit-packages``: the venv sees this test environment's
packages (treadle, scikit-learn, pandas, ...) the way ``venv --system-site-packages`` sees the base
Python's, so pip finds every pinned requirement already satisfied and nothing is downloaded. That keeps
it about ten seconds and offline, while still running every step for real: venv creation, the pip
install of the requirements, and the load-and-predict check in the new interpreter. The isolated mode
(no inheritance) only differs in what pip has to fetch from the index.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import Result

import treadle as td
from tests.cli.helpers import Invoke, Ok, assert_user_error
from treadle.training import _venv
from treadle.training._venv import INHERIT_PTH, Venv, python_mismatch, treadle_source


def test_treadle_installs_from_where_it_runs() -> None:
    args, described = treadle_source()
    raw = md.distribution("treadle").read_text("direct_url.json")
    if raw and json.loads(raw).get("dir_info", {}).get("editable"):
        assert args[0] == "-e" and Path(args[1]) == Path(td.__file__).resolve().parents[2]
        assert "editable" in described
    else:
        assert args == [f"treadle=={td.__version__}"]


def test_uv_is_used_when_present(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(_venv, "run", lambda args, what, cwd=None: calls.append(args) or "")
    uv = Venv(tmp_path / "env", uv="/opt/uv")
    uv.create("/usr/bin/python3")
    uv.install(["-e", "/src/treadle"], "installing")
    pip = Venv(tmp_path / "env")
    pip.create("/usr/bin/python3")
    pip.install(["scikit-learn==1.5.0"], "installing")
    python = str(tmp_path / "env" / "bin" / "python")
    assert calls == [
        ["/opt/uv", "venv", "--quiet", "--python", "/usr/bin/python3", str(tmp_path / "env")],
        ["/opt/uv", "pip", "install", "--python", python, "-e", "/src/treadle"],
        ["/usr/bin/python3", "-m", "venv", str(tmp_path / "env")],
        [python, "-m", "pip", "install", "--no-input", "scikit-learn==1.5.0"],
    ]
    assert (uv.installer, pip.installer) == ("uv", "pip")


def test_python_mismatch_is_a_warning() -> None:
    ours = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert python_mismatch(f"{ours}.99") is None and python_mismatch(None) is None
    assert "Python 2.7.18" in (python_mismatch("2.7.18") or "")


def test_refuses_a_folder_that_is_not_empty_or_a_venv(cli: Invoke, tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert_user_error(cli("models", "env", "models:/m/1", "--create", str(tmp_path / "busy")), "not an empty folder")
    (tmp_path / "file").write_text("x")
    assert_user_error(cli("models", "env", "models:/m/1", "--create", str(tmp_path / "file")), "is not a folder")


def assert_step_error(result: Result, fragment: str) -> None:
    """Exit 1, no traceback, and the error as the last line on stderr (after the steps' progress)."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    last = [line for line in result.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("error: ") and fragment in last, result.stderr


def test_refuses_what_is_not_a_model(cli: Invoke, tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "weights.bin").write_bytes(b"x")
    dst = str(tmp_path / "env")
    assert_step_error(cli("models", "env", str(tmp_path / "plain"), "--create", dst), "no treadle-model.yaml")
    missing = cli("models", "env", "models:/missing/1", "--create", dst)
    assert_step_error(missing, "'missing' does not exist")
    assert "✗ fetching models:/missing/1" in missing.stderr
    assert not Path(dst).exists()  # nothing was created for a model that is not there


def _log_iris_like(client: td.Client, tamper: bool = False) -> str:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    y = (x["a"] + x["b"] > 0).astype(int)
    exp = client.get_or_create_experiment("env")
    run = client.tracking.create_run(exp.id)
    if not tamper:
        return client.log_model(run.id, LogisticRegression().fit(x, y), "model", input_example=x.head(5))
    folder = Path(client.download_model(client.log_model(run.id, LogisticRegression().fit(x, y), "good")))
    copy = folder.parent / "tampered"
    for f in folder.iterdir():
        if f.name != ".complete":
            (copy / f.name).parent.mkdir(parents=True, exist_ok=True)
            (copy / f.name).write_bytes(f.read_bytes() + (b"!" if f.suffix == ".pkl" else b""))
    client.log_artifacts(run.id, copy, "tampered")
    return f"runs:/{run.id}/tampered"


@pytest.mark.slow
def test_builds_and_checks_a_venv(ok: Ok, cli: Invoke, client: td.Client, tmp_path: Path) -> None:
    version = client.register_model(_log_iris_like(client), "iris")
    client.set_alias("iris", "champion", version.version)
    env = tmp_path / "env"
    result = cli("models", "env", "models:/iris@champion", "--create", str(env), "--inherit-packages")
    assert result.exit_code == 0, result.output
    assert "The model loads and predicts in" in result.stdout and "prediction shape [5] (ndarray)" in result.stdout
    progress = result.stderr
    for done in ("✓ fetching", "✓ creating a virtualenv", "✓ treadle: inherited", "requirements: ", "✓ loading"):
        assert done in progress, done
    assert re.search(r"scikit-learn==[\d.]+", progress)
    assert (env / "pyvenv.cfg").is_file() and (env / "model" / "treadle-model.yaml").is_file()
    assert not (env / "model" / ".complete").exists()
    assert list(env.glob(f"lib/python*/site-packages/{INHERIT_PTH}"))

    # The same folder again, from a runs:/ URI: the venv is reused, the model copy replaced.
    again = ok("models", "env", version.source, "--create", str(env), "--inherit-packages")
    assert "prediction shape [5]" in again

    # A model whose pickle no longer matches its manifest fails the check, with the reason shown.
    bad = cli("models", "env", _log_iris_like(client, tamper=True), "--create", str(env), "--inherit-packages")
    assert bad.exit_code == 1 and bad.exception is not None and isinstance(bad.exception, SystemExit)
    assert "✗ loading the model" in bad.stderr and "does not match its sha256" in bad.stderr  # the venv's output
    last = bad.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the check failed (exit 1); the environment at"), last
