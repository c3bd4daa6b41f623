"""Edge cases of dataset snapshots and version lookups, on a real store (and a real HTTP server)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

import treadle as td
from treadle.datasets import SchemaViolation
from treadle.errors import NotFound
from treadle.server import create_app
from treadle.testing.server import serve


@pytest.fixture
def client(tmp_path: Path) -> td.Client:
    return td.Client(f"sqlite:///{tmp_path / 'ds.db'}", artifacts=str(tmp_path / "art"))


def test_inferred_schema_accepts_nulls_that_appear_only_in_a_later_batch(client: td.Client) -> None:
    # pandas turns int64 with a null into float64 and bool with a null into object: only in the
    # batches that hold one. The inferred schema must not call that a dtype change.
    first = pa.record_batch({"id": pa.array([1, 2], pa.int64()), "ok": pa.array([True, False])})
    later = pa.record_batch({"id": pa.array([None, 3], pa.int64()), "ok": pa.array([None, True])})
    v1 = td.datasets.create("events", pa.Table.from_batches([first, later]), schema="infer", client=client)
    assert v1.num_rows == 4
    # The kept schema holds the next version too, whether it has nulls or not.
    v2 = td.datasets.create(
        "events", pa.table({"id": pa.array([None], pa.int64()), "ok": [True]}), schema="infer", client=client
    )
    v3 = td.datasets.create(
        "events", pa.table({"id": pa.array([7], pa.int64()), "ok": [False]}), schema="infer", client=client
    )
    assert (v2.version, v3.version) == (2, 3)


def test_inferred_schema_still_rejects_a_changed_column_type(client: td.Client) -> None:
    td.datasets.create("events", pa.table({"id": pa.array([1], pa.int64())}), schema="infer", client=client)
    with pytest.raises(SchemaViolation, match="'id'"):
        td.datasets.create("events", pa.table({"id": ["x"]}), schema="infer", client=client)


def test_a_symlink_loop_in_a_folder_is_not_followed(client: td.Client, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    os.symlink("..", folder / "sub" / "up")  # a loop: docs/sub/up/sub/up/...
    os.symlink(folder / "sub", folder / "same")  # not a loop: its files appear under both paths
    version = td.datasets.create("docs", folder, client=client)
    paths = sorted(f.path for f in td.datasets.get("docs", client=client).files())
    assert paths == ["a.txt", "same/b.txt", "sub/b.txt"] and version.num_files == 3


def test_a_version_number_beyond_64_bits_is_not_found(client: td.Client, tmp_path: Path) -> None:
    td.datasets.create("events", pa.table({"id": [1]}), client=client)
    with pytest.raises(NotFound, match="no version"):
        client.datasets.resolve("events", alias="v" + "9" * 30)
    app = create_app(uri=f"sqlite:///{tmp_path / 'ds.db'}", artifacts=str(tmp_path / "art"))
    with serve(app) as url:
        response = httpx.post(f"{url}/api/v1/datasets/resolve", json={"name": "events", "alias": "v" + "9" * 30})
    assert response.status_code == 404, response.text
    assert "no version" in response.json()["error"]["message"]
