"""Cross-workspace isolation, end to end through a real server with auth on, on a SQLite and on a
PostgreSQL main store: what alice makes in team-a, bob (editor in team-b only) can neither list,
search, fetch nor download, through the SDK, the MLflow API or the UI; and he cannot even tell
team-a from a workspace that does not exist."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pandas as pd
import pytest

import treadle as td
from tests.conftest import fresh_pg_database
from treadle.access import AccessService
from treadle.errors import Forbidden, InvalidArgument, NotFound
from treadle.rollout import DeploymentSpec
from treadle.server import create_app
from treadle.testing.server import serve
from treadle.tracking import ArtifactIn, Metric

PASSWORD = "isolation-password"
EXPERIMENT, MODEL, DATASET, DEPLOYMENT = "alice-exp", "alice-model", "alice-data", "alice-deploy"
ALICE_NAMES = (EXPERIMENT, MODEL, DATASET, DEPLOYMENT, "alice-run")
DEFAULT_EXPERIMENT, DEFAULT_MODEL = "default-only-exp", "default-only-model"


@dataclass
class World:
    url: str
    access: AccessService
    tokens: dict[str, str]
    alice: td.Client  # editor in team-a
    bob: td.Client  # editor in team-b
    experiment_id: str
    run_id: str
    digest: str  # the sha256 of alice's artifact file

    def http(self, user: str, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"authorization": f"Bearer {self.tokens[user]}"}, **kw)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def main_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('isolation') / 'main.db'}"
        return
    with fresh_pg_database("treadle_iso") as url:
        yield url


def _register(client: td.Client, name: str, experiment: str) -> td.Client:
    """A run with a (tiny) model folder, registered as version 1 of ``name`` with alias champion."""
    run = client.tracking.create_run(client.get_or_create_experiment(experiment).id)
    client.log_text(run.id, "flavor: sklearn\n", "model/treadle-model.yaml")
    client.registry.create_version(name, f"runs:/{run.id}/model")
    client.set_alias(name, "champion", 1)
    return client


@pytest.fixture(scope="module")
def world(main_store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    artifacts = str(tmp_path_factory.mktemp("isolation-art"))
    app = create_app(main_store, artifacts, auth=True)
    access: AccessService = app.state.hub.access
    access.create_workspace("team-a")
    access.create_workspace("team-b")
    tokens = {}
    for user in ("alice", "bob", "root"):
        access.create_user(user, PASSWORD, admin=user == "root")
        tokens[user] = access.create_token(user=user).secret
    access.set_member("team-a", "alice", "editor")
    access.set_member("team-b", "bob", "editor")
    with serve(app) as url:
        # the default workspace's own things, made by a server admin
        root = td.Client(url, token=tokens["root"])
        root.create_experiment(DEFAULT_EXPERIMENT)
        _register(root, DEFAULT_MODEL, DEFAULT_EXPERIMENT)

        alice = td.Client(f"{url}/w/team-a", token=tokens["alice"])
        exp = alice.create_experiment(EXPERIMENT)
        run = alice.tracking.create_run(exp.id, name="alice-run")
        alice.log_batch(run.id, metrics=[Metric(key="acc", value=0.93, step=0)], params={"lr": "0.1"})
        logged = alice.log_bytes(run.id, b"alice's private weights", "weights.bin")
        _register(alice, MODEL, EXPERIMENT)
        td.datasets.create(DATASET, pd.DataFrame({"secret": [1, 2, 3]}), client=alice)
        spec = {"name": DEPLOYMENT, "routes": [{"name": "main", "model": f"models:/{MODEL}@champion", "weight": 100}]}
        alice.rollout.apply_deployment(DeploymentSpec.model_validate(spec))

        bob = td.Client(url, token=tokens["bob"], workspace="team-b")
        yield World(url, access, tokens, alice, bob, exp.id, run.id, logged.digest)


# --- what alice made is there for her ------------------------------------------------------------
def test_alice_sees_her_own_things(world: World) -> None:
    alice = world.alice
    assert alice.workspace == "team-a"
    assert alice.get_run(world.run_id).metrics == {"acc": 0.93}
    assert alice.read_artifact(world.run_id, "weights.bin") == b"alice's private weights"
    assert alice.get_model_version_by_alias(MODEL, "champion").version == 1
    assert alice.datasets.get_dataset(DATASET).name == DATASET
    assert alice.rollout.get_deployment(DEPLOYMENT).name == DEPLOYMENT
    with world.http("alice") as http:
        assert http.get(f"/w/team-a/api/v1/blobs/{world.digest}").content == b"alice's private weights"


# --- bob, in team-b, sees none of it --------------------------------------------------------------
def test_bob_lists_and_searches_nothing_of_alices(world: World) -> None:
    bob = world.bob
    assert bob.workspace == "team-b"
    experiments = bob.tracking.list_experiments(view="all")
    assert EXPERIMENT not in {e.name for e in experiments}
    runs = bob.search_runs([e.id for e in experiments]).runs
    assert world.run_id not in {r.id for r in runs}
    assert world.run_id not in {r.id for r in bob.search_runs([world.experiment_id]).runs}
    assert MODEL not in {m.name for m in bob.registry.search_models()}
    assert MODEL not in {v.name for v in bob.registry.search_versions()}
    assert DATASET not in {d.name for d in bob.datasets.search()}
    assert DEPLOYMENT not in {d.name for d in bob.rollout.list_deployments()}
    events = repr(bob.events.read(limit=1000))
    assert not any(name in events for name in ALICE_NAMES)


def test_bob_cannot_fetch_alices_things_by_name_or_id(world: World) -> None:
    bob = world.bob
    with pytest.raises(NotFound):
        bob.get_run(world.run_id)
    with pytest.raises(NotFound):
        bob.tracking.get_experiment_by_name(EXPERIMENT)
    with pytest.raises(NotFound):
        bob.registry.get_model(MODEL)
    with pytest.raises(NotFound):
        bob.get_model_version_by_alias(MODEL, "champion")
    with pytest.raises(NotFound):
        bob.datasets.get_dataset(DATASET)
    with pytest.raises(NotFound):
        bob.rollout.get_deployment(DEPLOYMENT)
    with pytest.raises(NotFound):
        bob.read_artifact(world.run_id, "weights.bin")
    with contextlib.suppress(NotFound):  # experiment ids count from 1 in every workspace: it may be bob's own
        assert bob.tracking.get_experiment(world.experiment_id).name != EXPERIMENT


def test_bob_cannot_download_alices_blob_by_digest(world: World) -> None:
    with world.http("bob") as http:
        assert http.get(f"/w/team-b/api/v1/blobs/{world.digest}").status_code == 404
        assert http.head(f"/w/team-b/api/v1/blobs/{world.digest}").status_code == 404
        assert http.get(f"/w/team-b/api/v1/runs/{world.run_id}/artifacts/weights.bin").status_code == 404
        # nor through the header, nor the default workspace (where he has no role)
        headers = {"x-treadle-workspace": "team-a"}
        assert http.get(f"/api/v1/blobs/{world.digest}", headers=headers).status_code == 403
        assert http.get(f"/api/v1/blobs/{world.digest}").status_code == 403
    assert not world.bob.blobs.exists(world.digest)
    with world.http("root") as http:  # the main store's blob root does not hold it either
        assert http.get(f"/api/v1/blobs/{world.digest}").status_code == 404


def test_bob_gets_403_everywhere_under_team_a_as_for_a_missing_workspace(world: World) -> None:
    requests = [
        ("POST", "/api/v1/tracking/search_runs", {}),
        ("POST", "/api/v1/tracking/get_run", {"run_id": world.run_id}),
        ("POST", "/api/v1/tracking/create_experiment", {"name": "intruder"}),
        ("POST", "/api/v1/registry/get_model", {"name": MODEL}),
        ("POST", "/api/v1/datasets/get_dataset", {"name": DATASET}),
        ("GET", f"/api/v1/blobs/{world.digest}", None),
        ("GET", "/", None),
        ("GET", "/models", None),
        ("GET", "/health", None),
        ("POST", "/api/2.0/mlflow/runs/search", {"experiment_ids": [world.experiment_id]}),
    ]
    with world.http("bob") as http:
        for method, path, body in requests:
            real = http.request(method, f"/w/team-a{path}", json=body)
            ghost = http.request(method, f"/w/team-zzz{path}", json=body)
            assert real.status_code == ghost.status_code == 403, path
            assert real.text.replace("team-a", "W") == ghost.text.replace("team-zzz", "W"), path
            assert MODEL not in real.text and DATASET not in real.text
    with pytest.raises(NotFound):  # nothing was created by those attempts
        world.alice.tracking.get_experiment_by_name("intruder")


def test_the_mlflow_api_in_team_b_shows_none_of_alices(world: World) -> None:
    with world.http("bob") as http:
        experiments = http.post("/w/team-b/api/2.0/mlflow/experiments/search", json={"max_results": 1000})
        assert experiments.status_code == 200
        names = {e["name"] for e in experiments.json().get("experiments", [])}
        assert EXPERIMENT not in names and DEFAULT_EXPERIMENT not in names
        ids = [e["experiment_id"] for e in experiments.json().get("experiments", [])]
        runs = http.post("/w/team-b/api/2.0/mlflow/runs/search", json={"experiment_ids": ids or ["0"]})
        assert runs.status_code == 200
        assert world.run_id not in runs.text and "alice-run" not in runs.text
        models = http.get("/w/team-b/api/2.0/mlflow/registered-models/search")
        assert models.status_code == 200 and MODEL not in models.text and DEFAULT_MODEL not in models.text
        got = http.get("/w/team-b/api/2.0/mlflow/runs/get", params={"run_id": world.run_id})
        assert got.status_code == 404 and got.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        model = http.get("/w/team-b/api/2.0/mlflow/registered-models/get", params={"name": MODEL})
        assert model.status_code == 404
    with world.http("alice") as http:  # the same calls in team-a do show them (the check can fail)
        models = http.get("/w/team-a/api/2.0/mlflow/registered-models/search")
        assert MODEL in models.text and DEFAULT_MODEL not in models.text


def test_ui_pages_of_team_b_show_none_of_alices(world: World) -> None:
    with world.http("bob") as http:
        for page in ("/", "/models", "/datasets", "/deployments"):
            answer = http.get(f"/w/team-b{page}")
            assert answer.status_code == 200, page
            for name in (*ALICE_NAMES, DEFAULT_EXPERIMENT, DEFAULT_MODEL, "team-a"):  # nor her workspace's name
                assert name not in answer.text, (page, name)
            assert "team-b" in answer.text
    with world.http("alice") as http:  # ... while team-a's pages do show them
        assert EXPERIMENT in http.get("/w/team-a/").text
        assert MODEL in http.get("/w/team-a/models").text
    with world.http("root") as http:  # a server admin's switcher lists every workspace
        page = http.get("/w/team-b/").text
        assert "/w/team-a/" in page and "/w/team-b/" in page


def test_default_workspace_is_not_visible_in_team_a(world: World) -> None:
    alice = world.alice
    assert DEFAULT_EXPERIMENT not in {e.name for e in alice.tracking.list_experiments(view="all")}
    assert DEFAULT_MODEL not in {m.name for m in alice.registry.search_models()}
    with pytest.raises(NotFound):
        alice.registry.get_model(DEFAULT_MODEL)
    with world.http("alice") as http:
        assert http.post("/api/v1/tracking/search_runs", json={}).status_code == 403  # no role in default
        assert DEFAULT_EXPERIMENT not in http.get("/w/team-a/").text
    root = td.Client(world.url, token=world.tokens["root"])
    assert EXPERIMENT not in {e.name for e in root.tracking.list_experiments(view="all")}
    assert MODEL not in {m.name for m in root.registry.search_models()}


def test_alices_token_is_no_good_in_team_b(world: World) -> None:
    with world.http("alice") as http:
        assert http.post("/w/team-b/api/v1/tracking/search_runs", json={}).status_code == 403
        assert http.post("/w/team-b/api/v1/tracking/create_experiment", json={"name": "x"}).status_code == 403
    alice_in_b = td.Client(world.url, token=world.tokens["alice"], workspace="team-b")
    with pytest.raises(Forbidden):
        alice_in_b.tracking.list_experiments()


def test_the_same_experiment_name_lives_in_both_workspaces(world: World) -> None:
    theirs = world.bob.get_or_create_experiment(EXPERIMENT)
    assert theirs.name == EXPERIMENT
    run = world.bob.tracking.create_run(theirs.id, name="bob-run")
    assert [r.id for r in world.bob.search_runs([theirs.id]).runs] == [run.id]
    ours = world.alice.tracking.get_experiment_by_name(EXPERIMENT)
    assert ours.id == world.experiment_id
    alices_runs = {r.id for r in world.alice.search_runs([ours.id]).runs}
    assert world.run_id in alices_runs and run.id not in alices_runs
    # the same model name too: each workspace has its own version 1
    _register(world.bob, MODEL, EXPERIMENT)
    assert world.bob.registry.get_model(MODEL).name == MODEL
    assert world.alice.get_model_version_by_alias(MODEL, "champion").run_id != (
        world.bob.get_model_version_by_alias(MODEL, "champion").run_id
    )


def test_member_lists_are_per_workspace(world: World) -> None:
    with world.http("alice") as http:
        mine = http.post("/api/v1/access/list_workspaces", json={})
        assert [w["name"] for w in mine.json()] == ["team-a"]
        assert http.post("/api/v1/access/list_members", json={"workspace": "team-a"}).status_code == 403  # editor
    with world.http("root") as http:
        members = http.post("/api/v1/access/list_members", json={"workspace": "team-b"}).json()
        assert [(m["user"], m["role"]) for m in members] == [("bob", "editor")]


def test_digest_of_alices_blob_is_real(world: World) -> None:
    assert world.digest == hashlib.sha256(b"alice's private weights").hexdigest()


def test_knowing_the_digest_or_run_id_gets_bob_nothing(world: World) -> None:
    """Referencing alice's blob digest or run from team-b neither exposes her bytes nor her run."""
    bob = world.bob
    assert bob.datasets.missing_blobs([world.digest]) == [world.digest]  # no cross-workspace existence oracle
    exp = bob.get_or_create_experiment("bob-probe")
    run = bob.tracking.create_run(exp.id)
    size = len(b"alice's private weights")
    with contextlib.suppress(NotFound, InvalidArgument):  # refused outright is fine too
        bob.tracking.add_artifacts(run.id, [ArtifactIn(path="stolen.bin", digest=world.digest, size=size)])
    with pytest.raises(NotFound):
        bob.read_artifact(run.id, "stolen.bin")
    with world.http("bob") as http:
        assert http.get(f"/w/team-b/api/v1/runs/{run.id}/artifacts/stolen.bin").status_code == 404
    with pytest.raises(NotFound):
        bob.registry.create_version("stolen-model", f"runs:/{world.run_id}/model")
