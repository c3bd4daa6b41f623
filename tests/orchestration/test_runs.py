"""``insert_run`` inside a caller's transaction (how a schedule's fire queues exactly one run), and
``claim_run`` raced by separate processes: exactly one claims a queued run."""

from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path
from typing import Any

import pytest

from treadle import Client
from treadle.errors import Conflict, InvalidArgument, NotFound
from treadle.orchestration import insert_run
from treadle.testing.pipelines import spec


def _client(tmp_path: Path) -> Client:
    return Client(f"sqlite:///{tmp_path / 'p.db'}", artifacts=str(tmp_path / "art"))


def test_insert_run_joins_the_callers_transaction(tmp_path: Path) -> None:
    client = _client(tmp_path)
    client.pipelines.register_pipeline(spec("nightly"))
    store = client.pipelines._store  # what the schedules service shares
    with pytest.raises(RuntimeError, match="fire failed"), store.write() as conn:
        insert_run(conn, "nightly", {"n": 1}, "cron", {"due": "2026-11-27T03:00"}, "process", True)
        raise RuntimeError("fire failed")  # the fire's own write failed: no run, no event either
    assert client.pipelines.list_runs("nightly") == []
    assert client.events.read(kinds=["pipeline_run_started"]).events == []
    with store.write() as conn:
        run_id = insert_run(conn, "nightly", {"n": 2}, "cron", {"due": "x"}, "process", True)
    run = client.pipelines.get_run(run_id)
    assert (run.status, run.trigger, run.trigger_info, run.executor, run.params) == (
        "QUEUED",
        "cron",
        {"due": "x"},
        "process",
        {"n": 2},
    )
    assert [r.id for r in client.pipelines.list_queued()] == [run_id]
    (event,) = client.events.read(kinds=["pipeline_run_started"]).events
    assert event.payload["pipeline_run_id"] == run_id and event.payload["status"] == "QUEUED"
    with store.write() as conn:
        with pytest.raises(InvalidArgument, match="trigger must be one of"):
            insert_run(conn, "nightly", {"n": 1}, "sometimes", None, "process", True)
        with pytest.raises(NotFound, match="'weekly' is not registered"):
            insert_run(conn, "weekly", {}, "cron", None, "process", True)


def _claim(uri: str, artifacts: str, pipeline_run_id: str, start: Any) -> str:
    client = Client(uri, artifacts=artifacts)
    client.pipelines.get_run(pipeline_run_id)  # connect before the start line
    start.wait(timeout=60)  # a barrier: all three claim at once
    try:
        return client.pipelines.claim_run(pipeline_run_id).status
    except Conflict:
        return "lost"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_processes_racing_claim_run_one_wins(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    uri = f"sqlite:///{tmp_path / 'race.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    artifacts = str(tmp_path / "art")
    client = Client(uri, artifacts=artifacts)
    name = f"race-{uuid.uuid4().hex[:8]}"
    client.pipelines.register_pipeline(spec(name))
    pipeline_run_id = client.pipelines.create_run(name, {"n": 1}, queued=True).id
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(3) as pool:
        start = manager.Barrier(3)
        pending = [pool.apply_async(_claim, (uri, artifacts, pipeline_run_id, start)) for _ in range(3)]
        outcomes = sorted(p.get(timeout=120) for p in pending)
    assert outcomes == ["RUNNING", "lost", "lost"]
    assert client.pipelines.get_run(pipeline_run_id).status == "RUNNING"
