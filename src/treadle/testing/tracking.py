"""Tracking conformance: experiments, runs, params, metrics, tags, search, artifacts, lineage."""

from __future__ import annotations

import math
import uuid

import pytest
from pydantic import ValidationError

from treadle import Client, Metric
from treadle.errors import AlreadyExists, InvalidArgument, NotFound, ParamConflict
from treadle.tracking import ArtifactIn, InputRef


def _name(prefix: str = "exp") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _run(client: Client, **kwargs: object) -> tuple[str, str]:
    exp = client.tracking.create_experiment(_name())
    run = client.tracking.create_run(exp.id, **kwargs)  # type: ignore[arg-type]
    return exp.id, run.id


# ------------------------------------------------------------------ experiments
def test_experiment_lifecycle(client: Client) -> None:
    name = _name()
    exp = client.tracking.create_experiment(name, description="d", tags={"team": "a"})
    assert exp.name == name and exp.tags == {"team": "a"} and exp.lifecycle == "active"
    assert client.tracking.get_experiment(exp.id) == exp
    assert client.tracking.get_experiment_by_name(name).id == exp.id
    with pytest.raises(AlreadyExists):
        client.tracking.create_experiment(name)
    renamed = client.tracking.rename_experiment(exp.id, name + "-x")
    assert renamed.name == name + "-x"
    run = client.tracking.create_run(exp.id)
    client.tracking.delete_experiment(exp.id)
    assert client.tracking.get_run(run.id).lifecycle == "deleted"
    assert exp.id not in {e.id for e in client.tracking.list_experiments()}
    assert exp.id in {e.id for e in client.tracking.list_experiments(view="deleted")}
    with pytest.raises(InvalidArgument):
        client.tracking.create_run(exp.id)
    client.tracking.restore_experiment(exp.id)
    assert client.tracking.get_run(run.id).lifecycle == "active"
    client.tracking.set_experiment_tag(exp.id, "stage", "dev")
    # A run deleted on its own stays deleted through an experiment delete/rename/restore.
    alone = client.tracking.create_run(exp.id)
    client.tracking.delete_run(alone.id)
    client.tracking.delete_experiment(exp.id)
    client.tracking.rename_experiment(exp.id, name + "-y")
    client.tracking.restore_experiment(exp.id)
    assert client.tracking.get_run(alone.id).lifecycle == "deleted"
    assert client.tracking.get_run(run.id).lifecycle == "active"
    assert client.tracking.get_experiment(exp.id).tags["stage"] == "dev"


def test_experiment_errors(client: Client) -> None:
    with pytest.raises(NotFound):
        client.tracking.get_experiment("999999999")
    with pytest.raises(NotFound):
        client.tracking.get_experiment("not-a-number")
    with pytest.raises(NotFound):
        client.tracking.get_experiment("9" * 30)
    with pytest.raises(NotFound):
        client.tracking.get_experiment_by_name(_name("missing"))
    with pytest.raises(InvalidArgument):
        client.tracking.create_experiment("   ")
    with pytest.raises(InvalidArgument):
        client.tracking.create_experiment("x" * 300)
    a, b = client.tracking.create_experiment(_name()), client.tracking.create_experiment(_name())
    with pytest.raises(AlreadyExists):
        client.tracking.rename_experiment(a.id, b.name)


