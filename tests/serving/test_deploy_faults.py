"""Faults around a served deployment: the metadata store (a remote treadle server) going away, a new
revision whose model cannot load, and the small pieces that make both safe (delta counters that put a
failed flush back, the shadow comparison)."""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.serving.deploy_support import Constant, infer, register_python, serving, value, wait_for
from treadle.client import Client
from treadle.rollout import BatchingSpec, DeploymentSpec, DeploymentStats, ReplicaSpec, ShadowSpec, Variant
from treadle.server import create_app
from treadle.serving._deploy import DeploymentEndpoint
from treadle.serving._deploy_stats import TrafficCounter
from treadle.serving._shadow import outputs_agree
from treadle.testing.server import free_port, serve


def test_counts_survive_a_store_outage(tmp_path: Path) -> None:
    port = free_port()
    store = {"uri": f"sqlite:///{tmp_path / 'server.db'}", "artifacts": str(tmp_path / "server-artifacts")}
    with ExitStack() as api:
        base = api.enter_context(serve(create_app(**store), port=port))
        client = Client(base)
        register_python(client, tmp_path, "m", Constant(1.0))
        register_python(client, tmp_path, "m", Constant(2.0))
        client.rollout.apply_deployment(
            DeploymentSpec(
                name="remote",
                routes=[Variant(name="a", model="models:/m/1"), Variant(name="b", model="models:/m/2")],
                replicas=ReplicaSpec(min_replicas=0),
            )
        )

        def stored() -> int:
            return sum(v.requests for v in client.rollout.get_stats("remote").variants)

        with serving(client, "remote") as (url, endpoint), httpx.Client(timeout=30) as http:
            first = [infer(http, url, "remote") for _ in range(30)]
            assert all(r.status_code == 200 for r in first)
            wait_for(lambda: stored() == 30)
            api.close()  # the treadle server (metadata store) goes away
            during = [infer(http, url, "remote") for _ in range(40)]
            assert all(r.status_code == 200 and value(r) in (1.0, 2.0) for r in during)  # models keep answering
            wait_for(lambda: endpoint.flush_failures >= 2)
            assert endpoint.counter.pending  # kept for the next flush
            with serve(create_app(**store), port=port):
                wait_for(lambda: stored() == 70, timeout_s=20)  # every count arrived, none twice
                assert endpoint.ready


def test_traffic_of_a_deleted_deployment_is_dropped_not_retried_forever(sqlite_uri: str, tmp_path: Path) -> None:
    client = Client(sqlite_uri, str(tmp_path / "artifacts"))
    endpoint = DeploymentEndpoint("gone", client)  # never started: only its counter and flush are used
    endpoint.counter.request(1, "a", 3.0, error=False)
    asyncio.run(endpoint.flush())  # NotFound: the store will never take these counts
    assert not endpoint.counter.pending and endpoint.dropped_reports == 1 and endpoint.flush_failures == 0


def test_counter_restores_failed_deltas() -> None:
    counter = TrafficCounter()
    counter.request(1, "a", 3.0, error=False)
    counter.request(1, "a", 300.0, error=True)
    counter.shadow(1, "a", agreed=False)
    taken = counter.take()
    assert not counter.pending and list(taken) == [1]
    counter.request(1, "a", 3.0, error=False)
    counter.restore(1, taken[1])  # the flush failed: the deltas come back and add up
    again = counter.take()[1][0]
    assert (again.requests, again.errors, again.shadow_requests, again.shadow_disagreements) == (3, 1, 1, 1)
    assert sum(again.latency_ms_buckets) == 3 and again.latency_ms_buckets[-1] == 0


