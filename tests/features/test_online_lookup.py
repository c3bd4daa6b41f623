"""get_online_features: values, per-feature freshness, errors, on-demand views, cache invalidation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from tests.features.online_helpers import DRIVER, REFS, apply, driver_view, history, now, online_service
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
from treadle.features.online import encode_key


@pytest.fixture(params=["sqlite", "redis"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def t0() -> datetime:
    return now()


@pytest.fixture
def drivers(kind: str, tmp_path: Path, t0: datetime) -> Iterator[FeatureService]:
    t = t0
    rows = [
        (1, t - timedelta(hours=3), 10, 4.1, "paris"),
        (1, t - timedelta(hours=1), 11, 4.2, "lyon"),  # latest of driver 1
        (2, t - timedelta(minutes=5), 20, 3.5, "nice"),
        (2, t - timedelta(hours=2), 19, 3.9, "nice"),  # older, later in the file: not the latest
    ]
    with online_service(kind, tmp_path, {"driver_stats": history(rows)}) as (service, _):
        apply(service, DRIVER, driver_view())
        service.materialize()
        yield service


def test_latest_values_with_freshness(drivers: FeatureService, t0: datetime) -> None:
    t = t0
    result = drivers.get_online_features([{"driver_id": 1}, {"driver_id": 2}, {"driver_id": 99}], REFS)
    assert result.features == ["trips", "rating", "city"]
    assert result.to_dict() == {
        "driver_id": [1, 2, 99],
        "trips": [11, 20, None],
        "rating": [4.2, 3.5, None],
        "city": ["lyon", "nice", None],
    }
    assert result.status["rating"] == ["present", "present", "missing"]
    expected_ts = [int((t - timedelta(hours=1)).timestamp() * 1000), int((t - timedelta(minutes=5)).timestamp() * 1000)]
    assert result.event_ts["trips"] == [*expected_ts, None]
    ages = result.age_ms["city"]
    assert ages[2] is None and all(0 <= a - b < 60_000 for a, b in zip(ages[:2], [3_600_000, 300_000], strict=True))
    assert result.to_records()[1] == {"driver_id": 2, "trips": 20, "rating": 3.5, "city": "nice"}
    assert len(result) == 3 and list(result.to_pandas().columns) == ["driver_id", "trips", "rating", "city"]


def test_entity_columns_frames_and_key_types(drivers: FeatureService) -> None:
    by_columns = drivers.get_online_features({"driver_id": [2, 1]}, ["driver_stats:trips"])  # type: ignore[arg-type]
    assert by_columns.values["trips"] == [20, 11]
    frame = drivers.get_online_features(pd.DataFrame({"driver_id": [1]}), ["driver_stats:city"])  # type: ignore[arg-type]
    assert frame.values["city"] == ["lyon"]
    # The same entity whether its key arrives as an int, a JSON float or a string.
    same = drivers.get_online_features(
        [{"driver_id": 2}, {"driver_id": 2.0}, {"driver_id": "2"}], ["driver_stats:trips"]
    )
    assert same.values["trips"] == [20, 20, 20]


def test_full_names(drivers: FeatureService) -> None:
    result = drivers.get_online_features([{"driver_id": 1}], ["driver_stats:trips"], full_names=True)
    assert result.features == ["driver_stats__trips"] and result.values["driver_stats__trips"] == [11]


@pytest.mark.parametrize(
    ("rows", "features", "message"),
    [
        ([{"driver_id": 1}], ["driver_stats:nope"], "unknown feature 'driver_stats:nope'"),
        ([{"driver_id": 1}], ["ghost:trips"], "unknown feature view 'ghost'"),
        ([{"driver_id": 1}], ["driver_stats"], "view:feature"),
        ([{"driver_id": 1}], [], "at least one feature"),
        ([{"driver_id": 1}, {"id": 2}], ["driver_stats:trips"], "entity row 1 has no 'driver_id'"),
        ([{"driver_id": 1}], ["driver_stats:trips", "driver_stats:trips"], "would both be returned as 'trips'"),
    ],
)
def test_bad_requests_name_what_is_wrong(
    drivers: FeatureService, rows: list[dict[str, Any]], features: list[str], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        drivers.get_online_features(rows, features)


def test_ttl_expires_old_values(kind: str, tmp_path: Path) -> None:
    t = now()
    rows = [(1, t - timedelta(hours=2), 1, 1.0, "a"), (2, t - timedelta(minutes=10), 2, 2.0, "b")]
    with online_service(kind, tmp_path, {"driver_stats": history(rows)}) as (service, _):
        apply(service, DRIVER, driver_view(ttl=timedelta(hours=1)))
        service.materialize()
        result = service.get_online_features([{"driver_id": 1}, {"driver_id": 2}], REFS)
    assert result.status["trips"] == ["expired", "present"]
    assert result.values["trips"] == [None, 2] and result.values["city"] == [None, "b"]
    assert result.event_ts["trips"][0] == int((t - timedelta(hours=2)).timestamp() * 1000)


def test_views_with_the_same_feature_need_full_names(kind: str, tmp_path: Path) -> None:
    t = now()
    tables = {"a": history([(1, t, 1, 1.5, "x")]), "b": history([(1, t, 2, 2.5, "y")])}
    with online_service(kind, tmp_path, tables) as (service, _):
        apply(service, DRIVER, driver_view(name="a"), driver_view(name="b"))
        service.materialize()
        with pytest.raises(InvalidArgument, match="full_names=True"):
            service.get_online_features([{"driver_id": 1}], ["a:rating", "b:rating"])
        result = service.get_online_features([{"driver_id": 1}], ["a:rating", "b:rating"], full_names=True)
    assert result.to_dict() == {"driver_id": [1], "a__rating": [1.5], "b__rating": [2.5]}


def test_composite_and_string_keys(kind: str, tmp_path: Path) -> None:
    t = now()
    table = pa.table(
        {
            "country": ["fr", "fr", "de"],
            "store_id": pa.array([1, 2, 1], pa.int64()),
            "event_timestamp": pa.array([t, t, t], pa.timestamp("us", tz="UTC")),
            "sales": [1.0, 2.0, 3.0],
        }
    )
    store = Entity("store", join_keys=["country", "store_id"])
    view = FeatureView("store_sales", [store], DatasetSource("sales"), [Field("sales", "float64")])
    with online_service(kind, tmp_path, {"sales": table}) as (service, _):
        apply(service, store, view)
        service.materialize()
        rows = [{"country": "de", "store_id": 1}, {"country": "fr", "store_id": 2}, {"country": "de", "store_id": 2}]
        result = service.get_online_features(rows, ["store_sales:sales"])
        assert result.values["sales"] == [3.0, 2.0, None]
        assert service.online_store().read("store_sales", [encode_key(("fr", 1))])[0] is not None


def _ratio(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"trips_per_rating": df["trips"] / df["rating"], "boosted": df["rating"] * df["boost"]})


def _ratio_row(row: dict[str, Any]) -> dict[str, Any]:
    return {"trips_per_rating": row["trips"] / row["rating"], "boosted": row["rating"] * row["boost"]}


@pytest.mark.parametrize("transform", [_ratio, _ratio_row], ids=["pandas", "dict"])
def test_on_demand_views_compute_from_fetched_and_request_values(drivers: FeatureService, transform: Any) -> None:
    odfv = OnDemandFeatureView(
        "driver_derived",
        sources=["driver_stats", RequestSource("req", [Field("boost", "float64")])],
        transform=transform,
        schema=[Field("trips_per_rating", "float64"), Field("boosted", "float64")],
    )
    drivers.apply([odfv.spec()])
    drivers._after_apply()
    refs = ["driver_derived:trips_per_rating", "driver_derived:boosted", "driver_stats:trips"]
    one = drivers.get_online_features([{"driver_id": 1, "boost": 2.0}], refs)
    assert one.values["trips_per_rating"] == [pytest.approx(11 / 4.2)] and one.values["boosted"] == [8.4]
    rows = [{"driver_id": 2, "boost": 1.0}, {"driver_id": 99, "boost": 1.0}, {"driver_id": 1, "boost": 0.5}]
    many = drivers.get_online_features(rows, refs)
    assert many.values["trips_per_rating"] == [pytest.approx(20 / 3.5), None, pytest.approx(11 / 4.2)]
    assert many.values["boosted"] == [3.5, None, 2.1]
    assert many.status["boosted"] == ["present", "missing", "present"]
    assert many.event_ts["boosted"] == many.event_ts["trips"]
    assert list(many.values) == ["driver_id", "trips_per_rating", "boosted", "trips"]
    with pytest.raises(InvalidArgument, match="'boost'"):
        drivers.get_online_features([{"driver_id": 1}], refs)


def test_a_new_feature_is_missing_in_rows_written_before_it(drivers: FeatureService) -> None:
    schema = [Field("trips", "int64"), Field("rating", "float64"), Field("city", "string"), Field("vip", "bool")]
    table = history([(1, now(), 1, 1.0, "x")]).append_column("vip", pa.array([True]))
    drivers._datasets.tables["driver_stats"] = table  # type: ignore[union-attr]
    apply(drivers, driver_view(schema=schema))
    drivers._after_apply()
    before = drivers.get_online_features(
        [{"driver_id": 1}, {"driver_id": 2}], ["driver_stats:vip", "driver_stats:trips"]
    )
    assert before.status == {"vip": ["missing", "missing"], "trips": ["present", "present"]}
    assert before.values["vip"] == [None, None]
    drivers.materialize()  # a new version: rewrites every entity with the new schema
    after = drivers.get_online_features([{"driver_id": 1}], ["driver_stats:vip"])
    assert after.values["vip"] == [True] and after.status["vip"] == ["present"]


def test_other_processes_changes_are_seen_after_the_recheck_interval(drivers: FeatureService) -> None:
    drivers.get_online_features([{"driver_id": 1}], ["driver_stats:trips"])  # caches the definitions
    other = FeatureService(drivers._store, drivers._blobs, drivers._datasets, drivers._online_uri)
    view = driver_view(schema=[Field("trips", "int64")])
    apply(other, view)
    state = drivers._online_state()
    assert "rating" in state.catalog.get().views["driver_stats"].feature_names  # still cached
    state.catalog.recheck_s = 0.0
    with pytest.raises(InvalidArgument, match="unknown feature 'driver_stats:rating'"):
        drivers.get_online_features([{"driver_id": 1}], ["driver_stats:rating"])


def test_deleting_a_view_drops_its_online_rows(drivers: FeatureService) -> None:
    drivers.delete_view("driver_stats")
    assert drivers.online_store().read("driver_stats", ["1", "2"]) == [None, None]
    with pytest.raises(InvalidArgument, match="unknown feature view 'driver_stats'"):
        drivers.get_online_features([{"driver_id": 1}], REFS)
