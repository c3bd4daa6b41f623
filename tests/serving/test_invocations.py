"""MLflow's ``POST /invocations``: every input format answers what the model predicts in process."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.serving.conftest import Served

ROWS = 9


@pytest.fixture(scope="module")
def frame(cancer_data: tuple[pd.DataFrame, np.ndarray]) -> pd.DataFrame:
    return cancer_data[0].iloc[100 : 100 + ROWS]


def _bodies(X: pd.DataFrame) -> dict[str, Any]:
    split = X.to_dict(orient="split")
    return {
        "dataframe_split": {"dataframe_split": {"columns": split["columns"], "data": split["data"]}},
        "dataframe_split_with_index": {"dataframe_split": split},
        "dataframe_records": {"dataframe_records": X.to_dict(orient="records")},
        "instances_rows": {"instances": X.to_numpy().tolist()},
        "instances_records": {"instances": X.to_dict(orient="records")},
        "inputs_rows": {"inputs": X.to_numpy().tolist()},
        "inputs_columns": {"inputs": {c: X[c].tolist() for c in X.columns}},
    }


@pytest.mark.parametrize(
    "fmt",
    [
        "dataframe_split",
        "dataframe_split_with_index",
        "dataframe_records",
        "instances_rows",
        "instances_records",
        "inputs_rows",
        "inputs_columns",
    ],
)
def test_json_formats_match_in_process_predict(
    served: Served, cancer_model: Any, frame: pd.DataFrame, fmt: str
) -> None:
    r = httpx.post(f"{served.url}/invocations", json=_bodies(frame)[fmt])
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": cancer_model.predict(frame).tolist()}
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-request-id"]


def test_csv_matches_in_process_predict(served: Served, cancer_model: Any, frame: pd.DataFrame) -> None:
    body = frame.to_csv(index=False).encode()
    r = httpx.post(f"{served.url}/invocations", content=body, headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == cancer_model.predict(frame).tolist()


def test_columns_in_another_order_still_match(served: Served, cancer_model: Any, frame: pd.DataFrame) -> None:
    shuffled = frame[list(reversed(frame.columns))]
    r = httpx.post(f"{served.url}/invocations", json={"dataframe_records": shuffled.to_dict(orient="records")})
    assert r.json()["predictions"] == cancer_model.predict(frame).tolist()


def test_predict_proba_and_several_outputs(served: Served, cancer_model: Any, frame: pd.DataFrame) -> None:
    split = frame.to_dict(orient="split")
    body = {"dataframe_split": split, "params": {"predict_method": "predict_proba"}}
    r = httpx.post(f"{served.url}/invocations", json=body)
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["predictions"], cancer_model.predict_proba(frame), rtol=1e-12)
    body = {"dataframe_split": split, "params": {"outputs": ["predict", "predict_proba"]}}
    got = httpx.post(f"{served.url}/invocations", json=body).json()["predictions"]
    assert got["predict"] == cancer_model.predict(frame).tolist()
    assert len(got["predict_proba"]) == ROWS


def test_model_chosen_by_query_parameter(served: Served) -> None:
    r = httpx.post(f"{served.url}/invocations?model=echo", json={"inputs": {"a": [1, 2], "b": ["x", "y"]}})
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]}
    unknown = httpx.post(f"{served.url}/invocations?model=nope", json={"inputs": [1]})
    assert unknown.status_code == 404
    assert "'nope' is not served here" in unknown.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"rows": [[1]]}, "exactly one of dataframe_split"),
        ({"inputs": [1], "instances": [1]}, "got inputs, instances"),
        ({"dataframe_split": {"columns": ["a"]}}, "dataframe_split must be"),
        ({"dataframe_records": [1, 2]}, "dataframe_records must be a list of"),
    ],
)
def test_malformed_bodies_say_what_was_expected(served: Served, body: Any, message: str) -> None:
    r = httpx.post(f"{served.url}/invocations", json=body)
    assert r.status_code == 400
    assert message in r.json()["error"]


def test_dataframe_split_keeps_integer_columns_beside_floats() -> None:
    """pandas' ``to_json(orient="split")`` of a frame with int and float columns gives rows mixing
    ints and floats; the int columns must stay integers (a model saved with int64 inputs refuses floats)."""
    from treadle.serving._invocations import decode_invocations

    body = b'{"dataframe_split": {"columns": ["age", "income"], "data": [[31, 5200.5], [47, 6100.0]]}}'
    inputs = decode_invocations(body, "application/json").inputs
    assert inputs["age"].dtype == np.int64 and inputs["age"].tolist() == [31, 47]
    assert inputs["income"].dtype == np.float64 and inputs["income"].tolist() == [5200.5, 6100.0]
