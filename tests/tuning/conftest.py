"""A client on a fresh SQLite store per test, also made the fluent SDK's client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from treadle.client import Client
from treadle.client import _fluent as fluent


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    c = fluent.set_uri(f"sqlite:///{tmp_path / 'tune.db'}", str(tmp_path / "artifacts"))
    yield c
    while fluent.active_run() is not None:
        fluent.end_run()
