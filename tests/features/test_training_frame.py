"""Training frames: frame kinds in and out, TTL and tie rules at their edges, on-demand views, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from tests.features.defs_helpers import make_service
from treadle.errors import InvalidArgument
from treadle.features import (
    DatasetSource,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    JoinOptions,
    OnDemandFeatureView,
    RequestSource,
)

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
driver = Entity("driver", ["driver_id"])
rider = Entity("rider", ["rider_id"])


def ts(*offsets: timedelta) -> pa.Array:
    return pa.array([T0 + o for o in offsets], TS)


def s(n: float) -> timedelta:
    return timedelta(seconds=n)


DRIVERS = pa.table(
    {
        "driver_id": [1, 1, 1, 2],
        "event_timestamp": ts(s(0), s(60), s(60), s(0)),
        "created": ts(s(5), s(1), s(0), s(0)),
        "trips": [10, 11, 12, 20],
        "city": ["a", "b", "c", "d"],
        "embedding": pa.array([[0.5, 1.0], [1.5, 2.0], [2.5, 3.0], [3.5, 4.0]], pa.list_(pa.float32())),
    }
)
RIDERS = pa.table(
    {
        "rider_id": ["r1", "r2"],
        "event_timestamp": ts(s(0), s(0)),
        "trips": [7, 8],
        "vip": [True, False],
    }
)


def ratio(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"trips_per_km": df["trips"] / df["km"]})


@pytest.fixture
def service(tmp_path: Path) -> FeatureService:
    svc = make_service(f"sqlite:///{tmp_path / 't.db'}", tmp_path, {"drivers": DRIVERS, "riders": RIDERS})
    stats = FeatureView(
        "driver_stats",
        [driver],
        DatasetSource("drivers"),
        [Field("trips", "int64"), Field("city", "string"), Field("embedding", "list<float32>")],
        ttl=s(100),
    )
    latest = FeatureView(
        "driver_latest",
        [driver],
        DatasetSource("drivers"),
        [Field("trips", "int64")],
        created_timestamp_field="created",
    )
    riders = FeatureView(
        "rider_stats", [rider], DatasetSource("riders"), [Field("trips", "int64"), Field("vip", "bool")]
    )
    per_km = OnDemandFeatureView(
        "per_km", [stats, RequestSource("trip", [Field("km", "float64")])], ratio, [Field("trips_per_km", "float64")]
    )
    svc.apply([driver.spec(), rider.spec(), stats.spec(), latest.spec(), riders.spec(), per_km.spec()])
    return svc


def entity_frame(times: list[timedelta], ids: list[int] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "driver_id": ids or [1] * len(times),
            "event_timestamp": pd.to_datetime([T0 + t for t in times], utc=True),
        },
        index=[f"row{i}" for i in range(len(times))],
    )


def test_values_at_each_time_with_ttl_and_tie_rules(service: FeatureService) -> None:
    frame = entity_frame([s(-1), s(0), s(59), s(60), s(160), s(160.000001), s(0)], [1, 1, 1, 1, 1, 1, 2])
    out = service.get_training_frame(
        frame, ["driver_stats:trips", "driver_stats:city", "driver_latest:trips"], full_names=True
    )
    assert list(out.index) == list(frame.index)
    # before any row: null; exactly at a row's time: that row; ties without created time: last written
    assert out["driver_stats__trips"].tolist()[:5] == pytest.approx([float("nan"), 10, 10, 12, 12], nan_ok=True)
    assert pd.isna(out["driver_stats__trips"].iloc[5])  # 100 s + 1 µs old: past the TTL
    assert pd.isna(out["driver_stats__city"].iloc[0])
    assert out["driver_stats__city"].tolist()[1:5] == ["a", "a", "c", "c"]
    # the same rows with created times: the greatest created time wins the tie; no TTL
    assert out["driver_latest__trips"].tolist() == pytest.approx([float("nan"), 10, 10, 11, 11, 11, 20], nan_ok=True)


def test_nanoseconds_are_respected(service: FeatureService) -> None:
    frame = pd.DataFrame(
        {"driver_id": [1, 1], "event_timestamp": [pd.Timestamp(T0) + pd.Timedelta(60, "s") - pd.Timedelta(1, "ns")] * 2}
    )
    frame.loc[1, "event_timestamp"] = pd.Timestamp(T0) + pd.Timedelta(60, "s")
    out = service.get_training_frame(frame, ["driver_stats:trips"])
    assert out["trips"].tolist() == [10, 12]


@pytest.mark.parametrize("kind", ["arrow", "batch", "polars", "pandas"])
def test_returns_the_kind_of_frame_it_was_given(service: FeatureService, kind: str) -> None:
    table = pa.table(
        {
            "driver_id": [2, 1],
            "rider_id": ["r1", "zz"],
            "event_timestamp": ts(s(10), s(10)),
            "km": [2.0, 5.0],
        }
    )
    frame: Any = {
        "arrow": table,
        "batch": table.to_batches()[0],
        "polars": pl.from_arrow(table),
        "pandas": table.to_pandas(),
    }[kind]
    features = ["driver_stats:embedding", "rider_stats:vip", "per_km:trips_per_km", "driver_stats:trips"]
    out = service.get_training_frame(frame, features)
    assert type(out) is type(frame)
    rows = pa.Table.from_pandas(out) if kind == "pandas" else pa.table(out) if kind == "polars" else out
    data = rows.to_pydict()
    assert data["driver_id"] == [2, 1]
    assert [list(e) if e is not None else None for e in data["embedding"]] == [[3.5, 4.0], [0.5, 1.0]]
    assert data["vip"][0] is True and data["vip"][1] is None
    assert data["trips_per_km"] == [10.0, 2.0]
    assert data["trips"] == [20, 10]


def test_on_demand_view_needs_its_request_field(service: FeatureService) -> None:
    with pytest.raises(InvalidArgument, match="needs request field 'km': add it as a column"):
        service.get_training_frame(entity_frame([s(1)]), ["per_km:trips_per_km"])


def test_same_feature_name_in_two_views_needs_full_names(service: FeatureService) -> None:
    frame = entity_frame([s(1)]).assign(rider_id="r1")
    with pytest.raises(InvalidArgument, match=r"'trips' is requested twice.*full_names=True"):
        service.get_training_frame(frame, ["driver_stats:trips", "rider_stats:trips"])
    out = service.get_training_frame(frame, ["driver_stats:trips", "rider_stats:trips"], full_names=True)
    assert out[["driver_stats__trips", "rider_stats__trips"]].iloc[0].tolist() == [10, 7]


@pytest.mark.parametrize(
    ("frame", "features", "message"),
    [
        (lambda: entity_frame([s(1)]), ["nope:trips"], "unknown feature view 'nope' in 'nope:trips'"),
        (lambda: entity_frame([s(1)]), ["driver_stats:miles"], "unknown feature 'driver_stats:miles': view"),
        (lambda: entity_frame([s(1)]), ["driver_stats"], "must look like 'view:feature'"),
        (lambda: entity_frame([s(1)]), [], "non-empty list"),
        (
            lambda: entity_frame([s(1)]).drop(columns="driver_id"),
            ["driver_stats:trips"],
            "no join key column 'driver_id', which feature view 'driver_stats' needs",
        ),
        (
            lambda: entity_frame([s(1)]).assign(event_timestamp=lambda d: d.event_timestamp.dt.tz_localize(None)),
            ["driver_stats:trips"],
            "timestamp column 'event_timestamp' has no time zone",
        ),
        (
            lambda: entity_frame([s(1)]).rename(columns={"event_timestamp": "ts"}),
            ["driver_stats:trips"],
            "no timestamp column 'event_timestamp'",
        ),
        (
            lambda: entity_frame([s(1)]).assign(event_timestamp="2024-01-01"),
            ["driver_stats:trips"],
            "'event_timestamp' must hold time-zone-aware timestamps",
        ),
        (lambda: entity_frame([s(1)]).assign(trips=1), ["driver_stats:trips"], "already has a column 'trips'"),
        (
            lambda: entity_frame([s(1)]).assign(driver_id="x"),
            ["driver_stats:trips"],
            "join key 'driver_id' is int64 in the source but string in the entity frame",
        ),
        (lambda: {"driver_id": [1]}, ["driver_stats:trips"], "must be a pandas DataFrame"),
    ],
)
def test_errors_name_the_column_or_feature(
    service: FeatureService, frame: Any, features: list[str], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        service.get_training_frame(frame(), features)


def test_source_problems_found_while_reading_name_the_view_and_column(service: FeatureService) -> None:
    naive = DRIVERS.set_column(1, "event_timestamp", DRIVERS.column("event_timestamp").cast(pa.timestamp("us")))
    service._datasets.tables["drivers"] = naive  # type: ignore[union-attr]
    with pytest.raises(InvalidArgument, match=r"feature view 'driver_stats'.*'event_timestamp' has no time zone"):
        service.get_training_frame(entity_frame([s(1)]), ["driver_stats:trips"])
    service._datasets.tables["drivers"] = DRIVERS.drop_columns(["city"])  # type: ignore[union-attr]
    with pytest.raises(InvalidArgument, match="feature column 'city' is missing"):
        service.get_training_frame(entity_frame([s(1)]), ["driver_stats:city"])


def test_empty_inputs(service: FeatureService) -> None:
    out = service.get_training_frame(entity_frame([]), ["driver_stats:trips"])
    assert list(out.columns) == ["driver_id", "event_timestamp", "trips"] and len(out) == 0
    service._datasets.tables["drivers"] = DRIVERS.slice(0, 0)  # type: ignore[union-attr]
    out = service.get_training_frame(entity_frame([s(1)]), ["driver_stats:trips"])
    assert out["trips"].isna().all()


def test_join_options_spill_directory(service: FeatureService, tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    spill.mkdir()
    options = JoinOptions(memory_limit="256MB", temp_directory=str(spill), threads=1, batch_size=2)
    out = service.get_training_frame(entity_frame([s(61)]), ["driver_stats:trips"], options=options)
    assert out["trips"].tolist() == [12]
