"""The background metric batcher behind ``td.log_metric``.

Points go into a queue and a daemon thread sends them in batches (``batch_size`` points or
every ``flush_interval_s``). Transient failures (server restarting, connection refused) are
retried with backoff; points are only dropped from the queue once the backend acknowledged
them. Permanent failures are kept and raised by the next :meth:`flush`, never swallowed.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable

from treadle.errors import TreadleError, Unavailable
from treadle.tracking import Metric

SendFn = Callable[[str, list[Metric]], object]


class BatchError(TreadleError):
    """Points that could not be logged; ``failures`` lists (run id, count, error) for each batch."""

    code = "BATCH_FAILED"

    def __init__(self, failures: list[tuple[str, int, Exception]]) -> None:
        lines = [f"{n} points for run {run}: {type(e).__name__}: {e}" for run, n, e in failures]
        super().__init__("metric batches failed:\n  " + "\n  ".join(lines))
        self.failures = failures


class MetricBatcher:
    def __init__(
        self, send: SendFn, batch_size: int = 1000, interval_s: float = 1.0, retry_for_s: float = 120.0
    ) -> None:
        self._send = send
        self._batch_size = batch_size
        self._interval = interval_s
        self._retry_for = retry_for_s
        self._pending: list[tuple[str, Metric]] = []
        self._cond = threading.Condition()
        self._in_flight = 0
        self._flush_requested = False
        self._errors: list[tuple[str, int, Exception]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="treadle-batcher", daemon=True)
        self._thread.start()

    def add(self, run_id: str, metric: Metric) -> None:
        with self._cond:
            self._pending.append((run_id, metric))
            if len(self._pending) >= self._batch_size:
                self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> None:
        """Block until every queued point is sent; raise :class:`BatchError` for failures so far."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._flush_requested = True
            self._cond.notify_all()
            while self._pending or self._in_flight:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"{len(self._pending) + self._in_flight} metric points still unsent")
                self._cond.wait(remaining if remaining is not None else 0.5)
            errors, self._errors = self._errors, []
        if errors:
            raise BatchError(errors)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if (not self._pending and not self._closed) or (
                    len(self._pending) < self._batch_size and not self._flush_requested and not self._closed
                ):
                    self._cond.wait(self._interval)
                if self._closed and not self._pending:
                    return
                batch, self._pending = self._pending[: self._batch_size], self._pending[self._batch_size :]
                self._in_flight = len(batch)
                if not self._pending:
                    self._flush_requested = False
            try:
                self._deliver(batch)
            finally:
                with self._cond:
                    self._in_flight = 0
                    self._cond.notify_all()

    def _deliver(self, batch: list[tuple[str, Metric]]) -> None:
        by_run: dict[str, list[Metric]] = defaultdict(list)
        for run_id, metric in batch:
            by_run[run_id].append(metric)
        for run_id, points in by_run.items():
            delay, give_up = 0.05, time.monotonic() + self._retry_for
            while True:
                try:
                    self._send(run_id, points)
                    break
                except Unavailable as exc:
                    if time.monotonic() > give_up:
                        self._fail(run_id, points, exc)
                        break
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
                except Exception as exc:
                    self._fail(run_id, points, exc)
                    break

    def _fail(self, run_id: str, points: list[Metric], exc: Exception) -> None:
        with self._cond:
            self._errors.append((run_id, len(points), exc))
