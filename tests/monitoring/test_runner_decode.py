"""Decoding request-log rows into feature rows: every request shape serving accepts, batches,
probabilities, and rows that cannot be decoded (counted, never raised)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from treadle.monitoring._decode import decode
from treadle.serving._invocations import decode_invocations
from treadle.serving._reqlog import records_table
from treadle.serving._types import LogRecord

F = ["age", "plan", "score"]


def _log(*rows: tuple[str, dict[str, Any], dict[str, Any] | None], **extra: Any) -> Any:
    records = [
        LogRecord(
            id=rid,
            time_ms=1000 + i,
            endpoint="e",
            model_version="1",
            inputs={k: v if isinstance(v, np.ndarray) else np.asarray(v) for k, v in inputs.items()},
            outputs=None if outputs is None else {k: np.asarray(v) for k, v in outputs.items()},
            latency_ms=1.0,
            status=extra.get("status", {}).get(rid, 200),
            route=extra.get("route", {}).get(rid, "primary"),
        )
        for i, (rid, inputs, outputs) in enumerate(rows)
    ]
    return records_table(records).to_pandas()


def test_every_request_shape_serving_accepts() -> None:
    split = (
        b'{"dataframe_split": {"columns": ["age", "plan", "score"], "data": [[30, "pro", 0.5], [41, "basic", 0.7]]}}'
    )
    records = b'{"dataframe_records": [{"age": 22, "plan": "pro", "score": 0.1}]}'
    log = _log(
        ("oip", {"x": np.array([[50.0, 1.0, 0.2], [60.0, 2.0, 0.3]])}, {"predict": [1, 0]}),
        ("split", decode_invocations(split, "application/json").inputs, {"predict": ["a", "b"]}),
        ("records", decode_invocations(records, "application/json").inputs, {"predict": ["a"]}),
    )
    d = decode(log, F)
    assert d.rows == 5 and d.malformed == 0 and d.requests == 3
    assert list(d.ids) == ["oip", "oip", "split", "split", "records"]
    assert list(d.times) == [1000, 1000, 1001, 1001, 1002]
    assert d.frame["age"].tolist() == [50.0, 60.0, 30.0, 41.0, 22.0] and d.frame["age"].dtype == float
    assert d.frame["plan"].tolist() == [1.0, 2.0, "pro", "basic", "pro"]
    assert d.prediction is not None and list(d.prediction) == [1, 0, "a", "b", "a"]
    assert d.proba is None
    sub = d.slice(1, 3)
    assert list(sub.ids) == ["split", "split", "records"] and sub.frame["age"].tolist() == [30.0, 41.0, 22.0]


def test_probabilities_missing_values_and_bad_rows() -> None:
    log = _log(
        ("a", {"age": [1.0, np.nan], "score": [np.inf, 2.0]}, {"predict": [1, 0], "probs": [[0.2, 0.8], [0.6, 0.4]]}),
        ("b", {"age": [3.0]}, {"label": [1], "out": [[0.3, 0.7]]}),  # rows summing to 1: probabilities
        ("shadow", {"age": [9.0]}, {"predict": [1]}),
        ("failed", {"age": [9.0]}, None),
        ("ragged", {"x": np.array([[1.0, 2.0]])}, None),
        ("unnamed", {"nope": [1.0]}, None),
        ("uneven", {"age": [1.0, 2.0], "score": [1.0]}, None),
        route={"shadow": "shadow"},
        status={"failed": 500},
    )
    d = decode(log, F)
    assert d.rows == 3 and d.requests == 2 and (d.malformed, d.failed) == (3, 1)
    assert "plan" not in d.frame.columns  # no request carried it: a missing column, not NaNs
    assert np.isnan(d.frame["age"][1]) and np.isnan(d.frame["score"][0]) and np.isnan(d.frame["score"][2])
    assert d.proba is not None and d.proba.tolist() == [[0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]
    assert d.prediction is not None and list(d.prediction) == [1, 0, 1]
    note = d.note() or ""
    assert "3 request-log rows could not be decoded" in note and "ragged" in note and "1 failed" in note


def test_malformed_json_and_single_feature_models() -> None:
    log = _log(("ok", {"input": [[1.0], [2.0]]}, {"predict": [0.5, 0.7]}), ("one", {"input": [3.0]}, None))
    log = pd.concat([log, log.iloc[[0]].assign(id="broken", inputs="{not json")], ignore_index=True)
    d = decode(log, ["v"])
    assert d.frame["v"].tolist() == [1.0, 2.0, 3.0] and d.malformed == 1 and "broken" in (d.note() or "")
    assert d.prediction is not None and list(d.prediction[:2]) == [0.5, 0.7] and np.isnan(d.prediction[2])


@pytest.mark.parametrize("features", [[], ["a", "b"]])
def test_empty_log(features: list[str]) -> None:
    d = decode(_log(), features)
    assert d.rows == 0 and d.note() is None and d.prediction is None
