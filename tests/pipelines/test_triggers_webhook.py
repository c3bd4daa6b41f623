"""``POST /pipelines/{name}/trigger`` over a real HTTP server: 401 without a token, 403 with a wrong
one, 202 with the queued run's id, idempotent retries, and the schedules service over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import treadle as td
from treadle.errors import Forbidden
from treadle.orchestration import ParamSpec, PipelineSpec, StepSpec
from treadle.server import create_app
from treadle.testing.server import serve


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, td.Client]]:
    uri, artifacts = f"sqlite:///{tmp_path / 'hook.db'}", str(tmp_path / "art")
    local = td.Client(uri, artifacts)
    step = StepSpec(name="work", function="m:work", code_digest="0" * 64)
    local.pipelines.register_pipeline(
        PipelineSpec(name="nightly", steps=[step], params=[ParamSpec(name="n", type="int", default=1)])
    )
    with serve(create_app(uri, artifacts)) as url:
        yield url, local


def test_webhook_needs_its_token(server: tuple[str, td.Client]) -> None:
    url, local = server
    token = local.schedules.create_schedule("nightly", "webhook").token
    assert token
    endpoint = f"{url}/pipelines/nightly/trigger"

    missing = httpx.post(endpoint, json={"n": 2})
    assert missing.status_code == 401
    assert "Authorization: Bearer" in missing.json()["error"]["message"]
    wrong = httpx.post(endpoint, json={"n": 2}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert local.pipelines.list_runs("nightly") == []

    ok = httpx.post(endpoint, json={"n": 2}, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 202, ok.text
    run = local.pipelines.get_run(ok.json()["pipeline_run_id"])
    assert (run.status, run.trigger, run.params) == ("QUEUED", "webhook", {"n": 2})

    other = httpx.post(endpoint, headers={"X-Treadle-Token": token})  # no body: the defaults
    assert other.status_code == 202
    assert local.pipelines.get_run(other.json()["pipeline_run_id"]).params == {"n": 1}  # the default


def test_webhook_retries_with_an_idempotency_key_queue_one_run(server: tuple[str, td.Client]) -> None:
    url, local = server
    token = local.schedules.create_schedule("nightly", "webhook").token
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "build-42"}
    first = httpx.post(f"{url}/pipelines/nightly/trigger", json={}, headers=headers)
    again = httpx.post(f"{url}/pipelines/nightly/trigger", json={}, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["duplicate"] is True
    assert len(local.pipelines.list_runs("nightly")) == 1


def test_long_idempotency_keys_that_share_a_prefix_are_different_keys(server: tuple[str, td.Client]) -> None:
    url, local = server
    token = local.schedules.create_schedule("nightly", "webhook").token
    answers = [
        httpx.post(
            f"{url}/pipelines/nightly/trigger",
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k" * 300 + suffix},
        ).status_code
        for suffix in ("a", "b", "b")
    ]
    assert answers == [202, 202, 200]
    assert len(local.pipelines.list_runs("nightly")) == 2


def test_webhook_bad_body_and_unknown_param(server: tuple[str, td.Client]) -> None:
    url, local = server
    token = local.schedules.create_schedule("nightly", "webhook").token
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.post(f"{url}/pipelines/nightly/trigger", json=[1, 2], headers=headers).status_code == 422
    unknown = httpx.post(f"{url}/pipelines/nightly/trigger", json={"bogus": 1}, headers=headers)
    assert unknown.status_code == 400
    assert "bogus" in unknown.json()["error"]["message"]
    typed = httpx.post(f"{url}/pipelines/nightly/trigger", json={"n": "three"}, headers=headers)
    assert typed.status_code == 400
    assert "parameter 'n' of pipeline 'nightly' is int, got str 'three'" in typed.json()["error"]["message"]
    assert local.pipelines.list_runs("nightly") == []


def test_schedules_over_http_and_a_paused_webhook(server: tuple[str, td.Client]) -> None:
    url, _ = server
    remote = td.Client(url)
    created = remote.schedules.create_schedule("nightly", "webhook")
    assert created.token
    remote.schedules.set_schedule_enabled(created.schedule.id, False)
    with pytest.raises(Forbidden):
        remote.schedules.verify_webhook("nightly", created.token)
    answer = httpx.post(f"{url}/pipelines/nightly/trigger", headers={"Authorization": f"Bearer {created.token}"})
    assert answer.status_code == 403
    queued = remote.schedules.trigger("nightly", {"n": 5})
    assert queued.status == "QUEUED" and queued.params == {"n": 5}
    assert remote.schedules.fire_due_cron() == []
    assert remote.schedules.acquire_lease("scheduler", "x", 10)
    remote.schedules.set_schedule_enabled(created.schedule.id, True)
    assert remote.schedules.fire(created.schedule.id, "k1") is not None
    assert remote.schedules.fire(created.schedule.id, "k1") is None  # null over HTTP too


FLOW = """
from treadle.pipelines import pipeline, step


@step
def square(n: int) -> int:
    return n * n


@pipeline
def hooked(n: int = 2) -> int:
    return square(n)
"""


@pytest.mark.slow  # the server's scheduler starts the run in a child process
def test_the_server_scheduler_runs_a_webhook_triggered_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from treadle.pipelines import load_pipeline

    monkeypatch.setenv("TREADLE_SCHEDULER", "true")
    monkeypatch.setenv("TREADLE_SCHEDULER_POLL_S", "0.2")
    uri, artifacts = f"sqlite:///{tmp_path / 'srv.db'}", str(tmp_path / "art")
    local = td.Client(uri, artifacts)
    (tmp_path / "flow.py").write_text(FLOW)
    local.pipelines.register_pipeline(load_pipeline(f"{tmp_path / 'flow.py'}:hooked").spec)
    token = local.schedules.create_schedule("hooked", "webhook").token
    with serve(create_app(uri, artifacts)) as url:
        answer = httpx.post(f"{url}/pipelines/hooked/trigger", json={"n": 7}, headers={"X-Treadle-Token": str(token)})
        assert answer.status_code == 202
        run_id = answer.json()["pipeline_run_id"]
        deadline = time.monotonic() + 120
        while local.pipelines.get_run(run_id).status in ("QUEUED", "RUNNING") and time.monotonic() < deadline:
            time.sleep(0.2)
    detail = local.pipelines.get_run_detail(run_id)
    assert (detail.run.status, detail.run.trigger, detail.run.params) == ("SUCCEEDED", "webhook", {"n": 7})
    assert [s.status for s in detail.steps] == ["SUCCEEDED"]
