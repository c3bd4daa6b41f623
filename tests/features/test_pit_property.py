"""Point-in-time joins against a brute-force reference, on random data (hypothesis).

Random feature rows (composite keys, event times with ties, optional created times), random entity
rows (keys that may have no features, times before/after/equal to feature times) and a random TTL:
every value must be the one the reference picks — the latest row at or before the entity time,
ties broken by created time then by the row written last, null when older than the TTL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.features.defs_helpers import make_service
from treadle.features import DatasetSource, Entity, FeatureService, FeatureView, Field

T0 = datetime(2024, 3, 1, tzinfo=UTC)
KEYS_A = st.integers(0, 3)
KEYS_B = st.sampled_from(["x", "y"])
MINUTE = timedelta(minutes=1)

feature_rows = st.lists(
    st.tuples(KEYS_A, KEYS_B, st.integers(0, 40), st.one_of(st.none(), st.integers(0, 3)), st.integers(-5, 5)),
    max_size=40,
)
entity_rows = st.lists(st.tuples(st.integers(0, 4), KEYS_B, st.integers(-2, 45)), min_size=1, max_size=30)


def reference(
    rows: list[tuple[int, str, int, int | None, int]],
    entity: list[tuple[int, str, int]],
    ttl: int | None,
    use_created: bool,
) -> list[int | None]:
    out: list[int | None] = []
    for a, b, t in entity:
        candidates = [(i, r) for i, r in enumerate(rows) if r[0] == a and r[1] == b and r[2] <= t]
        if not candidates:
            out.append(None)
            continue
        latest = max(r[2] for _, r in candidates)
        tied = [(i, r) for i, r in candidates if r[2] == latest]

        def rank(item: tuple[int, tuple[int, str, int, int | None, int]]) -> tuple[Any, ...]:
            i, r = item
            created = r[3] if use_created else None
            return (created is not None, created or 0, i) if use_created else (i,)

        _, winner = max(tied, key=rank)
        out.append(None if ttl is not None and t - latest > ttl else winner[4])
    return out


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeatureService]:
    root: Path = tmp_path_factory.mktemp("pit")
    svc = make_service(f"sqlite:///{root / 't.db'}", root)
    yield svc
    svc._store.dispose()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=feature_rows, entity=entity_rows, ttl=st.one_of(st.none(), st.integers(1, 20)), use_created=st.booleans())
def test_training_frame_matches_the_brute_force_reference(
    service: FeatureService,
    rows: list[tuple[int, str, int, int | None, int]],
    entity: list[tuple[int, str, int]],
    ttl: int | None,
    use_created: bool,
) -> None:
    ts_type = pa.timestamp("us", tz="UTC")
    table = pa.table(
        {
            "a": pa.array([r[0] for r in rows], pa.int64()),
            "b": pa.array([r[1] for r in rows], pa.string()),
            "ts": pa.array([T0 + r[2] * MINUTE for r in rows], ts_type),
            "created": pa.array([None if r[3] is None else T0 + r[3] * MINUTE for r in rows], ts_type),
            "value": pa.array([r[4] for r in rows], pa.int64()),
        }
    )
    service._datasets.tables["history"] = table  # type: ignore[union-attr]
    key = Entity("thing", ["a", "b"])
    view = FeatureView(
        "things",
        [key],
        DatasetSource("history"),
        [Field("value", "int64")],
        timestamp_field="ts",
        created_timestamp_field="created" if use_created else None,
        ttl=ttl * MINUTE if ttl is not None else None,
    )
    service.apply([key.spec(), view.spec()])
    entity_df = pd.DataFrame(
        {
            "a": [e[0] for e in entity],
            "b": [e[1] for e in entity],
            # nanoseconds and another time zone: compared as instants
            "event_timestamp": pd.to_datetime([T0 + e[2] * MINUTE for e in entity], utc=True).tz_convert(
                "America/New_York"
            ),
        }
    )
    frame = service.get_training_frame(entity_df, ["things:value"])
    got = [None if pd.isna(v) else int(v) for v in frame["value"]]
    assert got == reference(rows, entity, ttl, use_created)
    assert list(frame["a"]) == [e[0] for e in entity]  # rows keep their order and columns
    assert str(frame["event_timestamp"].dt.tz) == "America/New_York"
