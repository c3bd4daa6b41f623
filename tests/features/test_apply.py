"""Registering definitions: versions, field diffs, dry runs, events, lineage and refusals, on SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from tests.features.defs_helpers import TablesReader, make_service
from treadle.errors import InvalidArgument, NotFound
from treadle.events import EventService
from treadle.features import (
    DatasetSource,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    OnDemandFeatureView,
    RequestSource,
)

HISTORY = pa.table(
    {
        "driver_id": [1, 2],
        "event_timestamp": pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * 2, pa.timestamp("us", tz="UTC")),
        "trips": [3, 4],
        "rating": [4.5, 4.0],
    }
)


@pytest.fixture(params=["sqlite", "postgres"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FeatureService]:
    uri = f"sqlite:///{tmp_path / 't.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    svc = make_service(uri, tmp_path, {"history": HISTORY})
    yield svc
    svc._store.dispose()


@pytest.fixture
def p() -> str:
    """A name prefix, so tests sharing the session's PostgreSQL database do not collide."""
    return f"t{uuid.uuid4().hex[:8]}_"


def defs(p: str, ttl: float = 3600, rating: str = "float64") -> tuple[Entity, FeatureView, OnDemandFeatureView]:
    entity = Entity(f"{p}driver", ["driver_id"])
    view = FeatureView(
        f"{p}stats",
        [entity],
        DatasetSource("history"),
        [Field("trips", "int64"), Field("rating", rating)],
        ttl=ttl,
        description="driver stats",
        owner="ana",
    )

    def ratio(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"per_trip": df["rating"] / df["trips"] * df["scale"]})

    odfv = OnDemandFeatureView(
        f"{p}ratio", [view, RequestSource("req", [Field("scale", "float64")])], ratio, [Field("per_trip", "float64")]
    )
    return entity, view, odfv


def test_apply_creates_then_versions_changes_with_a_field_diff(service: FeatureService, p: str) -> None:
    entity, view, odfv = defs(p)
    report = service.apply([entity.spec(), view.spec(), odfv.spec()])
    assert [(o.name, o.action, o.version) for o in report.objects] == [
        (f"{p}driver", "created", None),
        (f"{p}stats", "created", 1),
        (f"{p}ratio", "created", 1),
    ]
    again = service.apply([entity.spec(), view.spec(), odfv.spec()])
    assert again.unchanged == [f"{p}driver", f"{p}stats", f"{p}ratio"] and not again.created
    _, changed, _ = defs(p, ttl=7200, rating="float32")
    report = service.apply([changed.spec()])
    (obj,) = report.objects
    assert (obj.action, obj.version) == ("updated", 2)
    assert {c.path: (c.old, c.new) for c in obj.changes} == {
        "schema[rating].dtype": ("float64", "float32"),
        "ttl_seconds": (3600.0, 7200.0),
    }
    assert [v.version for v in service.view_versions(f"{p}stats")] == [1, 2]
    assert service.get_view(f"{p}stats").spec["ttl_seconds"] == 7200.0
    assert service.get_view(f"{p}stats", version=1).spec["ttl_seconds"] == 3600.0
    assert service.get_view(f"{p}stats").latest_version == 2
    record = service.get_view(f"{p}stats")
    assert (record.owner, record.description, record.entities) == ("ana", "driver stats", [f"{p}driver"])
    assert record.features == [{"name": "trips", "dtype": "int64"}, {"name": "rating", "dtype": "float32"}]
    mine = [v.name for v in service.list_views() if v.name.startswith(p)]
    assert mine == [f"{p}ratio", f"{p}stats"]
    assert [v.name for v in service.list_views(entity=f"{p}driver")] == [f"{p}stats"]
    assert service.get_entity(f"{p}driver").join_keys == ["driver_id"]


def test_dry_run_reports_without_writing(service: FeatureService, p: str) -> None:
    entity, view, _ = defs(p)
    report = service.apply([entity.spec(), view.spec()], dry_run=True)
    assert report.dry_run and report.created == [f"{p}driver", f"{p}stats"]
    with pytest.raises(NotFound, match=f"'{p}stats' is not registered"):
        service.get_view(f"{p}stats")
    service.apply([entity.spec(), view.spec()])
    _, changed, _ = defs(p, ttl=60)
    dry = service.apply([changed.spec()], dry_run=True)
    assert dry.updated == [f"{p}stats"] and dry.objects[0].version == 2
    assert service.get_view(f"{p}stats").version == 1


def test_apply_emits_events_and_links_lineage(service: FeatureService, p: str) -> None:
    entity, view, odfv = defs(p)
    service.apply([entity.spec(), view.spec(), odfv.spec()])
    events = EventService(service._store).read(kinds=["feature_view_applied"], limit=10_000).events
    mine = [e for e in events if e.payload["name"].startswith(p)]
    assert [(e.payload["name"], e.payload["version"]) for e in mine] == [(f"{p}stats", 1), (f"{p}ratio", 1)]
    with service._store.read() as conn:
        ratio_id = service.view_id(conn, f"{p}ratio")
    ratio_node = service._lineage.find_node(f"feature_view_version:{ratio_id}:1")
    assert (ratio_node.type, ratio_node.uri) == ("treadle.FeatureView", f"features:/{p}ratio/1")
    upstream = service._lineage.upstream(ratio_node.id, hops=2)
    assert f"features:/{p}stats/1" in {n.uri for n in upstream.nodes}


