"""Row helpers for the rollout service (rows never leave this module)."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, Select, insert, select, update

from treadle.errors import InvalidArgument, NotFound
from treadle.rollout import _tables as t
from treadle.rollout._records import Deployment
from treadle.rollout._spec import DeploymentSpec
from treadle.store import dialect_insert, now_ms

_DECISION = re.compile(r"^(?P<name>[^/]+)/(?P<revision>\d{1,9})/(?P<variant>[^/]+)/(?P<nonce>[0-9a-f]{8,64})$")
Counters = dict[str, dict[str, tuple[int, float]]]  # variant -> metric -> (n, total)
MAX_REVISION = 2**31 - 1


def spec_digest(spec: DeploymentSpec) -> str:
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()


def parse_decision_id(decision_id: str) -> tuple[str, int, str]:
    """(deployment, revision, variant) of ``{deployment}/{revision}/{variant}/{hex}``."""
    match = _DECISION.match(decision_id) if isinstance(decision_id, str) else None
    if match is None:
        raise InvalidArgument(
            f"malformed decision id {decision_id!r}: expected '<deployment>/<revision>/<variant>/<hex>' "
            "as returned in the response's decision_id"
        )
    return match["name"], int(match["revision"]), match["variant"]


def deployment_row(conn: Connection, name: str, *, lock: bool = False) -> Any:
    query = select(t.deployments).where(t.deployments.c.name == name)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()  # serialise revisions (SQLite's BEGIN IMMEDIATE already does)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"deployment {name!r} does not exist; create it with `treadle deploy apply FILE.yaml`")
    return row


def revision_row(conn: Connection, dep: Any, revision: int | None = None) -> Any:
    number = dep.revision if revision is None else revision
    if not 0 <= number <= MAX_REVISION:  # a huge number must not reach the driver (integer out of range)
        raise NotFound(f"deployment {dep.name!r} has no revision {number} (the current one is {dep.revision})")
    r = t.revisions
    row = conn.execute(select(r).where(r.c.deployment_id == dep.id, r.c.revision == number)).first()
    if row is None:
        raise NotFound(f"deployment {dep.name!r} has no revision {number} (the current one is {dep.revision})")
    return row


def to_record(name: str, row: Any) -> Deployment:
    return Deployment(
        name=name,
        revision=row.revision,
        spec=DeploymentSpec.model_validate(row.spec),
        status=row.status,
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def insert_revision(
    conn: Connection,
    dep_id: int,
    number: int,
    spec: DeploymentSpec,
    status: str,
    reason: str | None,
    actor: str | None,
) -> Any:
    """Write revision ``number`` and make it the current one."""
    now = now_ms()
    conn.execute(
        insert(t.revisions).values(
            deployment_id=dep_id,
            revision=number,
            spec=spec.model_dump(mode="json"),
            digest=spec_digest(spec),
            status=status,
            reason=reason,
            created_by=actor,
            created_at=now,
        )
    )
    conn.execute(update(t.deployments).where(t.deployments.c.id == dep_id).values(revision=number, updated_at=now))
    r = t.revisions
    return conn.execute(select(r).where(r.c.deployment_id == dep_id, r.c.revision == number)).one()


def add_counters(
    conn: Connection, dep_id: int, revision: int, deltas: dict[tuple[str, str], tuple[int, float]]
) -> None:
    """``n += dn, total += dt`` per (variant, metric), inserting missing rows: one atomic upsert.
    Rows go in key order so concurrent reporters on PostgreSQL lock them in the same order."""
    rows = [
        dict(deployment_id=dep_id, revision=revision, variant=v, metric=m, n=dn, total=dt)
        for (v, m), (dn, dt) in sorted(deltas.items())
        if dn or dt
    ]
    if not rows:
        return
    c = t.counters
    stmt = dialect_insert(conn, c)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["deployment_id", "revision", "variant", "metric"],
            set_={"n": c.c.n + stmt.excluded.n, "total": c.c.total + stmt.excluded.total},
        ),
        rows,
    )


def read_counters(conn: Connection, dep_id: int, revision: int) -> Counters:
    c = t.counters
    out: Counters = defaultdict(dict)
    query = select(c.c.variant, c.c.metric, c.c.n, c.c.total).where(
        c.c.deployment_id == dep_id, c.c.revision == revision
    )
    for variant, metric, n, total in conn.execute(query):
        out[variant][metric] = (int(n), float(total))
    return out


MAX_INDEXED = 1_000_000  # request ids per log part


def check_request_index(ids: list[str] | None, times: list[int] | None) -> None:
    """Request ids and their times come together, one time per id."""
    if ids is None and times is None:
        return
    if ids is None or times is None or len(ids) != len(times):
        raise InvalidArgument(
            "request_ids and request_times go together, one time (epoch ms) per id; "
            f"got {len(ids or [])} ids and {len(times or [])} times"
        )
    if len(ids) > MAX_INDEXED:
        raise InvalidArgument(f"index at most {MAX_INDEXED:,} request ids per log part, got {len(ids):,}")
    bad = next((i for i in ids if not isinstance(i, str) or not 0 < len(i) <= 256), None)
    if bad is not None:
        raise InvalidArgument(f"request ids are strings of 1-256 characters, got {bad!r}")


def index_requests(conn: Connection, endpoint: str, part_id: int, ids: list[str], times: list[int]) -> None:
    """Which part holds each request, so labels delivered later can be checked and joined by id."""
    rows = [
        {"endpoint": endpoint, "request_id": rid, "time_ms": ms, "part_id": part_id}
        for rid, ms in zip(ids, times, strict=True)
    ]
    conn.execute(insert(t.log_requests), rows)


def logged_between(endpoint: str, since_ms: int, until_ms: int) -> Select[tuple[str]]:
    """The ids of ``endpoint``'s indexed requests logged in [since_ms, until_ms] (epoch ms,
    inclusive), as a subquery for ``IN (...)`` (an id indexed twice appears twice)."""
    r = t.log_requests
    return select(r.c.request_id).where(r.c.endpoint == endpoint, r.c.time_ms >= since_ms, r.c.time_ms <= until_ms)
