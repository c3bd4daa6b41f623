"""Feature definitions: specs round-trip, validation names what is wrong, transforms run batch and row."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from treadle.errors import InvalidArgument
from treadle.features import DatasetSource, Entity, FeatureView, Field, OnDemandFeatureView, RequestSource
from treadle.features._definitions import definition_from_spec, parse_feature_ref
from treadle.features._diff import diff, digest

driver = Entity("driver", ["driver_id"], description="a driver", tags={"team": "rides"})


def stats_view(**overrides: Any) -> FeatureView:
    args: dict[str, Any] = dict(
        name="driver_stats",
        entities=[driver],
        source=DatasetSource("driver_history", version=3),
        schema=[Field("trips", "int64"), Field("rating", "float32"), Field("embedding", "list<float32>")],
        ttl=timedelta(days=2),
        tags={"tier": "gold"},
        owner="ana",
    )
    args.update(overrides)
    return FeatureView(**args)


def doubled(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"trips_x": df["trips"] * df["factor"]})


def test_entity_round_trips_and_defaults_its_join_key_to_its_name() -> None:
    assert Entity.from_spec(json.loads(json.dumps(driver.spec()))) == driver
    assert Entity("customer").join_keys == ("customer",)
    assert Entity("trip", "trip_id").join_keys == ("trip_id",)


def test_feature_view_round_trips_through_json() -> None:
    view = stats_view()
    spec = json.loads(json.dumps(view.spec()))
    again = FeatureView.from_spec(spec, {"driver": driver})
    assert again == view
    assert again.ttl == timedelta(days=2)
    assert again.source == DatasetSource("driver_history", 3)
    assert again.join_keys() == ["driver_id"]
    assert definition_from_spec(spec).spec() == spec
    assert [f.arrow_type() for f in again.schema] == [pa.int64(), pa.float32(), pa.list_(pa.float32())]


def test_on_demand_view_round_trips_and_runs_the_same_function_batch_and_row() -> None:
    odfv = OnDemandFeatureView(
        "boosted",
        [stats_view(), RequestSource("req", [Field("factor", "float64")])],
        doubled,
        [Field("trips_x", "float64")],
    )
    spec = json.loads(json.dumps(odfv.spec()))
    assert spec["transform"]["kind"] == "function" and "def doubled" in spec["transform"]["source"]
    again = OnDemandFeatureView.from_spec(spec)
    assert again.source_views == ("driver_stats",)
    assert again.request_fields == ["factor"]
    assert again.transform_row({"trips": 3, "factor": 1.5}) == {"trips_x": 4.5}
    batch = again.transform_batch(pa.table({"trips": [1, 2], "factor": [2.0, 3.0]}))
    assert batch.column("trips_x").to_pylist() == [2.0, 6.0]
    assert again.input_columns({"driver_stats": ["trips", "rating"]}) == ["trips", "rating", "factor"]
    assert digest(spec) == digest(odfv.spec())  # the pickle does not count, the source text does


@pytest.mark.parametrize(
    "fn",
    [
        lambda t: t.append_column("y", pa.compute.multiply(t.column("x"), 2)),
        lambda row: {"y": row["x"] * 2},
    ],
    ids=["arrow", "dict"],
)
def test_transform_batch_formats_follow_the_annotation(fn: Any) -> None:
    annotated: Any
    if "row" in fn.__code__.co_varnames:

        def annotated(row: dict[str, Any]) -> dict[str, Any]:
            return fn(row)
    else:

        def annotated(t: pa.Table) -> pa.Table:
            return fn(t)

    odfv = OnDemandFeatureView("y", [RequestSource("r", [Field("x", "int64")])], annotated, [Field("y", "int64")])
    assert odfv.transform.batch_format in ("arrow", "dict")
    assert odfv.transform_batch(pa.table({"x": [1, 2]})).column("y").to_pylist() == [2, 4]
    assert odfv.transform_row({"x": 5}) == {"y": 10}


def test_polars_transform() -> None:
    def plus(df: pl.DataFrame) -> pl.DataFrame:
        return df.select((pl.col("x") + 1).alias("y"))

    odfv = OnDemandFeatureView("p", [RequestSource("r", [Field("x", "int64")])], plus, [Field("y", "int64")])
    assert odfv.transform.batch_format == "polars"
    assert odfv.transform_row({"x": 1}) == {"y": 2}


def test_transform_output_problems_name_the_view_and_column() -> None:
    def wrong(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"other": df["x"]})

    def broken(df: pd.DataFrame) -> pd.DataFrame:
        raise ZeroDivisionError("boom")

    src = [RequestSource("r", [Field("x", "int64")])]
    with pytest.raises(InvalidArgument, match=r"'w'.*lacks \['y'\]"):
        OnDemandFeatureView("w", src, wrong, [Field("y", "int64")]).transform_row({"x": 1})
    with pytest.raises(InvalidArgument, match="'b': the transform failed: ZeroDivisionError: boom"):
        OnDemandFeatureView("b", src, broken, [Field("y", "int64")]).transform_batch(pa.table({"x": [1]}))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Entity("bad name"), "invalid entity name 'bad name'"),
        (lambda: Entity("e", ["a", "a"]), "repeat"),
        (lambda: Field("x", "float16"), "unknown dtype 'float16'"),
        (lambda: Field("1x", "int64"), "invalid field name '1x'"),
        (lambda: stats_view(schema=[]), "at least one feature"),
        (lambda: stats_view(schema=[Field("a", "int64"), Field("a", "int64")]), "'a' is declared twice"),
        (lambda: stats_view(schema=[Field("event_timestamp", "timestamp")]), "timestamp column"),
        (lambda: stats_view(schema=[Field("driver_id", "int64")]), "join key 'driver_id'"),
        (lambda: stats_view(entities=[]), "non-empty list"),
        (lambda: stats_view(ttl=timedelta(0)), "ttl must be positive"),
        (lambda: stats_view(ttl="1d"), "ttl must be a timedelta"),
        (lambda: stats_view(source=pd.DataFrame({"a": [1]})), "td.datasets.create"),
        (lambda: OnDemandFeatureView("o", [], doubled, [Field("a", "int64")]), "non-empty list"),
        (lambda: OnDemandFeatureView("o", [RequestSource("r")], 42, [Field("a", "int64")]), "transform must be"),
        (
            lambda: OnDemandFeatureView(
                "o", [stats_view(), RequestSource("r", [Field("trips", "int64")])], doubled, [Field("a", "int64")]
            ),
            "input column 'trips' comes from both",
        ),
        (lambda: definition_from_spec({"kind": "table", "name": "x"}), "unknown definition kind 'table'"),
        (lambda: definition_from_spec({"kind": "entity"}), "missing 'name'"),
        (lambda: parse_feature_ref("stats.trips"), "must look like 'view:feature'"),
    ],
)
def test_bad_definitions_say_what_is_wrong(make: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        make()


def test_check_schema_names_the_missing_or_mistyped_column() -> None:
    view = stats_view()
    good = pa.schema(
        [
            ("driver_id", pa.int64()),
            ("event_timestamp", pa.timestamp("us", tz="UTC")),
            ("trips", pa.int32()),
            ("rating", pa.float64()),
            ("embedding", pa.list_(pa.float32())),
        ]
    )
    view.check_schema(good)
    with pytest.raises(InvalidArgument, match="join key column 'driver_id' is missing"):
        view.check_schema(good.remove(0))
    with pytest.raises(InvalidArgument, match="'event_timestamp' must be a timestamp"):
        view.check_schema(good.set(1, pa.field("event_timestamp", pa.string())))
    with pytest.raises(InvalidArgument, match="feature 'rating' is declared float32 but the source column is string"):
        view.check_schema(good.set(3, pa.field("rating", pa.string())))
    with pytest.raises(InvalidArgument, match="feature column 'trips' is missing"):
        view.check_schema(good.remove(2))


def test_diff_names_fields_by_path() -> None:
    old = stats_view().spec()
    new = stats_view(schema=[Field("trips", "int32"), Field("miles", "float64")], ttl=None).spec()
    changes = {c.path: (c.old, c.new) for c in diff(old, new)}
    assert changes["schema[trips].dtype"] == ("int64", "int32")
    assert changes["schema[rating]"][1] is None
    assert changes["schema[miles]"] == (None, {"name": "miles", "dtype": "float64"})
    assert changes["ttl_seconds"] == (172800.0, None)
    assert "source" not in changes
