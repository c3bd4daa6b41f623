"""The scheduler loop: fire due triggers, then start queued pipeline runs in child processes.

Any number of schedulers may run (each ``treadle server`` worker, ``treadle scheduler`` on other
machines); one holds the database lease "scheduler" and acts, the others wait to take over when
its lease expires. Each tick the leader

1. fails runs whose process stopped heart-beating (``reap_stale``),
2. runs the model monitors that are due (their alerts are outbox events, fired in step 3),
3. fires cron schedules that are due (the latest due slot only) and event / pipeline-success
   schedules for new outbox events — each fire keyed, so a restart never queues a run twice,
4. starts queued runs, each in ``python -m treadle pipelines run --queued ID`` (cwd = the
   pipeline's workdir), at most ``max_concurrent`` at once.

A child claims its run (QUEUED -> RUNNING) before it imports anything, so two schedulers that both
start the same queued run run it once; a child that exits without claiming gets its run failed here
with the tail of its output, instead of leaving it queued forever.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from treadle.client import Client
from treadle.errors import Conflict, TreadleError
from treadle.orchestration import PipelineRun

log = logging.getLogger("treadle.scheduler")
LEASE = "scheduler"
LOG_TAIL = 2000


@dataclass
class TickReport:
    """What one tick did (for tests, logs and ``treadle scheduler --once``)."""

    leader: bool
    fired: list[PipelineRun] = field(default_factory=list)
    launched: list[str] = field(default_factory=list)
    reaped: list[PipelineRun] = field(default_factory=list)
    failed_to_start: list[str] = field(default_factory=list)
    monitored: dict[str, int | str] = field(default_factory=dict)  # monitor -> windows recorded, or its error


@dataclass
class _Child:
    run_id: str
    process: subprocess.Popen[bytes]
    log_path: Path


class Scheduler:
    """Fires triggers and starts queued runs (module docstring). ``clock`` (epoch ms) is injectable so
    tests move cron time without waiting; leases and heartbeats always use the store's clock."""

    def __init__(
        self,
        uri: str | None = None,
        artifacts: str | None = None,
        *,
        poll_s: float = 1.0,
        max_concurrent: int = 4,
        lease_ttl_s: float = 30.0,
        stale_after_s: float = 60.0,
        clock: Callable[[], int] | None = None,
        log_dir: str | Path | None = None,
    ) -> None:
        from treadle.config import Settings

        settings = Settings()
        self.uri = uri or settings.uri
        artifacts = artifacts or settings.artifacts
        self.artifacts = artifacts if "://" in artifacts else os.path.abspath(artifacts)
        self.client = Client(self.uri, self.artifacts)
        self.poll_s = poll_s
        self.max_concurrent = max_concurrent
        self.monitors = settings.monitors
        self.lease_ttl_s = lease_ttl_s
        self.stale_after_s = stale_after_s
        self.clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.gettempdir()) / "treadle-scheduler"
        self.last_report: TickReport | None = None  # what the loop's latest tick did
        self._children: dict[str, _Child] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ one pass
    def tick(self) -> TickReport:
        """One pass of the loop; returns what it did. Safe to call from any number of processes."""
        failed = self._collect_children()
        if not self.client.schedules.acquire_lease(LEASE, self.holder, self.lease_ttl_s):
            return TickReport(leader=False, failed_to_start=failed)
        report = TickReport(leader=True, failed_to_start=failed)
        report.reaped = self.client.pipelines.reap_stale(self.stale_after_s)
        now = self.clock() if self.clock is not None else None
        # Monitors first: an alert they raise fires its retraining pipeline in this same tick.
        report.monitored = self._run_monitors(now)
        report.fired = self.client.schedules.fire_due_cron(now) + self.client.schedules.fire_due_events()
        report.launched = self._launch_queued()
        return report

    def _run_monitors(self, now: int | None) -> dict[str, int | str]:
        """Due model monitors (``TREADLE_MONITORS=false`` turns this off); never fails the tick."""
        if not self.monitors:
            return {}
        try:
            from treadle.monitoring import run_due

            return run_due(self.client, now, budget_s=self.lease_ttl_s / 2)  # keep the lease fresh
        except Exception:
            log.exception("scheduler: running the due monitors failed")
            return {}

    def _launch_queued(self) -> list[str]:
        free = self.max_concurrent - len(self._children)
        if free <= 0:
            return []
        launched: list[str] = []
        # Runs we already started may still be QUEUED (the child has not claimed yet): ask for enough.
        for run in self.client.pipelines.list_queued(limit=free + len(self._children)):
            if run.id in self._children:
                continue
            if len(launched) >= free:
                break
            self._children[run.id] = self._spawn(run)
            launched.append(run.id)
        return launched

    def _spawn(self, run: PipelineRun) -> _Child:
        workdir = self.client.pipelines.get_run_detail(run.id).spec.workdir
        cwd = workdir if workdir and os.path.isdir(workdir) else None
        env = dict(os.environ, TREADLE_URI=self.uri, TREADLE_ARTIFACTS=self.artifacts)
        if cwd:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (cwd, env.get("PYTHONPATH")) if p)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{run.id}.log"
        command = [sys.executable, "-m", "treadle", "pipelines", "run", "--queued", run.id]
        with open(log_path, "ab") as out:
            process = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        log.info("started pipeline run %s of %s (pid %s, log %s)", run.id, run.pipeline, process.pid, log_path)
        return _Child(run.id, process, log_path)

    def _collect_children(self) -> list[str]:
        """Forget children that exited; fail the runs of those that exited before claiming theirs."""
        failed: list[str] = []
        for run_id, child in list(self._children.items()):
            code = child.process.poll()
            if code is None:
                continue
            del self._children[run_id]
            try:
                if self.client.pipelines.get_run(run_id).status != "QUEUED":
                    continue  # it claimed its run; the run's own status says how it went
                self.client.pipelines.claim_run(run_id)
            except Conflict:
                continue  # claimed meanwhile by another scheduler's child
            tail = _tail(child.log_path)
            error = f"the scheduler's child process exited with code {code} before starting the run: {tail}"
            self.client.pipelines.finish_run(run_id, "FAILED", error)
            log.warning("pipeline run %s failed to start: %s", run_id, tail)
            failed.append(run_id)
        return failed

    # ------------------------------------------------------------------ the loop
    def start(self) -> Scheduler:
        """Run the loop on a daemon thread (the server's lifespan does this)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, name="treadle-scheduler", daemon=True)
        self._thread.start()
        return self

    def run_forever(self) -> None:
        """Tick every ``poll_s`` until :meth:`stop` (``treadle scheduler`` runs this in the foreground)."""
        while not self._stop.is_set():
            try:
                self.last_report = self.tick()
            except TreadleError as exc:
                log.warning("scheduler tick failed: %s", exc.message)
            except Exception:  # keep the loop alive; the next tick retries
                log.exception("scheduler tick failed")
            self._stop.wait(self.poll_s)

    def stop(self, wait_children: float | None = None) -> None:
        """Stop ticking and give the lease up so another scheduler takes over at once. Children keep
        running (they heartbeat on their own) unless ``wait_children`` seconds are given to wait."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if wait_children is not None:
            self.wait(wait_children)
        try:
            self.client.schedules.release_lease(LEASE, self.holder)
        except TreadleError as exc:
            log.warning("could not release the scheduler lease: %s", exc.message)

    def wait(self, timeout: float) -> None:
        """Wait for the started children to exit (tests, ``--once``), then collect them."""
        for child in list(self._children.values()):
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=timeout)
        self._collect_children()

    @property
    def running(self) -> list[str]:
        """Ids of the runs whose child processes are still alive."""
        return [run_id for run_id, child in self._children.items() if child.process.poll() is None]


def _tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return "(no output)"
    return ("..." + text[-LOG_TAIL:]) if len(text) > LOG_TAIL else (text or "(no output)")
