"""Registry conformance: models, versions, approval, aliases and their history, deletion."""

from __future__ import annotations

import itertools
import threading
import uuid

import pytest

from treadle import Client
from treadle.errors import AlreadyExists, InvalidArgument, NotFound
from treadle.tracking import ArtifactIn, InputRef


def _model_name() -> str:
    return f"model-{uuid.uuid4().hex[:10]}"


def _logged_model(client: Client, payload: bytes | None = None) -> str:
    """A run holding a minimal model directory under ``model/``; returns the run id."""
    exp = client.tracking.create_experiment(f"reg-{uuid.uuid4().hex[:10]}")
    run = client.tracking.create_run(exp.id)
    client.log_text(
        run.id,
        "flavor: sklearn\nrequirements: [scikit-learn==1.5.0]\npython_version: 3.11.7\n",
        "model/treadle-model.yaml",
    )
    client.log_bytes(run.id, payload or uuid.uuid4().bytes, "model/model.pkl")
    client.tracking.log_inputs(run.id, [InputRef(uri="s3://data/train.parquet", name="train")])
    return run.id


def test_register_versions_from_runs(client: Client) -> None:
    name = _model_name()
    run = _logged_model(client)
    v1 = client.registry.create_version(name, f"runs:/{run}/model", description="first")
    v2 = client.registry.create_version(name, f"runs:/{run}/model", tags={"stage": "dev"})
    assert (v1.version, v2.version) == (1, 2) and v1.run_id == run and v1.flavor == "sklearn"
    assert v1.approval == "pending" and v1.status == "READY" and v2.tags == {"stage": "dev"}
    files = {f.path for f in client.registry.list_version_files(name, 1)}
    assert files == {"treadle-model.yaml", "model.pkl"}
    model = client.registry.get_model(name)
    assert model.latest_version == 2 and model.name == name
    assert client.registry.get_version_by_alias(name, "latest").version == 2
    with pytest.raises(AlreadyExists):
        client.registry.create_model(name)
    assert [v.version for v in client.registry.search_versions(name=name)] == [2, 1]
    assert {m.name for m in client.registry.search_models(name_like=name[:12] + "%")} >= {name}


def test_version_lineage_and_needs(client: Client) -> None:
    name = _model_name()
    run = _logged_model(client)
    client.registry.create_version(name, f"runs:/{run}/model")
    needs = client.registry.get_version_needs(name, 1)
    assert needs.requirements == ["scikit-learn==1.5.0"] and needs.python == "3.11.7" and needs.run_id == run
    assert any(i["uri"] == "s3://data/train.parquet" for i in needs.inputs)
    run_node = client.lineage.find_node(f"run:{run}")
    down = client.lineage.downstream(run_node.id, hops=1)
    version = next(n for n in down.nodes if n.type == "treadle.ModelVersion")
    assert version.uri == f"models:/{name}/1"
    up = client.lineage.upstream(version.id, hops=2)  # version -> run -> its inputs
    assert {n.uri for n in up.nodes} >= {f"runs:/{run}", "s3://data/train.parquet"}


def test_bad_registrations(client: Client) -> None:
    name = _model_name()
    run = _logged_model(client)
    for bad in ("", "has space", "slash/name", "-dash", "x" * 300):
        with pytest.raises(InvalidArgument):
            client.registry.create_version(bad, f"runs:/{run}/model")
    with pytest.raises(InvalidArgument, match="no files"):
        client.registry.create_version(name, f"runs:/{run}/nothing-here")
    with pytest.raises(NotFound):
        client.registry.create_version(name, f"runs:/{uuid.uuid4().hex}/model")
    with pytest.raises(InvalidArgument, match="not a model"):
        info = client.blobs.put_bytes(b"just data")
        client.registry.create_version(
            name, "file:///tmp/x", files=[ArtifactIn(path="data.bin", digest=info.digest, size=info.size)]
        )
    with pytest.raises(InvalidArgument):
        client.registry.create_version(name, "s3://bucket/model")  # neither a run nor uploaded files
    with pytest.raises(NotFound):
        client.registry.get_model(name)  # nothing half-registered
    with pytest.raises(NotFound):
        client.registry.get_version(_model_name(), 1)
    with pytest.raises(NotFound):
        client.registry.get_version(name, 99_999_999_999)


def test_registration_from_uploaded_files(client: Client) -> None:
    name = _model_name()
    spec = client.blobs.put_bytes(b"flavor: python\nrequirements: []\n")
    weights = client.blobs.put_bytes(uuid.uuid4().bytes)
    version = client.registry.create_version(
        name,
        "s3://bucket/models/x",
        files=[
            ArtifactIn(path="treadle-model.yaml", digest=spec.digest, size=spec.size),
            ArtifactIn(path="weights.bin", digest=weights.digest, size=weights.size),
        ],
    )
    assert version.flavor == "python" and version.run_id is None and version.source == "s3://bucket/models/x"


