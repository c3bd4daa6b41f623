"""Many serving processes report to one store: counters add up exactly, a decision's reward is
counted once, and exactly one process's ``evaluate`` acts (SQLite and PostgreSQL)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from treadle import Client
from treadle.rollout import DeploymentSpec, VariantTraffic

pytestmark = pytest.mark.slow

SPEC = DeploymentSpec.model_validate(
    {
        "name": "proc",
        "routes": [{"name": "a", "model": "/m/a", "weight": 50}, {"name": "b", "model": "/m/b", "weight": 50}],
        "guardrails": {"max_error_rate": 0.1, "min_requests": 10},
    }
)


def _serve(uri: str, artifacts: str, worker: int, barrier: object) -> list[str]:
    client = Client(uri, artifacts)
    barrier.wait()  # type: ignore[attr-defined]
    for i in range(10):
        client.rollout.record_traffic(
            "proc", 1, [VariantTraffic(variant="a", requests=3), VariantTraffic(variant="b", requests=1, errors=1)]
        )
        client.rollout.record_feedback(f"proc/1/a/{i:016x}", 1.0)  # every process sends the same 10 decisions
    return [client.rollout.evaluate("proc", 1).action for _ in range(3)]


def _worker(args: tuple[str, str, int, object, object]) -> None:
    uri, artifacts, worker, barrier, queue = args
    queue.put(_serve(uri, artifacts, worker, barrier))  # type: ignore[attr-defined]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_processes_share_counters_and_evaluate_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    uri = f"sqlite:///{tmp_path / 'p.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    client = Client(uri, str(tmp_path / "art"))
    if "proc" in {d.name for d in client.rollout.list_deployments()}:  # the PostgreSQL database is per session
        client.rollout.delete_deployment("proc")
    client.rollout.apply_deployment(SPEC)
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=((uri, str(tmp_path / "art"), w, barrier, queue),)) for w in range(3)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    a, b = client.rollout.get_stats("proc", 1).variants
    assert (a.requests, b.requests, b.errors) == (90, 30, 30)
    assert (a.rewards, a.reward_mean) == (10, 1.0)
    actions = [action for result in results for action in result]
    assert actions.count("rollback") == 1 and len(actions) == 9
    assert [d.status for d in client.rollout.deployment_history("proc")] == ["rolled_back", "active"]
