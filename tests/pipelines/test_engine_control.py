"""The driver's control of a run from outside: cancellation, heartbeats, parallel in-process steps."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from treadle.client import Client
from treadle.pipelines import PipelineFailed, pipeline, step
from treadle.pipelines import _engine as engine


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(f"sqlite:///{tmp_path / 'control.db'}", str(tmp_path / "artifacts"))


@step(cache=False)
def cancel_own_run(uri: str, artifacts: str, flag: str) -> int:
    """Cancels the pipeline run it belongs to (once), like a cancel from another shell."""
    if not Path(flag).exists():
        Path(flag).write_text("")
        other = Client(uri, artifacts)
        (running,) = other.pipelines.list_runs(pipeline="self-cancelling", status="RUNNING")
        other.pipelines.cancel_run(running.id)
    return 1


@step(cache=False)
def never(x: int) -> int:
    return x


@pipeline(name="self-cancelling")
def self_cancelling(uri: str, artifacts: str, flag: str) -> int:
    return never(cancel_own_run(uri, artifacts, flag))


def test_cancelled_run_stops_the_driver_and_can_be_resumed(client: Client, tmp_path: Path) -> None:
    flag = str(tmp_path / "cancelled-once")
    with pytest.raises(PipelineFailed, match="CANCELLED") as caught:
        self_cancelling.run(uri=client.uri, artifacts=client.artifacts_root, flag=flag, client=client)
    result = caught.value.result
    assert result.status == "CANCELLED"
    assert result.steps["cancel_own_run"].status == "FAILED"  # it was running when cancelled
    assert result.steps["never"].status == "SKIPPED" and result.steps["never"].run_id is None
    assert client.tracking.get_run(result.run_id or "").status == "KILLED"
    resumed = self_cancelling.resume(result.id, client=client)
    assert resumed.status == "SUCCEEDED" and resumed.output == 1


@step(cache=False)
def watch_heartbeat(uri: str, artifacts: str) -> bool:
    other = Client(uri, artifacts)
    (running,) = other.pipelines.list_runs(pipeline="beating", status="RUNNING")
    before = running.heartbeat_at or 0
    time.sleep(0.4)
    return (other.pipelines.get_run(running.id).heartbeat_at or 0) > before


@pipeline(name="beating")
def beating(uri: str, artifacts: str) -> bool:
    return watch_heartbeat(uri, artifacts)


def test_heartbeat_keeps_the_run_alive(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "HEARTBEAT_S", 0.05)
    result = beating.run(uri=client.uri, artifacts=client.artifacts_root, client=client)
    assert result.output is True
    assert client.pipelines.reap_stale(stale_after_s=0.001) == []  # finished runs are never reaped


@step(cache=False)
def nap(label: str) -> float:
    start = time.monotonic()
    time.sleep(0.3)
    return start


@pipeline
def naps() -> list[float]:
    return [nap("a"), nap("b"), nap("c")]


def test_in_process_branches_overlap_with_max_parallel(client: Client) -> None:
    started = time.monotonic()
    result = naps.run(client=client, max_parallel=3)
    starts = result.output
    assert max(starts) - min(starts) < 0.25  # all three began before the first finished
    assert time.monotonic() - started < 3.0


@step(cache=False)
def log_own(label: str) -> str:
    import treadle.client as td

    for i in range(5):
        td.log_metric(f"metric_{label}", i)
        time.sleep(0.02)
    return label


@pipeline
def loggers() -> list[str]:
    return [log_own("a"), log_own("b"), log_own("c")]


def test_parallel_in_process_steps_log_to_their_own_runs(client: Client) -> None:
    result = loggers.run(client=client, max_parallel=3)
    for name, label in (("log_own", "a"), ("log_own_2", "b"), ("log_own_3", "c")):
        metrics = client.tracking.get_run(result.steps[name].run_id or "").metrics
        assert metrics == {f"metric_{label}": 4.0}, name