def test_a_revision_that_cannot_load_leaves_the_live_one_serving(sqlite_uri: str, tmp_path: Path) -> None:
    client = Client(sqlite_uri, str(tmp_path / "artifacts"))
    register_python(client, tmp_path, "m", Constant(1.0))
    register_python(client, tmp_path, "m", Constant(2.0))
    inline = ReplicaSpec(min_replicas=0)
    client.rollout.apply_deployment(
        DeploymentSpec(name="d", routes=[Variant(name="a", model="models:/m/1")], replicas=inline)
    )
    with serving(client, "d", retry_failed_s=0.5) as (url, endpoint), httpx.Client(timeout=30) as http:
        broken = DeploymentSpec(name="d", routes=[Variant(name="a", model="models:/m/9")], replicas=inline)
        assert client.rollout.apply_deployment(broken).revision == 2
        wait_for(lambda: 2 in endpoint._failed)  # the watcher tried to load it, and failed
        answers = [infer(http, url, "d") for _ in range(20)]
        time.sleep(0.8)  # past retry_failed_s: it is tried (and fails) again
        answers += [infer(http, url, "d") for _ in range(20)]
        assert all(r.status_code == 200 and value(r) == 1.0 for r in answers)
        assert endpoint.ready and endpoint.deployment is not None and endpoint.deployment.revision == 1
        fixed = DeploymentSpec(name="d", routes=[Variant(name="a", model="models:/m/2")], replicas=inline)
        assert client.rollout.apply_deployment(fixed).revision == 3
        wait_for(lambda: value(infer(http, url, "d")) == 2.0)
        assert endpoint.deployment is not None and endpoint.deployment.revision == 3


def test_outputs_agree() -> None:
    base = {"predict": np.array([1.0, 2.0]), "label": np.array(["a", "b"], dtype=object)}
    assert outputs_agree(base, {"predict": np.array([1.0, 2.0 + 1e-12]), "label": np.array(["a", "b"], dtype=object)})
    assert outputs_agree({"p": np.array([np.nan])}, {"p": np.array([np.nan])})
    assert outputs_agree({"p": np.array([1, 2])}, {"p": np.array([1.0, 2.0])})
    assert not outputs_agree(base, {"predict": np.array([1.0, 2.1]), "label": base["label"]})
    assert not outputs_agree(base, {"predict": base["predict"], "label": np.array(["a", "c"], dtype=object)})
    assert not outputs_agree(base, {"predict": base["predict"]})  # an output missing
    assert not outputs_agree({"p": np.array([1.0])}, {"p": np.array([[1.0]])})  # another shape


@pytest.mark.slow
def test_variants_on_worker_processes_with_batching(sqlite_uri: str, tmp_path: Path) -> None:
    """The deployment defaults: each variant's model in its own worker process, batched."""
    client = Client(sqlite_uri, str(tmp_path / "artifacts"))
    register_python(client, tmp_path, "m", Constant(1.0))
    register_python(client, tmp_path, "m", Constant(2.0))
    client.rollout.apply_deployment(
        DeploymentSpec(
            name="procs",
            routes=[Variant(name="a", model="models:/m/1"), Variant(name="b", model="models:/m/2")],
            shadow=ShadowSpec(model="models:/m/1", percent=100),  # the same model as "a": one pool, reused
            batching=BatchingSpec(max_batch_size=8, max_latency_ms=2),
        )
    )
    with serving(client, "procs") as (url, endpoint), httpx.Client(timeout=60) as http:
        live = endpoint._live
        assert live is not None and live.shadow is live.variants["a"]
        assert all(ep.replicas == 1 for ep in live.models())
        answers = [infer(http, url, "procs") for _ in range(60)]
        assert all(r.status_code == 200 for r in answers)
        assert {value(r) for r in answers} == {1.0, 2.0}
        assert all(value(r) == (1.0 if r.headers["x-treadle-variant"] == "a" else 2.0) for r in answers)

        def mirrored() -> DeploymentStats | None:
            stats = client.rollout.get_stats("procs")
            return stats if sum(v.shadow_requests for v in stats.variants) == 60 else None

        stats = wait_for(mirrored)
    by = {v.variant: v for v in stats.variants}
    assert by["a"].shadow_disagreements == 0 and by["b"].shadow_disagreements == by["b"].shadow_requests > 0
