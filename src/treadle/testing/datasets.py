"""Dataset repository conformance: versions, content addressing, change sets, diff, search,
aliases, lineage, validation and deletion. Every backend (SQLite, PostgreSQL, HTTP) runs it with
a ``client`` fixture."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import treadle as td
from treadle import Client
from treadle.datasets import FileChange, NewVersion, SchemaViolation
from treadle.errors import InvalidArgument, NotFound
from treadle.tracking import InputRef


def _name() -> str:
    return f"ds-{uuid.uuid4().hex[:10]}"


def _frame(n: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "x": rng.normal(size=n),
            "label": rng.choice(["a", "b", "c"], size=n),
            "ts": pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC"),
        }
    )


def test_create_and_read_back_a_table(client: Client) -> None:
    name, frame = _name(), _frame()
    v1 = td.datasets.create(name, frame, description="first", tags={"team": "ml"}, client=client)
    assert (v1.version, v1.kind, v1.num_rows) == (1, "table", 50)
    assert [c.name for c in v1.columns] == ["id", "x", "label", "ts"]
    assert v1.stats["x"]["count"] == 50 and v1.stats["label"]["top"][0][1] >= 17
    assert abs(v1.stats["x"]["mean"] - frame["x"].mean()) < 1e-9
    assert sum(v1.stats["x"]["histogram"]["counts"]) == 50
    back = td.datasets.get(name, client=client).to_pandas()
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert td.datasets.get(name, 1, client=client).to_arrow(["id"]).num_rows == 50
    assert client.datasets.get_dataset(name).tags == {"team": "ml"}


def test_same_content_is_not_a_new_version(client: Client) -> None:
    name, frame = _name(), _frame()
    v1 = td.datasets.create(name, frame, client=client)
    again = td.datasets.create(name, pa.Table.from_pandas(frame, preserve_index=False), client=client)
    assert again.version == 1 and again.digest == v1.digest
    v2 = td.datasets.create(name, frame.head(49), client=client)
    assert v2.version == 2 and v2.digest != v1.digest
    assert [v.version for v in td.datasets.versions(name, client=client)] == [2, 1]


def test_parts_that_did_not_change_are_shared(client: Client) -> None:
    name, frame = _name(), _frame(100)
    td.datasets.create(name, frame, part_rows=30, client=client)
    grown = pd.concat([frame, _frame(5, seed=1).assign(id=lambda f: f["id"] + 100)], ignore_index=True)
    v2 = td.datasets.create(name, grown, part_rows=30, client=client)
    first = {f.path: f.digest for f in client.datasets.list_files(name, 1)}
    second = {f.path: f.digest for f in client.datasets.list_files(name, 2)}
    assert len(first) == 4 and len(second) == 4 and v2.num_rows == 105
    same = [p for p in first if first[p] == second.get(p)]
    assert same == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]


def test_diff_by_key_and_as_multiset(client: Client) -> None:
    name, frame = _name(), _frame(20)
    td.datasets.create(name, frame, client=client)
    changed = frame.copy()
    changed.loc[changed["id"] == 3, "x"] = 1000.0
    changed = changed[changed["id"] != 0]
    changed = pd.concat([changed, frame.tail(2).assign(id=[20, 21])], ignore_index=True)
    changed["extra"] = 1
    td.datasets.create(name, changed, client=client)
    keyed = td.datasets.diff(name, 1, 2, key="id", client=client)
    assert (keyed.rows_added, keyed.rows_removed, keyed.rows_changed) == (2, 1, 1)
    assert keyed.sample_changed[0]["id"] == 3 and keyed.sample_changed[0]["x_after"] == 1000.0
    assert [(c.name, c.change) for c in keyed.columns] == [("extra", "added")]
    assert any(s.column == "x" and s.statistic == "max" and s.after == 1000.0 for s in keyed.stats_shift)
    loose = td.datasets.diff(name, 1, 2, client=client)
    assert (loose.rows_added, loose.rows_removed, loose.rows_changed) == (3, 2, 0)
    with pytest.raises(InvalidArgument, match="nope"):
        td.datasets.diff(name, 1, 2, key="nope", client=client)
    with pytest.raises(InvalidArgument, match="not unique"):
        td.datasets.diff(name, 1, 2, key="label", client=client)


def test_file_collections_with_images_and_text(client: Client, tmp_path: Path) -> None:
    from PIL import Image

    root = tmp_path / "collection"
    (root / "img").mkdir(parents=True)
    (root / "txt").mkdir()
    for i in range(3):
        Image.new("RGB", (8 + i, 6), color=(i * 40, 0, 0)).save(root / "img" / f"{i}.png")
        (root / "txt" / f"{i}.txt").write_text(f"document {i}")
    (root / ".hidden").write_text("skipped")
    name = _name()
    v1 = td.datasets.create(name, root, client=client)
    assert (v1.kind, v1.num_files) == ("files", 6)
    assert v1.stats["ext:.png"]["count"] == 3
    handle = td.datasets.get(name, client=client)
    files = {f.path: f for f in handle.files()}
    assert sorted(files) == [f"img/{i}.png" for i in range(3)] + [f"txt/{i}.txt" for i in range(3)]
    assert files["img/2.png"].open_image().size == (10, 6)
    assert files["txt/1.txt"].read_text() == "document 1"
    (root / "txt" / "1.txt").write_text("edited")
    (root / "img" / "0.png").unlink()
    (root / "txt" / "new.txt").write_text("new")
    v2 = td.datasets.create(name, root, client=client)
    change = td.datasets.diff(name, 1, 2, client=client)
    assert v2.version == 2 and v2.num_files == 6
    assert (change.files_added, change.files_removed, change.files_changed) == (
        ["txt/new.txt"],
        ["img/0.png"],
        ["txt/1.txt"],
    )
    target = handle.download(tmp_path / "out")
    assert (target / "txt" / "1.txt").read_text() == "document 1"  # version 1 is immutable


def test_aliases_and_resolution(client: Client) -> None:
    name = _name()
    td.datasets.create(name, _frame(5), client=client)
    td.datasets.create(name, _frame(6), alias="prod", client=client)
    assert td.datasets.get(name, "prod", client=client).version.version == 2
    td.datasets.set_alias(name, "prod", 1, client=client)
    assert td.datasets.get(name, "prod", client=client).version.num_rows == 5
    assert td.datasets.get(name, "v2", client=client).version.num_rows == 6
    assert td.datasets.get(name, "latest", client=client).version.version == 2
    assert client.datasets.get_dataset(name).aliases == {"prod": 1}
    with pytest.raises(NotFound, match="no alias 'staging'"):
        td.datasets.get(name, "staging", client=client)
    with pytest.raises(NotFound, match="no version 9"):
        td.datasets.get(name, 9, client=client)
    with pytest.raises(InvalidArgument, match="reserved"):
        td.datasets.set_alias(name, "latest", 1, client=client)
    with pytest.raises(NotFound):
        td.datasets.get(_name(), client=client)


def test_search_by_name_tag_and_column(client: Client) -> None:
    marker = uuid.uuid4().hex[:8]
    a, b = f"sales-{marker}", f"users-{marker}"
    td.datasets.create(a, _frame(3), tags={"domain": "finance"}, client=client)
    td.datasets.create(b, pd.DataFrame({f"email_{marker}": ["x@y"]}), tags={"domain": "crm"}, client=client)
    assert {d.name for d in td.datasets.search(marker, client=client)} == {a, b}
    assert [d.name for d in td.datasets.search(marker, tag="domain=crm", client=client)] == [b]
    assert [d.name for d in td.datasets.search(column=f"email_{marker}", client=client)] == [b]
    assert td.datasets.search(marker, tag="domain=none", client=client) == []


def test_lineage_runs_and_models_that_used_a_version(client: Client) -> None:
    name = _name()
    version = td.datasets.create(name, _frame(4), client=client)
    exp = client.tracking.create_experiment(f"exp-{uuid.uuid4().hex[:8]}")
    run = client.tracking.create_run(exp.id)
    client.tracking.log_inputs(run.id, [InputRef(uri=version.uri, name=name, digest=version.digest)])
    client.log_text(run.id, "flavor: sklearn\nrequirements: []\npython_version: 3.11.7\n", "model/treadle-model.yaml")
    client.log_bytes(run.id, b"model", "model/model.pkl")
    model = f"m-{uuid.uuid4().hex[:8]}"
    client.registry.create_version(model, f"runs:/{run.id}/model")
    usage = td.datasets.usage(name, 1, client=client)
    assert usage.runs == [run.id]
    assert usage.models == [f"models:/{model}/1"]


def test_declared_and_inferred_schemas(client: Client) -> None:
    import pandera.pandas as pdr

    name = _name()
    schema = pdr.DataFrameSchema({"id": pdr.Column(int, pdr.Check.ge(0)), "x": pdr.Column(float)})
    bad = _frame(10)
    bad.loc[4, "id"] = -7
    with pytest.raises(SchemaViolation) as err:
        td.datasets.create(name, bad, schema=schema, client=client)
    assert "column 'id'" in err.value.message and "-7 (row 4)" in err.value.message
    with pytest.raises(NotFound):
        client.datasets.get_dataset(name)  # nothing was recorded
    td.datasets.create(name, _frame(10), schema=schema, client=client)
    wrong = _frame(10)
    wrong.loc[2, "id"] = -1
    with pytest.raises(SchemaViolation, match="greater_than_or_equal_to"):
        td.datasets.create(name, wrong, schema="infer", client=client)  # held to the kept schema
    other = _name()
    td.datasets.create(other, _frame(5), schema="infer", client=client)
    with pytest.raises(SchemaViolation, match="label"):
        td.datasets.create(other, _frame(5).assign(label=1.5), schema="infer", client=client)


def test_an_interrupted_create_leaves_the_previous_version(client: Client) -> None:
    name, frame = _name(), _frame(30)
    td.datasets.create(name, frame, client=client)

    def failing() -> Iterator[pa.RecordBatch]:
        yield pa.RecordBatch.from_pandas(frame.head(10), preserve_index=False)
        raise OSError("connection dropped")

    with pytest.raises(OSError, match="connection dropped"):
        td.datasets.create(name, failing(), client=client)
    assert [v.version for v in td.datasets.versions(name, client=client)] == [1]
    assert td.datasets.create(name, frame.head(10), client=client).version == 2


def test_bad_change_sets_are_refused(client: Client) -> None:
    name = _name()
    digest = "0" * 64
    with pytest.raises(InvalidArgument, match="upload the blobs"):
        client.datasets.create_version(
            name, NewVersion(kind="files", num_rows=1, files=[FileChange(path="a.txt", digest=digest, size=1)])
        )
    with pytest.raises(InvalidArgument, match="may not leave"):
        client.datasets.create_version(
            name, NewVersion(kind="files", num_rows=1, files=[FileChange(path="../a", digest=digest, size=1)])
        )
    td.datasets.create(name, _frame(3), client=client)
    with pytest.raises(InvalidArgument, match="does not have"):
        client.datasets.create_version(name, NewVersion(kind="table", num_rows=0, base_version=1, removed=["x"]))
    with pytest.raises(InvalidArgument, match="invalid dataset name"):
        td.datasets.create("bad name!", _frame(3), client=client)


def test_delete_frees_blobs_only_it_held(client: Client) -> None:
    name, frame = _name(), _frame(8)
    td.datasets.create(name, frame, client=client)
    keeper = _name()
    td.datasets.create(keeper, frame, client=client)  # the same part, stored once
    assert td.datasets.delete(name, client=client) == 0
    with pytest.raises(NotFound):
        td.datasets.get(name, client=client)
    assert td.datasets.get(keeper, client=client).to_pandas().shape == (8, 4)
    assert td.datasets.delete(keeper, client=client) == 1
