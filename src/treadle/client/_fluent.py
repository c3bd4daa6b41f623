"""The module-level SDK: ``td.set_experiment``, ``td.start_run``, ``td.log_metric`` and friends.

State is per process: the configured client, the current experiment and a stack of active
runs (nested runs push onto it). Metric points are queued to a background batcher; params,
tags and artifacts are sent at once so that mistakes (a param re-set to another value, a bad
path) raise where they are made.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from treadle import datasets as datasets_sdk
from treadle import features as features_sdk
from treadle.client._batcher import MetricBatcher
from treadle.client._capture import SystemMetrics, capture
from treadle.client._client import Client
from treadle.config import Settings
from treadle.errors import InvalidArgument
from treadle.rollout import deployments as deployments_sdk
from treadle.tracking import Experiment, InputRef, Metric, Run, RunPage, RunStatus


class _State:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.client: Client | None = None
        self.experiment_id: str | None = None
        self.runs: list[ActiveRun] = []
        self.batcher: MetricBatcher | None = None
        self.steps: dict[tuple[str, str], int] = {}
        self.lock = threading.RLock()


_state = _State()


def _current() -> _State:
    global _state
    if _state.pid != os.getpid():  # forked: threads and connections did not come along
        from treadle.client._backend import reset_backends

        reset_backends()
        _state = _State()
    return _state


def set_uri(uri: str | None = None, artifacts: str | None = None) -> Client:
    """Point the SDK at a backend (default: ``TREADLE_URI`` / ``TREADLE_ARTIFACTS``)."""
    state = _current()
    with state.lock:
        if state.batcher is not None:
            state.batcher.close()
            state.batcher = None
        state.client = Client(uri, artifacts)
        state.experiment_id = None
        return state.client


class _Attached(threading.local):
    """Per thread: the run a pipeline step logs to, its backend and its metric batcher."""

    run: ActiveRun | None = None
    client: Client | None = None
    batcher: MetricBatcher | None = None


_attached = _Attached()


def get_client() -> Client:
    if _attached.client is not None:
        return _attached.client
    state = _current()
    with state.lock:
        if state.client is None:
            state.client = Client()
        return state.client


def _batcher() -> MetricBatcher:
    attached = _attached.client
    if attached is not None:
        if _attached.batcher is None:
            _attached.batcher = MetricBatcher(lambda run_id, points: attached.tracking.log_batch(run_id, points))
        return _attached.batcher
    state = _current()
    with state.lock:
        if state.batcher is None:
            settings = Settings()
            client = get_client()
            state.batcher = MetricBatcher(
                lambda run_id, points: client.tracking.log_batch(run_id, points),
                batch_size=settings.batch_size,
                interval_s=settings.flush_interval_s,
            )
        return state.batcher


def set_experiment(name: str) -> Experiment:
    """Make ``name`` the current experiment, creating it if needed."""
    exp = get_client().get_or_create_experiment(name)
    if exp.lifecycle != "active":
        raise InvalidArgument(f"experiment {name!r} is deleted; restore it with `treadle experiments restore`")
    _current().experiment_id = exp.id
    return exp


def _launched_run() -> str | None:
    """The run a distributed launch (``treadle.training``) created for this worker process, if any."""
    return os.environ.get("TREADLE_RUN_ID") or None


def _rank_prefix(run_id: str) -> str:
    """``rank{r}/`` for a non-zero rank logging to its launch's run, so ranks never collide; else ''."""
    if run_id != _launched_run():
        return ""
    rank = int(os.environ.get("TREADLE_RANK") or os.environ.get("RANK") or 0)
    return f"rank{rank}/" if rank else ""


def _ranked(run_id: str, data: dict[str, Any]) -> dict[str, Any]:
    prefix = _rank_prefix(run_id)
    return {prefix + k: v for k, v in data.items()} if prefix else data


def _ranked_path(run_id: str, path: str | None) -> str | None:
    prefix = _rank_prefix(run_id)
    return (prefix + (path or "")).rstrip("/") if prefix else path


