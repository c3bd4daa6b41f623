"""push: validated real-time writes, last-writer-wins against materialized rows, and the stream consumer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from tests.features.online_helpers import (
    DRIVER,
    REDIS_URL,
    REFS,
    apply,
    driver_view,
    history,
    now,
    online_service,
    redis_available,
)
from treadle.errors import InvalidArgument, NotFound
from treadle.features import DatasetSource, FeatureService, FeatureView, Field, OnDemandFeatureView


def _row(driver: int, when: datetime, trips: int = 1, **extra: Any) -> dict[str, Any]:
    return {"driver_id": driver, "event_timestamp": when, "trips": trips, "rating": 4.5, "city": "x", **extra}


@pytest.fixture(params=["sqlite", "redis"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FeatureService]:
    rows = [(1, now() - timedelta(hours=1), 10, 4.0, "paris")]
    with online_service(str(request.param), tmp_path, {"driver_stats": history(rows)}) as (svc, _):
        apply(svc, DRIVER, driver_view())
        svc.materialize()
        yield svc


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeatureService]:
    """One SQLite-backed service for the validation cases (they write nothing)."""
    rows = [(1, now() - timedelta(hours=1), 10, 4.0, "paris")]
    with online_service("sqlite", tmp_path_factory.mktemp("push"), {"driver_stats": history(rows)}) as (svc, _):
        apply(svc, DRIVER, driver_view())
        yield svc


def test_push_then_read_last_writer_wins(service: FeatureService) -> None:
    t = now()
    assert service.push("driver_stats", [_row(1, t, trips=11), _row(2, t - timedelta(minutes=1), trips=20)]) == 2
    got = service.get_online_features([{"driver_id": 1}, {"driver_id": 2}], REFS)
    assert got.values["trips"] == [11, 20] and got.event_ts["trips"][0] == int(t.timestamp() * 1000)
    # Older than what is stored: ignored, and not counted.
    assert service.push("driver_stats", [_row(1, t - timedelta(hours=2), trips=5)]) == 0
    assert service.get_online_features([{"driver_id": 1}], REFS).values["trips"] == [11]
    # ISO strings with an offset, other time zones, a "Z" suffix.
    paris = timezone(timedelta(hours=2))
    later = (t + timedelta(minutes=1)).astimezone(paris)
    assert service.push("driver_stats", [_row(1, later, trips=12)]) == 1
    assert service.push("driver_stats", [_row(2, (t + timedelta(minutes=2)).isoformat().replace("+00:00", "Z"))]) == 1
    got = service.get_online_features([{"driver_id": 1}, {"driver_id": 2}], REFS)
    assert got.values["trips"] == [12, 1] and got.event_ts["trips"][0] == int(later.timestamp() * 1000)


def test_push_accepts_frames(service: FeatureService) -> None:
    t = now()
    frame = pd.DataFrame([_row(5, t, trips=50), _row(6, t, trips=60)])
    assert service.push("driver_stats", frame) == 2  # type: ignore[arg-type]
    table = pa.Table.from_pylist([_row(7, t, trips=70)])
    assert service.push("driver_stats", table) == 1  # type: ignore[arg-type]
    got = service.get_online_features([{"driver_id": i} for i in (5, 6, 7)], ["driver_stats:trips"])
    assert got.values["trips"] == [50, 60, 70]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (_row(1, now(), surprise=1), r"row 0: unknown columns \['surprise'\]"),
        ({"driver_id": 1, "event_timestamp": now(), "trips": 1}, r"missing columns \['rating', 'city'\]"),
        ({"event_timestamp": now(), "trips": 1, "rating": 1.0, "city": "x"}, r"missing columns \['driver_id'\]"),
        (_row(1, datetime(2026, 1, 1)), "'event_timestamp' has no time zone"),
        (_row(1, "2026-01-01T00:00:00"), "'event_timestamp' has no time zone"),
        (_row(1, "yesterday"), "not an ISO 8601 timestamp"),
        (_row(1, 1767225600000), "time-zone aware datetime"),
        (_row(1, now(), trips="many"), "feature 'trips' is int64"),
        (_row(1, now(), trips=True), "feature 'trips' is int64"),
        ({**_row(1, now()), "rating": "high"}, "feature 'rating' is float64"),
        ({**_row(1, now()), "driver_id": None}, "join key 'driver_id' is None"),
    ],
)
def test_bad_rows_are_refused_naming_the_column(shared: FeatureService, row: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        shared.push("driver_stats", [_row(3, now()), row] if "row 0" not in message else [row])
    assert shared.get_online_features([{"driver_id": 3}], REFS).status["trips"] == ["missing"]  # nothing written


def test_push_to_what_cannot_take_rows(service: FeatureService) -> None:
    with pytest.raises(NotFound, match="'ghost'"):
        service.push("ghost", [_row(1, now())])
    odfv = OnDemandFeatureView(
        "double", ["driver_stats"], lambda df: df.assign(d=df["trips"] * 2), [Field("d", "int64")]
    )
    apply(service, odfv)
    service._after_apply()
    with pytest.raises(InvalidArgument, match="on-demand"):
        service.push("double", [{"d": 1}])
    with pytest.raises(InvalidArgument, match="list of rows"):
        service.push("driver_stats", _row(1, now()))  # type: ignore[arg-type]
    assert service.push("driver_stats", []) == 0


# ----------------------------------------------------------------------------------------- streams
@pytest.fixture
def stream() -> Iterator[str]:
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    import redis

    name = f"treadle-test-stream-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(name)
    client.close()


def _stream_view(name: str) -> FeatureView:
    from treadle.data import RedisStreamSource

    source = RedisStreamSource(REDIS_URL, name, group="features", consumer="pusher-1")
    view = FeatureView(
        "driver_live",
        [DRIVER],
        source,
        [Field("trips", "int64"), Field("rating", "float64"), Field("city", "string")],
        batch_source=DatasetSource("driver_stats"),
    )
    return view


def test_stream_consumer_survives_a_crash_without_loss_or_duplicates(tmp_path: Path, stream: str) -> None:
    from treadle.data import push_to_stream

    t = now()
    with online_service("sqlite", tmp_path, {"driver_stats": history([])}) as (service, _):
        apply(service, DRIVER, _stream_view(stream))
        rows = [_row(i % 10, t + timedelta(seconds=i), trips=i) for i in range(50)]
        rows.insert(17, {"driver_id": 3, "event_timestamp": "2026-01-01T00:00:00", "trips": 1})  # a bad entry
        push_to_stream(REDIS_URL, stream, rows)

        calls = {"n": 0}

        def crashing_push(view: str, batch: list[dict[str, Any]]) -> int:
            calls["n"] += 1
            if calls["n"] == 3:
                raise SystemExit("killed mid-stream")  # after reading batch 3, before its ack
            return service.push(view, batch)

        first = service.stream_pusher("driver_live", batch_size=8, block_ms=50)
        first._push = crashing_push
        with pytest.raises(SystemExit):
            first.run()
        assert first.batches == 2 and first.rows == 16

        again = service.stream_pusher("driver_live", batch_size=8, block_ms=50)  # same consumer name
        again.run(idle_s=0.3)
        assert again.rows == 51 - 16 and again.rejected == 1 and "no time zone" in again.errors[0]
        got = service.get_online_features([{"driver_id": i} for i in range(10)], ["driver_live:trips"])
        assert got.values["trips"] == [40 + i for i in range(10)]  # the newest row of every driver
        assert again.source.pending_count() == 0


def test_stream_pusher_needs_a_stream(service: FeatureService) -> None:
    with pytest.raises(InvalidArgument, match="does not read a stream"):
        service.stream_pusher("driver_stats")


def test_timestamps_in_features_keep_their_instant(service: FeatureService) -> None:
    t = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert service.push("driver_stats", [_row(9, t)]) == 1
    assert service.get_online_features([{"driver_id": 9}], ["driver_stats:city"]).event_ts["city"] == [
        int(t.timestamp() * 1000)
    ]
