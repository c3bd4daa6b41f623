"""Ground-truth labels, joined to served requests by request id.

The request-log index (``rollout_log_requests``, filled by ``rollout.add_log_part``) says which
endpoint served each id; a label is stored per (endpoint, request id), so the monitor of that
endpoint finds it when it reads the window the request fell in. Ids that no log knows are handed
back, not stored: a typo would otherwise sit in the table forever, matching nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from treadle.errors import InvalidArgument
from treadle.monitors import _tables as t
from treadle.monitors._records import LabelsLogged
from treadle.rollout import _store as rs
from treadle.rollout import _tables as rt
from treadle.store import dialect_insert, now_ms

MAX_LABELS = 100_000
MAX_ID = 256
_CHUNK = 500  # ids per IN (...) list: well under SQLite's bound-variable limit


def check_labels(request_ids: list[str], labels: list[Any]) -> dict[str, Any]:
    """id -> label (a repeated id keeps its last label); refuses what could not be stored or compared."""
    if len(request_ids) != len(labels):
        raise InvalidArgument(
            f"got {len(request_ids)} request ids and {len(labels)} labels: give one label per request id"
        )
    if not request_ids:
        raise InvalidArgument("no labels given: pass request ids and their labels")
    if len(request_ids) > MAX_LABELS:
        raise InvalidArgument(f"log at most {MAX_LABELS:,} labels per call, got {len(request_ids):,}; split them")
    by_id: dict[str, Any] = {}
    for i, (rid, label) in enumerate(zip(request_ids, labels, strict=True)):
        if not isinstance(rid, str) or not 0 < len(rid) <= MAX_ID:
            raise InvalidArgument(f"request id #{i} must be a string of 1-{MAX_ID} characters, got {rid!r}")
        by_id[rid] = check_label(label, rid)
    return by_id


def check_label(label: Any, rid: str) -> Any:
    if not isinstance(label, str | int | float | bool):
        raise InvalidArgument(
            f"label of request {rid!r} is {type(label).__name__} {label!r}: labels are strings, numbers or booleans"
        )
    if isinstance(label, float) and not math.isfinite(label):
        raise InvalidArgument(f"label of request {rid!r} is {label}: NaN and infinite labels cannot be scored")
    if isinstance(label, int) and not isinstance(label, bool) and abs(label) >= 2**63:
        raise InvalidArgument(f"label of request {rid!r} is {label}: integers past 64 bits cannot be stored")
    return label


def chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def store_labels(conn: Connection, by_id: dict[str, Any], endpoint: str | None) -> LabelsLogged:
    """Upsert the labels of the ids the request-log index knows; unknown ids come back."""
    r = rt.log_requests
    ids = list(by_id)
    found: set[tuple[str, str]] = set()
    for part in chunks(ids):
        query = select(r.c.endpoint, r.c.request_id).where(r.c.request_id.in_(part))
        if endpoint is not None:
            query = query.where(r.c.endpoint == endpoint)
        found.update((row.endpoint, row.request_id) for row in conn.execute(query.distinct()))
    known = {rid for _, rid in found}
    unknown = [rid for rid in ids if rid not in known]
    if not found:
        where = f" of endpoint {endpoint!r}" if endpoint is not None else ""
        raise InvalidArgument(
            f"none of the {len(ids)} request ids is in a request log{where}: labels join served requests by their "
            "`id` (the request log's id column / the response's id), and a request is indexed once its log part "
            "is flushed — check the ids and the endpoint, or retry after the log's flush interval"
        )
    existing = _existing(conn, found)
    now = now_ms()
    m = t.monitor_labels
    rows = [{"endpoint": ep, "request_id": rid, "label": by_id[rid], "logged_at": now} for ep, rid in sorted(found)]
    stmt = dialect_insert(conn, m)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["endpoint", "request_id"],
            set_={"label": stmt.excluded.label, "logged_at": stmt.excluded.logged_at},
        ),
        rows,
    )
    return LabelsLogged(accepted=len(known), updated=len({rid for _, rid in existing}), unknown=unknown)


def _existing(conn: Connection, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    m = t.monitor_labels
    by_endpoint: dict[str, list[str]] = {}
    for ep, rid in keys:
        by_endpoint.setdefault(ep, []).append(rid)
    seen: set[tuple[str, str]] = set()
    for ep, rids in by_endpoint.items():
        for part in chunks(rids):
            query = select(m.c.endpoint, m.c.request_id).where(m.c.endpoint == ep, m.c.request_id.in_(part))
            seen.update((row.endpoint, row.request_id) for row in conn.execute(query))
    return seen


def read_labels(conn: Connection, endpoint: str, request_ids: list[str]) -> dict[str, Any]:
    m = t.monitor_labels
    labels: dict[str, Any] = {}
    for part in chunks(list(dict.fromkeys(request_ids))):
        query = select(m.c.request_id, m.c.label).where(m.c.endpoint == endpoint, m.c.request_id.in_(part))
        labels.update((row.request_id, row.label) for row in conn.execute(query))
    return labels


def count_labels(conn: Connection, endpoint: str, since_ms: int, until_ms: int) -> int:
    """Labels of ``endpoint``'s requests logged in [since_ms, until_ms] (one per request id)."""
    m = t.monitor_labels
    logged = rs.logged_between(endpoint, since_ms, until_ms)
    query = select(func.count()).select_from(m).where(m.c.endpoint == endpoint, m.c.request_id.in_(logged))
    return int(conn.execute(query).scalar_one())
