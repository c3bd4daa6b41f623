"""The tuning service: Optuna studies kept as journals in treadle's own store.

Each study is one Optuna journal (a numbered list of JSON operations) plus a summary row whose
counters are updated in the same transaction as each append, so listing studies never replays a
journal. Optuna replays the journal itself (``JournalStorage``) through
:class:`treadle.studies.TreadleJournalBackend`; this service only stores and serves the logs.
"""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Connection, Float, Integer, bindparam, case, delete, insert, select, update

from treadle.errors import InvalidArgument, NotFound
from treadle.ops import Service, operation
from treadle.store import Store, dialect_insert, now_ms
from treadle.studies import _tables as t
from treadle.studies._records import Direction, StudySummary

MAX_APPEND = 10_000
MAX_READ = 100_000
MAX_NAME = 256
# Optuna's journal op codes and trial states that the summary counters follow.
OP_CREATE_STUDY, OP_CREATE_TRIAL, OP_SET_STATE = 0, 4, 6
MAX_OP_CODE = 10  # JournalOperation.DISCARD_TRIALS, the last of Optuna 4.x's journal operations
COMPLETE, PRUNED, FAIL = 1, 2, 3
_DIRECTIONS: dict[int, Direction] = {1: "minimize", 2: "maximize"}


# Statements built once: an append or a read then costs no SQL construction, only execution.
_c = t.studies.c
_BUMP = (
    update(t.studies)
    .where(_c.name == bindparam("study"))
    .values(
        n_logs=_c.n_logs + bindparam("n", type_=BigInteger),
        n_trials=_c.n_trials + bindparam("trials", type_=Integer),
        n_complete=_c.n_complete + bindparam("complete", type_=Integer),
        n_pruned=_c.n_pruned + bindparam("pruned", type_=Integer),
        n_failed=_c.n_failed + bindparam("failed", type_=Integer),
        updated_at=bindparam("now", type_=BigInteger),
    )
    .returning(_c.id, _c.n_logs, _c.directions)
)
_READ = (
    select(t.study_logs.c.body)
    .join(t.studies, _c.id == t.study_logs.c.study_id)
    .where(_c.name == bindparam("study"), t.study_logs.c.seq > bindparam("after", type_=BigInteger))
    .order_by(t.study_logs.c.seq)
    .limit(bindparam("limit", type_=Integer))
)
_INSERT_LOGS = insert(t.study_logs)


def _best(minimize: bool) -> Any:
    best = bindparam("best", type_=Float)
    better = _c.best_value > best if minimize else _c.best_value < best
    return (
        update(t.studies)
        .where(_c.id == bindparam("study_id", type_=BigInteger))
        .values(best_value=case((_c.best_value.is_(None) | better, best), else_=_c.best_value))
    )


_BEST_MIN, _BEST_MAX = _best(True), _best(False)