# ------------------------------------------------------------------ runs
def test_run_lifecycle_and_nesting(client: Client) -> None:
    exp_id, parent = _run(client, name="parent", tags={"k": "v"}, description="about")
    child = client.tracking.create_run(exp_id, name="child", parent_id=parent)
    assert child.parent_id == parent and child.status == "RUNNING" and child.end_time is None
    got = client.tracking.get_run(parent)
    assert got.name == "parent" and got.tags["k"] == "v" and got.description == "about"
    ended = client.tracking.end_run(child.id, "FAILED")
    assert ended.status == "FAILED" and ended.end_time is not None and ended.end_time >= ended.start_time
    renamed = client.tracking.update_run(parent, name="renamed", description="new")
    assert (renamed.name, renamed.description) == ("renamed", "new")
    assert client.tracking.delete_run(parent).lifecycle == "deleted"
    assert client.tracking.restore_run(parent).lifecycle == "active"
    with pytest.raises(NotFound):
        client.tracking.get_run(uuid.uuid4().hex)
    with pytest.raises(NotFound):
        client.tracking.create_run(exp_id, parent_id=uuid.uuid4().hex)
    with pytest.raises(InvalidArgument):
        client.tracking.end_run(parent, "RUNNING")


def test_params_are_immutable_and_batches_atomic(client: Client) -> None:
    _, run = _run(client)
    client.log_batch(run, params={"lr": 0.01, "layers": 3})
    client.log_batch(run, params={"lr": 0.01})  # same value again: fine
    with pytest.raises(ParamConflict, match="lr"):
        client.log_batch(run, metrics=[Metric(key="m", value=1.0, step=0)], params={"lr": 0.02})
    got = client.tracking.get_run(run)
    assert got.params == {"lr": "0.01", "layers": "3"}
    assert "m" not in got.metrics  # nothing of the failed batch was written


def test_bad_keys_and_oversized_values(client: Client) -> None:
    _, run = _run(client)
    for bad in ("", "a" * 300, "bad\nkey", "../x"):
        with pytest.raises(InvalidArgument):
            client.log_batch(run, params={bad: "v"})
    with pytest.raises(InvalidArgument, match="limit"):
        client.log_batch(run, params={"big": "x" * 7000})
    with pytest.raises(ValidationError, match="less than or equal"):
        Metric(key="m", value=1.0, step=2**63)  # steps are 64-bit, refused before anything is sent
    assert client.tracking.get_run(run).params == {}


def test_tags_set_overwrite_delete(client: Client) -> None:
    _, run = _run(client)
    client.tracking.set_tag(run, "team", "a")
    client.tracking.set_tag(run, "team", "b")
    assert client.tracking.get_run(run).tags["team"] == "b"
    client.tracking.delete_tag(run, "team")
    assert "team" not in client.tracking.get_run(run).tags
    with pytest.raises(NotFound):
        client.tracking.delete_tag(run, "team")


# ------------------------------------------------------------------ metrics
def test_metric_points_idempotent_and_latest(client: Client) -> None:
    _, run = _run(client)
    batch = [Metric(key="loss", value=1.0 / (i + 1), step=i, timestamp=1000 + i) for i in range(100)]
    assert client.log_batch(run, metrics=batch) == 100
    assert client.log_batch(run, metrics=batch) == 0  # a retried batch adds nothing
    # An older step arriving late does not replace the latest value.
    client.log_batch(run, metrics=[Metric(key="loss", value=42.0, step=5, timestamp=5000)])
    history = client.tracking.get_metric_history(run, "loss")
    assert len(history.steps) == 101 and history.total_points == 101
    assert history.steps == sorted(history.steps)
    assert client.tracking.get_run(run).metrics["loss"] == pytest.approx(1.0 / 100)
    # A point at the same step with a different value is a new point (append-only).
    client.log_batch(run, metrics=[Metric(key="loss", value=7.0, step=99, timestamp=1099)])
    assert len(client.tracking.get_metric_history(run, "loss").steps) == 102