class ActiveRun:
    """A run being logged to; a context manager that ends it (FAILED if an exception escapes).

    ``attached``: the run belongs to a distributed launch; leaving only flushes, the launcher ends it.
    """

    def __init__(self, run: Run, system_metrics: SystemMetrics | None, attached: bool = False) -> None:
        self.run = run
        self.id = run.id
        self._system_metrics = system_metrics
        self.attached = attached

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        status: RunStatus = (
            "FINISHED" if exc_type is None else ("KILLED" if exc_type is KeyboardInterrupt else "FAILED")
        )
        end_run(status, run_id=self.id)

    def __repr__(self) -> str:
        return f"ActiveRun(id={self.id!r}, name={self.run.name!r})"


def start_run(
    name: str | None = None,
    nested: bool = False,
    run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
    experiment: str | None = None,
    log_system_metrics: bool | None = None,
    capture_environment: bool | None = None,
) -> ActiveRun:
    """Start (or with ``run_id`` resume) a run in the current experiment; use it with ``with``.

    In a worker of ``treadle.training.launch`` (``TREADLE_RUN_ID`` set) a plain ``start_run()``
    attaches to the launch's run instead: it is not re-created, resumed or ended here.
    """
    state = _current()
    client = get_client()
    settings = Settings()
    launched = _launched_run()
    if launched is not None and run_id is None and not nested and not state.runs:
        active = ActiveRun(client.tracking.get_run(launched), None, attached=True)
        state.runs.append(active)
        if tags:
            set_tags(tags)  # rank-prefixed like any other tag
        return active
    if state.runs and not nested and run_id is None:
        raise InvalidArgument(
            f"run {state.runs[-1].id} is already active; end it first or pass nested=True for a child run"
        )
    if run_id is not None:
        run = client.tracking.update_run(run_id, status="RUNNING")
    else:
        if experiment is not None:
            set_experiment(experiment)
        if state.experiment_id is None:
            set_experiment(os.environ.get("TREADLE_EXPERIMENT", "Default"))
        assert state.experiment_id is not None
        parent = state.runs[-1].id if (nested and state.runs) else None
        run = client.tracking.create_run(
            state.experiment_id,
            name=name,
            parent_id=parent,
            tags={k: str(v) for k, v in (tags or {}).items()},
            description=description,
        )
        if capture_environment if capture_environment is not None else settings.capture_environment:
            env_tags, files = capture()
            client.tracking.log_batch(run.id, tags=env_tags)
            for path, data in files.items():
                client.log_bytes(run.id, data, path)
    interval = settings.system_metrics_interval_s
    sampler = None
    if log_system_metrics or (log_system_metrics is None and interval > 0):
        sampler = SystemMetrics(lambda k, v, s: log_metric(k, v, step=s, run_id=run.id), interval or 10.0)
    active = ActiveRun(run, sampler)
    state.runs.append(active)
    return active


def active_run() -> ActiveRun | None:
    if _attached.run is not None:
        return _attached.run
    runs = _current().runs
    return runs[-1] if runs else None


@contextmanager
def attached_run(run_id: str, client: Client, experiment_id: str | None = None) -> Iterator[ActiveRun]:
    """Make ``run_id`` the active run of this thread for the block, logging through ``client``,
    without owning it.

    The pipeline engine runs each step in a tracked run it creates and ends itself; inside the step
    ``td.log_metric`` and friends must land in that run, also when steps run in parallel threads.
    Leaving the block flushes the step's points but does not end the run.
    """
    # The owner just created the run: a stand-in record (id and experiment) saves a read per step.
    stand_in = Run.model_construct(id=run_id, name=None, experiment_id=experiment_id)
    active = ActiveRun(stand_in, None, attached=True)
    saved = (_attached.run, _attached.client, _attached.batcher)
    _attached.run, _attached.client, _attached.batcher = active, client, None
    try:
        yield active
    finally:
        batcher = _attached.batcher
        _attached.run, _attached.client, _attached.batcher = saved
        if batcher is not None:
            batcher.close()