class StudyService(Service):
    """Study journals and their summaries (module docstring)."""

    capability: ClassVar[str] = "tuning"

    def __init__(self, store: Store) -> None:
        self._store = store

    @operation
    def append_logs(self, study: str, logs: list[dict[str, Any]]) -> int:
        """Append Optuna journal operations to a study; returns the number of the first one.

        The first append of a new study must start with its create-study operation (Optuna's
        ``create_study`` does that); appending to a study that does not exist otherwise is NotFound.
        """
        if not logs:
            raise InvalidArgument("append_logs needs at least one log")
        if len(logs) > MAX_APPEND:
            raise InvalidArgument(f"append at most {MAX_APPEND} logs at a time, got {len(logs)}")
        bodies = [json.dumps(log, separators=(",", ":")) for log in logs]
        delta = _Delta(study, logs)
        with self._store.write() as conn:
            row = self._bump(conn, study, delta, len(logs))
            if row is None:
                if delta.directions is None:
                    raise NotFound(
                        f"study {study!r} does not exist: create it first (td.tune, or optuna.create_study "
                        "with treadle.studies.journal_storage)"
                    )
                now = now_ms()
                conn.execute(
                    dialect_insert(conn, t.studies)
                    .values(
                        name=study,
                        directions=delta.directions,
                        n_logs=0,
                        n_trials=0,
                        n_complete=0,
                        n_pruned=0,
                        n_failed=0,
                        created_at=now,
                        updated_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["name"])
                )
                row = self._bump(conn, study, delta, len(logs))
                assert row is not None
            study_id, end, directions = row
            first = end - len(logs)
            conn.execute(
                _INSERT_LOGS,
                [{"study_id": study_id, "seq": first + i, "body": b} for i, b in enumerate(bodies)],
            )
            if delta.completed and len(directions) == 1:
                minimize = directions[0] == "minimize"
                best = min(delta.completed) if minimize else max(delta.completed)
                conn.execute(_BEST_MIN if minimize else _BEST_MAX, {"study_id": study_id, "best": best})
            return first

    def _bump(self, conn: Connection, study: str, delta: _Delta, n: int) -> tuple[int, int, list[str]] | None:
        row = conn.execute(
            _BUMP,
            {
                "study": study,
                "n": n,
                "trials": delta.trials,
                "complete": delta.counts[COMPLETE],
                "pruned": delta.counts[PRUNED],
                "failed": delta.counts[FAIL],
                "now": now_ms(),
            },
        ).first()
        return None if row is None else (row[0], row[1], row[2])

    @operation
    def read_logs(self, study: str, after: int = -1, limit: int = 10_000) -> list[dict[str, Any]]:
        """The journal operations numbered after ``after``, in order (empty for an unknown study)."""
        if not 1 <= limit <= MAX_READ:
            raise InvalidArgument(f"limit must be within 1..{MAX_READ}, got {limit}")
        with self._store.read() as conn:
            rows = conn.execute(_READ, {"study": study, "after": after, "limit": limit})
            return [json.loads(body) for (body,) in rows]

    @operation
    def get_study(self, name: str) -> StudySummary:
        """One study's summary: directions, trial counts by state, best value, its tracked run."""
        with self._store.read() as conn:
            row = conn.execute(select(t.studies).where(t.studies.c.name == name)).first()
        if row is None:
            raise NotFound(f"study {name!r} not found (`treadle tune list` shows the studies)")
        return _summary(row)

    @operation
    def list_studies(self) -> list[StudySummary]:
        """Every study, most recently updated first."""
        with self._store.read() as conn:
            rows = conn.execute(select(t.studies).order_by(t.studies.c.updated_at.desc(), t.studies.c.name))
            return [_summary(row) for row in rows]

    @operation
    def set_study_run(self, name: str, run_id: str) -> StudySummary:
        """Record the tracked run that owns the study (the parent of its trials' runs)."""
        with self._store.write() as conn:
            done = conn.execute(
                update(t.studies).where(t.studies.c.name == name).values(run_id=run_id).returning(t.studies.c.id)
            ).first()
        if done is None:
            raise NotFound(f"study {name!r} not found (`treadle tune list` shows the studies)")
        return self.get_study(name)

    @operation
    def delete_study(self, name: str) -> None:
        """Delete a study and its journal (its tracked runs stay)."""
        with self._store.write() as conn:
            gone = conn.execute(delete(t.studies).where(t.studies.c.name == name).returning(t.studies.c.id)).first()
        if gone is None:
            raise NotFound(f"study {name!r} not found (`treadle tune list` shows the studies)")


class _Delta:
    """What a batch of journal operations changes in the summary counters."""

    def __init__(self, study: str, logs: list[dict[str, Any]]) -> None:
        self.directions: list[Direction] | None = None
        self.trials = 0
        self.counts = {COMPLETE: 0, PRUNED: 0, FAIL: 0}
        self.completed: list[float] = []
        for log in logs:
            op = log.get("op_code")
            if type(op) is not int or not 0 <= op <= MAX_OP_CODE:  # Optuna's replay would fail on it later
                raise InvalidArgument(f"bad journal op_code {op!r}: Optuna's are integers 0 to {MAX_OP_CODE}")
            if op == OP_CREATE_STUDY:
                if not 0 < len(study) <= MAX_NAME or study != study.strip():
                    raise InvalidArgument(
                        f"a study name has 1 to {MAX_NAME} characters without surrounding spaces, got {study[:300]!r}"
                    )
                if log.get("study_name") != study:
                    raise InvalidArgument(
                        f"this journal holds study {study!r}; it cannot create study {log.get('study_name')!r}"
                    )
                try:
                    self.directions = [_DIRECTIONS[int(d)] for d in log["directions"]]
                except (KeyError, TypeError, ValueError) as exc:
                    raise InvalidArgument(f"bad study directions {log.get('directions')!r}") from exc
                if not self.directions:
                    raise InvalidArgument("bad study directions []: a study has at least one objective")
            elif op == OP_CREATE_TRIAL:
                self.trials += 1
                self._state(log.get("state"), log.get("values") or [log.get("value")])
            elif op == OP_SET_STATE:
                self._state(log.get("state"), log.get("values"))

    def _state(self, state: Any, values: Any) -> None:
        if (state is not None and type(state) is not int) or not (values is None or isinstance(values, list)):
            raise InvalidArgument(f"bad trial state {state!r} with values {values!r}: an int state, a list of values")
        if state in self.counts:
            self.counts[state] += 1
            if state == COMPLETE and values and isinstance(values[0], int | float):
                try:
                    self.completed.append(float(values[0]))
                except OverflowError:  # an int past float's range
                    self.completed.append(math.inf if values[0] > 0 else -math.inf)


def _summary(row: Any) -> StudySummary:
    return StudySummary(
        name=row.name,
        directions=row.directions,
        n_trials=row.n_trials,
        n_complete=row.n_complete,
        n_pruned=row.n_pruned,
        n_failed=row.n_failed,
        best_value=row.best_value,
        run_id=row.run_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
