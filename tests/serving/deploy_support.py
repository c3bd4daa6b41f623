"""Real models, a real store and a real HTTP server for the deployment-endpoint tests.

Models are saved with :func:`treadle.models.save_model` and registered in a SQLite store; the
deployment is served by :func:`treadle.serving._app.create_serving_app` on uvicorn, and the tests
talk to it over HTTP with httpx, exactly as a caller would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from treadle.client import Client
from treadle.models import PythonModel, PythonModelContext, save_model
from treadle.serving._app import create_serving_app
from treadle.serving._deploy import DeploymentEndpoint
from treadle.serving._metrics import ServingMetrics
from treadle.serving._types import LogRecord, RequestSink
from treadle.testing.server import serve


class Constant(PythonModel):
    """Answers ``value`` for every row (so an answer shows which model gave it). Raises for rows with
    ``x < fail_below``; sleeps ``delay_s`` per call."""

    def __init__(self, value: float, fail_below: float | None = None, delay_s: float = 0.0) -> None:
        self.value = value
        self.fail_below = fail_below
        self.delay_s = delay_s

    def predict(self, context: PythonModelContext, data: pd.DataFrame) -> np.ndarray:
        x = data["x"].to_numpy(dtype=np.float64)
        if self.fail_below is not None and bool((x < self.fail_below).any()):
            raise ValueError(f"x below {self.fail_below}")
        if self.delay_s:
            time.sleep(self.delay_s)
        return np.full(len(x), self.value)


def register_python(client: Client, tmp: Path, name: str, model: PythonModel) -> int:
    """Save ``model`` (one float input column ``x``) and register it as the next version of ``name``."""
    folder = tmp / f"{name}-{time.monotonic_ns()}"
    save_model(model, folder, input_example=pd.DataFrame({"x": [1.0, 2.0]}), requirements=[])
    return client.register_model(str(folder), name).version


class ListSink(RequestSink):
    """Keeps every record in memory (the request log's interface, without the Parquet files)."""

    def __init__(self) -> None:
        self.records: list[LogRecord] = []
        self._lock = threading.Lock()

    def log(self, record: LogRecord) -> None:
        with self._lock:
            self.records.append(record)

    def by_route(self, route: str) -> list[LogRecord]:
        with self._lock:
            return [r for r in self.records if r.route == route]


@contextmanager
def serving(
    client: Client, name: str, *, sink: RequestSink | None = None, **options: Any
) -> Iterator[tuple[str, DeploymentEndpoint]]:
    """Serve deployment ``name`` over HTTP (fast background loops unless ``options`` say otherwise)."""
    intervals = {"flush_interval_s": 0.2, "arms_interval_s": 0.2, "control_interval_s": 0.3, "watch_interval_s": 0.3}
    metrics = ServingMetrics()
    endpoint = DeploymentEndpoint(name, client, sink=sink, metrics=metrics, **{**intervals, **options})
    app = create_serving_app([endpoint], sink=sink, metrics=metrics, feedback=endpoint.feedback)
    with serve(app) as url:
        yield url, endpoint


def infer(
    http: httpx.Client,
    url: str,
    name: str,
    x: float = 1.0,
    *,
    parameters: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    extra: list[dict[str, Any]] | None = None,
) -> httpx.Response:
    """One OIP JSON request with input ``x`` (one row)."""
    body: dict[str, Any] = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [x]}, *(extra or [])]}
    if parameters:
        body["parameters"] = parameters
    return http.post(f"{url}/v2/models/{name}/infer", json=body, headers=headers)


def value(response: httpx.Response) -> float:
    return float(response.json()["outputs"][0]["data"][0])


def wait_for(check: Callable[[], Any], timeout_s: float = 15.0, every_s: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; its last value otherwise fails the test."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout_s}s (last: {got!r})")
        time.sleep(every_s)
