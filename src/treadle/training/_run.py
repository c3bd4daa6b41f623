"""The tracked run a distributed launch owns: created before the workers start, ended after.

The launcher (on node 0) creates it, records where it ran (as ``td.start_run`` does) and the launch's
shape as ``treadle.training.*`` tags, and hands its id to every worker in ``TREADLE_RUN_ID``. A
failed launch ends it FAILED with the error as the ``treadle.training.error`` tag (first line per
rank, short enough to show in a table) and the full report as ``_treadle/training_error.txt``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from treadle.client import Client, active_run
from treadle.client._capture import capture
from treadle.config import Settings
from treadle.errors import InvalidArgument, TreadleError
from treadle.tracking import RunStatus

ERROR_TAG = "treadle.training.error"
ERROR_FILE = "_treadle/training_error.txt"
TAG_LIMIT = 500


@dataclass
class LaunchResult:
    """What a launch did: its run, status, the ranks' return values (function launches under torch)."""

    run_id: str
    status: RunStatus
    backend: str
    world_size: int
    elapsed_s: float
    returns: dict[int, Any] = field(default_factory=dict)
    error: str | None = None
    failures: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "FINISHED"


class TrainingFailed(TreadleError):
    """A launch whose workers failed; ``result`` is its :class:`LaunchResult` (the run is FAILED)."""

    code = "TRAINING_FAILED"

    def __init__(self, result: LaunchResult) -> None:
        super().__init__(f"training run {result.run_id} failed: {result.error}")
        self.result = result


def worker_env(client: Client, run_id: str) -> dict[str, str]:
    """What a worker needs to reach the same store and attach to ``run_id``."""
    env = {"TREADLE_URI": client.uri, "TREADLE_RUN_ID": run_id}
    artifacts = getattr(client.blobs, "url", None)  # local backends only; a server owns its blobs
    env["TREADLE_ARTIFACTS"] = str(artifacts or Settings().artifacts)
    return env


def create_run(
    client: Client, experiment: str | None, run_name: str | None, tags: dict[str, str], capture_environment: bool
) -> str:
    """A new RUNNING run for the launch, nested under the caller's active run when there is one."""
    name = experiment or os.environ.get("TREADLE_EXPERIMENT") or "Default"
    exp = client.get_or_create_experiment(name)
    if exp.lifecycle != "active":
        raise InvalidArgument(f"experiment {name!r} is deleted; restore it with `treadle experiments restore`")
    parent = active_run()
    run = client.tracking.create_run(exp.id, name=run_name, parent_id=parent.id if parent else None, tags=tags)
    if capture_environment:
        env_tags, files = capture()
        client.tracking.log_batch(run.id, tags=env_tags)
        for path, data in files.items():
            client.log_bytes(run.id, data, path)
    return run.id


def attach_run(client: Client, run_id: str | None) -> str:
    """The run a non-zero node logs to: ``run_id`` or ``TREADLE_RUN_ID`` (node 0 printed it)."""
    rid = run_id or os.environ.get("TREADLE_RUN_ID")
    if not rid:
        raise InvalidArgument(
            "a node with node_rank > 0 joins the run node 0 created: pass run_id= (or --run-id, "
            "or set TREADLE_RUN_ID) with the id node 0 printed"
        )
    return client.tracking.get_run(rid).id


def summarize(failures: dict[int, str]) -> str:
    """One line per failed rank: ``rank 1: ValueError: boom``."""
    lines = []
    for rank, message in sorted(failures.items()):
        first = next((line for line in reversed(message.strip().splitlines()) if line.strip()), "failed")
        lines.append(f"rank {rank}: {first.strip()}")
    return "; ".join(lines)


def finish(client: Client, result: LaunchResult, report: str | None = None) -> None:
    """Record the outcome on the run and end it."""
    if result.error:
        client.tracking.log_batch(result.run_id, tags={ERROR_TAG: result.error[:TAG_LIMIT]})
        client.log_text(result.run_id, report or result.error, ERROR_FILE)
    client.tracking.end_run(result.run_id, result.status)