def test_latest_metrics_of_many_runs(client: Client) -> None:
    _, a = _run(client)
    _, b = _run(client)
    client.log_batch(a, metrics=[Metric(key="loss", value=1.0 / (i + 1), step=i, timestamp=100 + i) for i in range(5)])
    client.log_batch(a, metrics=[Metric(key="loss", value=9.0, step=2, timestamp=999)])  # late, older step
    client.log_batch(a, metrics=[Metric(key="gap", value=math.nan, step=7, timestamp=70)])
    client.log_batch(b, metrics=[Metric(key="acc", value=0.5, step=3, timestamp=30)])
    found = client.tracking.latest_metrics([a, b, a])
    assert set(found) == {a, b}
    latest = {m.key: m for m in found[a]}
    assert (latest["loss"].value, latest["loss"].step, latest["loss"].timestamp) == (0.2, 4, 104)
    assert math.isnan(latest["gap"].value) and latest["gap"].step == 7
    assert [(m.key, m.value, m.step, m.timestamp) for m in found[b]] == [("acc", 0.5, 3, 30)]
    assert client.tracking.latest_metrics([]) == {}
    assert client.tracking.latest_metrics(["0" * 32]) == {"0" * 32: []}


def test_nan_and_infinities_round_trip(client: Client) -> None:
    _, run = _run(client)
    client.log_batch(
        run,
        metrics=[
            Metric(key="a", value=math.nan, step=0, timestamp=1),
            Metric(key="b", value=math.inf, step=0, timestamp=1),
            Metric(key="c", value=-math.inf, step=0, timestamp=1),
        ],
    )
    client.log_batch(run, metrics=[Metric(key="a", value=math.nan, step=0, timestamp=1)])
    metrics = client.tracking.get_run(run).metrics
    assert math.isnan(metrics["a"]) and metrics["b"] == math.inf and metrics["c"] == -math.inf
    history = client.tracking.get_metric_history(run, "a")
    assert len(history.values) == 1 and math.isnan(history.values[0])
    # +inf and -inf in one rollup bucket of one series.
    client.log_batch(run, metrics=[Metric(key="b", value=-math.inf, step=1, timestamp=2)])
    assert client.tracking.get_metric_history(run, "b").values == [math.inf, -math.inf]


def test_downsampled_history_reads_rollups(client: Client) -> None:
    _, run = _run(client)
    n = 20_000
    for start in range(0, n, 5000):
        client.log_batch(
            run,
            metrics=[
                Metric(key="x", value=float(i % 1000), step=i, timestamp=i + 1) for i in range(start, start + 5000)
            ],
        )
    series = client.tracking.get_metric_history(run, "x", max_points=100)
    assert series.downsampled and series.total_points == n
    assert 0 < len(series.steps) <= 100
    assert series.steps == sorted(series.steps) and series.steps[-1] == n - 1
    assert series.values[-1] == float((n - 1) % 1000)
    assert series.mins is not None and series.maxs is not None
    assert min(series.mins) == 0.0 and max(series.maxs) == 999.0
    window = client.tracking.get_metric_history(run, "x", max_points=1000, start_step=100, end_step=199)
    assert window.steps == list(range(100, 200)) and not window.downsampled
    # A zoomed window never shows values from outside it, though rollup buckets straddle its edges.
    for start, end in ((0, 5000), (3000, 9000), (4100, 4350)):
        window_ds = client.tracking.get_metric_history(run, "x", max_points=10, start_step=start, end_step=end)
        assert window_ds.downsampled and start <= window_ds.steps[0] and window_ds.steps[-1] == end
        assert window_ds.mins is not None and window_ds.maxs is not None
        inside = [float(i % 1000) for i in range(start, end + 1)]
        assert min(window_ds.mins) == min(inside) and max(window_ds.maxs) == max(inside)
        assert len(window_ds.steps) <= 10
    medium = client.tracking.get_metric_history(run, "x", max_points=1000, start_step=0, end_step=3999)
    assert 900 <= len(medium.steps) <= 1000 and medium.downsampled and medium.steps[-1] == 3999
    full = client.tracking.get_metric_history(run, "x")
    assert len(full.steps) == n and not full.downsampled


