"""The module-level SDK against a real local store."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

import treadle as td
from treadle.errors import InvalidArgument


@pytest.fixture
def sdk(tmp_path: Path) -> td.Client:
    return td.set_uri(f"sqlite:///{tmp_path / 'sdk.db'}", str(tmp_path / "art"))


def test_log_and_read_back(sdk: td.Client) -> None:
    td.set_experiment("fluent")
    with td.start_run(name="r", tags={"team": "a"}) as run:
        td.log_params({"lr": 0.01, "layers": 3})
        for i in range(2500):
            td.log_metric("loss", 1.0 / (i + 1))  # steps default to 0, 1, 2, ...
        td.log_metrics({"acc": 0.5, "f1": 0.4}, step=7)
        td.log_metric("acc", 0.9, step=8)
        td.set_tags({"stage": "dev"})
    got = sdk.get_run(run.id)
    assert got.status == "FINISHED" and got.end_time is not None
    assert got.params == {"lr": "0.01", "layers": "3"}
    assert got.metrics["loss"] == pytest.approx(1 / 2500) and got.metrics["acc"] == 0.9
    assert got.tags["team"] == "a" and got.tags["stage"] == "dev"
    history = sdk.get_metric_history(run.id, "loss")
    assert history.steps == list(range(2500))


def test_nested_runs_and_failures(sdk: td.Client) -> None:
    td.set_experiment("nesting")
    with td.start_run(name="parent") as parent:
        with pytest.raises(InvalidArgument, match="already active"):
            td.start_run()
        with td.start_run(name="child", nested=True) as child:
            assert td.active_run() is child
        assert td.active_run() is parent
    assert sdk.get_run(child.id).parent_id == parent.id
    with pytest.raises(ZeroDivisionError), td.start_run(name="boom") as failing:
        1 / 0  # noqa: B018
    assert sdk.get_run(failing.id).status == "FAILED"
    assert td.active_run() is None
    with pytest.raises(InvalidArgument, match="no active run"):
        td.log_metric("x", 1.0)


def test_failed_batches_surface_on_flush(sdk: td.Client) -> None:
    td.set_experiment("failures")
    run = td.start_run()
    sdk.tracking.delete_run(run.id)  # logging to a deleted run is refused by the store
    td.log_metric("x", 1.0)
    with pytest.raises(td.BatchError, match="deleted"):
        td.flush()
    td.flush()  # the error was reported once, not kept forever
    sdk.tracking.restore_run(run.id)
    td.end_run()


def test_artifact_helpers(sdk: td.Client, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    td.set_experiment("artifacts")
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    with td.start_run() as run:
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3])
        td.log_figure(fig, "plots/line.png")
        td.log_table(frame, "tables/preds.json")
        td.log_dict({"model": {"depth": 3}}, "config.yaml")
        td.log_text("hello", "notes.txt")
        (tmp_path / "f.txt").write_text("file")
        td.log_artifact(tmp_path / "f.txt", "files")
        td.log_input(frame, name="training-frame")
        td.log_input("s3://bucket/data.parquet")
    paths = {f.path for f in sdk.list_artifacts(run.id)}
    assert {"plots/line.png", "tables/preds.json", "config.yaml", "notes.txt", "files/f.txt"} <= paths
    assert sdk.read_artifact(run.id, "plots/line.png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert pd.read_json(
        __import__("io").BytesIO(sdk.read_artifact(run.id, "tables/preds.json")), orient="split"
    ).equals(frame)
    assert b"depth: 3" in sdk.read_artifact(run.id, "config.yaml")
    upstream = sdk.lineage.upstream(sdk.lineage.find_node(f"run:{run.id}").id, hops=1)
    names = {n.name for n in upstream.nodes}
    assert {"training-frame", "data.parquet"} <= names
    with pytest.raises(InvalidArgument):
        td.log_input(object())


def test_search_runs_as_frame_and_records(sdk: td.Client) -> None:
    td.set_experiment("search")
    for i in range(3):
        with td.start_run(name=f"r{i}"):
            td.log_metric("acc", i / 10)
            td.log_param("i", i)
    frame = td.search_runs("metrics.acc > 0.05", order_by=["metrics.acc DESC"])
    assert list(frame["name"]) == ["r2", "r1"] and "params.i" in frame.columns
    page = td.search_runs(output="records")
    assert len(page) == 3 and "<table>" in page._repr_html_()
    assert "r0" in page[2]._repr_html_()


def test_system_metrics(sdk: td.Client) -> None:
    td.set_experiment("system")
    with td.start_run(log_system_metrics=True) as run:
        from treadle.client import _fluent

        run._system_metrics._interval = 0.1  # type: ignore[union-attr]
        time.sleep(0.6)
    metrics = sdk.get_run(run.id).metrics
    assert 0 <= metrics["system/cpu_percent"] <= 100 * 64
    assert 0 < metrics["system/memory_percent"] <= 100
    assert _fluent is not None


def test_environment_capture_in_a_git_repo(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=repo, check=True)
    script = repo / "train.py"
    script.write_text(
        "import treadle as td\n"
        "td.set_experiment('capture')\n"
        "with td.start_run() as r:\n"
        "    td.log_metric('x', 1.0)\n"
        "print(r.id)\n"
    )
    subprocess.run([*git, "add", "train.py"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=repo, check=True)
    script.write_text(script.read_text() + "# local change\n")  # dirty
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TREADLE_URI": f"sqlite:///{tmp_path / 'cap.db'}",
        "TREADLE_ARTIFACTS": str(tmp_path / "art"),
    }
    out = subprocess.run([sys.executable, str(script)], cwd=repo, env=env, capture_output=True, text=True, check=True)
    client = td.Client(env["TREADLE_URI"], env["TREADLE_ARTIFACTS"])
    run = client.get_run(out.stdout.strip())
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert run.tags["treadle.git.commit"] == commit
    assert run.tags["treadle.git.branch"] == "main" and run.tags["treadle.git.dirty"] == "true"
    assert run.tags["treadle.source"] == str(script)
    assert run.tags["treadle.python"].count(".") == 2
    assert b"# local change" in client.read_artifact(run.id, "_treadle/git.diff")
    assert b"treadle==" in client.read_artifact(run.id, "_treadle/requirements.txt").lower()
    assert run.status == "FINISHED" and not math.isnan(run.metrics["x"])


def test_a_crashing_script_leaves_its_run_failed(tmp_path: Path) -> None:
    script = tmp_path / "crash.py"
    script.write_text(
        "import treadle as td\n"
        "td.set_experiment('crash')\n"
        "run = td.start_run()\n"
        "print(run.id, flush=True)\n"
        "td.log_metric('x', 1.0)\n"
        "raise RuntimeError('boom')\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TREADLE_CAPTURE_ENVIRONMENT": "false",
        "TREADLE_URI": f"sqlite:///{tmp_path / 'c.db'}",
        "TREADLE_ARTIFACTS": str(tmp_path / "art"),
    }
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    assert out.returncode == 1 and "boom" in out.stderr
    run = td.Client(env["TREADLE_URI"], env["TREADLE_ARTIFACTS"]).get_run(out.stdout.strip())
    assert run.status == "FAILED" and run.metrics["x"] == 1.0  # and the queued point was flushed
