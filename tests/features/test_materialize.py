"""Materialization: latest row per entity, windows and watermarks, interruption and rerun, freshness."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from tests.features.online_helpers import DRIVER, REFS, apply, driver_view, history, now, online_service
from treadle.errors import InvalidArgument
from treadle.events import EventService
from treadle.features import DatasetSource, Entity, FeatureService, FeatureView, Field
from treadle.features._materialize import Materializer
from treadle.features.online import OnlineStore, SqliteOnlineStore, Stored, unpack


def _values(service: FeatureService, ids: Sequence[int]) -> list[tuple[int | None, str | None]]:
    result = service.get_online_features([{"driver_id": i} for i in ids], ["driver_stats:trips", "driver_stats:city"])
    return list(zip(result.values["trips"], result.values["city"], strict=True))


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_latest_row_per_entity_matches_a_reference(kind: str, tmp_path: Path) -> None:
    rng = random.Random(7)
    base = now() - timedelta(days=1)
    # Entities x random event times with ties, in random order; a tie goes to the created time,
    # then to the row read last (as training frames break ties).
    rows = []
    for i in range(3_000):
        driver = rng.randrange(200)
        rows.append((driver, base + timedelta(minutes=rng.randrange(30)), i, rng.random(), f"c{rng.randrange(3)}"))
    created = [base + timedelta(seconds=rng.randrange(3)) for _ in rows]
    table = history(rows).append_column("created", pa.array(created, pa.timestamp("us", tz="UTC")))
    with online_service(kind, tmp_path, {"driver_stats": table}) as (service, _):
        apply(service, DRIVER, driver_view(created_timestamp_field="created"))
        report = service.materialize()
        done = report.view("driver_stats")
        assert (done.status, done.incremental, done.source_rows, done.applied) == (
            "completed",
            False,
            3_000,
            done.entities,
        )
        expected: dict[int, tuple[datetime, datetime, int, tuple[int, str]]] = {}
        for index, (row, c) in enumerate(zip(rows, created, strict=True)):
            rank = (row[1], c, index, (row[2], row[4]))
            if row[0] not in expected or rank[:3] >= expected[row[0]][:3]:
                expected[row[0]] = rank
        assert done.entities == len(expected)
        ids = sorted(expected)
        assert _values(service, ids) == [expected[i][3] for i in ids]


def test_incremental_runs_read_only_the_new_window(tmp_path: Path) -> None:
    t = now()
    old = [(1, t - timedelta(hours=5), 1, 1.0, "a"), (2, t - timedelta(hours=4), 2, 2.0, "b")]
    with online_service("sqlite", tmp_path, {"driver_stats": history(old)}) as (service, reader):
        apply(service, DRIVER, driver_view())
        first = service.materialize(end=t - timedelta(hours=3)).view("driver_stats")
        assert (first.incremental, first.start, first.entities) == (False, None, 2)
        mark = int((t - timedelta(hours=3)).timestamp() * 1000)
        assert service.freshness()[0].materialized_until == mark
        new = [(2, t - timedelta(hours=1), 22, 2.5, "bb"), (3, t - timedelta(minutes=1), 3, 3.0, "c")]
        reader.tables["driver_stats"] = history(old + new)
        second = service.materialize().view("driver_stats")
        assert (second.incremental, second.start, second.source_rows, second.entities) == (True, mark, 2, 2)
        assert _values(service, [1, 2, 3]) == [(1, "a"), (22, "bb"), (3, "c")]
        third = service.materialize(end=t - timedelta(hours=2)).view("driver_stats")
        assert third.status == "up_to_date" and third.entities == 0
        full = service.materialize(incremental=False).view("driver_stats")
        assert (full.incremental, full.source_rows, full.entities) == (False, 4, 3)


def test_a_new_view_version_rewrites_everything(tmp_path: Path) -> None:
    t = now()
    with online_service("sqlite", tmp_path, {"driver_stats": history([(1, t - timedelta(hours=1), 1, 1.0, "a")])}) as (
        service,
        _,
    ):
        apply(service, DRIVER, driver_view())
        service.materialize()
        apply(service, driver_view(description="v2"))
        again = service.materialize().view("driver_stats")
        assert (again.version, again.incremental, again.entities) == (2, False, 1)
        assert service.freshness(["driver_stats"])[0].materialized_version == 2


class FailingStore(OnlineStore):
    """Wraps a real store and raises on the n-th write call, like a store that dies mid-run."""

    def __init__(self, inner: OnlineStore, fail_on: int) -> None:
        self.inner, self.fail_on, self.calls = inner, fail_on, 0

    def write(self, view: str, keys: Sequence[str], values: Sequence[bytes], event_ts: Sequence[int]) -> int:
        self.calls += 1
        if self.calls == self.fail_on:
            raise ConnectionError("online store went away")
        return self.inner.write(view, keys, values, event_ts)

    def read(self, view: str, keys: Sequence[str]) -> list[Stored | None]:
        return self.inner.read(view, keys)

    def delete_view(self, view: str) -> None:
        self.inner.delete_view(view)

    def close(self) -> None:
        self.inner.close()


def test_an_interrupted_run_keeps_the_watermark_and_a_rerun_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = now()
    ids = list(range(100))
    old = [(i, t - timedelta(hours=5), i, 1.0, "old") for i in ids]
    with online_service("sqlite", tmp_path, {"driver_stats": history(old)}) as (service, reader):
        apply(service, DRIVER, driver_view())
        service.materialize(end=t - timedelta(hours=4))
        mark = service.freshness()[0].materialized_until
        reader.tables["driver_stats"] = history(old + [(i, t - timedelta(hours=1), 1000 + i, 2.0, "new") for i in ids])
        real = service.online_store()
        monkeypatch.setattr(Materializer, "batch_rows", 10)
        service.attach_online_store(FailingStore(real, fail_on=4))  # 3 batches of 10 written, then it dies
        with pytest.raises(ConnectionError, match="went away"):
            service.materialize()
        fresh = service.freshness()[0]
        assert fresh.materialized_until == mark  # the watermark did not move
        assert fresh.last_run is not None and fresh.last_run.status == "failed"
        assert "went away" in (fresh.last_run.error or "") and fresh.last_run.rows == 30
        values = _values(service, ids)
        assert sum(v == (1000 + i, "new") for i, v in zip(ids, values, strict=True)) == 30
        assert all(v in ((i, "old"), (1000 + i, "new")) for i, v in zip(ids, values, strict=True))
        service.attach_online_store(real)
        rerun = service.materialize().view("driver_stats")
        assert (rerun.incremental, rerun.start, rerun.entities, rerun.applied) == (True, mark, 100, 100)
        assert _values(service, ids) == [(1000 + i, "new") for i in ids]
        assert service.freshness()[0].last_run.status == "completed"  # type: ignore[union-attr]
        events = EventService(service._store).read(kinds=["materialization_completed"]).events
        assert [e.payload["rows"] for e in events] == [100, 100]


def test_progress_and_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    t = now()
    rows = [(i, t - timedelta(minutes=i % 7), i, 0.5, "x") for i in range(250)]
    with online_service("sqlite", tmp_path, {"driver_stats": history(rows)}) as (service, _):
        apply(service, DRIVER, driver_view())
        monkeypatch.setattr(Materializer, "batch_rows", 100)
        seen: list[tuple[str, int, int]] = []
        materializer = Materializer(service._store, service._datasets, service.online_store())
        end = int(t.timestamp() * 1000) + 1
        materializer.run(service._catalog(), "driver_stats", None, end, False, lambda *a: seen.append(a))
        assert seen == [("driver_stats", n, 250) for n in (0, 100, 200, 250)]
        report = service.materialize(incremental=False, progress=True)
    assert report.view("driver_stats").entities == 250
    assert "driver_stats" in capsys.readouterr().err


def test_views_that_are_not_online_are_skipped(tmp_path: Path) -> None:
    t = now()
    with online_service("sqlite", tmp_path, {"driver_stats": history([(1, t, 1, 1.0, "a")])}) as (service, _):
        apply(service, DRIVER, driver_view(online=False))
        assert service.materialize().views == []
        with pytest.raises(InvalidArgument, match="not online"):
            service.materialize(views=["driver_stats"])
        with pytest.raises(InvalidArgument, match="no time zone"):
            service.materialize(end=datetime(2026, 1, 1))


def test_every_dtype_reads_back_as_pushed(tmp_path: Path) -> None:
    """A materialized row and a pushed row of the same values read back identically."""
    t = now()
    when = datetime(2025, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    schema = [
        Field("i", "int64"),
        Field("f", "float64"),
        Field("g", "float32"),
        Field("s", "string"),
        Field("b", "bool"),
        Field("ts", "timestamp"),
        Field("raw", "bytes"),
        Field("vec", "list<float64>"),
        Field("tags", "list<string>"),
    ]
    values = {
        "i": 2**53 + 1,
        "f": 0.1,
        "g": 1.5,
        "s": 'quote " and \\ and é',
        "b": True,
        "ts": when,
        "raw": b"\x00\xff,",
        "vec": [1.0, float("nan"), 2.5],
        "tags": ["a", "b"],
    }
    cols = {"k": pa.array([1, 2]), "event_timestamp": pa.array([t, t], pa.timestamp("us", tz="UTC"))}
    for f in schema:
        cols[f.name] = pa.array([values[f.name]] * 2, type=f.arrow_type())
    entity = Entity("k")
    view = FeatureView("typed", [entity], DatasetSource("typed"), schema)
    with online_service("sqlite", tmp_path, {"typed": pa.table(cols)}) as (service, _):
        apply(service, entity, view)
        service.materialize()
        assert service.push("typed", [{"k": 2, "event_timestamp": t + timedelta(seconds=1), **values}]) == 1
        materialized, pushed = service.online_store().read("typed", ["1", "2"])
        assert materialized is not None and pushed is not None
        assert unpack(materialized[0]) == unpack(pushed[0])
        row = service.get_online_features([{"k": 1}], [f"typed:{f.name}" for f in schema]).to_records()[0]
    assert row["vec"] == [1.0, None, 2.5] and row["raw"] == "AP8s" and row["ts"] == "2025-05-06T07:08:09.123456+00:00"
    assert row["i"] == 2**53 + 1 and row["s"] == values["s"] and row["tags"] == ["a", "b"]


def test_rows_without_keys_or_timestamps_are_skipped_and_missing_columns_named(tmp_path: Path) -> None:
    t = now()
    table = pa.table(
        {
            "driver_id": pa.array([1, None, 3], pa.int64()),
            "event_timestamp": pa.array([t, t, None], pa.timestamp("us", tz="UTC")),
            "trips": pa.array([1, 2, 3], pa.int64()),
            "rating": pa.array([1.0, 2.0, 3.0]),
            "city": ["a", "b", "c"],
        }
    )
    with online_service("sqlite", tmp_path, {"driver_stats": table}) as (service, reader):
        apply(service, DRIVER, driver_view())
        assert service.materialize().view("driver_stats").entities == 1
        assert _values(service, [1, 3]) == [(1, "a"), (None, None)]
        reader.tables["driver_stats"] = table.drop_columns(["city"])
        with pytest.raises(InvalidArgument, match=r"no columns \['city'\]"):
            service.materialize(incremental=False)


def test_an_empty_source_materializes_nothing(tmp_path: Path) -> None:
    with online_service("sqlite", tmp_path, {"driver_stats": history([])}) as (service, _):
        apply(service, DRIVER, driver_view())
        done = service.materialize().view("driver_stats")
        assert (done.status, done.entities) == ("completed", 0)
        assert service.get_online_features([{"driver_id": 1}], REFS).status["trips"] == ["missing"]


def test_sqlite_store_keeps_newer_rows_written_meanwhile(tmp_path: Path) -> None:
    """A push newer than the offline data survives a later (re)materialization."""
    t = now()
    with online_service("sqlite", tmp_path, {"driver_stats": history([(1, t - timedelta(hours=1), 1, 1.0, "a")])}) as (
        service,
        _,
    ):
        apply(service, DRIVER, driver_view())
        assert isinstance(service.online_store(), SqliteOnlineStore)
        service.push("driver_stats", [{"driver_id": 1, "event_timestamp": t, "trips": 9, "rating": 9.0, "city": "z"}])
        done = service.materialize(incremental=False).view("driver_stats")
        assert (done.entities, done.applied) == (1, 0)
        assert _values(service, [1]) == [(9, "z")]


def test_stream_views_without_history_are_left_to_push(tmp_path: Path) -> None:
    from treadle.data import RedisStreamSource

    live = FeatureView(
        "live", [DRIVER], RedisStreamSource("redis://127.0.0.1:6379/0", "nowhere"), [Field("x", "int64")]
    )
    with online_service("sqlite", tmp_path, {"driver_stats": history([(1, now(), 1, 1.0, "a")])}) as (service, _):
        apply(service, DRIVER, driver_view(), live)
        assert [v.view for v in service.materialize().views] == ["driver_stats"]
        with pytest.raises(InvalidArgument, match="batch_source"):
            service.materialize(views=["live"])
