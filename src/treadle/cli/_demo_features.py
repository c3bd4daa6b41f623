"""Demo scenario: customer activity as a dataset, a feature view over it, and both feature paths.

A run versions 60 days of daily activity for 200 customers, registers an entity, a feature view
with a 7-day TTL and an on-demand view, builds a point-in-time correct training frame, materializes
the online store and looks features up as a server would; the dataset version, the feature view and
the run end up joined in the lineage graph.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pandas as pd

import treadle as td
from treadle.cli._demo_base import DemoContext, Scenario, use_experiment
from treadle.features import DatasetSource, Entity, FeatureView, Field, OnDemandFeatureView, RequestSource

DATASET = "customer-activity"
DAYS, CUSTOMERS = 60, 200
# The history ends today, so the online store holds values inside the 7-day TTL.
START = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS - 1)


def _activity() -> pd.DataFrame:
    import numpy as np

    rng = np.random.default_rng(0)
    days = pd.date_range(START, periods=DAYS, freq="D", tz="UTC")
    ids = np.repeat(np.arange(1, CUSTOMERS + 1), DAYS)
    stamps = np.tile(days, CUSTOMERS)
    keep = rng.random(ids.size) < 0.7  # not every customer is active every day
    orders = rng.poisson(2.0, ids.size)
    return pd.DataFrame(
        {
            "customer_id": ids[keep],
            "event_timestamp": stamps[keep],
            "orders_7d": orders[keep],
            "spend_7d": np.round(orders[keep] * rng.gamma(3.0, 12.0, ids.size)[keep], 2),
            "support_tickets_30d": rng.poisson(0.3, ids.size)[keep],
        }
    )


customer = Entity("customer", ["customer_id"], description="A shop customer")
customer_stats = FeatureView(
    "customer_stats",
    [customer],
    DatasetSource(DATASET, "prod"),
    [Field("orders_7d", "int64"), Field("spend_7d", "float64"), Field("support_tickets_30d", "int64")],
    ttl=timedelta(days=7),
    description="Rolling order and support activity per customer",
    tags={"team": "growth"},
)
basket = RequestSource("basket", [Field("basket_value", "float64")])


def _basket_ratio(batch: pd.DataFrame) -> pd.DataFrame:
    """Today's basket against the customer's average order value (request data + stored features)."""
    average = batch["spend_7d"] / batch["orders_7d"].where(batch["orders_7d"] > 0)
    return pd.DataFrame({"basket_ratio": batch["basket_value"] / average})


def play_features(ctx: DemoContext) -> None:
    use_experiment(
        ctx.client, "customer-features", "Feature store: training frames and online lookups.", {"demo": "true"}
    )
    with td.start_run(name="build-customer-features", tags={"demo": "true"}):
        version = td.datasets.create(DATASET, _activity(), description="daily customer activity", alias="prod")
        td.log_input(td.datasets.get(DATASET, "prod"))
        ctx.step(f"{DATASET} v{version.version}")
        ratio = OnDemandFeatureView(
            "basket_features", [customer_stats, basket], _basket_ratio, [Field("basket_ratio", "float64")]
        )
        td.features.apply([customer, customer_stats, ratio])
        labels = pd.DataFrame(
            {
                "customer_id": [1, 2, 3, 4, 5] * 4,
                "event_timestamp": pd.to_datetime(
                    [START + timedelta(days=d, hours=12) for d in (5, 20, 40, 59) for _ in range(5)], utc=True
                ),
                "basket_value": [30.0, 55.0, 12.5, 80.0, 41.0] * 4,
            }
        )
        frame = td.features.get_training_frame(
            labels, ["customer_stats:orders_7d", "customer_stats:spend_7d", "basket_features:basket_ratio"]
        )
        td.log_table(frame, "training_frame.json")
        td.log_metric("training_rows", len(frame))
        ctx.step("training frame")
        report = td.features.materialize(incremental=False)
        td.log_metric("materialized_rows", sum(v.entities for v in report.views))
        started = time.perf_counter()
        for customer_id in range(1, 101):
            td.features.get_online_features(
                [{"customer_id": customer_id, "basket_value": 25.0}],
                ["customer_stats:orders_7d", "customer_stats:spend_7d", "basket_features:basket_ratio"],
            )
        td.log_metric("online_lookup_ms", (time.perf_counter() - started) * 10)  # mean of 100, in ms
        ctx.step("online store")


FEATURES = Scenario("customer-features", runs=3, play=play_features)
