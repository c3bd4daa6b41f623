"""Windows as the drift engine hands them over: numpy values in the drill-down details are stored as
plain JSON, and numbers no column can hold are refused instead of failing in the database."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from treadle.client import Client
from treadle.errors import InvalidArgument
from treadle.monitors import ColumnDrift, MonitorSpec, WindowReport


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))


def test_numpy_details_are_stored_as_json(client: Client) -> None:
    client.monitors.create_monitor(MonitorSpec(name="m", deployment="d"))
    detail = {"edges": np.array([-np.inf, 0.5, np.inf]), "counts": np.array([3, 4]), "n": np.int64(7)}
    col = ColumnDrift(
        column="x", kind="numeric", test="psi", statistic=0.1, threshold=0.2, drifted=False, detail=detail
    )
    client.monitors.record_window(WindowReport(monitor="m", start_ms=0, end_ms=10, rows=7, columns=[col]), cursor_ms=10)
    (stored,) = client.monitors.list_windows("m")
    assert stored.columns[0].detail == {"edges": [-np.inf, 0.5, np.inf], "counts": [3, 4], "n": 7}


def test_out_of_range_windows_are_refused(client: Client) -> None:
    client.monitors.create_monitor(MonitorSpec(name="m", deployment="d"))
    for start, end, rows in ((0, 2**63, 1), (0, 1, 2**31), (5, 4, 1), (0, 1, -1)):
        with pytest.raises(InvalidArgument, match="start_ms <= end_ms"):
            client.monitors.record_window(WindowReport(monitor="m", start_ms=start, end_ms=end, rows=rows), cursor_ms=1)
    assert client.monitors.list_windows("m") == []
