"""Feature store data the feature page tests share: entities, views over a dataset and a Parquet file,
an on-demand view, two versions of one view, a materialization and a source that moved on since."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import treadle as td
from treadle import Client
from treadle.data import FileSource
from treadle.features import DatasetSource, Entity, FeatureView, Field, OnDemandFeatureView, RequestSource
from treadle.features.online import open_online_store


def score(df: pd.DataFrame) -> pd.DataFrame:
    """The on-demand transform: trips scaled by the request's bonus."""
    return pd.DataFrame({"score": df["trips"] * df["bonus"]})


@dataclass(frozen=True)
class FeatureSeed:
    """Names of what :func:`seed_features` registered (suffixed, so several modules can share a store)."""

    driver: str  # entity: join key driver_id; used by stats
    zone: str  # entity: join key zone_id; used by zones
    rider: str  # entity no view uses
    dataset: str  # history of stats: v1 read at apply, v2 adds a newer row for driver 1 (skew: stale)
    stats: str  # v1 (trips, ttl 1d) -> v2 (+ rating, ttl 2d); materialized
    zones: str  # over a Parquet file; never materialized
    score: str  # on-demand over stats v2 and a request source
    parquet: Path


def seed_features(client: Client, root: Path, suffix: str = "") -> FeatureSeed:
    """Register and materialize the feature store the pages show; the online store lives under ``root``."""
    client.features.attach_online_store(open_online_store(f"sqlite:///{root / 'online.db'}"))
    s = FeatureSeed(
        driver=f"driver{suffix}", zone=f"zone{suffix}", rider=f"rider{suffix}", dataset=f"trips_hist{suffix}",
        stats=f"driver_stats{suffix}", zones=f"zone_demand{suffix}", score=f"driver_score{suffix}",
        parquet=root / "zones.parquet",
    )  # fmt: skip
    now = datetime.now(UTC).replace(microsecond=0)
    times = [now - timedelta(hours=3), now - timedelta(hours=2), now - timedelta(hours=1)]
    history = pd.DataFrame(
        {
            "driver_id": [1, 2, 3],
            "event_timestamp": pd.to_datetime(times, utc=True),
            "trips": [6, 9, 4],
            "rating": [4.5, 3.9, 4.8],
        }
    )
    td.datasets.create(s.dataset, history, description="trips per driver per hour", client=client)
    zones = pa.table(
        {
            "zone_id": pa.array(["north", "south"]),
            "event_timestamp": pa.array(times[:2], pa.timestamp("us", tz="UTC")),
            "demand": pa.array([0.7, 0.2]),
        }
    )
    pq.write_table(zones, s.parquet)
    driver = Entity(s.driver, ["driver_id"], description="a taxi driver", tags={"team": "mobility"})
    zone = Entity(s.zone, ["zone_id"], description="a city zone")
    rider = Entity(s.rider, ["rider_id"], description="who rides")
    common = dict(owner="ana", tags={"team": "mobility"}, description="how busy a driver is")
    v1 = FeatureView(s.stats, [driver], DatasetSource(s.dataset), [Field("trips", "int64")], ttl=86400, **common)
    zone_view = FeatureView(s.zones, [zone], FileSource(s.parquet), [Field("demand", "float64")])
    features = client.features
    features.apply([driver.spec(), zone.spec(), rider.spec(), v1.spec(), zone_view.spec()])
    schema = [Field("trips", "int64"), Field("rating", "float64")]
    v2 = FeatureView(s.stats, [driver], DatasetSource(s.dataset), schema, ttl=2 * 86400, **common)
    request = RequestSource(f"bonus_request{suffix}", [Field("bonus", "float64")])
    on_demand = OnDemandFeatureView(s.score, [v2, request], score, [Field("score", "float64")])
    features.apply([v2.spec(), on_demand.spec()])
    features.materialize(views=[s.stats])
    newer = history.iloc[:1].assign(event_timestamp=pd.to_datetime([now - timedelta(minutes=5)], utc=True), trips=99)
    td.datasets.create(s.dataset, pd.concat([history, newer], ignore_index=True), client=client)
    return s
