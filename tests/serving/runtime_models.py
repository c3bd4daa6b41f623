"""Real saved models and a load generator for the serving-runtime tests (pool, batching, autoscaling,
reload). The PythonModel classes live at module level so worker processes import them by name."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from treadle.models import PythonModel, PythonModelContext, save_model
from treadle.serving._app import create_serving_app
from treadle.serving._types import Endpoint
from treadle.testing.server import free_port, wait_until_up

CRASH = -999.0  # a value that makes FaultyModel kill its own process
RAISE = -1.0  # a value that makes FaultyModel raise


class SlowSum(PythonModel):
    """Sums each row after sleeping ``delay_s`` per call: a stand-in for a model with real latency."""

    def __init__(self, delay_s: float, offset: float = 0.0) -> None:
        self.delay_s = delay_s
        self.offset = offset

    def predict(self, context: PythonModelContext, data: Any) -> Any:
        time.sleep(self.delay_s)
        return np.asarray(data, dtype=np.float64).sum(axis=1) + self.offset


class FaultyModel(PythonModel):
    """Sums rows; raises on a row holding RAISE and kills its process on a row holding CRASH."""

    def predict(self, context: PythonModelContext, data: Any) -> Any:
        arr = np.asarray(data, dtype=np.float64)
        if (arr == CRASH).any():
            os._exit(3)
        if (arr == RAISE).any():
            raise ValueError("row holds the poison value -1")
        return arr.sum(axis=1)


def save_python(model: PythonModel, path: Path, width: int | None = 4) -> Path:
    """Save ``model``; ``width=None`` saves no example, so no signature fixes the input's width."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "modules no installed package provides (tests)"
        save_model(model, path, input_example=None if width is None else np.ones((2, width)))
    return path


@dataclass
class Logistic:
    path: Path
    model: LogisticRegression
    X: np.ndarray


def save_logistic(path: Path) -> Logistic:
    X, y = load_breast_cancer(return_X_y=True)
    model = LogisticRegression(max_iter=5000).fit(X, y)
    save_model(model, path, input_example=X[:2])
    return Logistic(path, model, X)


@dataclass
class LoadReport:
    ok: int = 0
    errors: list[BaseException] = field(default_factory=list)
    answers: list[Any] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.ok + len(self.errors)


async def generate_load(
    call: Callable[[int], Awaitable[Any]], *, concurrency: int, until: Callable[[], bool], keep: bool = False
) -> LoadReport:
    """``concurrency`` clients calling ``call(i)`` back to back until ``until()`` says stop."""
    report = LoadReport()
    counter = iter(range(10**9))

    async def client() -> None:
        while not until():
            i = next(counter)
            try:
                answer = await call(i)
            except Exception as exc:
                report.errors.append(exc)
            else:
                report.ok += 1
                if keep:
                    report.answers.append((i, answer))

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return report


def deadline(seconds: float) -> Callable[[], bool]:
    end = time.monotonic() + seconds
    return lambda: time.monotonic() >= end


async def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> float:
    """Seconds until ``predicate()`` held; fails the test after ``timeout``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
    return time.monotonic() - start


@contextmanager
def serving(endpoints: list[Endpoint], *, startup_timeout: float = 180.0, **options: Any) -> Iterator[str]:
    """A real uvicorn server over ``endpoints``; unlike ``serving_url`` it waits long enough for worker
    processes to load their models on a busy machine. Yields the base URL."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(create_serving_app(endpoints, **options), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, timeout=startup_timeout)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=60)


class ExitingModel(PythonModel):
    """Calls ``sys.exit`` from predict: model code that raises a BaseException, not an Exception."""

    def predict(self, context: PythonModelContext, data: Any) -> Any:
        import sys

        sys.exit(4)
