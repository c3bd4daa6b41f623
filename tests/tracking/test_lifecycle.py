"""Deleting and restoring an experiment within one millisecond of deleting one of its runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from treadle.store import Store
from treadle.tracking import TrackingService, _service


def test_a_run_deleted_alone_in_the_same_millisecond_stays_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_service, "now_ms", lambda: 1_700_000_000_000)  # a fast client: one clock tick
    tracking = TrackingService(Store(f"sqlite:///{tmp_path / 't.db'}"), str(tmp_path / "blobs"))
    exp = tracking.create_experiment("same-ms")
    kept, alone = tracking.create_run(exp.id), tracking.create_run(exp.id)
    tracking.delete_run(alone.id)
    tracking.delete_experiment(exp.id)
    tracking.restore_experiment(exp.id)
    assert tracking.get_run(kept.id).lifecycle == "active"
    assert tracking.get_run(alone.id).lifecycle == "deleted"