def test_refusals_name_the_problem(service: FeatureService, p: str) -> None:
    entity, view, odfv = defs(p)
    with pytest.raises(InvalidArgument, match=f"uses entity '{p}driver', which is not defined"):
        service.apply([view.spec()])
    with pytest.raises(InvalidArgument, match=f"reads feature view '{p}stats', which is not registered"):
        service.apply([entity.spec(), odfv.spec()])
    with pytest.raises(InvalidArgument, match="defined twice"):
        service.apply([entity.spec(), entity.spec()])
    service.apply([entity.spec(), view.spec(), odfv.spec()])
    with pytest.raises(InvalidArgument, match=r"join keys would change .* feature views"):
        service.apply([Entity(f"{p}driver", ["id"]).spec()])
    as_odfv = OnDemandFeatureView(
        f"{p}stats", [RequestSource("r", [Field("x", "int64")])], lambda df: df, [Field("x", "int64")]
    )
    with pytest.raises(InvalidArgument, match="registered as a feature view"):
        service.apply([as_odfv.spec()])
    bad = FeatureView(f"{p}bad", [entity], DatasetSource("history"), [Field("miles", "float64")])
    with pytest.raises(InvalidArgument, match=r"feature column 'miles' is missing; the source has \["):
        service.apply([bad.spec()])
    with pytest.raises(InvalidArgument, match="unknown definition kind"):
        service.apply([{"kind": "nope"}])
    with pytest.raises(NotFound):
        service.get_view(f"{p}stats", version=9)


def test_unreadable_source_is_a_warning_not_an_error(service: FeatureService, p: str) -> None:
    entity = Entity(f"{p}driver", ["driver_id"])
    view = FeatureView(f"{p}later", [entity], DatasetSource("not_yet"), [Field("x", "int64")])
    report = service.apply([entity.spec(), view.spec()])
    assert report.created == [f"{p}driver", f"{p}later"]
    assert len(report.warnings) == 1 and "not_yet" in report.warnings[0] and "not checked" in report.warnings[0]


def test_delete_view_and_entity(service: FeatureService, p: str) -> None:
    entity, view, odfv = defs(p)
    service.apply([entity.spec(), view.spec(), odfv.spec()])
    with pytest.raises(InvalidArgument, match=f"read by on-demand views \\['{p}ratio'\\]"):
        service.delete_view(f"{p}stats")
    with pytest.raises(InvalidArgument, match="used by feature views"):
        service.delete_entity(f"{p}driver")
    assert service.delete_view(f"{p}ratio").name == f"{p}ratio"
    service.delete_view(f"{p}stats")
    with pytest.raises(NotFound):
        service.view_versions(f"{p}stats")
    service.delete_entity(f"{p}driver")
    with pytest.raises(NotFound, match="not registered"):
        service.get_entity(f"{p}driver")
    # a fresh apply starts at version 1 again and finds no stale lineage node
    report = service.apply([entity.spec(), view.spec()])
    assert report.objects[1].version == 1


def test_view_definition_rebuilds_the_objects(tmp_path: Path) -> None:
    svc = make_service(f"sqlite:///{tmp_path / 't.db'}", tmp_path, {"history": HISTORY})
    entity, view, odfv = defs("")
    svc.apply([entity.spec(), view.spec(), odfv.spec()])
    got = svc.view_definition("stats")
    assert isinstance(got, FeatureView) and got == view and got.join_keys() == ["driver_id"]
    od = svc.view_definition("ratio")
    assert isinstance(od, OnDemandFeatureView)
    assert od.transform_row({"trips": 2, "rating": 4.0, "scale": 2.0}) == {"per_trip": 4.0}
    assert svc.entity_definitions() == {"driver": entity}
    assert isinstance(svc._datasets, TablesReader)


def test_ttl_and_timedelta_specs_are_equal(tmp_path: Path) -> None:
    svc = make_service(f"sqlite:///{tmp_path / 't.db'}", tmp_path, {"history": HISTORY})
    entity, view, _ = defs("", ttl=3600)
    svc.apply([entity.spec(), view.spec()])
    _, same, _ = defs("", ttl=timedelta(hours=1))  # type: ignore[arg-type]
    assert svc.apply([same.spec()]).unchanged == ["stats"]


def test_concurrent_applies_of_the_same_definitions(service: FeatureService, p: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    entity, view, _ = defs(p)
    specs = [entity.spec(), view.spec()]
    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda _: service.apply(specs), range(4)))
    assert sum(r.created == [f"{p}driver", f"{p}stats"] for r in reports) == 1
    assert all(r.unchanged == [f"{p}driver", f"{p}stats"] for r in reports if not r.created)
    assert [v.version for v in service.view_versions(f"{p}stats")] == [1]
