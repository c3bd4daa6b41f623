"""The fluent API inside a launched worker: attach to the launch's run, rank-prefixed keys.

These run in this process with the variables a launch sets (TREADLE_RUN_ID, TREADLE_RANK), so
the rules are checked without starting workers; test_launch.py checks them across processes.
"""

from __future__ import annotations

import pytest

import treadle as td
from treadle.training._run import summarize


def test_rank_one_logs_under_a_prefix_and_does_not_end_the_run(
    client: td.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = client.get_or_create_experiment("ranks")
    run = client.tracking.create_run(exp.id, name="launched")
    monkeypatch.setenv("TREADLE_RUN_ID", run.id)
    monkeypatch.setenv("TREADLE_RANK", "1")
    with td.start_run(tags={"node": "n2"}) as active:  # attaches: no new run
        assert active.id == run.id and active.attached
        td.log_metric("loss", 0.5)
        td.log_params({"lr": 0.1})
        td.set_tag("host", "b")
        td.log_text("hi", "notes.txt")
    td.flush()
    got = client.get_run(run.id)
    assert got.status == "RUNNING"  # the launcher ends it, not a worker
    assert got.metrics == {"rank1/loss": 0.5}
    assert got.params == {"rank1/lr": "0.1"} and got.tags["rank1/host"] == "b" and got.tags["rank1/node"] == "n2"
    assert [f.path for f in client.list_artifacts(run.id, "rank1")] == ["rank1/notes.txt"]
    assert len(client.search_runs([exp.id]).runs) == 1


def test_rank_zero_logs_plain_keys_without_start_run(client: td.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    exp = client.get_or_create_experiment("ranks")
    run = client.tracking.create_run(exp.id)
    monkeypatch.setenv("TREADLE_RUN_ID", run.id)
    monkeypatch.setenv("RANK", "0")
    td.log_metric("acc", 0.9)  # no start_run: a launched worker attaches on first use
    td.end_run()
    assert client.get_run(run.id).metrics == {"acc": 0.9}
    assert client.get_run(run.id).status == "RUNNING"


def test_outside_a_launch_nothing_changes(client: td.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "3")  # torchrun without treadle's launcher: no prefixing
    with td.start_run() as active:
        assert not active.attached
        td.log_metric("loss", 1.0)
    got = client.get_run(active.id)
    assert got.metrics == {"loss": 1.0} and got.status == "FINISHED"


def test_failures_summarise_to_the_last_line_per_rank() -> None:
    tb = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad lr\n'
    assert summarize({2: "exited with code 9", 1: tb}) == "rank 1: ValueError: bad lr; rank 2: exited with code 9"
