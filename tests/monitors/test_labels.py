"""Labels: the request logger indexes each logged request's id, labels join served requests by
that id, and bad label batches are refused with a message that says what to fix."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from treadle.client import Client
from treadle.errors import InvalidArgument
from treadle.monitors._labels import MAX_LABELS
from treadle.rollout import _tables as rt
from treadle.serving._reqlog import RequestLogger
from treadle.serving._types import LogRecord
from treadle.store import Store


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))


def _record(rid: str, endpoint: str, time_ms: int) -> LogRecord:
    return LogRecord(
        id=rid,
        time_ms=time_ms,
        endpoint=endpoint,
        model_version="1",
        inputs={"x": np.array([[1.0, 2.0]])},
        outputs={"predict": np.array([1])},
        latency_ms=1.0,
        status=200,
    )


def test_logged_requests_are_indexed_and_take_labels(client: Client, tmp_path: Path) -> None:
    logger = RequestLogger(client, flush_interval_s=0.05)
    for i in range(20):
        logger.log(_record(f"a{i}", "churn", 1_000 + i))
    for i in range(5):
        logger.log(_record(f"b{i}", "fraud", 2_000 + i))
    logger.log(_record("", "churn", 3_000))  # a request without an id is logged but not indexed
    logger.log(_record("x" * 300, "churn", 3_001))  # nor one whose caller-sent id is too long to index
    logger.close()
    assert logger.written == 27 and logger.failed == 0
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with store.read() as conn:
        r = rt.log_requests
        counts: dict[str, int] = dict(conn.execute(select(r.c.endpoint, func.count()).group_by(r.c.endpoint)).all())
        times = dict(conn.execute(select(r.c.request_id, r.c.time_ms).where(r.c.request_id == "a7")).all())
    store.dispose()
    assert counts == {"churn": 20, "fraud": 5} and times == {"a7": 1_007}

    logged = client.monitors.log_labels(["a1", "b1", "a2", "zzz", "a1"], ["yes", "no", "no", "yes", "no"])
    assert (logged.accepted, logged.updated, logged.unknown) == (3, 0, ["zzz"])
    assert client.monitors.get_labels("churn", ["a1", "a2", "a3"]) == {"a1": "no", "a2": "no"}  # last label wins
    assert client.monitors.get_labels("fraud", ["b1", "a1"]) == {"b1": "no"}
    only = client.monitors.log_labels(["a1", "b2"], [1, 1], endpoint="churn")
    assert (only.accepted, only.updated, only.unknown) == (1, 1, ["b2"])


def test_bad_batches_are_refused(client: Client) -> None:
    client.rollout.add_log_part("e", "a" * 64, 1, 1, 5, 5, request_ids=["r1"], request_times=[5])
    cases: list[tuple[list[str], list[object], str]] = [
        ([], [], "no labels given"),
        (["r1"], [math.inf], "NaN and infinite"),
        (["r1"], [None], "strings, numbers or booleans"),
        (["r1"], [{"a": 1}], "strings, numbers or booleans"),
        (["r1"], [2**70], "64 bits"),
        ([""], [1], "1-256 characters"),
        (["r1", "r2"], [1], "got 2 request ids and 1 labels"),
    ]
    for ids, labels, message in cases:
        with pytest.raises(InvalidArgument, match=message):
            client.monitors.log_labels(ids, labels)
    too_many = [f"r{i}" for i in range(MAX_LABELS + 1)]
    with pytest.raises(InvalidArgument, match="at most 100,000"):
        client.monitors.log_labels(too_many, [1] * len(too_many))
    assert client.monitors.get_labels("e", ["r1"]) == {}
    with pytest.raises(InvalidArgument, match="request_ids and request_times go together"):
        client.rollout.add_log_part("e", "b" * 64, 1, 1, 5, 5, request_ids=["r1"])


def test_a_large_batch_of_labels(client: Client) -> None:
    ids = [f"q{i}" for i in range(50_000)]
    client.rollout.add_log_part("big", "c" * 64, 1, len(ids), 0, 1, request_ids=ids, request_times=[0] * len(ids))
    logged = client.monitors.log_labels(ids, [i % 2 for i in range(len(ids))])
    assert logged.accepted == len(ids) and logged.unknown == []
    assert client.monitors.get_labels("big", ids[-3:]) == {"q49997": 1, "q49998": 0, "q49999": 1}
