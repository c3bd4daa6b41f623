"""A temp SQLite store the launcher and its worker processes share (they read TREADLE_* env)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import treadle as td
from treadle.client import _fluent


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[td.Client]:
    uri, artifacts = f"sqlite:///{tmp_path / 'train.db'}", str(tmp_path / "art")
    monkeypatch.setenv("TREADLE_URI", uri)
    monkeypatch.setenv("TREADLE_ARTIFACTS", artifacts)
    for name in ("TREADLE_RUN_ID", "TREADLE_RANK", "RANK"):
        monkeypatch.delenv(name, raising=False)
    yield td.set_uri(uri, artifacts)
    while _fluent.active_run() is not None:  # a failed test must not leave a run for the next
        _fluent._current().runs.pop()
