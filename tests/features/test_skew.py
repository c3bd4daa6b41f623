"""skew_check: online values against the offline source's latest, for sampled entities."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.features.online_helpers import DRIVER, apply, driver_view, history, now, online_service
from treadle.errors import InvalidArgument, NotFound


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_no_skew_after_materialization_then_pushes_show_up(kind: str, tmp_path: Path) -> None:
    t = now() - timedelta(minutes=30)
    rows = [(i, t - timedelta(minutes=i % 5), i, i / 10, f"c{i}") for i in range(40)]
    rows += [(i, t - timedelta(hours=1), -1, -1.0, "old") for i in range(40)]  # older rows: not the latest
    with online_service(kind, tmp_path, {"driver_stats": history(rows)}) as (service, _):
        apply(service, DRIVER, driver_view())
        service.materialize()
        clean = service.skew_check("driver_stats", sample=25, seed=1)
        assert (clean.sampled, clean.online_missing, clean.online_stale, clean.online_newer) == (25, 0, 0, 0)
        assert clean.mismatch_rate == 0.0 and [f.feature for f in clean.features] == ["trips", "rating", "city"]
        assert all(f.compared == 25 and f.mismatches == 0 for f in clean.features)

        # Same event time, different value: a real skew. A newer push: counted apart, not compared.
        same_time = t - timedelta(minutes=3)
        row = {"driver_id": 3, "event_timestamp": same_time, "trips": 999, "rating": 0.3, "city": "c3"}
        service.push("driver_stats", [row])
        newer = {**row, "driver_id": 4, "event_timestamp": now(), "trips": 5}
        service.push("driver_stats", [newer])
        service.online_store().delete_view("driver_stats")
        service.push("driver_stats", [row, newer])  # only drivers 3 and 4 are online now
        report = service.skew_check("driver_stats", sample=40)
        assert (report.sampled, report.online_newer, report.online_missing) == (40, 1, 38)
        trips = next(f for f in report.features if f.feature == "trips")
        rating = next(f for f in report.features if f.feature == "rating")
        assert (trips.compared, trips.mismatches) == (39, 39)  # 38 missing online + driver 3's 999
        assert rating.mismatches == 38 and rating.mismatch_rate == pytest.approx(38 / 39)
        assert {"entity": {"driver_id": 3}, "online": 999, "offline": 3} in trips.examples
        assert len(trips.examples) == 5


def test_ttl_expired_values_count_as_none_on_both_sides(tmp_path: Path) -> None:
    t = now()
    rows = [(1, t - timedelta(hours=3), 1, 1.0, "a"), (2, t - timedelta(minutes=5), 2, 2.0, "b")]
    with online_service("sqlite", tmp_path, {"driver_stats": history(rows)}) as (service, _):
        apply(service, DRIVER, driver_view(ttl=timedelta(hours=1)))
        service.materialize()
        report = service.skew_check("driver_stats")
        assert report.sampled == 2 and report.mismatch_rate == 0.0 and report.online_missing == 0
        service.online_store().delete_view("driver_stats")
        missing = service.skew_check("driver_stats")
        assert missing.online_missing == 1  # driver 2; driver 1's offline value is expired anyway
        assert all(f.mismatches == 1 for f in missing.features)


def test_bad_skew_checks(tmp_path: Path) -> None:
    with online_service("sqlite", tmp_path, {"driver_stats": history([])}) as (service, _):
        apply(service, DRIVER, driver_view())
        with pytest.raises(NotFound, match="'ghost'"):
            service.skew_check("ghost")
        with pytest.raises(InvalidArgument, match="sample"):
            service.skew_check("driver_stats", sample=0)
        empty = service.skew_check("driver_stats")
        assert empty.sampled == 0 and empty.mismatch_rate == 0.0
