"""The tracking service: experiments, runs, params, metrics, tags, artifacts, inputs, search."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from treadle.artifacts import (
    ArtifactFile,
    ArtifactService,
    BlobStore,
    check_uploaded,
    clean_path,
    delete_manifest,
    delete_unreferenced,
    manifest_digests,
    record_files,
    select_files,
)
from treadle.errors import AlreadyExists, InvalidArgument, NotFound, ParamConflict
from treadle.events import emit
from treadle.lineage import delete_nodes, link, put_node
from treadle.ops import Service, operation
from treadle.store import Store, dialect_insert, insert_for, now_ms, per_dialect
from treadle.tracking import _tables as t
from treadle.tracking._metrics import insert_points, latest_by_run, read_history
from treadle.tracking._records import (
    TERMINAL,
    ArtifactIn,
    Experiment,
    InputRef,
    LatestMetric,
    Metric,
    MetricSeries,
    PurgeReport,
    Run,
    RunPage,
    RunStatus,
    ViewType,
)
from treadle.tracking._search import decode_token, encode_token, search_statement
from treadle.tracking._store import (
    MAX_PARAM_VALUE,
    MAX_TAG_VALUE,
    check_key,
    check_metric,
    check_value,
    experiment_head,
    experiment_pk,
    lifecycle_filter,
    load_experiment,
    load_experiments,
    load_runs,
    random_name,
    run_row,
)

MAX_BATCH_POINTS = 100_000
MAX_RESULTS = 50_000


# Values as execute parameters: ``.values(x=None)`` builds a fresh NullType whose cache key
# SQLAlchemy recomputes on every call (~0.1 ms each on the hot path of every run).
_UPDATE_RUN = update(t.runs).where(t.runs.c.id == bindparam("b_id"))


_RUN_PARAMS = select(t.params.c.key, t.params.c.value).where(t.params.c.run_id == bindparam("run_id"))


@per_dialect
def _insert_params(dialect: str) -> Any:
    return insert_for(dialect, t.params).on_conflict_do_nothing()


@per_dialect
def _upsert_tags(dialect: str) -> Any:
    stmt = insert_for(dialect, t.tags)
    return stmt.on_conflict_do_update(index_elements=["run_id", "key"], set_={"value": stmt.excluded.value})


def run_manifest(run_id: str) -> str:
    return f"run/{run_id}"


class TrackingService(Service):
    """Experiments and runs. Safe to share between threads; every method is one transaction."""

    capability: ClassVar[str] = "tracking"

    def __init__(self, store: Store, blobs: BlobStore) -> None:
        self._store = store
        self._blobs = blobs
        self._artifacts = ArtifactService(store, blobs)

    # ---------------------------------------------------------------- experiments
    @operation
    def create_experiment(
        self, name: str, description: str | None = None, tags: dict[str, str] | None = None
    ) -> Experiment:
        """Create an experiment; its name must be unused (deleted ones included)."""
        name = name.strip()
        if not name or len(name) > 256:
            raise InvalidArgument("experiment name must be 1-256 characters")
        now = now_ms()
        try:
            with self._store.write() as conn:
                eid = conn.execute(
                    insert(t.experiments).values(
                        name=name, description=description, lifecycle="active", created_at=now, updated_at=now
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
                for k, v in (tags or {}).items():
                    conn.execute(insert(t.experiment_tags).values(experiment_id=eid, key=check_key(k, "tag"), value=v))
                put_node(conn, "context", "treadle.Experiment", name, external_id=f"experiment:{eid}")
                emit(conn, "experiment_created", f"experiment:{eid}", name=name)
                return load_experiment(conn, eid)
        except IntegrityError:
            raise AlreadyExists(f"an experiment named {name!r} already exists (possibly deleted; restore it)") from None

    @operation
    def get_experiment(self, experiment_id: str) -> Experiment:
        """One experiment by id."""
        with self._store.read() as conn:
            return load_experiment(conn, experiment_id)

    @operation
    def get_experiment_by_name(self, name: str) -> Experiment:
        """One experiment by name (deleted ones too)."""
        with self._store.read() as conn:
            row = conn.execute(select(t.experiments).where(t.experiments.c.name == name)).first()
            if row is None:
                raise NotFound(f"no experiment named {name!r}")
            return load_experiments(conn, [row])[0]

    @operation
    def list_experiments(self, view: ViewType = "active") -> list[Experiment]:
        """Experiments, newest first."""
        e = t.experiments
        with self._store.read() as conn:
            rows = conn.execute(select(e).where(*lifecycle_filter(view, e.c.lifecycle)).order_by(e.c.id.desc())).all()
            return load_experiments(conn, rows)

    @operation
    def rename_experiment(self, experiment_id: str, new_name: str) -> Experiment:
        """Give an experiment a new, unused name."""
        new_name = new_name.strip()
        if not new_name or len(new_name) > 256:
            raise InvalidArgument("experiment name must be 1-256 characters")
        try:
            with self._store.write() as conn:
                load_experiment(conn, experiment_id)
                conn.execute(
                    update(t.experiments)
                    .where(t.experiments.c.id == experiment_pk(experiment_id))
                    .values(name=new_name, updated_at=now_ms())
                )
                emit(conn, "experiment_renamed", f"experiment:{experiment_id}", name=new_name)
                return load_experiment(conn, experiment_id)
        except IntegrityError:
            raise AlreadyExists(f"an experiment named {new_name!r} already exists") from None

    @operation
    def delete_experiment(self, experiment_id: str) -> Experiment:
        """Soft-delete an experiment and its runs (restore brings them back)."""
        return self._set_experiment_lifecycle(experiment_id, "deleted")

    @operation
    def restore_experiment(self, experiment_id: str) -> Experiment:
        """Undo ``delete_experiment``."""
        return self._set_experiment_lifecycle(experiment_id, "active")

    def _set_experiment_lifecycle(self, experiment_id: str, lifecycle: str) -> Experiment:
        now = now_ms()
        deleted_at = now if lifecycle == "deleted" else None
        with self._store.write() as conn:
            load_experiment(conn, experiment_id)  # NotFound first
            pk = experiment_pk(experiment_id)
            was_deleted_at = conn.execute(select(t.experiments.c.deleted_at).where(t.experiments.c.id == pk)).scalar()
            if (lifecycle == "deleted") == (was_deleted_at is not None):  # already there: nothing to do
                return load_experiment(conn, experiment_id)
            if deleted_at is not None:
                # later than every run deleted on its own, even within the same millisecond, so
                # that restoring (which matches this time) cannot bring those back
                alone = select(func.max(t.runs.c.deleted_at)).where(t.runs.c.experiment_id == pk)
                deleted_at = max(deleted_at, (conn.execute(alone).scalar() or 0) + 1)
            conn.execute(
                update(t.experiments)
                .where(t.experiments.c.id == pk)
                .values(lifecycle=lifecycle, updated_at=now, deleted_at=deleted_at)
            )
            # Runs follow their experiment, except those deleted on their own before.
            # Deleting marks the active runs with the experiment's deletion time; restoring brings back
            # exactly those, so runs deleted on their own stay deleted.
            runs = update(t.runs).where(t.runs.c.experiment_id == pk)
            if lifecycle == "deleted":
                runs = runs.where(t.runs.c.lifecycle == "active")
            else:
                runs = runs.where(t.runs.c.deleted_at == was_deleted_at)
            conn.execute(runs.values(lifecycle=lifecycle, deleted_at=deleted_at))
            emit(
                conn, f"experiment_{'deleted' if lifecycle == 'deleted' else 'restored'}", f"experiment:{experiment_id}"
            )
            return load_experiment(conn, experiment_id)

    @operation
    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        """Set (or overwrite) one experiment tag."""
        check_value(key, value, MAX_TAG_VALUE, "tag")
        with self._store.write() as conn:
            load_experiment(conn, experiment_id)
            stmt = dialect_insert(conn, t.experiment_tags).values(
                experiment_id=experiment_pk(experiment_id), key=check_key(key, "tag"), value=value
            )
            conn.execute(stmt.on_conflict_do_update(index_elements=["experiment_id", "key"], set_={"value": value}))

    # ---------------------------------------------------------------- runs
    @operation
    def create_run(
        self,
        experiment_id: str,
        name: str | None = None,
        parent_id: str | None = None,
        tags: dict[str, str] | None = None,
        description: str | None = None,
        start_time: int | None = None,
    ) -> Run:
        """Start a run (status RUNNING) in an active experiment, optionally nested under ``parent_id``."""
        run_id = uuid.uuid4().hex
        name = (name or random_name()).strip()[:256]
        with self._store.write() as conn:
            exp = experiment_head(conn, experiment_id)
            if exp.lifecycle != "active":
                raise InvalidArgument(f"experiment {exp.name!r} is deleted; restore it before adding runs")
            if parent_id is not None:
                run_row(conn, parent_id)
            started = start_time or now_ms()
            row = dict(
                id=run_id,
                experiment_id=int(exp.id),
                parent_id=parent_id,
                name=name,
                status="RUNNING",
                start_time=started,
                description=description,
                lifecycle="active",
            )
            conn.execute(insert(t.runs), row)  # parameters, not .values(): see _UPDATE_RUN
            self._put_tags(conn, run_id, tags or {})
            node = put_node(
                conn,
                "execution",
                "treadle.Run",
                name,
                external_id=f"run:{run_id}",
                uri=f"runs:/{run_id}",
                properties={"experiment_id": exp.id, "parent_id": parent_id},
            )
            ctx = put_node(conn, "context", "treadle.Experiment", exp.name, external_id=f"experiment:{exp.id}")
            link(conn, "association", ctx, node)
            emit(conn, "run_started", f"run:{run_id}", experiment_id=exp.id, name=name)
            # A new run has no params or metrics yet: no need to read it back.
            return Run(
                id=run_id,
                experiment_id=str(exp.id),
                parent_id=parent_id,
                name=name,
                status="RUNNING",
                start_time=started,
                description=description,
                tags={k: str(v) for k, v in (tags or {}).items()},
            )

    @operation
    def get_run(self, run_id: str) -> Run:
        """One run with its params, tags and latest metric values."""
        with self._store.read() as conn:
            return load_runs(conn, [run_row(conn, run_id)])[0]

    @operation
    def update_run(
        self,
        run_id: str,
        status: RunStatus | None = None,
        end_time: int | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> Run:
        """Change status, name or description; a terminal status sets ``end_time`` (default now)."""
        values: dict[str, object] = {}
        if name is not None:
            if not name.strip():
                raise InvalidArgument("run name must not be empty")
            values["name"] = name.strip()[:256]
        if description is not None:
            values["description"] = description
        if status is not None:
            values["status"] = status
            values["end_time"] = (end_time or now_ms()) if status in TERMINAL else None
        with self._store.write() as conn:
            before = run_row(conn, run_id)
            if values:
                conn.execute(_UPDATE_RUN, {"b_id": run_id, **values})
            if status in TERMINAL and before.status not in TERMINAL:
                emit(conn, "run_finished", f"run:{run_id}", status=status, experiment_id=str(before.experiment_id))
            return load_runs(conn, [run_row(conn, run_id)])[0]

    @operation
    def end_run(self, run_id: str, status: RunStatus = "FINISHED", end_time: int | None = None) -> Run:
        """Mark a run finished (or FAILED / KILLED)."""
        if status not in TERMINAL:
            raise InvalidArgument(f"end_run takes a terminal status ({', '.join(TERMINAL)}), not {status!r}")
        return self.update_run(run_id, status=status, end_time=end_time)

    @operation
    def delete_run(self, run_id: str) -> Run:
        """Soft-delete a run; ``purge_runs`` removes it for real."""
        return self._set_run_lifecycle(run_id, "deleted")

    @operation
    def restore_run(self, run_id: str) -> Run:
        """Undo ``delete_run``."""
        return self._set_run_lifecycle(run_id, "active")

    def _set_run_lifecycle(self, run_id: str, lifecycle: str) -> Run:
        with self._store.write() as conn:
            run_row(conn, run_id)
            conn.execute(
                update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(lifecycle=lifecycle, deleted_at=now_ms() if lifecycle == "deleted" else None)
            )
            emit(conn, f"run_{lifecycle if lifecycle == 'deleted' else 'restored'}", f"run:{run_id}")
            return load_runs(conn, [run_row(conn, run_id)])[0]

    @operation
    def purge_runs(self, run_ids: list[str] | None = None) -> PurgeReport:
        """Remove deleted runs for real: rows, lineage, manifests and blobs nothing else references.

        With ``run_ids`` only those (they must be deleted first); without, every deleted run.
        """
        with self._store.write() as conn:
            query = select(t.runs.c.id, t.runs.c.lifecycle)
            if run_ids is not None:
                query = query.where(t.runs.c.id.in_(run_ids))
                found = {r.id: r.lifecycle for r in conn.execute(query)}
                missing = [r for r in run_ids if r not in found]
                if missing:
                    raise NotFound(f"runs do not exist: {', '.join(missing)}")
                active = [r for r, life in found.items() if life != "deleted"]
                if active:
                    raise InvalidArgument(f"delete runs before purging them; still active: {', '.join(active)}")
                ids = list(found)
            else:
                ids = [r.id for r in conn.execute(query.where(t.runs.c.lifecycle == "deleted"))]
            candidates = self._purge(conn, ids)
            emit(conn, "runs_purged", "runs", run_ids=ids)
        # Blobs go after the commit, and only those no manifest references any more.
        deleted = delete_unreferenced(self._store, self._blobs, candidates)
        return PurgeReport(runs=ids, blobs_deleted=deleted)

    def _purge(self, conn: Connection, ids: list[str]) -> set[str]:
        digests: set[str] = set()
        for run_id in ids:
            manifest = run_manifest(run_id)
            digests |= manifest_digests(conn, manifest)
            delete_manifest(conn, manifest)
            delete_nodes(conn, [f"run:{run_id}"], prefix=f"file:{manifest}/")
            for table in (t.metric_points, t.metric_rollups, t.latest_metrics, t.params, t.tags):
                conn.execute(delete(table).where(table.c.run_id == run_id))
            conn.execute(update(t.runs).where(t.runs.c.parent_id == run_id).values(parent_id=None))
            conn.execute(delete(t.runs).where(t.runs.c.id == run_id))
        return digests

    # ---------------------------------------------------------------- data
    @operation
    def log_batch(
        self,
        run_id: str,
        metrics: list[Metric] | None = None,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> int:
        """Log metric points, params and tags in one transaction; returns how many points were new.

        Re-sending a point (same key, step, timestamp and value) is a no-op, so a client may
        retry a batch whose answer it never got. A param set before to a different value is an
        error and nothing of the batch is written.
        """
        metrics = metrics or []
        if len(metrics) > MAX_BATCH_POINTS:
            raise InvalidArgument(f"a batch holds at most {MAX_BATCH_POINTS} points, got {len(metrics)}")
        for m in metrics:
            check_metric(m.key, m.value, m.step, m.timestamp)
        now = now_ms()
        points = [m if m.timestamp else m.model_copy(update={"timestamp": now}) for m in metrics]
        with self._store.write() as conn:
            row = run_row(conn, run_id)
            if row.lifecycle != "active":
                raise InvalidArgument(f"run {run_id} is deleted; restore it before logging to it")
            if params:
                self._put_params(conn, run_id, params)
            if tags:
                self._put_tags(conn, run_id, tags)
            return insert_points(conn, run_id, points)

    def _put_params(self, conn: Connection, run_id: str, params: dict[str, str]) -> None:
        clean = {check_key(k, "param"): check_value(k, str(v), MAX_PARAM_VALUE, "param") for k, v in params.items()}
        conn.execute(_insert_params(conn), [{"run_id": run_id, "key": k, "value": v} for k, v in clean.items()])
        stored = dict(conn.execute(_RUN_PARAMS, {"run_id": run_id}).all())  # a run holds few params
        clashes = {k: (stored[k], v) for k, v in clean.items() if stored.get(k) != v}
        if clashes:
            k, (old, new) = next(iter(clashes.items()))
            raise ParamConflict(
                f"param {k!r} of run {run_id} is already {old!r}; params are immutable, cannot set {new!r}"
                " (log a new run, or use a tag or metric for values that change)"
            )

    def _put_tags(self, conn: Connection, run_id: str, tags: dict[str, str]) -> None:
        if not tags:
            return
        rows = [
            {"run_id": run_id, "key": check_key(k, "tag"), "value": check_value(k, str(v), MAX_TAG_VALUE, "tag")}
            for k, v in tags.items()
        ]
        conn.execute(_upsert_tags(conn), rows)

    @operation
    def set_tag(self, run_id: str, key: str, value: str) -> None:
        """Set (or overwrite) one run tag."""
        self.log_batch(run_id, tags={key: value})

    @operation
    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove one run tag."""
        with self._store.write() as conn:
            run_row(conn, run_id)
            result = conn.execute(delete(t.tags).where(t.tags.c.run_id == run_id, t.tags.c.key == key))
            if result.rowcount == 0:
                raise NotFound(f"run {run_id} has no tag {key!r}")

    @operation
    def get_metric_history(
        self,
        run_id: str,
        key: str,
        max_points: int | None = None,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> MetricSeries:
        """A metric's points by step; with ``max_points``, long series come back downsampled
        (last value, min and max per bucket) from rollups, never reading every point."""
        if max_points is not None and max_points < 1:
            raise InvalidArgument("max_points must be at least 1")
        with self._store.read() as conn:
            run_row(conn, run_id)
            return read_history(conn, run_id, key, max_points, start_step, end_step)

    @operation
    def latest_metrics(self, run_ids: list[str]) -> dict[str, list[LatestMetric]]:
        """Each run's latest point per metric key (value, step, timestamp), for many runs in one query."""
        if len(run_ids) > 10_000:
            raise InvalidArgument("latest_metrics takes at most 10000 run ids a call")
        found: dict[str, list[LatestMetric]] = {run_id: [] for run_id in run_ids}
        if not run_ids:
            return found
        with self._store.read() as conn:
            latest = latest_by_run(conn, list(found))
        for run_id, metrics in latest.items():
            found[run_id] = sorted(metrics)
        return found

    # ---------------------------------------------------------------- artifacts & inputs
    @operation
    def add_artifacts(self, run_id: str, files: list[ArtifactIn]) -> list[ArtifactFile]:
        """Record uploaded blobs as the run's files (path -> digest) and as lineage outputs."""
        cleaned = [(clean_path(f.path), f.digest, f.size) for f in files]
        manifest = run_manifest(run_id)
        with self._store.write() as conn:
            row = run_row(conn, run_id)
            check_uploaded(conn, self._blobs, cleaned)
            record_files(conn, manifest, cleaned)
            run_node = put_node(conn, "execution", "treadle.Run", row.name, external_id=f"run:{run_id}")
            ctx = put_node(conn, "context", "treadle.Experiment", "", external_id=f"experiment:{row.experiment_id}")
            for path, digest, size in cleaned:
                node = put_node(
                    conn,
                    "artifact",
                    "treadle.File",
                    path,
                    external_id=f"file:{manifest}/{path}",
                    uri=f"runs:/{run_id}/{path}",
                    properties={"digest": digest, "size": size},
                )
                link(conn, "output", run_node, node, path)
                link(conn, "attribution", ctx, node)
            return select_files(conn, manifest, [p for p, _, _ in cleaned])

    @operation
    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactFile]:
        """The run's files under ``prefix`` (all when empty)."""
        with self._store.read() as conn:
            run_row(conn, run_id)  # NotFound for an unknown run
        return self._artifacts.list_files(run_manifest(run_id), prefix)

    @operation
    def log_inputs(self, run_id: str, inputs: list[InputRef]) -> None:
        """Record what the run consumed (datasets, files, tables) as lineage input events."""
        with self._store.write() as conn:
            row = run_row(conn, run_id)
            run_node = put_node(conn, "execution", "treadle.Run", row.name, external_id=f"run:{run_id}")
            for ref in inputs:
                node = put_node(
                    conn,
                    "artifact",
                    ref.type,
                    ref.name or ref.uri,
                    # A dataset version is its own node (datasets:/name/N); other inputs are keyed by content.
                    external_id=ref.uri if ref.uri.startswith("datasets:/") else f"input:{ref.digest or ref.uri}",
                    uri=ref.uri,
                    properties={**ref.properties, **({"digest": ref.digest} if ref.digest else {})},
                )
                link(conn, "input", node, run_node)
            emit(conn, "run_inputs_logged", f"run:{run_id}", uris=[i.uri for i in inputs])

    # ---------------------------------------------------------------- search
    @operation
    def search_runs(
        self,
        experiment_ids: list[str] | None = None,
        filter: str | None = None,
        order_by: list[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        view: ViewType = "active",
        with_points: bool = False,
    ) -> RunPage:
        """Runs matching a filter such as ``metrics.acc > 0.9 and params.lr = '0.01'``, across
        one or many experiments (all when none are given), ordered and paged. ``with_points``
        also answers each metric's latest step and timestamp (``RunPage.points``)."""
        if not 1 <= max_results <= MAX_RESULTS:
            raise InvalidArgument(f"max_results must be between 1 and {MAX_RESULTS}")
        offset = decode_token(page_token)
        experiments = tuple(experiment_pk(e) for e in experiment_ids or ())
        query = search_statement(experiments, view, filter, tuple(order_by or ()))
        points: dict[str, list[LatestMetric]] | None = {} if with_points else None
        with self._store.read() as conn:
            rows = conn.execute(query, {"limit": max_results + 1, "offset": offset}).all()
            runs = load_runs(conn, rows[:max_results], points)
        token = encode_token(offset + max_results) if len(rows) > max_results else None
        # built from our own rows: no need to re-validate a page of runs
        return RunPage.model_construct(runs=runs, next_page_token=token, points=points)
