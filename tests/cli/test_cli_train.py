"""``treadle train [OPTIONS] SCRIPT [ARGS...]``: torchrun-like launches recorded as one run."""

from __future__ import annotations

from pathlib import Path

import pytest

import treadle as td
from tests.cli.helpers import Invoke, assert_user_error

SCRIPT = """
import os, sys
import treadle as td
td.log_param("argv", " ".join(sys.argv[1:]))
td.log_metric("rank", float(os.environ["RANK"]))
if "--fail" in sys.argv and os.environ["RANK"] == "1":
    raise RuntimeError("worker 1 gave up")
"""


def test_bad_launches_are_one_error_line(cli: Invoke, tmp_path: Path) -> None:
    assert_user_error(cli("train", str(tmp_path / "missing.py")), "not a Python script")
    script = tmp_path / "t.py"
    script.write_text("print('hi')\n")
    assert_user_error(cli("train", "--backend", "mpi", str(script)), "backend must be one of torch, ray")
    assert_user_error(cli("train", "--nnodes", "2", str(script)), "needs rdzv_endpoint")
    assert_user_error(
        cli("train", "--nnodes", "2", "--node-rank", "1", "--rdzv-endpoint", "h:1", str(script)), "pass run_id="
    )


@pytest.mark.slow
def test_script_args_pass_through_and_ranks_log_to_one_run(cli: Invoke, client: td.Client, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    result = cli("train", "--nproc-per-node", "2", "--experiment", "cli-train", str(script), "--nnodes", "7", "-x")
    assert result.exit_code == 0, result.output
    runs = client.search_runs([client.tracking.get_experiment_by_name("cli-train").id]).runs
    assert len(runs) == 1
    run = runs[0]
    assert run.id in result.stderr and "world size 2" in result.stderr
    assert run.status == "FINISHED"
    assert run.params == {"argv": "--nnodes 7 -x", "rank1/argv": "--nnodes 7 -x"}  # ours stop at SCRIPT
    assert run.metrics == {"rank": 0.0, "rank1/rank": 1.0}


@pytest.mark.slow
def test_a_failing_worker_fails_the_command_and_the_run(cli: Invoke, client: td.Client, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    result = cli("train", "--nproc-per-node", "2", str(script), "--fail")
    assert result.exit_code == 1
    last = [line for line in result.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("error: training run ") and "rank 1: RuntimeError: worker 1 gave up" in last
    run = client.search_runs().runs[0]
    assert run.status == "FAILED" and run.id in last
