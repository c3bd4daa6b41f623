"""Fixtures for the CLI tests: a temp SQLite store in TREADLE_*, a runner, and some seeded runs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import treadle as td
from tests.cli.helpers import Invoke, Ok
from treadle.cli import app
from treadle.client._backend import reset_backends
from treadle.tracking import InputRef, Metric


@pytest.fixture(autouse=True)
def store_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    monkeypatch.setenv("TREADLE_URI", f"sqlite:///{tmp_path / 't.db'}")
    monkeypatch.setenv("TREADLE_ARTIFACTS", str(tmp_path / "art"))
    monkeypatch.setenv("COLUMNS", "220")  # wide tables: full run ids, no folded cells
    reset_backends()
    yield tmp_path
    reset_backends()


@pytest.fixture
def cli() -> Invoke:
    """Run ``treadle ARGS...``; returns the result whatever the exit code."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input)

    return invoke


@pytest.fixture
def ok(cli: Invoke) -> Ok:
    """Run ``treadle ARGS...``, insist on exit code 0, and return what it printed."""

    def invoke(*args: str, input: str | None = None) -> str:
        result = cli(*args, input=input)
        assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}\n{result.exception!r}"
        return result.output

    return invoke


@pytest.fixture
def client() -> td.Client:
    return td.Client()


@dataclass(frozen=True)
class Seeded:
    exp_a: str
    exp_b: str
    fast: str  # exp-a, lr 0.1, acc 0.9
    slow: str  # exp-a, lr 0.01, acc 0.6
    child: str  # exp-a, nested under ``fast``
    other: str  # exp-b


@pytest.fixture
def seeded(client: td.Client) -> Seeded:
    """Two experiments and four runs with params, metric series, tags, an input and artifacts."""
    tracking = client.tracking
    a = client.create_experiment("exp-a", "first", {"team": "vision"})
    b = client.create_experiment("exp-b")

    def run(exp: str, name: str, lr: str, acc: list[float], parent: str | None = None) -> str:
        r = tracking.create_run(exp, name=name, parent_id=parent, tags={"owner": "ada"})
        points = [Metric(key="acc", value=v, step=i) for i, v in enumerate(acc)]
        client.log_batch(r.id, metrics=points, params={"lr": lr, "epochs": 3})
        tracking.end_run(r.id)
        return r.id

    fast = run(a.id, "fast", "0.1", [0.5, 0.8, 0.9])
    slow = run(a.id, "slow", "0.01", [0.3, 0.6])
    child = run(a.id, "fast-child", "0.1", [0.7], parent=fast)
    other = run(b.id, "other", "0.5", [0.1])
    client.log_text(fast, "hello", "notes/readme.txt")
    client.log_bytes(fast, b"\x00\x01weights", "model/weights.bin")
    client.log_dict(fast, {"lr": 0.1}, "config.json")
    tracking.log_inputs(fast, [InputRef(uri="sklearn://iris", name="iris")])
    return Seeded(a.id, b.id, fast, slow, child, other)
