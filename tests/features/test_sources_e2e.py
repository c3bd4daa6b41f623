"""Feature views over real sources: a Parquet file, PostgreSQL, a treadle dataset (with lineage), a
stream with a batch source, and an on-demand view built on a treadle.data transform."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

import treadle.datasets as tds
from treadle.artifacts import open_blob_store
from treadle.client import Client
from treadle.data import FileSource, RedisStreamSource, SqlSource, transform
from treadle.errors import InvalidArgument
from treadle.features import (
    DatasetSource,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    OnDemandFeatureView,
    RequestSource,
)
from treadle.store import Store

T0 = datetime(2024, 6, 1, tzinfo=UTC)
driver = Entity("driver", ["driver_id"])
HISTORY = pd.DataFrame(
    {
        "driver_id": [1, 1, 2],
        "event_timestamp": pd.to_datetime([T0, T0 + timedelta(hours=1), T0], utc=True),
        "trips": [5, 6, 9],
    }
)
ENTITIES = pd.DataFrame(
    {
        "driver_id": [1, 2, 1],
        "event_timestamp": pd.to_datetime([T0 + timedelta(minutes=30)] * 2 + [T0 + timedelta(hours=2)], utc=True),
    }
)


def make(tmp_path: Path) -> FeatureService:
    store = Store(f"sqlite:///{tmp_path / 't.db'}")
    return FeatureService(store, open_blob_store(str(tmp_path / "blobs")), None, str(tmp_path / "o.db"))


def test_parquet_file_source(tmp_path: Path) -> None:
    path = tmp_path / "history.parquet"
    pq.write_table(pa.Table.from_pandas(HISTORY, preserve_index=False), path)
    svc = make(tmp_path)
    view = FeatureView("stats", [driver], FileSource(path), [Field("trips", "int64")])
    report = svc.apply([driver.spec(), view.spec()])
    assert report.created == ["driver", "stats"] and not report.warnings
    out = svc.get_training_frame(ENTITIES, ["stats:trips"])
    assert out["trips"].tolist() == [5, 9, 6]
    # a spec naming a file this side cannot see (applied to a server): registered, with a warning
    elsewhere = {
        **view.spec(),
        "name": "elsewhere",
        "source": {**view.spec()["source"], "uri": str(tmp_path / "no.parquet")},
    }
    report = svc.apply([elsewhere])
    assert report.created == ["elsewhere"] and "no.parquet" in report.warnings[0]
    assert svc.view_definition("elsewhere").spec() == elsewhere  # definitions read back without the file
    with pytest.raises(InvalidArgument, match=r"no\.parquet"):
        svc.get_training_frame(ENTITIES, ["elsewhere:trips"])
    wrong = FeatureView("wrong", [driver], FileSource(path), [Field("miles", "float64")])
    with pytest.raises(InvalidArgument, match=r"feature view 'wrong' \(source .*history.parquet.*'miles' is missing"):
        svc.apply([wrong.spec()])


def test_postgres_sql_source_and_an_unreachable_one(tmp_path: Path, pg_url: str) -> None:
    table = f"hist_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (driver_id bigint, event_timestamp timestamptz, trips bigint)"))
        for row in HISTORY.itertuples():
            conn.execute(
                sa.text(f"INSERT INTO {table} VALUES (:d, :t, :n)"),
                {"d": row.driver_id, "t": row.event_timestamp.to_pydatetime(), "n": row.trips},
            )
    engine.dispose()
    svc = make(tmp_path)
    view = FeatureView("stats", [driver], SqlSource(pg_url, f"SELECT * FROM {table}"), [Field("trips", "int64")])
    assert not svc.apply([driver.spec(), view.spec()]).warnings
    assert svc.get_training_frame(ENTITIES, ["stats:trips"])["trips"].tolist() == [5, 9, 6]
    down = SqlSource("postgresql+psycopg://nobody@127.0.0.1:9/none", "SELECT 1")
    later = FeatureView("later", [driver], down, [Field("trips", "int64")])
    report = svc.apply([later.spec()])
    assert report.created == ["later"] and "columns were not checked" in report.warnings[0]


def test_dataset_source_links_lineage_and_reads_the_version(tmp_path: Path) -> None:
    client = Client(f"sqlite:///{tmp_path / 'c.db'}", str(tmp_path / "artifacts"))
    tds.create("driver_history", HISTORY, client=client)
    tds.create("driver_history", HISTORY.assign(trips=HISTORY.trips * 10), client=client)
    backend = client._backend
    assert backend.store is not None
    svc = FeatureService(backend.store, backend.blobs, client.datasets, str(tmp_path / "o.db"))
    pinned = FeatureView("pinned", [driver], DatasetSource("driver_history", 1), [Field("trips", "int64")])
    latest = FeatureView("latest", [driver], DatasetSource("driver_history"), [Field("trips", "int64")])
    svc.apply([driver.spec(), pinned.spec(), latest.spec()])
    out = svc.get_training_frame(ENTITIES, ["pinned:trips", "latest:trips"], full_names=True)
    assert out["pinned__trips"].tolist() == [5, 9, 6]
    assert out["latest__trips"].tolist() == [50, 90, 60]
    assert client.datasets.usage("driver_history", 1).features == ["features:/pinned/1"]
    assert client.datasets.usage("driver_history", 2).features == ["features:/latest/1"]
    missing = FeatureView("missing", [driver], DatasetSource("nope"), [Field("trips", "int64")])
    with pytest.raises(Exception, match="nope"):
        svc.apply([missing.spec()])


def test_stream_view_reads_history_from_its_batch_source(tmp_path: Path) -> None:
    path = tmp_path / "history.parquet"
    pq.write_table(pa.Table.from_pandas(HISTORY, preserve_index=False), path)
    stream = RedisStreamSource("redis://127.0.0.1:6379/0", f"trips-{uuid.uuid4().hex[:6]}")
    svc = make(tmp_path)
    only_stream = FeatureView("live", [driver], stream, [Field("trips", "int64")])
    both = FeatureView("live2", [driver], stream, [Field("trips", "int64")], batch_source=FileSource(path))
    assert only_stream.is_stream and both.spec()["batch_source"]["kind"] == "file"
    svc.apply([driver.spec(), only_stream.spec(), both.spec()])
    with pytest.raises(InvalidArgument, match="'live' reads a stream and has no batch_source"):
        svc.get_training_frame(ENTITIES, ["live:trips"])
    assert svc.get_training_frame(ENTITIES, ["live2:trips"])["trips"].tolist() == [5, 9, 6]


def test_on_demand_view_with_a_data_transform(tmp_path: Path) -> None:
    path = tmp_path / "history.parquet"
    pq.write_table(pa.Table.from_pandas(HISTORY, preserve_index=False), path)

    @transform
    def per_hour(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"trips_per_hour": df["trips"] / df["hours"]})

    stats = FeatureView("stats", [driver], FileSource(path), [Field("trips", "int64")])
    odfv = OnDemandFeatureView(
        "rate",
        [stats, RequestSource("req", [Field("hours", "float64")])],
        per_hour,
        [Field("trips_per_hour", "float64")],
    )
    svc = make(tmp_path)
    svc.apply([driver.spec(), stats.spec(), odfv.spec()])
    assert svc.apply([odfv.spec()]).unchanged == ["rate"]
    loaded = svc.view_definition("rate")
    assert isinstance(loaded, OnDemandFeatureView) and loaded.transform.data_transform
    assert loaded.transform_row({"trips": 6, "hours": 2.0}) == {"trips_per_hour": 3.0}
    out = svc.get_training_frame(ENTITIES.assign(hours=[1.0, 3.0, 2.0]), ["rate:trips_per_hour"])
    assert out["trips_per_hour"].tolist() == [5.0, 3.0, 3.0]
