"""The whole path over HTTP: a deployment served by the real inference server with its request
logger, fed OIP and /invocations batches (undrifted, then drifted), labels for batched requests,
and the monitor's windows read back from the log the server wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sklearn.metrics import accuracy_score

import treadle as td
from treadle.errors import InvalidArgument, NotFound
from treadle.monitoring._runner import LOG_GRACE_MS
from treadle.server import create_app
from treadle.serving._app import create_serving_app
from treadle.serving._deploy import deployment_endpoint
from treadle.serving._reqlog import RequestLogger
from treadle.testing.server import serve

from .runner_support import DEPLOYMENT, FEATURES, frame, now_ms, served_model, served_records, write_log

BATCH = 10


@pytest.mark.slow
def test_served_traffic_is_monitored() -> None:
    model = served_model()
    client = td.get_client()
    td.monitoring.create_monitor("http", DEPLOYMENT, target="label", window="200 rows")
    same, shifted = frame(200, seed=11), frame(200, seed=12, shift=2.0)
    logger = RequestLogger(client, flush_interval_s=0.2)
    app = create_serving_app([deployment_endpoint(DEPLOYMENT, client, sink=logger)], sink=logger)
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        for i in range(200):  # OIP: a [1, 4] tensor per request (then [10, 4]), ids chosen by the caller
            n = 1 if i < 100 else BATCH
            if i >= 100 and i % BATCH:
                continue
            rows = same[FEATURES].iloc[i : i + n].to_numpy()
            tensor = {"name": "input", "shape": list(rows.shape), "datatype": "FP64", "data": rows.ravel().tolist()}
            body: dict[str, Any] = {"id": f"oip-{i:03d}", "inputs": [tensor]}
            assert http.post(f"/v2/models/{DEPLOYMENT}/infer", json=body).status_code == 200
        for i in range(0, 200, BATCH):  # MLflow tables, asking for the probabilities too
            part = shifted[FEATURES].iloc[i : i + BATCH]
            body = {
                "dataframe_split": {"columns": FEATURES, "data": part.to_numpy().tolist()},
                "params": {"outputs": ["predict", "predict_proba"]},
            }
            response = http.post("/invocations", json=body)
            assert response.status_code == 200, response.text
        bad = {"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]}
        assert http.post(f"/v2/models/{DEPLOYMENT}/infer", json=bad).status_code == 400
    logger.close()

    ids = [f"oip-{i:03d}" for i in range(100)]
    labels = same["label"][:100].tolist()
    assert td.monitoring.log_labels(ids, labels, endpoint=DEPLOYMENT).accepted == len(ids)

    reports = td.monitoring.run_monitor("http", now_ms=now_ms() + LOG_GRACE_MS + 1000)
    assert [r.rows for r in reports] == [200, 200]
    first, second = reports
    assert not first.dataset_drift and second.dataset_drift
    assert first.labelled == 100 and first.performance is not None
    expected = accuracy_score(same["label"][:100], model.predict(same[FEATURES][:100]))
    assert first.performance["accuracy"] == pytest.approx(expected)
    assert second.estimated is not None and "accuracy" in second.estimated
    assert (first.quality.missing_columns if first.quality else None) == []


@pytest.mark.slow
def test_monitor_through_a_remote_client(tmp_path: Path) -> None:
    """The SDK against a treadle server: lineage, blobs, the request log and the monitors service
    all over HTTP (the runner only duck-types its client)."""
    app = create_app(uri=f"sqlite:///{tmp_path / 's.db'}", artifacts=str(tmp_path / "server-art"))
    with serve(app) as url:
        td.set_uri(url)
        model = served_model(rows=300)
        mon = td.monitoring.create_monitor("remote", DEPLOYMENT, target="label", window="100 rows")
        assert mon.reference is not None and mon.reference.found_by == "lineage"
        t0 = now_ms() + 10
        write_log(served_records(model, frame(100, seed=3, shift=2.0), t0, "r"))
        assert td.monitoring.log_labels(["r-00000"], [1]).accepted == 1
        with pytest.raises(InvalidArgument, match="none of the 1 request ids"):  # a 400, not a 500
            td.monitoring.log_labels(["no-such-request"], [1])
        with pytest.raises(NotFound):
            td.monitoring.run_monitor("no-such-monitor")
        [report] = td.monitoring.run_monitor("remote", now_ms=t0 + 200 + LOG_GRACE_MS)
        assert report.dataset_drift and report.labelled == 1 and report.estimated is not None
        assert td.monitoring.run_due() == {}  # ran just now: not due
