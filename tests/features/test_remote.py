"""The feature registry over HTTP: apply and reads through the remote proxy, and the training frame
joined client-side (definitions from the server, rows read where the client runs)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from treadle.client import Client
from treadle.data import FileSource
from treadle.errors import InvalidArgument, NotFound
from treadle.features import Entity, FeatureView, Field, get_training_frame
from treadle.server import create_app
from treadle.testing.server import serve

T0 = datetime(2024, 8, 1, tzinfo=UTC)


def test_remote_apply_reads_and_client_side_training_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREADLE_ONLINE_STORE", f"sqlite:///{tmp_path / 'online.db'}")
    path = tmp_path / "history.parquet"
    ts = pa.array([T0, T0], pa.timestamp("us", tz="UTC"))
    pq.write_table(pa.table({"driver_id": [1, 2], "event_timestamp": ts, "trips": [3, 4]}), path)
    driver = Entity("driver", ["driver_id"])
    view = FeatureView("stats", [driver], FileSource(path), [Field("trips", "int64")])
    with serve(create_app(uri=f"sqlite:///{tmp_path / 's.db'}", artifacts=str(tmp_path / "art"))) as url:
        client = Client(url)
        report = client.features.apply([driver.spec(), view.spec()], dry_run=True)
        assert report.dry_run and report.created == ["driver", "stats"]
        assert client.features.apply([driver.spec(), view.spec()]).created == ["driver", "stats"]
        assert client.features.get_view("stats").spec == view.spec()
        assert [e.name for e in client.features.list_entities()] == ["driver"]
        with pytest.raises(NotFound, match="'nope' is not registered"):
            client.features.get_view("nope")
        with pytest.raises(InvalidArgument, match="unknown definition kind"):
            client.features.apply([{"kind": "table"}])
        entity_df = pd.DataFrame({"driver_id": [2, 1], "event_timestamp": pd.to_datetime([T0, T0], utc=True)})
        frame = get_training_frame(entity_df, ["stats:trips"], client=client)
        assert frame["trips"].tolist() == [4, 3]


def _ratio(batch: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"double": batch["trips"] * 2})


def test_a_server_refuses_pickled_transforms_unless_told(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from treadle.features import OnDemandFeatureView

    path = tmp_path / "history.parquet"
    pq.write_table(pa.table({"driver_id": [1], "event_timestamp": pa.array([T0]), "trips": [3]}), path)
    driver = Entity("driver", ["driver_id"])
    view = FeatureView("stats", [driver], FileSource(path), [Field("trips", "int64")])
    doubled = OnDemandFeatureView("doubled", [view], _ratio, [Field("double", "int64")])
    specs = [driver.spec(), view.spec(), doubled.spec()]
    with serve(create_app(uri=f"sqlite:///{tmp_path / 'a.db'}", artifacts=str(tmp_path / "a"))) as url:
        with pytest.raises(InvalidArgument, match="does not accept on-demand feature views"):
            Client(url).features.apply(specs)
        assert Client(url).features.list_views() == []  # nothing of the refused apply was written
    monkeypatch.setenv("TREADLE_SERVER_ACCEPT_CODE", "true")
    with serve(create_app(uri=f"sqlite:///{tmp_path / 'b.db'}", artifacts=str(tmp_path / "b"))) as url:
        assert Client(url).features.apply(specs).created == ["driver", "stats", "doubled"]
