"""``treadle.training.launch`` for real: torch elastic workers over gloo, and Ray Train."""

from __future__ import annotations

from pathlib import Path

import pytest

import treadle as td
from tests.training._jobs import ddp_train, fail_on_rank_one, ray_train
from treadle.errors import InvalidArgument
from treadle.training import TrainingFailed, launch
from treadle.training._run import ERROR_FILE, ERROR_TAG


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"backend": "horovod"}, "backend must be one of torch, ray"),
        ({"nproc_per_node": 0}, "must be >= 1"),
        ({"nnodes": 2}, "needs rdzv_endpoint"),
        ({"nnodes": 2, "node_rank": 2, "rdzv_endpoint": "h:1"}, "node_rank must be in [0, 2)"),
        ({"max_restarts": -1}, "max_restarts must be >= 0"),
    ],
)
def test_bad_shapes_fail_before_a_run_exists(client: td.Client, kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        launch(ddp_train, 1, **kwargs)  # type: ignore[arg-type]
    assert fragment in info.value.message
    assert client.search_runs().runs == []  # no run was created


def test_a_missing_script_and_a_second_node_without_a_run(client: td.Client, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="not a Python script"):
        launch(str(tmp_path / "nope.py"))
    with pytest.raises(InvalidArgument, match="pass run_id="):
        launch(ddp_train, 1, nnodes=2, node_rank=1, rdzv_endpoint="127.0.0.1:29999")


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(client: td.Client) -> None:
    result = launch(ddp_train, 5, nproc_per_node=2, experiment="ddp", run_name="gloo", lr=0.05)
    assert result.ok and result.world_size == 2 and sorted(result.returns) == [0, 1]
    # each rank saw different data: only a real all-reduce of the gradients keeps them equal
    assert result.returns[0] == pytest.approx(result.returns[1], abs=1e-6)
    run = client.get_run(result.run_id)
    assert run.status == "FINISHED" and run.name == "gloo"
    assert run.params == {"lr": "0.05", "rank1/lr": "0.05"}
    assert run.tags["role"] == "worker-0" and run.tags["rank1/role"] == "worker-1"
    assert run.tags["treadle.training.world_size"] == "2"
    assert client.get_metric_history(run.id, "loss").steps == [0, 1, 2, 3, 4]
    assert client.get_metric_history(run.id, "rank1/loss").steps == [0, 1, 2, 3, 4]


@pytest.mark.slow
def test_a_failing_rank_fails_the_run_with_its_error(client: td.Client) -> None:
    with pytest.raises(TrainingFailed) as info:
        launch(fail_on_rank_one, nproc_per_node=2)
    result = info.value.result
    assert result.status == "FAILED" and list(result.failures) == [1]
    assert "rank 1: ValueError: rank one broke on purpose" in info.value.message
    run = client.get_run(result.run_id)
    assert run.status == "FAILED" and run.tags[ERROR_TAG] == "rank 1: ValueError: rank one broke on purpose"
    assert b"fail_on_rank_one" in client.read_artifact(run.id, ERROR_FILE)  # the rank's traceback


@pytest.mark.slow
def test_a_script_gets_its_arguments_and_the_run(client: td.Client, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "import os, sys\nimport treadle as td\n"
        "td.log_param('argv', ' '.join(sys.argv[1:]))\n"
        "td.log_metric('world', float(os.environ['WORLD_SIZE']))\n"
    )
    result = launch(str(script), nproc_per_node=2, script_args=["--epochs", "3"], raise_on_failure=False)
    assert result.ok, result.error
    run = client.get_run(result.run_id)
    assert run.params == {"argv": "--epochs 3", "rank1/argv": "--epochs 3"}
    assert run.metrics == {"world": 2.0, "rank1/world": 2.0}


@pytest.mark.slow
def test_ray_backend_on_a_local_cluster(client: td.Client) -> None:
    result = launch(ray_train, nproc_per_node=2, backend="ray", experiment="ray")
    run = client.get_run(result.run_id)
    assert run.status == "FINISHED" and run.tags["treadle.training.backend"] == "ray"
    assert run.metrics == {"sum": 3.0, "rank1/sum": 3.0}  # 1 + 2: the all-reduce ran over both workers
    assert run.params == {"world": "2", "rank1/world": "2"}
    with pytest.raises(TrainingFailed) as info:
        launch(fail_on_rank_one, nproc_per_node=2, backend="ray")
    assert "rank one broke on purpose" in info.value.message
    assert client.get_run(info.value.result.run_id).status == "FAILED"


@pytest.mark.slow
def test_two_nodes_with_a_static_rendezvous(client: td.Client) -> None:
    """Two launchers (one per "node", both here) join one run; node 0 ends it."""
    import os
    import subprocess
    import sys

    from treadle.testing.server import free_port

    run = client.tracking.create_run(client.get_or_create_experiment("nodes").id)
    endpoint = f"127.0.0.1:{free_port()}"
    nodes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.training._node", str(rank), endpoint, run.id],
            env=os.environ.copy(),
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (0, 1)
    ]
    try:
        outputs = [node.communicate(timeout=240)[0] for node in nodes]
    finally:
        for node in nodes:  # a hung rendezvous must not outlive the test
            node.kill()
    assert [node.returncode for node in nodes] == [0, 0], outputs
    got = client.get_run(run.id)
    assert got.status == "FINISHED"
    assert client.get_metric_history(run.id, "loss").steps == [0, 1, 2]
    assert client.get_metric_history(run.id, "rank1/loss").steps == [0, 1, 2]  # rank 1 ran on node 1