# ------------------------------------------------------------------ search
def _populate(client: Client, n: int = 12) -> tuple[str, list[str]]:
    exp = client.tracking.create_experiment(_name("search"))
    ids = []
    for i in range(n):
        run = client.tracking.create_run(exp.id, name=f"run-{i:02d}", start_time=1_000_000 + i)
        metrics = [Metric(key="acc", value=i / n, step=0, timestamp=1)] if i % 4 != 3 else []
        client.log_batch(run.id, metrics=metrics, params={"lr": "0.01" if i % 2 else "0.1"}, tags={"team": "ab"[i % 2]})
        if i % 3 == 0:
            client.tracking.end_run(run.id)
        ids.append(run.id)
    return exp.id, ids


def test_search_filters(client: Client) -> None:
    exp, ids = _populate(client)

    def names(filter: str) -> set[str]:
        return {r.name for r in client.tracking.search_runs([exp], filter=filter)}

    assert names("metrics.acc > 0.5 and params.lr = '0.01' and tags.team = 'b'") == {"run-09"}
    # AND binds tighter than OR.
    assert names("metrics.acc >= 0.75 or tags.team = 'a' and params.lr = '0.1'") == {
        f"run-{i:02d}" for i in (0, 2, 4, 6, 8, 9, 10)
    }
    assert names("status = 'FINISHED'") == {"run-00", "run-03", "run-06", "run-09"}
    assert names("params.lr in ('0.1') and name like 'run-0%'") == {"run-00", "run-02", "run-04", "run-06", "run-08"}
    assert names("metrics.acc is null") == {"run-03", "run-07", "run-11"}
    assert names(f"attributes.run_id = '{ids[5]}'") == {"run-05"}
    assert names("tags.`team` != 'a' and metrics.acc < 0.2") == {"run-01"}
    assert len(names("")) == 12


def test_search_terms_on_the_same_key_and_missing_keys(client: Client) -> None:
    exp, _ = _populate(client)
    nan_run = client.tracking.create_run(exp, name="run-nan", start_time=2_000_000)
    client.log_batch(nan_run.id, metrics=[Metric(key="acc", value=math.nan, step=0, timestamp=1)])

    def names(filter: str, order_by: list[str] | None = None) -> list[str]:
        return [r.name for r in client.tracking.search_runs([exp], filter=filter, order_by=order_by)]

    # two terms on one key each constrain it; a NaN never compares; a run without the key never matches
    assert set(names("metrics.acc > 0.2 and metrics.acc < 0.6")) == {"run-04", "run-05", "run-06"}
    assert "run-nan" not in names("metrics.acc != 0.5") and len(names("metrics.acc != 0.5")) == 8
    assert names("tags.team = 'a' and tags.team = 'b'") == []
    assert set(names("params.lr != '0.1'")) == {f"run-{i:02d}" for i in range(1, 12, 2)}
    assert names("params.lr != '0.1' and params.lr != '0.01'") == []
    # a filtered key ordered by itself, and a term under OR next to joined ones
    assert names("metrics.acc >= 0.5", ["metrics.acc ASC"]) == ["run-06", "run-08", "run-09", "run-10"]
    assert set(names("params.lr = '0.01' and (metrics.acc < 0.1 or tags.team = 'b')")) == {
        f"run-{i:02d}" for i in range(1, 12, 2)
    }


def test_search_with_latest_points(client: Client) -> None:
    exp, ids = _populate(client, 4)
    client.log_batch(ids[0], metrics=[Metric(key="loss", value=0.5, step=9, timestamp=90)])
    page = client.tracking.search_runs([exp], with_points=True)
    assert page.points is not None and set(page.points) == set(ids)
    assert {run: sorted(points) for run, points in page.points.items()} == client.tracking.latest_metrics(ids)
    loss = {m.key: m for m in page.points[ids[0]]}["loss"]
    assert (loss.value, loss.step, loss.timestamp) == (0.5, 9, 90)
    assert page.points[ids[3]] == []  # run-03 logged no metric
    assert client.tracking.search_runs([exp]).points is None


