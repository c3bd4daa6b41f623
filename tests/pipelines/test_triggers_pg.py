"""Triggers on PostgreSQL, where writers really run at once: racing fires of one key, racing cron
ticks and racing lease takers each let exactly one through."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import treadle as td
from treadle.orchestration import ParamSpec, PipelineSpec, StepSpec


@pytest.fixture
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[td.Client]:
    from tests.conftest import _pg_admin_conn
    from treadle.client._backend import reset_backends

    request.getfixturevalue("pg_url")  # skips when PostgreSQL is absent
    admin = _pg_admin_conn()
    name = f"treadle_t_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = str(request.getfixturevalue("pg_url")).rsplit("/", 1)[0]
    uri = f"{base}/{name}"
    try:
        c = td.Client(uri, str(tmp_path / "art"))
        step = StepSpec(name="work", function="m:work", code_digest="0" * 64)
        c.pipelines.register_pipeline(PipelineSpec(name="train", steps=[step], params=[ParamSpec(name="n", default=1)]))
        yield c
    finally:
        reset_backends()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def race(n: int, fn: Callable[[int], Any]) -> list[Any]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(fn, range(n)))


def test_racing_fires_of_one_key_queue_one_run(client: td.Client) -> None:
    sched = client.schedules.create_schedule("train", "webhook").schedule
    results = race(6, lambda _: client.schedules.fire(sched.id, "2026-01-01T03:00:00Z"))  # a pool of connections
    assert sum(r is not None for r in results) == 1
    assert len(client.pipelines.list_runs("train")) == 1


def test_racing_cron_ticks_fire_a_slot_once(client: td.Client) -> None:
    sched = client.schedules.create_schedule("train", "cron", cron="* * * * *").schedule
    assert sched.next_at is not None
    now = sched.next_at + 1000
    results = race(4, lambda _: client.schedules.fire_due_cron(now=now))
    assert sum(len(r) for r in results) == 1
    assert len(client.pipelines.list_runs("train")) == 1


def test_racing_lease_takers_one_wins(client: td.Client) -> None:
    results = race(6, lambda i: client.schedules.acquire_lease("scheduler", f"holder-{i}", 30))
    assert results.count(True) == 1


def test_pipeline_success_chain_on_postgres(client: td.Client) -> None:
    step = StepSpec(name="work", function="m:work", code_digest="1" * 64)
    client.pipelines.register_pipeline(PipelineSpec(name="report", steps=[step]))
    client.schedules.create_schedule("report", "pipeline", upstream="train")
    run = client.pipelines.create_run("train")
    client.pipelines.finish_run(run.id, "SUCCEEDED")
    fired = race(3, lambda _: client.schedules.fire_due_events())
    assert sum(len(f) for f in fired) == 1
    assert [r.trigger for r in client.pipelines.list_runs("report")] == ["pipeline"]