def _run_id(run_id: str | None = None) -> str:
    if run_id is not None:
        return run_id
    run = active_run()
    if run is None and _launched_run() is not None:
        run = start_run()  # a launched worker logs to its launch's run without start_run
    if run is None:
        raise InvalidArgument("no active run: call td.start_run() first (or pass run_id=)")
    return run.id


def end_run(status: RunStatus = "FINISHED", run_id: str | None = None) -> Run | None:
    """Flush pending points and end the active run (or ``run_id``)."""
    state = _current()
    if run_id is None and not state.runs:
        return None
    rid = _run_id(run_id)
    active = next((r for r in state.runs if r.id == rid), None)
    if active is not None:
        if active._system_metrics is not None:
            active._system_metrics.stop()
        state.runs.remove(active)
        if active.attached:
            flush()
            return None
    try:
        flush()
    finally:
        run = get_client().tracking.end_run(rid, status)
    return run


def flush(timeout: float | None = None) -> None:
    """Send every queued metric point now; raises ``BatchError`` if any batch failed."""
    if _attached.batcher is not None:
        _attached.batcher.flush(timeout)
    state = _current()
    if state.batcher is not None:
        state.batcher.flush(timeout)


def log_metric(
    key: str, value: float, step: int | None = None, timestamp: int | None = None, run_id: str | None = None
) -> None:
    """Queue one point; ``step`` defaults to the key's previous step + 1 (starting at 0)."""
    rid = _run_id(run_id)
    state = _current()
    with state.lock:
        counter = (rid, key)
        if step is None:
            step = state.steps.get(counter, -1) + 1
        state.steps[counter] = max(step, state.steps.get(counter, -1))
    key = _rank_prefix(rid) + key
    metric = Metric(key=key, value=float(value), step=step, timestamp=timestamp or int(time.time() * 1000))
    _batcher().add(rid, metric)


def log_metrics(metrics: dict[str, float], step: int | None = None, run_id: str | None = None) -> None:
    for key, value in metrics.items():
        log_metric(key, value, step=step, run_id=run_id)


def log_param(key: str, value: Any) -> None:
    log_params({key: value})


def log_params(params: dict[str, Any]) -> None:
    rid = _run_id()
    get_client().log_batch(rid, params=_ranked(rid, params))


def set_tag(key: str, value: Any) -> None:
    set_tags({key: value})


def set_tags(tags: dict[str, Any]) -> None:
    rid = _run_id()
    get_client().log_batch(rid, tags=_ranked(rid, tags))


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
    rid = _run_id()
    get_client().log_artifact(rid, local_path, _ranked_path(rid, artifact_path))


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
    rid = _run_id()
    get_client().log_artifacts(rid, local_dir, _ranked_path(rid, artifact_path))


def log_text(text: str, artifact_file: str) -> None:
    rid = _run_id()
    get_client().log_text(rid, text, _ranked_path(rid, artifact_file) or artifact_file)


def log_dict(data: Any, artifact_file: str) -> None:
    """Save a dict as JSON, or YAML when ``artifact_file`` ends in .yaml/.yml."""
    rid = _run_id()
    get_client().log_dict(rid, data, _ranked_path(rid, artifact_file) or artifact_file)


def log_figure(figure: Any, artifact_file: str) -> None:
    """Save a matplotlib or plotly figure (png, svg, pdf; html/json for plotly)."""
    rid = _run_id()
    get_client().log_figure(rid, figure, _ranked_path(rid, artifact_file) or artifact_file)


def log_table(data: Any, artifact_file: str) -> None:
    """Save a DataFrame (or dict of columns) as .json (split orientation), .csv or .parquet."""
    rid = _run_id()
    get_client().log_table(rid, data, _ranked_path(rid, artifact_file) or artifact_file)


def log_input(source: Any, name: str | None = None) -> None:
    """Record what the active run consumed: a URI/path string, a DataFrame, or an object with ``uri``."""
    ref = _input_ref(source, name)
    get_client().tracking.log_inputs(_run_id(), [ref])


