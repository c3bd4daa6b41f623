"""Materializers: each kind of step output survives the artifact store, and steps pass them along."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from treadle import datasets
from treadle.client import Client
from treadle.pipelines import load_output, pipeline, save_output, step
from treadle.pipelines._materialize import OutputError


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(f"sqlite:///{tmp_path / 'mat.db'}", str(tmp_path / "artifacts"))


@dataclass
class Box:
    items: tuple[int, ...]


def roundtrip(client: Client, value: object) -> tuple[str, object]:
    saved = save_output(client, "s", "out", value)
    return saved.ref.kind, load_output(client, saved.ref)


def test_json_values(client: Client) -> None:
    value = {"a": [1, 2.5, None, True], "b": {"c": "d"}}
    assert roundtrip(client, value) == ("json", value)


def test_pandas_frames_and_series(client: Client) -> None:
    frame = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    kind, back = roundtrip(client, frame)
    assert kind == "pandas"
    pd.testing.assert_frame_equal(back, frame)
    series = pd.Series([1.5, 2.5], name="price")
    kind, back = roundtrip(client, series)
    assert kind == "pandas-series"
    pd.testing.assert_series_equal(back, series)


def test_numpy_arrays(client: Client) -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    kind, back = roundtrip(client, array)
    assert kind == "numpy" and back.dtype == np.float32  # type: ignore[attr-defined]
    np.testing.assert_array_equal(back, array)


def test_sklearn_model_goes_through_treadle_models(client: Client) -> None:
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(X, [0, 0, 1, 1])
    saved = save_output(client, "train", "model", model)
    assert saved.ref.kind == "model"
    assert any(f.path == "outputs/model/treadle-model.yaml" for f in saved.files)
    back = load_output(client, saved.ref)
    assert isinstance(back, LogisticRegression)
    assert list(back.predict(X)) == [0, 0, 1, 1]


def test_paths_files_and_folders(client: Client, tmp_path: Path) -> None:
    file = tmp_path / "report.txt"
    file.write_text("hello")
    kind, back = roundtrip(client, file)
    assert kind == "file" and isinstance(back, Path) and back.name == "report.txt" and back.read_text() == "hello"
    folder = tmp_path / "tree"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    kind, back = roundtrip(client, folder)
    assert kind == "dir" and isinstance(back, Path)
    assert (back / "sub" / "b.txt").read_text() == "b" and (back / "a.txt").read_text() == "a"


def test_dataset_versions_pass_by_reference(client: Client) -> None:
    version = datasets.create("iris-mini", pd.DataFrame({"x": [1, 2]}), client=client)
    saved = save_output(client, "ingest", "data", version)
    assert saved.ref.kind == "dataset" and saved.ref.uri == "datasets:/iris-mini/1" and saved.files == []
    handle = load_output(client, saved.ref)
    assert handle.to_pandas()["x"].tolist() == [1, 2]


def test_other_objects_are_pickled_and_unpicklable_ones_named(client: Client) -> None:
    assert roundtrip(client, Box((1, 2))) == ("pickle", Box((1, 2)))
    with pytest.raises(OutputError, match="step 'gen' output 'rows': cannot store a generator"):
        save_output(client, "gen", "rows", (i for i in range(2)))


@step
def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(n, dtype=float), "y": np.arange(n) % 2})


@step
def fit(df: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression().fit(df[["x"]], df["y"])


@step
def score(model: LogisticRegression, df: pd.DataFrame) -> float:
    return float(model.score(df[["x"]], df["y"]))


@pipeline
def training(n: int = 8) -> float:
    df = frame(n)
    return score(fit(df), df)


def test_steps_pass_frames_and_models(client: Client) -> None:
    result = training.run(client=client)
    assert result.status == "SUCCEEDED"
    assert 0.0 <= result.output <= 1.0
    assert result.steps["fit"].outputs["output"].kind == "model"
    assert result.steps["frame"].outputs["output"].preview == "DataFrame 8 rows x 2 columns"
    files = {f.path for f in client.list_artifacts(result.steps["frame"].run_id or "")}
    assert "outputs/output.parquet" in files