def test_search_order_and_pages(client: Client) -> None:
    exp, _ = _populate(client)
    page = client.tracking.search_runs([exp], order_by=["metrics.acc DESC"])
    ordered = [r.name for r in page]
    assert ordered[:3] == ["run-10", "run-09", "run-08"]
    assert set(ordered[-3:]) == {"run-03", "run-07", "run-11"}  # missing metric sorts last
    assert [r.name for r in client.tracking.search_runs([exp], order_by=["name ASC"])][:2] == ["run-00", "run-01"]
    seen: list[str] = []
    token = None
    while True:
        page = client.tracking.search_runs([exp], order_by=["start_time ASC"], max_results=5, page_token=token)
        seen += [r.name for r in page]
        token = page.next_page_token
        if token is None:
            break
    assert seen == [f"run-{i:02d}" for i in range(12)]


def test_search_across_experiments_and_views(client: Client) -> None:
    exp_a, ids_a = _populate(client, 3)
    exp_b, ids_b = _populate(client, 2)
    both = client.tracking.search_runs([exp_a, exp_b])
    assert {r.id for r in both} == set(ids_a + ids_b)
    client.tracking.delete_run(ids_a[0])
    assert ids_a[0] not in {r.id for r in client.tracking.search_runs([exp_a])}
    assert {r.id for r in client.tracking.search_runs([exp_a], view="deleted")} == {ids_a[0]}
    assert len(client.tracking.search_runs([exp_a], view="all")) == 3


def test_search_bad_input(client: Client) -> None:
    exp, _ = _populate(client, 1)
    for bad, fragment in (
        ("metrics.acc >", "column"),
        ("metrics.acc > 'x'", "number"),
        ("params.lr > 1", "operator"),
        ("foo.bar = 1", "prefix"),
        ("colour = 'red'", "attribute"),
        ("metrics.acc = 1 and and", "column"),
    ):
        for _ in range(2):  # a bad filter is refused every time (built statements are cached, errors not)
            with pytest.raises(InvalidArgument, match=fragment):
                client.tracking.search_runs([exp], filter=bad)
    with pytest.raises(InvalidArgument):
        client.tracking.search_runs([exp], order_by=["metrics.acc sideways"])
    with pytest.raises(InvalidArgument):
        client.tracking.search_runs([exp], page_token="garbage")
    with pytest.raises(InvalidArgument):
        client.tracking.search_runs([exp], max_results=0)