def test_aliases_move_with_full_history(client: Client) -> None:
    name = _model_name()
    run = _logged_model(client)
    for _ in range(3):
        client.registry.create_version(name, f"runs:/{run}/model")
    client.registry.set_alias(name, "champion", 1, actor="ana", reason="first good model")
    client.registry.set_alias(name, "challenger", 2, actor="bo")
    moved = client.registry.set_alias(name, "champion", 2, actor="ana", reason="v2 wins the A/B")
    assert moved.version == 2 and not moved.protected
    assert client.registry.get_version_by_alias(name, "champion").version == 2
    assert sorted(client.registry.get_version(name, 2).aliases) == ["challenger", "champion"]
    client.registry.delete_alias(name, "challenger", actor="bo", reason="done")
    history = client.registry.get_alias_history(name, "champion")
    assert [(h.from_version, h.to_version, h.actor, h.reason) for h in history] == [
        (None, 1, "ana", "first good model"),
        (1, 2, "ana", "v2 wins the A/B"),
    ]
    all_moves = client.registry.get_alias_history(name)
    assert [(h.alias, h.to_version) for h in all_moves][-1] == ("challenger", None)
    assert client.registry.get_model(name).updated_at >= all_moves[-1].at  # the model shows its last change
    assert client.registry.get_model(name).aliases == {"champion": 2}
    with pytest.raises(NotFound):
        client.registry.get_version_by_alias(name, "challenger")
    with pytest.raises(NotFound):
        client.registry.set_alias(name, "champion", 99)
    for bad in ("latest", "v3", "Champion", "has space", ""):
        with pytest.raises(InvalidArgument):
            client.registry.set_alias(name, bad, 1)
    with pytest.raises(InvalidArgument, match="aliases"):
        client.registry.delete_version(name, 2)  # holds champion


def test_protected_alias_needs_approval(client: Client) -> None:
    name = _model_name()
    run = _logged_model(client)
    client.registry.create_version(name, f"runs:/{run}/model")
    client.registry.create_version(name, f"runs:/{run}/model")
    client.registry.protect_alias(name, "production")
    client.registry.protect_alias(name, "staging")
    client.registry.delete_alias(name, "staging")  # only a protection: nothing moved, nothing recorded
    assert client.registry.get_alias_history(name, "staging") == []
    with pytest.raises(InvalidArgument, match="protected"):
        client.registry.set_alias(name, "production", 1)
    approved = client.registry.approve_version(name, 1, actor="lead", reason="passed review")
    assert (approved.approval, approved.approval_by, approved.approval_reason) == ("approved", "lead", "passed review")
    assert client.registry.set_alias(name, "production", 1).protected
    rejected = client.registry.reject_version(name, 2, actor="lead", reason="regressed on slice A")
    assert rejected.approval == "rejected"
    with pytest.raises(InvalidArgument, match="protected"):
        client.registry.set_alias(name, "production", 2)
    with pytest.raises(InvalidArgument, match="protected"):
        client.registry.reject_version(name, 1)  # would leave a protected alias on a rejected version
    assert client.registry.get_version_by_alias(name, "production").version == 1
    assert [v.version for v in client.registry.search_versions(name=name, approval="approved")] == [1]


def test_concurrent_alias_moves_keep_history_consistent(client: Client) -> None:
    name = _model_name()
    run = _logged_model(client)
    for _ in range(4):
        client.registry.create_version(name, f"runs:/{run}/model")
    errors: list[BaseException] = []

    def mover(version: int) -> None:
        try:
            for _ in range(5):
                client.registry.set_alias(name, "champion", version)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=mover, args=(v,)) for v in (1, 2, 3, 4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    history = client.registry.get_alias_history(name, "champion")
    assert len(history) == 20
    for before, after in itertools.pairwise(history):
        assert after.from_version == before.to_version  # an unbroken chain of moves
    assert history[-1].to_version == client.registry.get_version_by_alias(name, "champion").version


def test_archive_and_delete_remove_artifacts(client: Client) -> None:
    name = _model_name()
    keep_name = _model_name()
    shared = uuid.uuid4().bytes
    run = _logged_model(client, payload=shared)
    client.registry.create_version(name, f"runs:/{run}/model")
    client.registry.create_version(keep_name, f"runs:/{run}/model")
    only = client.blobs.put_bytes(uuid.uuid4().bytes)
    spec = client.blobs.put_bytes(b"flavor: python\nnote: " + uuid.uuid4().hex.encode())
    client.registry.create_version(
        name,
        "s3://x",
        files=[
            ArtifactIn(path="treadle-model.yaml", digest=spec.digest, size=spec.size),
            ArtifactIn(path="w.bin", digest=only.digest, size=only.size),
        ],
    )
    archived = client.registry.archive_model(name)
    assert archived.lifecycle == "archived" and name not in {m.name for m in client.registry.search_models()}
    client.registry.archive_model(name, archived=False)
    client.registry.archive_version(name, 1)
    with pytest.raises(InvalidArgument, match="archived"):
        client.registry.set_alias(name, "champion", 1)
    report = client.registry.delete_model(name)
    assert report.versions == [1, 2] and report.blobs_deleted == 2  # its own spec and weights
    assert not client.blobs.exists(only.digest)
    with pytest.raises(NotFound):
        client.registry.get_model(name)
    # The other model and the run still have the shared bytes.
    assert client.read_artifact(run, "model/model.pkl") == shared
    assert client.registry.get_version(keep_name, 1).version == 1


def test_registry_events(client: Client) -> None:
    cursor = client.events.read(after=0, limit=10_000).cursor
    while True:
        page = client.events.read(after=cursor, limit=10_000)
        if not page.events:
            break
        cursor = page.cursor
    name = _model_name()
    run = _logged_model(client)
    client.registry.create_version(name, f"runs:/{run}/model")
    client.registry.set_alias(name, "champion", 1)
    kinds = [
        e.kind
        for e in client.events.read(
            after=cursor, kinds=["model_created", "model_version_created", "alias_moved"]
        ).events
    ]
    assert kinds == ["model_created", "model_version_created", "alias_moved"]


def test_concurrent_first_registrations_of_a_new_name(client: Client) -> None:
    name = _model_name()
    run = _logged_model(client)
    versions: list[int] = []
    errors: list[BaseException] = []

    def register() -> None:
        try:
            versions.append(client.registry.create_version(name, f"runs:/{run}/model").version)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors and sorted(versions) == [1, 2, 3, 4]
