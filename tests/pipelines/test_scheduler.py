"""The scheduler loop: the lease, cron on an injected clock, events end to end, restarts that never
double-run, and child processes that start (or fail to start) queued runs."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

import treadle as td
from treadle.orchestration import PipelineSpec, StepSpec
from treadle.pipelines._scheduler import Scheduler

PIPELINE = """
import treadle as td
from treadle.pipelines import pipeline, step


@step
def double(x: int) -> int:
    return 2 * x


@step
def count_rows(name: str, version: int) -> int:
    return len(td.datasets.get(name, version).to_pandas())


@pipeline
def nightly(x: int = 1) -> int:
    return double(x)


@pipeline
def on_data(name: str = "iris", version: int = 1) -> int:
    return count_rows(name, version)
"""


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, str]:
    return f"sqlite:///{tmp_path / 'sched.db'}", str(tmp_path / "art")


@pytest.fixture
def client(store: tuple[str, str]) -> td.Client:
    return td.Client(*store)


def scheduler(store: tuple[str, str], tmp_path: Path, **kwargs: object) -> Scheduler:
    return Scheduler(*store, log_dir=tmp_path / "logs", stale_after_s=600, **kwargs)  # type: ignore[arg-type]


def register_file(client: td.Client, tmp_path: Path, attr: str) -> str:
    from treadle.pipelines import load_pipeline

    path = tmp_path / "flows" / "flows.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(PIPELINE))
    pipe = load_pipeline(f"{path}:{attr}")
    return client.pipelines.register_pipeline(pipe.spec).name


def wait_until_done(client: td.Client, run_id: str, timeout: float = 120.0) -> str:
    """The run's final status, with its error when it did not succeed (so a failure explains itself)."""
    deadline = time.monotonic() + timeout
    while True:
        run = client.pipelines.get_run(run_id)
        if run.status in ("SUCCEEDED", "FAILED", "CANCELLED") or time.monotonic() > deadline:
            if run.status == "SUCCEEDED":
                return run.status
            steps = client.pipelines.get_run_detail(run_id).steps
            return f"{run.status}: {run.error} {[(s.step, s.status, s.error) for s in steps]}"
        time.sleep(0.2)


def test_one_scheduler_leads_the_others_stand_by_until_it_stops(store: tuple[str, str], tmp_path: Path) -> None:
    first, second = scheduler(store, tmp_path), scheduler(store, tmp_path)
    assert first.tick().leader
    assert not second.tick().leader
    assert first.tick().leader  # renews its own lease
    first.stop()  # gives the lease up
    assert second.tick().leader
    assert not first.tick().leader
    second.stop()


def test_the_thread_loop_starts_and_stops(store: tuple[str, str], tmp_path: Path, client: td.Client) -> None:
    loop = scheduler(store, tmp_path, poll_s=0.05).start()
    deadline = time.monotonic() + 30
    while loop.last_report is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert loop.last_report is not None and loop.last_report.leader
    assert not client.schedules.acquire_lease("scheduler", "probe", 1)  # the loop holds it
    loop.stop()
    assert client.schedules.acquire_lease("scheduler", "probe", 1)  # released on stop


@pytest.mark.slow
def test_a_child_that_dies_before_claiming_fails_its_run(
    store: tuple[str, str], tmp_path: Path, client: td.Client
) -> None:
    workdir = tmp_path / "crashy"
    workdir.mkdir()
    (workdir / "sitecustomize.py").write_text("import os\nos._exit(3)\n")  # the interpreter dies at start-up
    step = StepSpec(name="work", function="m:work", code_digest="0" * 64)
    client.pipelines.register_pipeline(PipelineSpec(name="crashy", steps=[step], workdir=str(workdir)))
    queued = client.schedules.trigger("crashy")
    loop = scheduler(store, tmp_path)
    assert loop.tick().launched == [queued.id]
    loop.wait(timeout=120)
    run = client.pipelines.get_run(queued.id)
    assert run.status == "FAILED"
    assert "exited with code 3 before starting the run" in (run.error or "")
    assert loop.tick().launched == []  # not retried forever
    loop.stop()


@pytest.mark.slow
def test_cron_runs_the_pipeline_once_across_a_scheduler_restart(
    store: tuple[str, str], tmp_path: Path, client: td.Client
) -> None:
    name = register_file(client, tmp_path, "nightly")
    sched = client.schedules.create_schedule(name, "cron", cron="* * * * *", params={"x": 21}).schedule
    assert sched.next_at is not None
    now = sched.next_at + 2_000  # the clock says the slot is due; no real minute passes

    first = scheduler(store, tmp_path, clock=lambda: now)
    report = first.tick()
    assert [r.pipeline for r in report.fired] == [name] and len(report.launched) == 1
    first.stop()  # "crashes" while its child still runs: the child carries on

    restarted = scheduler(store, tmp_path, clock=lambda: now)
    again = restarted.tick()
    assert again.leader and again.fired == []  # the slot fired already: nothing new is queued
    # It may start the same queued run again if the first child has not claimed it yet: one claim wins.
    assert again.launched in ([], report.launched)
    restarted.wait(timeout=120)
    assert wait_until_done(client, report.launched[0]) == "SUCCEEDED"
    runs = client.pipelines.list_runs(name)
    assert len(runs) == 1 and runs[0].trigger == "cron"
    detail = client.pipelines.get_run_detail(runs[0].id)
    assert [(s.status, s.attempt) for s in detail.steps] == [("SUCCEEDED", 1)]
    assert restarted.tick().launched == []
    restarted.stop()


@pytest.mark.slow
def test_a_new_dataset_version_runs_the_pipeline_then_its_successor(
    store: tuple[str, str], tmp_path: Path, client: td.Client
) -> None:
    on_data = register_file(client, tmp_path, "on_data")
    nightly = register_file(client, tmp_path, "nightly")
    client.schedules.create_schedule(
        on_data,
        "event",
        events=["dataset_version_created"],
        filter={"name": "iris"},
        params={"name": "$event.name", "version": "$event.version"},
    )
    client.schedules.create_schedule(nightly, "pipeline", upstream=on_data)
    td.datasets.create("iris", pd.DataFrame({"x": [1, 2, 3]}), client=client)

    loop = scheduler(store, tmp_path, poll_s=0.2).start()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not client.pipelines.list_runs(nightly):
            time.sleep(0.2)
        data_runs = client.pipelines.list_runs(on_data)
        assert [(r.trigger, r.params) for r in data_runs] == [("event", {"name": "iris", "version": 1})]
        assert wait_until_done(client, data_runs[0].id) == "SUCCEEDED"
        chained = client.pipelines.list_runs(nightly)
        assert [r.trigger for r in chained] == ["pipeline"]
        assert chained[0].trigger_info["upstream_run_id"] == data_runs[0].id
        assert wait_until_done(client, chained[0].id) == "SUCCEEDED"
    finally:
        loop.stop(wait_children=60)