# ------------------------------------------------------------------ artifacts
def test_artifacts_content_addressed(client: Client, tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    _, run = _run(client)
    (root / "d" / "sub").mkdir(parents=True)
    (root / "d" / "a.txt").write_text("same")
    (root / "d" / "sub" / "b.txt").write_text("same")
    (root / "d" / "sub" / "c.bin").write_bytes(bytes(range(256)) * 100)
    files = client.log_artifacts(run, root / "d", artifact_path="out")
    assert [f.path for f in files] == ["out/a.txt", "out/sub/b.txt", "out/sub/c.bin"]
    assert files[0].digest == files[1].digest  # identical content, one blob
    assert client.read_artifact(run, "out/sub/c.bin") == bytes(range(256)) * 100
    assert [f.path for f in client.list_artifacts(run, "out/sub")] == ["out/sub/b.txt", "out/sub/c.bin"]
    dest = client.download_artifacts(run, "out/sub", root / "dl")
    assert (dest / "c.bin").read_bytes() == bytes(range(256)) * 100
    client.log_text(run, "v2", "out/a.txt")  # re-logging a path points it at the new content
    assert client.read_artifact(run, "out/a.txt") == b"v2"


def test_artifact_paths_are_checked(client: Client) -> None:
    _, run = _run(client)
    info = client.blobs.put_bytes(b"payload")
    for bad in ("../escape.txt", "a/../../b", "/etc/passwd", "", "a\\b", "C:/x"):
        with pytest.raises(InvalidArgument):
            client.tracking.add_artifacts(run, [ArtifactIn(path=bad, digest=info.digest, size=info.size)])
    with pytest.raises(InvalidArgument, match="upload"):
        client.tracking.add_artifacts(run, [ArtifactIn(path="x", digest="0" * 64, size=1)])
    for wrong in (1, 10**6):  # the declared size must be the blob's (downloads send it as content-length)
        with pytest.raises(InvalidArgument, match="declared size"):
            client.tracking.add_artifacts(run, [ArtifactIn(path="x", digest=info.digest, size=wrong)])
    assert client.list_artifacts(run) == []
    with pytest.raises(NotFound):
        client.read_artifact(run, "missing.txt")


# ------------------------------------------------------------------ lineage & events
def test_runs_and_artifacts_in_lineage(client: Client) -> None:
    exp, run = _run(client)
    client.tracking.log_inputs(run, [InputRef(uri="s3://bucket/train.parquet", name="train", digest="ab" * 32)])
    client.log_text(run, "model", "model.txt")
    run_node = client.lineage.find_node(f"run:{run}")
    assert run_node.kind == "execution"
    up = client.lineage.upstream(run_node.id, hops=1)
    assert {n.uri for n in up.nodes} >= {"s3://bucket/train.parquet"}
    model = next(n for n in client.lineage.downstream(run_node.id).nodes if n.name == "model.txt")
    assert model.kind == "artifact" and model.uri == f"runs:/{run}/model.txt"
    chain = client.lineage.upstream(model.id, hops=2)
    assert {n.kind for n in chain.nodes} == {"artifact", "execution"}
    assert any(n.uri == "s3://bucket/train.parquet" for n in chain.nodes)
    assert len(client.lineage.upstream(model.id, hops=1).nodes) == 2  # hop limit holds
    sub = client.lineage.subgraph(run_node.id)
    ctx = [n for n in sub.nodes if n.kind == "context"]
    assert ctx and ctx[0].external_id == f"experiment:{exp}"
    assert any(e.type == "association" and e.target == run_node.id for e in sub.edges)
    with pytest.raises(InvalidArgument):
        client.lineage.upstream(run_node.id, hops=1000)
    with pytest.raises(NotFound):
        client.lineage.get_node(10**12)


def test_events_cursor(client: Client) -> None:
    start = client.events.read(after=0, limit=10_000)
    cursor = start.cursor
    while len(start.events) == 10_000:
        start = client.events.read(after=cursor, limit=10_000)
        cursor = start.cursor
    _, run = _run(client)
    client.tracking.end_run(run)
    page = client.events.read(after=cursor, kinds=["run_started", "run_finished"])
    assert [(e.kind, e.subject) for e in page.events] == [("run_started", f"run:{run}"), ("run_finished", f"run:{run}")]
    assert client.events.read(after=page.cursor).events == []
    with pytest.raises(InvalidArgument):
        client.events.read(limit=0)


def test_purge_removes_rows_and_unreferenced_blobs(client: Client) -> None:
    _, keep = _run(client)
    _exp, gone = _run(client)
    shared = uuid.uuid4().hex.encode()
    only = uuid.uuid4().hex.encode()
    client.log_bytes(keep, shared, "shared.bin")
    client.log_bytes(gone, shared, "shared.bin")
    client.log_bytes(gone, only, "only.bin")
    client.log_batch(gone, metrics=[Metric(key="m", value=1.0, step=0)])
    with pytest.raises(InvalidArgument, match="delete"):
        client.tracking.purge_runs([gone])
    client.tracking.delete_run(gone)
    report = client.tracking.purge_runs([gone])
    assert report.runs == [gone] and report.blobs_deleted == 1
    with pytest.raises(NotFound):
        client.tracking.get_run(gone)
    assert client.read_artifact(keep, "shared.bin") == shared
    with pytest.raises(NotFound):
        client.lineage.find_node(f"run:{gone}")
