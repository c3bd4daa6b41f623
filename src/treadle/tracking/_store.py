"""Row <-> record helpers for experiments and runs (ORM-free; rows never leave this module)."""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, select

from treadle.errors import InvalidArgument, NotFound
from treadle.store import rows_for_ids
from treadle.tracking import _tables as t
from treadle.tracking._metrics import latest_by_run
from treadle.tracking._records import Experiment, LatestMetric, Run

KEY_RE = re.compile(r"^[\w\-./ :]+$")
MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
_ADJECTIVES = [
    "amber",
    "bold",
    "brisk",
    "calm",
    "clever",
    "crisp",
    "deft",
    "eager",
    "fair",
    "gentle",
    "keen",
    "lucid",
    "merry",
    "nimble",
    "quiet",
    "rapid",
    "sly",
    "tidy",
    "vivid",
    "witty",
]
_NOUNS = [
    "badger",
    "crane",
    "falcon",
    "fox",
    "heron",
    "ibis",
    "lark",
    "lynx",
    "marten",
    "newt",
    "otter",
    "owl",
    "panda",
    "quail",
    "raven",
    "seal",
    "swift",
    "tern",
    "wren",
    "yak",
]


def random_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(1, 999)}"


def check_key(key: str, what: str) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY or not KEY_RE.match(key) or ".." in key.split("/"):
        raise InvalidArgument(
            f"invalid {what} key {key[:80] if isinstance(key, str) else key!r}: use 1-{MAX_KEY} letters, digits, "
            "'_', '-', '.', '/', ':' or spaces"
        )
    return key


def check_value(key: str, value: str, limit: int, what: str) -> str:
    if len(value) > limit:
        raise InvalidArgument(f"{what} {key!r} has a {len(value)}-character value; the limit is {limit}")
    return value


def check_metric(key: str, value: float, step: int, timestamp: int) -> None:
    check_key(key, "metric")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise InvalidArgument(f"metric {key!r} must be a number, got {type(value).__name__}")
    if abs(step) >= 2**63 or abs(timestamp) >= 2**63:
        raise InvalidArgument(f"metric {key!r} step and timestamp must fit in 64 bits")


def experiment_pk(experiment_id: str | int) -> int:
    try:
        pk = int(experiment_id)
    except (TypeError, ValueError):
        raise NotFound(f"experiment {experiment_id!r} does not exist") from None
    if not 0 <= pk < 2**63:
        raise NotFound(f"experiment {experiment_id!r} does not exist")
    return pk


_EXPERIMENT_HEAD = select(t.experiments.c.id, t.experiments.c.name, t.experiments.c.lifecycle).where(
    t.experiments.c.id == bindparam("pk")
)


def experiment_head(conn: Connection, experiment_id: str | int) -> Any:
    """An experiment's id, name and lifecycle in one read (what starting a run needs; no tags)."""
    row = conn.execute(_EXPERIMENT_HEAD, {"pk": experiment_pk(experiment_id)}).first()
    if row is None:
        raise NotFound(f"experiment {experiment_id!r} does not exist")
    return row


def load_experiment(conn: Connection, experiment_id: str | int) -> Experiment:
    row = conn.execute(select(t.experiments).where(t.experiments.c.id == experiment_pk(experiment_id))).first()
    if row is None:
        raise NotFound(f"experiment {experiment_id!r} does not exist")
    return _experiment(conn, [row])[0]


def load_experiments(conn: Connection, rows: Sequence[Any]) -> list[Experiment]:
    return _experiment(conn, rows)


def _experiment(conn: Connection, rows: Sequence[Any]) -> list[Experiment]:
    ids = [r.id for r in rows]
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    if ids:
        for eid, k, v in conn.execute(select(t.experiment_tags).where(t.experiment_tags.c.experiment_id.in_(ids))):
            tags[eid][k] = v
    return [
        Experiment(
            id=str(r.id),
            name=r.name,
            description=r.description,
            lifecycle=r.lifecycle,
            created_at=r.created_at,
            updated_at=r.updated_at,
            tags=tags[r.id],
        )
        for r in rows
    ]


_RUN_ROW = select(t.runs).where(t.runs.c.id == bindparam("run_id"))


def run_row(conn: Connection, run_id: str) -> Any:
    row = conn.execute(_RUN_ROW, {"run_id": run_id}).first()
    if row is None:
        raise NotFound(f"run {run_id!r} does not exist")
    return row


def lifecycle_filter(view: str, column: ColumnElement[str]) -> list[ColumnElement[bool]]:
    """The WHERE terms of a view ("active", "deleted" or "all") over a lifecycle column."""
    return [] if view == "all" else [column == view]


# driver rows: a search page reads thousands of these (see store.driver_rows)
_SELECT_PARAMS = f'SELECT run_id, "key", value FROM {t.params.name}'
_SELECT_TAGS = f'SELECT run_id, "key", value FROM {t.tags.name}'


def load_runs(conn: Connection, rows: Sequence[Any], points: dict[str, list[LatestMetric]] | None = None) -> list[Run]:
    """Assemble runs with params, tags and latest metrics in three queries, whatever the count.
    ``points``, when given, receives each run's latest points (with step and timestamp; [] for none)."""
    ids = [r[0] for r in rows]
    params: dict[str, dict[str, str]] = defaultdict(dict)
    tags: dict[str, dict[str, str]] = defaultdict(dict)
    latest: dict[str, list[LatestMetric]] = {}
    for run_id, k, v in rows_for_ids(conn, _SELECT_PARAMS, "run_id", ids):
        params[run_id][k] = v
    for run_id, k, v in rows_for_ids(conn, _SELECT_TAGS, "run_id", ids):
        tags[run_id][k] = v
    if ids:
        latest = latest_by_run(conn, ids)
        if points is not None:
            points.update({rid: latest.get(rid, []) for rid in ids})
    # Rows from our own tables are trusted: construct without re-validating (search returns many).
    return [
        Run.model_construct(
            id=rid,
            experiment_id=str(eid),
            parent_id=pid,
            name=name,
            status=status,
            start_time=start,
            end_time=end,
            description=desc,
            lifecycle=life,
            params=params[rid],
            tags=tags[rid],
            metrics={m.key: m.value for m in latest.get(rid, ())},
        )
        for rid, eid, pid, name, status, start, end, desc, life, *_ in rows
    ]
