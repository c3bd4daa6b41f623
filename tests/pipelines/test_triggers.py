"""Triggers at the service level: cron slots on an injected clock, outbox events, pipeline success,
webhook tokens, fire keys that never queue a run twice, and bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

import treadle as td
from treadle.errors import Conflict, Forbidden, InvalidArgument, NotFound, Unauthorized
from treadle.orchestration import ParamSpec, PipelineSpec, StepSpec


def register(client: td.Client, name: str, params: tuple[str, ...] = ()) -> None:
    step = StepSpec(name="work", function="tests.nowhere:work", code_digest="0" * 64)
    spec = PipelineSpec(name=name, steps=[step], params=[ParamSpec(name=p, default=None) for p in params])
    client.pipelines.register_pipeline(spec)


@pytest.fixture
def client(tmp_path: Path) -> td.Client:
    c = td.Client(f"sqlite:///{tmp_path / 'trig.db'}", str(tmp_path / "art"))
    register(c, "train", ("dataset", "version", "day"))
    register(c, "report")
    return c


def test_cron_fires_the_latest_due_slot_once_then_waits_for_the_next(client: td.Client) -> None:
    sched = client.schedules.create_schedule("train", "cron", cron="* * * * *", params={"day": "mon"}).schedule
    start = sched.next_at
    assert start is not None
    assert client.schedules.fire_due_cron(now=start - 1) == []  # not yet due
    fired = client.schedules.fire_due_cron(now=start + 5_000)
    assert len(fired) == 1
    run = fired[0]
    assert (run.status, run.trigger, run.params) == ("QUEUED", "cron", {"dataset": None, "version": None, "day": "mon"})
    assert run.trigger_info["fire_key"] == dt.datetime.fromtimestamp(start / 1000, dt.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert client.schedules.fire_due_cron(now=start + 30_000) == []  # same slot: nothing more
    assert client.schedules.get_schedule(sched.id).next_at == start + 60_000
    assert len(client.schedules.fire_due_cron(now=start + 60_000)) == 1  # the next minute


def test_missed_slots_while_down_fire_once_for_the_latest(client: td.Client) -> None:
    sched = client.schedules.create_schedule("train", "cron", cron="*/5 * * * *").schedule
    assert sched.next_at is not None
    down_for_a_day = sched.next_at + 24 * 3600 * 1000 + 90_000
    fired = client.schedules.fire_due_cron(now=down_for_a_day)
    assert len(fired) == 1
    assert fired[0].trigger_info["due"] == dt.datetime.fromtimestamp(
        (sched.next_at + 24 * 3600 * 1000) / 1000, dt.UTC
    ).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(client.pipelines.list_runs("train")) == 1


def test_cron_in_a_time_zone(client: td.Client) -> None:
    sched = client.schedules.create_schedule("train", "cron", cron="0 3 * * *", timezone="Europe/Paris").schedule
    assert sched.next_at is not None
    at = dt.datetime.fromtimestamp(sched.next_at / 1000, dt.UTC)
    assert (at.hour, at.minute) in {(2, 0), (1, 0)}  # 03:00 Paris is 02:00 UTC in winter, 01:00 in summer


def test_a_fire_key_queues_one_run_however_often_it_fires(client: td.Client) -> None:
    sched = client.schedules.create_schedule("train", "webhook").schedule
    first = client.schedules.fire(sched.id, "2026-01-01T03:00:00Z", params={"day": "x"})
    assert first is not None and first.params == {"dataset": None, "version": None, "day": "x"}  # defaults filled
    assert client.schedules.fire(sched.id, "2026-01-01T03:00:00Z") is None
    assert [r.id for r in client.pipelines.list_runs("train")] == [first.id]


def test_a_second_client_on_the_same_store_does_not_double_run(client: td.Client, tmp_path: Path) -> None:
    """Two schedulers (or one restarted) see the same due slot: the fire key lets one run through."""
    sched = client.schedules.create_schedule("train", "cron", cron="* * * * *").schedule
    assert sched.next_at is not None
    from treadle.client._backend import local_backend

    other = local_backend(client.uri, str(tmp_path / "art")).schedules  # its own engine and connections
    from treadle.orchestration._schedule_tables import schedules as table
    from treadle.store import Store

    now = sched.next_at + 1000
    assert len(other.fire_due_cron(now=now)) == 1
    # Simulate a scheduler that crashed after its fire but before moving next_at: the slot is due again.
    store = Store(client.uri)
    with store.write() as conn:
        conn.execute(table.update().where(table.c.id == sched.id).values(next_at=sched.next_at))
    assert client.schedules.fire_due_cron(now=now) == []
    assert len(client.pipelines.list_runs("train")) == 1
    store.dispose()


def test_dataset_version_created_fires_an_event_schedule_with_payload_params(client: td.Client) -> None:
    td.datasets.create("iris", pd.DataFrame({"x": [1, 2]}), client=client)  # before: ignored
    sched = client.schedules.create_schedule(
        "train",
        "event",
        events=["dataset_version_created"],
        filter={"name": "iris"},
        params={"dataset": "$event.name", "version": "$event.version"},
    ).schedule
    assert client.schedules.fire_due_events() == []
    td.datasets.create("other", pd.DataFrame({"x": [1]}), client=client)  # filtered out
    td.datasets.create("iris", pd.DataFrame({"x": [1, 2, 3]}), client=client)
    fired = client.schedules.fire_due_events()
    assert len(fired) == 1
    run = fired[0]
    assert (run.trigger, run.params) == ("event", {"dataset": "iris", "version": 2, "day": None})
    assert run.trigger_info["event"] == "dataset_version_created"
    assert run.trigger_info["schedule_id"] == sched.id
    assert client.schedules.fire_due_events() == []  # the cursor moved on


def test_a_pipeline_success_chains_the_next_pipeline_and_a_failure_does_not(client: td.Client) -> None:
    client.schedules.create_schedule("report", "pipeline", upstream="train")
    failed = client.pipelines.create_run("train")
    client.pipelines.finish_run(failed.id, "FAILED", "boom")
    assert client.schedules.fire_due_events() == []
    ok = client.pipelines.create_run("train")
    client.pipelines.finish_run(ok.id, "SUCCEEDED")
    fired = client.schedules.fire_due_events()
    assert [(r.pipeline, r.trigger, r.trigger_info["upstream_run_id"]) for r in fired] == [
        ("report", "pipeline", ok.id)
    ]


def test_chains_that_loop_are_refused(client: td.Client) -> None:
    client.schedules.create_schedule("report", "pipeline", upstream="train")
    with pytest.raises(InvalidArgument, match="would loop"):
        client.schedules.create_schedule("train", "pipeline", upstream="report")
    with pytest.raises(InvalidArgument, match="would loop"):
        client.schedules.create_schedule("train", "pipeline", upstream="train")


def test_disabled_schedules_do_not_fire_and_resume_afresh(client: td.Client) -> None:
    sched = client.schedules.create_schedule("train", "event", events=["dataset_version_created"]).schedule
    client.schedules.set_schedule_enabled(sched.id, False)
    td.datasets.create("iris", pd.DataFrame({"x": [1]}), client=client)
    assert client.schedules.fire_due_events() == []
    with pytest.raises(Conflict, match="disabled"):
        client.schedules.fire(sched.id, "k")
    assert client.schedules.set_schedule_enabled(sched.id, True).enabled
    assert client.schedules.fire_due_events() == []  # what happened while paused stays unfired
    td.datasets.create("iris", pd.DataFrame({"x": [2]}), client=client)
    assert len(client.schedules.fire_due_events()) == 1


def test_webhook_tokens(client: td.Client) -> None:
    created = client.schedules.create_schedule("train", "webhook")
    assert created.token and len(created.token) > 30
    assert client.schedules.verify_webhook("train", created.token).id == created.schedule.id
    with pytest.raises(Unauthorized, match="Authorization: Bearer"):
        client.schedules.verify_webhook("train", None)
    with pytest.raises(Forbidden, match="no enabled webhook"):
        client.schedules.verify_webhook("train", "wrong")
    with pytest.raises(Forbidden):
        client.schedules.verify_webhook("report", created.token)  # another pipeline's token
    assert "token" not in client.schedules.list_schedules("train")[0].model_dump()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "cron", "cron": "61 * * * *"}, "bad cron expression"),
        ({"kind": "cron", "cron": "* * * * * *"}, "5 fields"),
        ({"kind": "cron"}, "needs cron"),
        ({"kind": "cron", "cron": "0 0 30 2 *"}, "has no slot"),  # February 30th never comes
        ({"kind": "cron", "cron": "@daily", "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"kind": "event", "events": ["dataset_version_create"]}, "unknown event kind"),
        ({"kind": "event"}, "needs events"),
        ({"kind": "webhook", "cron": "@daily"}, "takes no cron"),
        ({"kind": "pipeline"}, "needs upstream"),
        ({"kind": "webhook", "params": {"epochs": 3}}, "has no param 'epochs'"),
    ],
)
def test_bad_schedules_are_refused(client: td.Client, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        client.schedules.create_schedule("train", **kwargs)  # type: ignore[arg-type]


def test_unknown_pipelines_and_schedules(client: td.Client) -> None:
    with pytest.raises(NotFound, match="'nope' is not registered"):
        client.schedules.create_schedule("nope", "webhook")
    with pytest.raises(NotFound, match="'ghost' is not registered"):
        client.schedules.create_schedule("train", "pipeline", upstream="ghost")
    with pytest.raises(NotFound, match="schedule 999"):
        client.schedules.delete_schedule(999)
    sched = client.schedules.create_schedule("train", "webhook").schedule
    client.schedules.delete_schedule(sched.id)
    assert client.schedules.list_schedules() == []


def test_the_lease_has_one_holder_until_it_expires_or_is_released(client: td.Client) -> None:
    svc = client.schedules
    assert svc.acquire_lease("scheduler", "a", ttl_s=30)
    assert not svc.acquire_lease("scheduler", "b", ttl_s=30)
    assert svc.acquire_lease("scheduler", "a", ttl_s=0.05)  # renewal by the holder
    import time

    time.sleep(0.1)
    assert svc.acquire_lease("scheduler", "b", ttl_s=30)  # a's lease expired
    assert not svc.acquire_lease("scheduler", "a", ttl_s=30)
    svc.release_lease("scheduler", "a")  # not the holder: no effect
    assert not svc.acquire_lease("scheduler", "a", ttl_s=30)
    svc.release_lease("scheduler", "b")
    assert svc.acquire_lease("scheduler", "a", ttl_s=30)


def test_a_schedule_that_cannot_fire_skips_its_slot_and_the_others_still_fire(client: td.Client) -> None:
    broken = client.schedules.create_schedule("train", "cron", cron="* * * * *", params={"day": "x"}).schedule
    fine = client.schedules.create_schedule("report", "cron", cron="* * * * *").schedule
    assert broken.next_at is not None and fine.next_at is not None
    slot = max(broken.next_at, fine.next_at)
    # The pipeline is re-registered without the param the schedule passes.
    register(client, "train")
    fired = client.schedules.fire_due_cron(now=slot + 1000)
    assert [r.pipeline for r in fired] == ["report"]
    assert client.schedules.get_schedule(broken.id).next_at == slot + 60_000  # skipped, not stuck
    assert client.schedules.get_schedule(fine.id).last_fired_at is not None


def test_a_schedule_deleted_while_events_fire_does_not_stop_the_others(
    client: td.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = client.schedules.create_schedule("train", "event", events=["dataset_version_created"]).schedule
    second = client.schedules.create_schedule("report", "event", events=["dataset_version_created"]).schedule
    td.datasets.create("iris", pd.DataFrame({"x": [1, 2]}), client=client)
    service = client.schedules
    read = service._events.read  # type: ignore[attr-defined]

    def read_then_delete(*args: object, **kwargs: object) -> object:
        page = read(*args, **kwargs)
        if [s.id for s in service.list_schedules()] == [first.id, second.id]:
            service.delete_schedule(second.id)  # another process deletes it after this pass listed it
        return page

    monkeypatch.setattr(service._events, "read", read_then_delete)  # type: ignore[attr-defined]
    fired = service.fire_due_events()
    assert [r.pipeline for r in fired] == ["train"]


def test_a_queued_run_names_an_executor_the_scheduler_can_start(client: td.Client) -> None:
    with pytest.raises(InvalidArgument, match="unknown executor 'bogus'"):
        client.schedules.trigger("report", executor="bogus")
    assert client.pipelines.list_runs("report") == []
    assert client.schedules.trigger("report", executor="process").executor == "process"
