"""``treadle pipelines ...`` and ``treadle scheduler``: run, list, show, schedule, trigger, end to end."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

import treadle as td
from tests.cli.helpers import Invoke, Ok, assert_user_error
from treadle.orchestration import ParamSpec, PipelineSpec, StepSpec

FLOWS = """
from treadle.pipelines import pipeline, step


@step
def add(a: int, b: int) -> int:
    return a + b


@step
def boom(x: int) -> int:
    raise ValueError(f"bad x {x}")


@pipeline
def adder(a: int = 1, b: int = 2) -> int:
    return add(a, b)


@pipeline
def broken(x: int = 1) -> int:
    return boom(x)
"""


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    path = tmp_path / "flows.py"
    path.write_text(textwrap.dedent(FLOWS))
    return path


@pytest.fixture
def registered(client: td.Client) -> str:
    step = StepSpec(name="work", function="m:work", code_digest="0" * 64)
    client.pipelines.register_pipeline(PipelineSpec(name="etl", steps=[step], params=[ParamSpec(name="n", default=1)]))
    return "etl"


def test_schedule_list_pause_and_unschedule(ok: Ok, cli: Invoke, registered: str, client: td.Client) -> None:
    text = ok("pipelines", "schedule", registered, "--cron", "0 3 * * *", "--tz", "Europe/Paris", "-p", "n=4")
    assert "schedule 1: etl cron 0 3 * * * (Europe/Paris)" in text and "next run at" in text
    ok("pipelines", "schedule", registered, "--on", "dataset_version_created", "--filter", "name=iris")
    hook = ok("pipelines", "schedule", registered, "--webhook")
    token = re.search(r"token \(shown once\): (\S+)", hook)
    assert token and client.schedules.verify_webhook("etl", token.group(1)).kind == "webhook"
    listing = ok("pipelines", "schedules")
    assert "cron 0 3 * * *" in listing and "on dataset_version_created where name=iris" in listing
    assert "webhook POST /pipelines/etl/trigger" in listing and "n=4" in listing
    ok("pipelines", "pause", "1")
    assert not client.schedules.get_schedule(1).enabled
    assert "paused" in ok("pipelines", "schedules", "etl")
    ok("pipelines", "unpause", "1")
    assert client.schedules.get_schedule(1).enabled
    ok("pipelines", "unschedule", "2")
    assert [s.id for s in client.schedules.list_schedules()] == [1, 3]
    assert_user_error(cli("pipelines", "unschedule", "2"), "schedule 2 does not exist")


def test_schedule_input_mistakes(cli: Invoke, registered: str) -> None:
    assert_user_error(cli("pipelines", "schedule", registered), "exactly one of --cron")
    assert_user_error(cli("pipelines", "schedule", registered, "--cron", "@daily", "--webhook"), "exactly one")
    assert_user_error(cli("pipelines", "schedule", registered, "--cron", "nope"), "bad cron expression")
    assert_user_error(
        cli("pipelines", "schedule", registered, "--webhook", "--filter", "a=b"), "--filter goes with --on"
    )
    assert_user_error(cli("pipelines", "schedule", registered, "--on", "dataset_made"), "unknown event kind")
    assert_user_error(cli("pipelines", "schedule", "ghost", "--webhook"), "'ghost' is not registered")
    assert_user_error(cli("pipelines", "trigger", registered, "-p", "novalue"), "KEY=VALUE")


def test_trigger_queues_a_run_with_typed_params(ok: Ok, registered: str, client: td.Client) -> None:
    text = ok("pipelines", "trigger", registered, "-p", "n=7")
    run_id = re.search(r"queued etl run ([0-9a-f]{32})", text)
    assert run_id
    run = client.pipelines.get_run(run_id.group(1))
    assert (run.status, run.params, run.trigger) == ("QUEUED", {"n": 7}, "manual")
    shown = ok("pipelines", "show", run.id)
    assert "QUEUED" in shown and "work" in shown and "PENDING" in shown
    pipeline = ok("pipelines", "show", "etl")
    assert run.id in pipeline and "work" in pipeline


def test_run_list_show_and_a_failing_run(ok: Ok, cli: Invoke, flows: Path, client: td.Client) -> None:
    text = ok("pipelines", "run", f"{flows}:adder", "-p", "a=40")
    assert "SUCCEEDED" in text and "add" in text
    run = client.pipelines.list_runs("adder")[0]
    assert (run.status, run.params) == ("SUCCEEDED", {"a": 40, "b": 2})
    listing = ok("pipelines", "list")
    assert "adder" in listing and "SUCCEEDED" in listing
    failed = cli("pipelines", "run", f"{flows}:broken")
    assert failed.exit_code == 1
    assert "FAILED" in failed.output and "bad x 1" in failed.output and "--resume" in failed.output


@pytest.mark.slow  # the scheduler starts the run in a child process
def test_schedule_a_ref_then_the_scheduler_runs_it_once(ok: Ok, flows: Path, client: td.Client) -> None:
    ok("pipelines", "schedule", f"{flows}:adder", "--webhook")  # registers the pipeline from its file
    ok("pipelines", "trigger", "adder", "-p", "b=5")
    text = ok("scheduler", "--once")
    assert "started 1" in text
    runs = client.pipelines.list_runs("adder")
    assert [(r.status, r.params) for r in runs] == [("SUCCEEDED", {"a": 1, "b": 5})]
    assert "started 0" in ok("scheduler", "--once")
