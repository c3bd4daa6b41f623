"""The in-process engine end to end on SQLite: results, tracked runs, logs, lineage, failures,
retries, timeouts and resume."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import treadle.client as td
from treadle.client import Client
from treadle.errors import InvalidArgument
from treadle.pipelines import PipelineFailed, pipeline, step


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(f"sqlite:///{tmp_path / 'engine.db'}", str(tmp_path / "artifacts"))


def _touch(folder: str, name: str) -> int:
    """Count calls across runs with files (steps cannot share Python state with the test reliably)."""
    path = Path(folder) / name
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    return count


@step
def numbers(n: int, folder: str) -> list[int]:
    _touch(folder, "numbers")
    print(f"making {n} numbers")
    return list(range(n))


@step(outputs=("evens", "odds"))
def split(xs: list[int]) -> tuple[list[int], list[int]]:
    return [x for x in xs if x % 2 == 0], [x for x in xs if x % 2]


@step
def total(xs: list[int], scale: float = 1.0) -> float:
    td.log_metric("count", len(xs))
    return sum(xs) * scale


@pipeline
def arithmetic(n: int, folder: str) -> dict[str, float]:
    evens, odds = split(numbers(n, folder))
    return {"evens": total(evens), "odds": total(odds, scale=2.0)}


def test_run_returns_outputs_and_records_every_step(client: Client, tmp_path: Path) -> None:
    result = arithmetic.run(n=6, folder=str(tmp_path), client=client)
    assert result.status == "SUCCEEDED"
    assert result.output == {"evens": 6.0, "odds": 18.0}
    assert result["split"] == ([0, 2, 4], [1, 3, 5])
    assert set(result.steps) == {"numbers", "split", "total", "total_2"}
    assert all(s.status == "SUCCEEDED" for s in result.steps.values())

    parent = client.tracking.get_run(result.run_id or "")
    assert parent.tags["treadle.pipeline"] == "arithmetic"
    assert parent.params == {"n": "6", "folder": str(tmp_path)}
    assert parent.status == "FINISHED"
    for name, step_run in result.steps.items():
        tracked = client.tracking.get_run(step_run.run_id or "")
        assert tracked.parent_id == result.run_id, name
        assert tracked.status == "FINISHED"
        assert tracked.tags["treadle.pipeline.step"] == name
    files = {f.path for f in client.list_artifacts(result.steps["numbers"].run_id or "")}
    assert {"outputs/output.json", "logs/step.log"} <= files
    log = client.read_artifact(result.steps["numbers"].run_id or "", "logs/step.log").decode()
    assert "making 6 numbers" in log
    # td.log_metric inside a step lands in the step's own run
    assert client.tracking.get_run(result.steps["total_2"].run_id or "").metrics["count"] == 3

    detail = client.pipelines.get_run_detail(result.id)
    assert detail.run.status == "SUCCEEDED"
    assert [s.name for s in detail.spec.steps] == ["numbers", "split", "total", "total_2"]


def test_lineage_links_step_runs_through_their_outputs(client: Client, tmp_path: Path) -> None:
    result = arithmetic.run(n=4, folder=str(tmp_path), client=client)
    produced = client.lineage.find_node(f"step-output:{result.id}/numbers/output")
    graph = client.lineage.downstream(produced.id, hops=2)
    consumer = graph.node(f"run:{result.steps['split'].run_id}")
    assert any(e.source == produced.id and e.target == consumer.id for e in graph.edges)
    producer = client.lineage.find_node(f"run:{result.steps['numbers'].run_id}")
    up = client.lineage.upstream(produced.id, hops=1)
    assert producer.id in {n.id for n in up.nodes}


def test_step_outside_a_pipeline_is_the_plain_function(tmp_path: Path) -> None:
    assert numbers(3, str(tmp_path)) == [0, 1, 2]
    assert split([1, 2, 3]) == ([2], [1, 3])


@step
def boom(xs: list[int]) -> int:
    raise ValueError(f"cannot handle {len(xs)} numbers")


@step
def after_boom(x: int) -> int:
    return x + 1


@pipeline
def branching(n: int, folder: str) -> list[float]:
    xs = numbers(n, folder)
    bad = after_boom(boom(xs))
    return [total(xs), bad]


def test_failed_branch_skips_dependants_and_finishes_independent_ones(client: Client, tmp_path: Path) -> None:
    with pytest.raises(PipelineFailed) as caught:
        branching.run(n=3, folder=str(tmp_path), client=client)
    assert "boom" in caught.value.message and "cannot handle 3 numbers" in caught.value.message
    result = caught.value.result
    assert result.status == "FAILED"
    assert {k: v.status for k, v in result.steps.items()} == {
        "numbers": "SUCCEEDED",
        "boom": "FAILED",
        "after_boom": "SKIPPED",
        "total": "SUCCEEDED",
    }
    assert "ValueError: cannot handle 3 numbers" in (result.steps["boom"].error or "")
    assert client.tracking.get_run(result.steps["boom"].run_id or "").status == "FAILED"
    assert client.tracking.get_run(result.run_id or "").status == "FAILED"
    assert result["total"] == 3.0
    quiet = branching.run(n=3, folder=str(tmp_path), client=client, raise_on_failure=False)
    assert quiet.status == "FAILED"


@step(retries=2, retry_delay_s=0.01, backoff=2.0, cache=False)
def flaky(folder: str, fail_times: int) -> str:
    count = _touch(folder, "flaky")
    if count <= fail_times:
        raise ConnectionError(f"attempt {count} failed")
    return f"ok after {count}"


@pipeline
def retrying(folder: str, fail_times: int) -> str:
    return flaky(folder, fail_times)


def test_retries_until_success_each_attempt_a_tracked_run(client: Client, tmp_path: Path) -> None:
    result = retrying.run(folder=str(tmp_path), fail_times=2, client=client)
    assert result.output == "ok after 3"
    step_run = result.steps["flaky"]
    assert step_run.attempt == 3 and step_run.status == "SUCCEEDED"
    attempts = [r for r in client.search_runs(filter=None).runs if r.parent_id == result.run_id]
    assert sorted(r.status for r in attempts) == ["FAILED", "FAILED", "FINISHED"]


def test_retries_exhausted_fail_the_step(client: Client, tmp_path: Path) -> None:
    result = retrying.run(folder=str(tmp_path), fail_times=5, client=client, raise_on_failure=False)
    step_run = result.steps["flaky"]
    assert step_run.status == "FAILED" and step_run.attempt == 3
    assert step_run.error == "ConnectionError: attempt 3 failed (after 3 attempts)"


@step(timeout=0.3)
def slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pipeline
def sleepy(seconds: float) -> float:
    return slow(seconds)


def test_timeout_fails_the_step(client: Client) -> None:
    started = time.monotonic()
    result = sleepy.run(seconds=2.0, client=client, raise_on_failure=False)
    assert time.monotonic() - started < 1.8
    assert result.steps["slow"].status == "FAILED"
    assert "ran past its timeout of 0.3s" in (result.steps["slow"].error or "")


@step
def gate(folder: str, xs: list[int]) -> int:
    _touch(folder, "gate")
    if not (Path(folder) / "open").exists():
        raise RuntimeError("the gate is closed")
    return len(xs)


@pipeline
def gated(n: int, folder: str) -> float:
    xs = numbers(n, folder)
    return after_boom(gate(folder, xs))


def test_resume_runs_only_the_failed_step_and_its_dependants(client: Client, tmp_path: Path) -> None:
    folder = str(tmp_path)
    failed = gated.run(n=4, folder=folder, client=client, raise_on_failure=False)
    assert failed.steps["gate"].status == "FAILED" and failed.steps["after_boom"].status == "SKIPPED"
    (tmp_path / "open").write_text("")
    resumed = gated.resume(failed.id, client=client)
    assert resumed.id == failed.id and resumed.status == "SUCCEEDED"
    assert resumed.output == 5
    assert (tmp_path / "numbers").read_text() == "1"  # not re-run
    assert (tmp_path / "gate").read_text() == "2"
    assert resumed.steps["gate"].attempt == 2
    assert client.tracking.get_run(resumed.run_id or "").status == "FINISHED"
    with pytest.raises(InvalidArgument, match="only FAILED or CANCELLED"):
        gated.resume(failed.id, client=client)


def test_unserialisable_output_names_step_and_output(client: Client) -> None:
    @step
    def opens() -> object:
        return (x for x in range(3))  # generators cannot be pickled

    @pipeline
    def leaky() -> object:
        return opens()

    result = leaky.run(client=client, raise_on_failure=False)
    error = result.steps["opens"].error or ""
    assert "step 'opens' output 'output'" in error and "generator" in error


@pipeline
def sleepy_and_quick(seconds: float, n: int, folder: str) -> list[float]:
    return [slow(seconds), total(numbers(n, folder))]


def test_timed_out_step_frees_its_worker_for_independent_steps(client: Client, tmp_path: Path) -> None:
    started = time.monotonic()
    result = sleepy_and_quick.run(seconds=2.0, n=3, folder=str(tmp_path), client=client, raise_on_failure=False)
    assert time.monotonic() - started < 1.8
    assert result.steps["slow"].status == "FAILED"
    assert result.steps["total"].status == "SUCCEEDED" and result["total"] == 3.0