def _input_ref(source: Any, name: str | None) -> InputRef:
    if isinstance(source, InputRef):
        return source
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        uri = text if "://" in text or ":/" in text else os.path.abspath(text)
        return InputRef(uri=uri, name=name or os.path.basename(text.rstrip("/")) or text)
    uri = getattr(source, "uri", None)
    if isinstance(uri, str):
        return InputRef(uri=uri, name=name or getattr(source, "name", None), digest=getattr(source, "digest", None))
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a core dependency
        pd = None
    if pd is not None and isinstance(source, pd.DataFrame):
        import hashlib

        digest = hashlib.sha256(pd.util.hash_pandas_object(source, index=True).values.tobytes()).hexdigest()
        return InputRef(
            uri=f"dataframe:{digest}",
            name=name or "dataframe",
            digest=digest,
            properties={"rows": len(source), "columns": [str(c) for c in source.columns]},
        )
    raise InvalidArgument(
        f"log_input takes a URI, a path, a DataFrame or an object with .uri, not {type(source).__name__}"
    )


def log_model(model: Any, name: str = "model", registered_model_name: str | None = None, **options: Any) -> str:
    """Save ``model`` into the active run (flavor, signature and requirements recorded); with
    ``registered_model_name`` also register it. Returns the model's ``runs:/`` URI.

    ``options``: ``input_example``, ``signature``, ``code_paths``, ``requirements``, ``flavor``, ...
    (see :func:`treadle.models.save_model`).
    """
    client = get_client()
    uri = client.log_model(_run_id(), model, name, **options)
    if registered_model_name:
        client.register_model(uri, registered_model_name)
    return uri


def load_model(model_uri: str, flavor: str | None = None) -> Any:
    """Load ``runs:/...``, ``models:/name/3``, ``models:/name@champion``, a folder or a URL."""
    return get_client().load_model(model_uri, flavor=flavor)


def register_model(
    model_uri: str, name: str, description: str | None = None, tags: dict[str, Any] | None = None
) -> Any:
    """Register a logged model as the next version of ``name``; returns the ModelVersion."""
    return get_client().register_model(model_uri, name, description, tags)


def set_alias(name: str, alias: str, version: int, reason: str | None = None) -> Any:
    """Point ``alias`` (e.g. ``champion``) at a version; the move is kept in the alias history."""
    return get_client().set_alias(name, alias, version, reason)


def search_runs(
    filter: str | None = None,
    order_by: list[str] | None = None,
    experiment_names: list[str] | None = None,
    experiment_ids: list[str] | None = None,
    max_results: int = 1000,
    page_token: str | None = None,
    output: str = "pandas",
) -> Any:
    """Search runs; ``output="pandas"`` (default) gives a DataFrame, ``"records"`` a RunPage."""
    client = get_client()
    ids = list(experiment_ids or [])
    for name in experiment_names or []:
        ids.append(client.tracking.get_experiment_by_name(name).id)
    if not ids and not experiment_names and _current().experiment_id is not None:
        ids = [_current().experiment_id]  # type: ignore[list-item]
    page: RunPage = client.tracking.search_runs(ids or None, filter, order_by, max_results, page_token)
    if output == "records":
        return page
    if output == "pandas":
        return page.to_pandas()
    raise InvalidArgument(f"output must be 'pandas' or 'records', not {output!r}")


@atexit.register
def _at_exit() -> None:
    state = _state
    if state.pid != os.getpid():
        return
    try:
        while state.runs:
            # An uncaught exception has already been reported by sys.excepthook, which sets last_type.
            end_run("FAILED" if getattr(sys, "last_type", None) is not None else "FINISHED")
        if state.batcher is not None:
            state.batcher.close()
    except Exception as exc:  # the interpreter is exiting: report, do not hide
        print(f"treadle: could not flush at exit: {exc}", file=sys.stderr)


def _datasets_context() -> tuple[Client, str | None, str | None]:
    from treadle.client._client import _actor

    run = active_run()
    return get_client(), (run.id if run else None), _actor()


datasets_sdk.bind(_datasets_context)
features_sdk.bind(get_client)
deployments_sdk.bind(get_client)
