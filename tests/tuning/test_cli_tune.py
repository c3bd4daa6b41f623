"""``treadle tune run|list|show|delete`` against a temp SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from treadle.cli import app
from treadle.client._backend import reset_backends

OBJECTIVES = """
def by_params(params):
    return (params["x"] - 2.0) ** 2 + (0 if params["kind"] == "a" else 1)


def by_trial(trial):
    x = trial.suggest_float("x", -3, 3)
    return x, -x
"""


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("TREADLE_URI", f"sqlite:///{tmp_path / 't.db'}")
    monkeypatch.setenv("TREADLE_ARTIFACTS", str(tmp_path / "art"))
    monkeypatch.setenv("COLUMNS", "220")
    reset_backends()
    (tmp_path / "objectives.py").write_text(OBJECTIVES)
    (tmp_path / "space.yaml").write_text("x: {low: 0.0, high: 4.0}\nkind: {choices: [a, b]}\n")
    return tmp_path


def _ok(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_run_list_show_delete(env: Path) -> None:
    ref = f"{env / 'objectives.py'}:by_params"
    output = _ok("tune", "run", ref, "-n", "12", "--space", str(env / "space.yaml"), "--study", "cli", "--seed", "0")
    assert "best value" in output and "12 (12 complete" in output and "kind=" in output
    output = _ok("tune", "run", ref, "-n", "15", "--space", str(env / "space.yaml"), "--study", "cli")
    assert "15 (15 complete" in output  # resumed up to 15 in total
    listing = _ok("tune", "list")
    assert "cli" in listing and "minimize" in listing
    shown = _ok("tune", "show", "cli")
    assert "best 10 trials" in shown
    _ok("tune", "delete", "cli")
    assert "No studies." in _ok("tune", "list")


def test_several_directions_show_the_pareto_front(env: Path) -> None:
    ref = f"{env / 'objectives.py'}:by_trial"
    output = _ok(
        "tune", "run", ref, "-n", "6", "-d", "minimize", "-d", "minimize", "--study", "mo", "--sampler", "random"
    )
    assert "pareto front" in output and "values" in output


def test_mistakes_are_one_error_line(env: Path) -> None:
    runner = CliRunner()
    for args, fragment in [
        (["tune", "run", "objectives_missing:f"], "cannot import"),
        (["tune", "run", f"{env / 'objectives.py'}:nope"], "no function 'nope'"),
        (["tune", "run", "justaname"], "must look like"),
        (["tune", "run", f"{env / 'objectives.py'}:by_params", "--sampler", "magic"], "unknown sampler"),
        (["tune", "show", "absent"], "absent"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert fragment in result.stderr and "Traceback" not in result.output
